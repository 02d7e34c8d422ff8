//! Preparing messages (in parallel) and committing them (in order) to the
//! four outputs, with the destination rules: a non-empty folder only with
//! `--force` or `--resume`, an existing file never, and nothing ever
//! deleted or overwritten outside our own `DEST.partial` (files are linked
//! into an existing folder, not renamed over).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::flags::{maildir_flags, MailFlags};
use super::source::{Cursor, Item, Source, Window};
use super::state::{self, State};
use super::{hex, BatchError, ConvertOptions, Format, Hooks, Summary};
use crate::extract::{name_for, safe_file_name};
use crate::header;
use crate::mbox::{self, LineEnding};
use crate::message::{Kind, Message};

/// A conversion in progress.
pub(crate) struct Run {
    opts: ConvertOptions,
    dest: PathBuf,
    state_path: PathBuf,
    state: State,
    /// This run created the work file or folder (so may remove it on bad input).
    fresh: bool,
    /// Messages committed by the run this one resumes.
    resumed_from: u64,
    sink: Option<BufWriter<File>>,
    attach: Option<Attachments>,
}

struct Attachments {
    dir: PathBuf,
    index_path: PathBuf,
    index: BufWriter<File>,
    /// sha256 prefix -> file name, for content dedup (also across resumes).
    known: HashMap<String, String>,
}

/// Bytes of the content hash that start an attachment's file name.
const HASH_PREFIX: usize = 16;

fn is_empty_dir(p: &Path) -> io::Result<bool> {
    Ok(fs::read_dir(p)?.next().is_none())
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}

fn dest_error(path: &Path, why: impl Into<String>) -> BatchError {
    BatchError::Destination {
        path: path.into(),
        why: why.into(),
    }
}

impl Run {
    pub fn open(dest: &Path, opts: &ConvertOptions, src: &Source) -> Result<Run, BatchError> {
        let state_path = state::path_for(dest);
        let (source, source_size) = src.identity();
        let format = opts.format;
        let saved = if opts.resume {
            State::load(&state_path)?
        } else {
            None
        };
        let mut fresh = false;
        let state = match saved {
            Some(st) => {
                if st.format != format.name() || st.source_size != source_size {
                    return Err(BatchError::Resume(format!(
                        "{} belongs to a run of {} to {} ({} bytes), not this one",
                        state_path.display(),
                        st.source,
                        st.format,
                        st.source_size
                    )));
                }
                st
            }
            None => {
                if !opts.resume && state_path.exists() {
                    return Err(dest_error(
                        dest,
                        format!(
                            "an interrupted run left {}: rerun with --resume to continue it",
                            state_path.display()
                        ),
                    ));
                }
                let work = if format.is_single_file() {
                    if dest.exists() {
                        return Err(dest_error(
                            dest,
                            "exists; mbox and jsonl outputs are never overwritten",
                        ));
                    }
                    let partial = partial_path(dest);
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&partial)
                        .map_err(partial_taken(&partial))?;
                    fresh = true;
                    partial
                } else if dest.exists() {
                    if !dest.is_dir() {
                        return Err(dest_error(dest, "exists and is not a folder"));
                    }
                    if !is_empty_dir(dest).map_err(BatchError::io(dest))?
                        && !opts.force
                        && !opts.resume
                    {
                        return Err(dest_error(
                            dest,
                            "is not empty: use --force to add to it (nothing is deleted) or --resume to continue",
                        ));
                    }
                    dest.to_path_buf()
                } else {
                    let partial = partial_path(dest);
                    if let Some(parent) = partial.parent().filter(|p| !p.as_os_str().is_empty()) {
                        fs::create_dir_all(parent).map_err(BatchError::io(parent))?;
                    }
                    fs::create_dir(&partial).map_err(partial_taken(&partial))?;
                    fresh = true;
                    partial
                };
                State {
                    format: format.name().into(),
                    source,
                    source_size,
                    work,
                    ..State::default()
                }
            }
        };
        if format == Format::Maildir {
            for sub in ["tmp", "new", "cur"] {
                let p = state.work.join(sub);
                fs::create_dir_all(&p).map_err(BatchError::io(&p))?;
            }
        }
        let sink = if format.is_single_file() {
            let mut f = OpenOptions::new()
                .write(true)
                .open(&state.work)
                .map_err(BatchError::io(&state.work))?;
            // A killed run may have appended part of a window: cut it off.
            f.set_len(state.out_bytes)
                .map_err(BatchError::io(&state.work))?;
            f.seek(SeekFrom::End(0))
                .map_err(BatchError::io(&state.work))?;
            Some(BufWriter::with_capacity(1 << 20, f))
        } else {
            None
        };
        let attach = match &opts.attachments {
            Some(dir) => Some(Attachments::open(dir, opts, state.attach_bytes)?),
            None => None,
        };
        let resumed_from = state.messages;
        let run = Run {
            opts: opts.clone(),
            dest: dest.into(),
            state_path,
            state,
            fresh,
            resumed_from,
            sink,
            attach,
        };
        run.state.save(&run.state_path)?;
        Ok(run)
    }

    pub fn cursor(&self) -> Cursor {
        Cursor {
            offset: self.state.offset,
            messages: self.state.messages,
        }
    }

    pub fn committed(&self) -> u64 {
        self.state.messages
    }

    pub fn bytes_in(&self) -> u64 {
        self.state.bytes_in
    }

    /// Prepares a window in parallel, then commits it in order.
    pub fn commit(&mut self, window: Window<'_>, hooks: &Hooks<'_>) -> Result<(), BatchError> {
        let base = self.state.messages;
        let work = &self.state.work;
        let opts = &self.opts;
        // DEST.partial (created by this run or the one it resumes) holds
        // nothing but our own files, named by archive index and content
        // hash, and nobody reads it before the final rename: files are
        // written in place there. A folder given with --force is linked
        // into without clobbering.
        let place = if self.state.work != self.dest {
            Place::InPlace
        } else {
            Place::LinkNoClobber
        };
        let prepared: Vec<Prepared> = window
            .items
            .par_iter()
            .enumerate()
            .map(|(i, item)| {
                prepare(
                    item,
                    base + i as u64,
                    opts,
                    work,
                    place,
                    window.shared.as_ref(),
                )
            })
            .collect::<Result<_, _>>()?;
        for p in prepared {
            if let Some(line) = &p.report {
                (hooks.report)(line);
            }
            self.state.defective += u64::from(p.defective);
            self.state.unparseable += u64::from(p.unparseable);
            if p.skipped {
                self.state.skipped += 1;
                continue;
            }
            self.state.written += 1;
            if let Some(sink) = &mut self.sink {
                sink.write_all(&p.out)
                    .map_err(BatchError::io(&self.state.work))?;
            }
            if let Some(att) = &mut self.attach {
                att.add(&p, &mut self.state)?;
            }
        }
        if let Some(sink) = &mut self.sink {
            sink.flush().map_err(BatchError::io(&self.state.work))?;
            self.state.out_bytes = sink
                .get_ref()
                .stream_position()
                .map_err(BatchError::io(&self.state.work))?;
        }
        if let Some(att) = &mut self.attach {
            att.index.flush().map_err(BatchError::io(&att.index_path))?;
            self.state.attach_bytes = att
                .index
                .get_ref()
                .stream_position()
                .map_err(BatchError::io(&att.index_path))?;
        }
        self.state.offset = window.end.offset;
        self.state.messages = window.end.messages;
        self.state.bytes_in += window.bytes;
        self.state.save(&self.state_path)
    }

    /// Moves the output into place and removes the state file.
    pub fn finish(mut self) -> Result<Summary, BatchError> {
        if let Some(mut sink) = self.sink.take() {
            sink.flush().map_err(BatchError::io(&self.state.work))?;
        }
        if self.state.work != self.dest {
            if self.dest.exists() {
                return Err(dest_error(
                    &self.dest,
                    format!(
                        "appeared during the run; the output is in {}",
                        self.state.work.display()
                    ),
                ));
            }
            fs::rename(&self.state.work, &self.dest).map_err(BatchError::io(&self.dest))?;
        }
        if let Some(att) = self.attach.take() {
            att.finish()?;
        }
        let _ = fs::remove_file(&self.state_path);
        let st = &self.state;
        Ok(Summary {
            messages_in: st.messages,
            written: st.written,
            skipped: st.skipped,
            defective: st.defective,
            unparseable: st.unparseable,
            resumed_from: self.resumed_from,
            attachments_written: st.attachments_written,
            attachments_duplicate: st.attachments_duplicate,
            bytes_in: st.bytes_in,
            ..Summary::default()
        })
    }

    /// After a failure: an interrupted or I/O-failed run stays resumable; a
    /// fresh output of a bad source is removed (it was all ours).
    pub fn abandon(mut self, err: &BatchError) {
        drop(self.sink.take());
        let bad_input = matches!(err, BatchError::Mbox(_) | BatchError::BadSource { .. });
        if bad_input && self.fresh {
            let w = &self.state.work;
            let _ = if w.is_dir() {
                fs::remove_dir_all(w)
            } else {
                fs::remove_file(w)
            };
            let _ = fs::remove_file(&self.state_path);
            if let Some(att) = self.attach.take() {
                let _ = fs::remove_file(&att.index_path);
            }
        }
    }
}

/// One message, ready to commit.
struct Prepared {
    index: u64,
    offset: u64,
    message_id: Option<String>,
    skipped: bool,
    defective: bool,
    unparseable: bool,
    report: Option<String>,
    /// mbox or jsonl bytes.
    out: Vec<u8>,
    attachments: Vec<Attachment>,
}

struct Attachment {
    sha: String,
    name: String,
    section: String,
    filename: Option<String>,
    content_type: String,
    data: Vec<u8>,
}

/// The header block of a message and its blank line (what flags, dates and
/// names need), so that Maildir/eml/mbox runs do not parse bodies.
fn header_part(raw: &[u8]) -> &[u8] {
    let mut i = 0;
    while let Some(nl) = memchr::memchr(b'\n', &raw[i..]) {
        let next = i + nl + 1;
        let rest = &raw[next..];
        if rest.starts_with(b"\n") || rest.starts_with(b"\r\n") {
            return &raw[..next];
        }
        i = next;
    }
    raw
}

fn parse(raw: &[u8], full: bool, shared: Option<&Bytes>) -> Option<Message> {
    let bytes = if full { raw } else { header_part(raw) };
    let copy = match shared {
        // A message borrowed from the mapped archive: a zero-copy slice.
        Some(s)
            if s.as_ptr_range().start <= bytes.as_ptr()
                && bytes.as_ptr_range().end <= s.as_ptr_range().end =>
        {
            s.slice_ref(bytes)
        }
        _ => Bytes::copy_from_slice(bytes),
    };
    // The parser is lenient and fuzzed; should it still panic on some
    // input, the message is written as it is and reported, not lost.
    std::panic::catch_unwind(move || Message::parse(copy)).ok()
}

fn prepare(
    item: &Item<'_>,
    index: u64,
    opts: &ConvertOptions,
    work: &Path,
    place: Place,
    shared: Option<&Bytes>,
) -> Result<Prepared, BatchError> {
    if let Some(why) = &item.refused {
        return Ok(Prepared {
            index,
            offset: item.offset,
            message_id: None,
            skipped: true,
            defective: false,
            unparseable: false,
            report: Some(format!("message {index}: {why}")),
            out: Vec::new(),
            attachments: Vec::new(),
        });
    }
    let raw: &[u8] = &item.message;
    let full = opts.format == Format::Jsonl || opts.attachments.is_some();
    // Streamed and file items own their bytes (a spooled one is a map):
    // sliced, not copied, like the mapped archive.
    let msg = parse(raw, full, item.message.owner().or(shared));
    let root = msg.as_ref().map(Message::root);
    let unparseable = root.as_ref().is_none_or(|r| r.headers().next().is_none());
    let flags = match (&item.maildir, &root) {
        (Some((cur, info)), _) => MailFlags {
            old: *cur,
            ..MailFlags::from_info(info)
        },
        (None, Some(r)) => maildir_flags(r),
        (None, None) => MailFlags::default(),
    };
    let mut p = Prepared {
        index,
        offset: item.offset,
        message_id: root
            .as_ref()
            .and_then(|r| r.header("message-id"))
            .map(lossy_unfolded),
        skipped: opts.skip_deleted && flags.deleted,
        defective: full && msg.as_ref().is_some_and(|m| m.defects().next().is_some()),
        unparseable,
        report: unparseable.then(|| {
            let at = match &item.origin {
                Some(p) => p.display().to_string(),
                None => format!("offset {}", item.offset),
            };
            format!("message {index} ({at}): no header fields could be read; written as it is")
        }),
        out: Vec::new(),
        attachments: Vec::new(),
    };
    if p.skipped {
        return Ok(p);
    }
    let mtime = root
        .as_ref()
        .and_then(|r| r.header("date"))
        .and_then(|d| header::date::parse_date(&header::unfold(d)))
        .map(|d| d.timestamp);
    // Only Maildir names and jsonl records use the message's hash.
    let sha = || Sha256::digest(raw);
    match opts.format {
        Format::Maildir => {
            let mut name = format!("{index:08}.{}.mimeflow", &hex(&sha())[..12]);
            let sub = if flags.old {
                name.push_str(":2,");
                name.push_str(&flags.letters());
                "cur"
            } else {
                "new"
            };
            publish(&work.join("tmp"), &work.join(sub), &name, raw, mtime, place)?;
        }
        Format::Eml => {
            publish(work, work, &format!("{index:08}.eml"), raw, mtime, place)?;
        }
        Format::Mbox => {
            let eol = if first_line_is_crlf(raw) {
                LineEnding::Crlf
            } else {
                LineEnding::Lf
            };
            mbox::write_mboxrd(&mut p.out, item.envelope.as_deref(), raw, eol)
                .map_err(BatchError::io(work))?;
        }
        Format::Jsonl => {
            // The message's own object is serialised straight from it (no
            // Value tree: see message::MessageJson), merged with these.
            let json = msg.as_ref().map(Message::json);
            let mut obj = Map::new();
            obj.insert("index".into(), index.into());
            obj.insert("offset".into(), item.offset.into());
            obj.insert("length".into(), item.length.into());
            obj.insert("sha256".into(), hex(&sha()).into());
            obj.insert(
                "envelope".into(),
                item.envelope
                    .as_deref()
                    .map(|e| String::from_utf8_lossy(e).into_owned())
                    .into(),
            );
            if let Some(o) = &item.origin {
                obj.insert("source".into(), o.to_string_lossy().into_owned().into());
            }
            obj.insert("flags".into(), flags.letters().into());
            obj.insert("deleted".into(), flags.deleted.into());
            obj.insert("unparseable".into(), unparseable.into());
            if let Some(r) = &root {
                let ids = |name: &str| {
                    r.header(name)
                        .map(|v| msg_ids(&header::unfold(v)))
                        .unwrap_or_default()
                };
                obj.insert(
                    "in_reply_to".into(),
                    ids("in-reply-to").into_iter().next().into(),
                );
                obj.insert("references".into(), ids("references").into());
                if let Some(labels) = r.header_text("x-gmail-labels") {
                    let list: Vec<String> = labels
                        .split(',')
                        .map(|l| l.trim().trim_matches('"').to_string())
                        .filter(|l| !l.is_empty())
                        .collect();
                    obj.insert("gmail_labels".into(), list.into());
                }
                if let Some(t) = r.header_text("x-gm-thrid") {
                    obj.insert("gmail_thread_id".into(), t.trim().into());
                }
            }
            if opts.text {
                obj.insert("text".into(), msg.as_ref().and_then(body_text).into());
            }
            match &json {
                Some(json) => serde_json::to_writer(&mut p.out, &json.with_fields(&obj)),
                None => serde_json::to_writer(&mut p.out, &Value::Object(obj)),
            }
            .map_err(|e| BatchError::io(work)(e.into()))?;
            p.out.push(b'\n');
        }
    }
    if opts.attachments.is_some() {
        if let Some(m) = &msg {
            for part in m.attachments() {
                let data = part.decoded();
                p.attachments.push(Attachment {
                    sha: hex(&Sha256::digest(&data)),
                    name: name_for(&part),
                    section: part.section(),
                    filename: part.filename(),
                    content_type: part.mime_type(),
                    data,
                });
            }
        }
    }
    Ok(p)
}

fn first_line_is_crlf(raw: &[u8]) -> bool {
    memchr::memchr(b'\n', raw).is_some_and(|i| i > 0 && raw[i - 1] == b'\r')
}

fn lossy_unfolded(v: &[u8]) -> String {
    String::from_utf8_lossy(&header::unfold(v))
        .trim()
        .to_string()
}

/// `<id>` tokens of In-Reply-To/References (bare tokens when none is bracketed).
fn msg_ids(v: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(v);
    let mut ids = Vec::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        ids.push(rest[open..open + close + 1].to_string());
        rest = &rest[open + close + 1..];
    }
    if ids.is_empty() {
        ids = text.split_whitespace().map(str::to_string).collect();
    }
    ids
}

/// The first inline text/plain body, else the first text/html one as text.
fn body_text(msg: &Message) -> Option<String> {
    let leaves = || {
        msg.walk()
            .filter(|e| e.kind() == Kind::Leaf && !e.is_attachment())
    };
    if let Some(plain) = leaves().find(|e| e.mime_type() == "text/plain") {
        return Some(plain.text());
    }
    leaves()
        .find(|e| e.mime_type() == "text/html")
        .map(|h| super::html_to_text(&h.text()))
}

/// How a finished temp file goes into place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Written under its final name (created or truncated): only in our own
    /// DEST.partial, which no one reads before it is renamed to DEST. A
    /// killed run may leave a short file there; the resumed run redoes
    /// that window and rewrites the file under the same name (it depends
    /// on the archive index and the message's bytes only).
    InPlace,
    /// `link(2)` then `unlink(2)` of the temp file: never replaces a file
    /// (a folder written with --force or --resume).
    LinkNoClobber,
}

/// This process's id, for temp file names (asked once, not per file).
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// Writes `data` into a temp file in `tmp_dir`, then puts it into `dir` as
/// `name` (see [`Place`]). With [`Place::LinkNoClobber`] nothing is ever
/// replaced: an existing file with the same bytes counts as this one (a
/// redone window after a kill); another file, or anything that is not a
/// plain file (a planted symlink), moves us to `name-1`, `name-2`, ...
/// Returns the final file name.
///
/// Syscalls per file: open, write, futimens (when there is a date), close
/// -- plus link + unlink for [`Place::LinkNoClobber`]. No fsync: a conversion is
/// redone or resumed after a crash, and one fsync per message would cost
/// more than everything else together.
fn publish(
    tmp_dir: &Path,
    dir: &Path,
    name: &str,
    data: &[u8],
    mtime: Option<i64>,
    place: Place,
) -> Result<String, BatchError> {
    let in_place = place == Place::InPlace;
    let tmp = if in_place {
        dir.join(name)
    } else {
        tmp_dir.join(format!(".{name}.{}.tmp", pid()))
    };
    let mut o = OpenOptions::new();
    if in_place {
        o.write(true).create(true).truncate(true);
    } else {
        o.write(true).create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW).mode(0o644);
    }
    let mut f = o.open(&tmp).map_err(BatchError::io(&tmp))?;
    let written = f.write_all(data).and_then(|()| match mtime {
        Some(t) if t >= 0 => f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)),
        _ => Ok(()),
    });
    drop(f);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(BatchError::io(&tmp)(e));
    }
    if in_place {
        return Ok(name.to_string());
    }
    let result = link_unique(&tmp, dir, name, data);
    let _ = fs::remove_file(&tmp);
    result
}

fn link_unique(tmp: &Path, dir: &Path, name: &str, data: &[u8]) -> Result<String, BatchError> {
    for n in 0u32.. {
        let candidate = if n == 0 {
            name.to_string()
        } else {
            numbered(name, n)
        };
        let path = dir.join(&candidate);
        match fs::hard_link(tmp, &path) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if same_file_content(&path, data) {
                    return Ok(candidate);
                }
            }
            // File systems without hard links: a checked rename (a race with
            // another writer here could replace its file; we are alone).
            Err(_) if fs::symlink_metadata(&path).is_err() => {
                fs::rename(tmp, &path).map_err(BatchError::io(&path))?;
                return Ok(candidate);
            }
            Err(e) => return Err(BatchError::io(&path)(e)),
        }
    }
    unreachable!("u32 names run out only after 4 billion files")
}

fn same_file_content(path: &Path, data: &[u8]) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.len() == data.len() as u64 => {
            fs::read(path).is_ok_and(|d| d == data)
        }
        _ => false,
    }
}

/// `name-N`, before a Maildir info suffix or a short extension.
fn numbered(name: &str, n: u32) -> String {
    let (base, info) = match name.find(":2,") {
        Some(i) => name.split_at(i),
        None => (name, ""),
    };
    match base.rfind('.') {
        Some(i) if i > 0 && base.len() - i <= 8 && !base[i + 1..].contains("mimeflow") => {
            format!("{}-{n}{}{info}", &base[..i], &base[i..])
        }
        _ => format!("{base}-{n}{info}"),
    }
}

impl Attachments {
    fn open(
        dir: &Path,
        opts: &ConvertOptions,
        attach_bytes: u64,
    ) -> Result<Attachments, BatchError> {
        fs::create_dir_all(dir).map_err(BatchError::io(dir))?;
        let index_path = dir.join(".attachments.jsonl.partial");
        let mut known = HashMap::new();
        let mut other = false;
        for e in fs::read_dir(dir).map_err(BatchError::io(dir))? {
            let e = e.map_err(BatchError::io(dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path() == index_path {
                continue;
            }
            other = true;
            let is_file = e.file_type().is_ok_and(|t| t.is_file());
            let prefix = name
                .get(..HASH_PREFIX)
                .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()));
            if let (true, Some(p), Some(b'-')) = (is_file, prefix, name.as_bytes().get(HASH_PREFIX))
            {
                known.entry(p.to_string()).or_insert(name.clone());
            }
        }
        if other && !opts.force && !opts.resume {
            return Err(dest_error(
                dir,
                "is not empty: use --force to add to it or --resume to continue",
            ));
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&index_path)
            .map_err(BatchError::io(&index_path))?;
        let keep = if opts.resume { attach_bytes } else { 0 };
        f.set_len(keep).map_err(BatchError::io(&index_path))?;
        f.seek(SeekFrom::End(0))
            .map_err(BatchError::io(&index_path))?;
        Ok(Attachments {
            dir: dir.into(),
            index_path,
            index: BufWriter::new(f),
            known,
        })
    }

    fn add(&mut self, p: &Prepared, state: &mut State) -> Result<(), BatchError> {
        for a in &p.attachments {
            let key = &a.sha[..HASH_PREFIX];
            let duplicate = self.known.contains_key(key);
            let file = match self.known.get(key) {
                Some(f) => f.clone(),
                None => {
                    let name = safe_file_name(&format!("{key}-{}", a.name), &format!("{key}.bin"));
                    let written = publish(
                        &self.dir,
                        &self.dir,
                        &name,
                        &a.data,
                        None,
                        Place::LinkNoClobber,
                    )?;
                    self.known.insert(key.to_string(), written.clone());
                    written
                }
            };
            if duplicate {
                state.attachments_duplicate += 1;
            } else {
                state.attachments_written += 1;
            }
            let line = json!({
                "message_index": p.index,
                "message_offset": p.offset,
                "message_id": p.message_id,
                "section": a.section,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.data.len(),
                "sha256": a.sha,
                "path": file,
                "duplicate": duplicate,
            });
            writeln!(self.index, "{line}").map_err(BatchError::io(&self.index_path))?;
        }
        Ok(())
    }

    /// Links the index into place as `attachments.jsonl` (or `-N`).
    fn finish(mut self) -> Result<(), BatchError> {
        self.index
            .flush()
            .map_err(BatchError::io(&self.index_path))?;
        for n in 0u32.. {
            let name = if n == 0 {
                "attachments.jsonl".to_string()
            } else {
                format!("attachments-{n}.jsonl")
            };
            let path = self.dir.join(name);
            match fs::hard_link(&self.index_path, &path) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(BatchError::io(&path)(e)),
            }
        }
        fs::remove_file(&self.index_path).map_err(BatchError::io(&self.index_path))
    }
}

/// The error for a `DEST.partial` that could not be created: one left by
/// another run is named as such, anything else is an I/O error.
fn partial_taken(partial: &Path) -> impl Fn(io::Error) -> BatchError + '_ {
    move |e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            dest_error(
                partial,
                "exists (left by another run?); remove it to start over",
            )
        } else {
            BatchError::io(partial)(e)
        }
    }
}
