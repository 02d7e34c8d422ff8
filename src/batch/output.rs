//! Preparing messages (in parallel) and committing them (in order) to the
//! four outputs, with the destination rules: a non-empty folder only with
//! `--force` or `--resume`, an existing file never, and nothing ever
//! deleted or overwritten outside our own `DEST.partial` (files are linked
//! into an existing folder, not renamed over).
//!
//! Every file and folder is made through [`crate::safe_fs`], relative to
//! the destination's parent folder opened once: a trailing slash on DEST,
//! a planted link at any name we create (`DEST.partial`, the state file,
//! Maildir's `tmp/`, `new/` and `cur/`, a message or attachment file) or a
//! folder swapped during the run cannot send a write elsewhere.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rayon::prelude::*;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::attachments::{self, Attachment, Index};
use super::fingerprint::{self, Chain};
use super::flags::{maildir_flags, MailFlags};
use super::source::{Cursor, Item, Source, Window};
use super::state::State;
use super::{hex, BatchError, ConvertOptions, Format, Hooks, Summary};
use crate::extract::name_for_section;
use crate::header;
use crate::mbox::{self, LineEnding};
use crate::message::{Kind, Message, Sha256Sink};
use crate::safe_fs::{self, Dir};

/// A conversion in progress.
pub(crate) struct Run {
    opts: ConvertOptions,
    /// DEST as given, for messages.
    dest: PathBuf,
    /// The folder that holds DEST, `DEST.partial` and the state file.
    parent: Dir,
    /// DEST's name in `parent`.
    dest_name: OsString,
    /// `DEST.partial`'s name in `parent`.
    partial_name: OsString,
    /// The state file's name in `parent`.
    state_name: OsString,
    state: State,
    /// The running chain of a stream source's messages ([`Chain`]).
    chain: Option<Chain>,
    /// A resumed stream's skipped messages matched the saved chain (or
    /// nothing needed checking).
    chain_checked: bool,
    /// Where the output is built, for messages.
    work_shown: PathBuf,
    /// Folder outputs: the folders messages go to.
    folders: Option<Folders>,
    /// This run created the work file or folder (so may remove it on bad input).
    fresh: bool,
    /// Messages committed by the run this one resumes.
    resumed_from: u64,
    /// Windows committed by this process.
    windows: u64,
    sink: Option<BufWriter<File>>,
    attach: Option<Index>,
}

/// The open folders of a Maildir or `.eml` output.
struct Folders {
    /// Where temp files are made (Maildir `tmp/`, else the folder itself).
    tmp: Dir,
    /// `.eml` files, or Maildir `new/`.
    new: Dir,
    /// Maildir `cur/` (the folder itself for `.eml`).
    cur: Dir,
}

/// `NAME` + `suffix` (with a leading dot when `hidden`), cut so that it
/// stays a valid name however long NAME is: a long NAME keeps its first
/// 150 bytes and gains a hash of the whole, so two long names stay apart.
fn sibling_name(name: &std::ffi::OsStr, suffix: &str, hidden: bool) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = name.as_bytes();
    let dot = usize::from(hidden);
    let mut out = Vec::with_capacity(bytes.len() + suffix.len() + 1);
    if hidden {
        out.push(b'.');
    }
    if dot + bytes.len() + suffix.len() <= crate::extract::MAX_NAME_BYTES {
        out.extend_from_slice(bytes);
    } else {
        out.extend_from_slice(&bytes[..150]);
        out.push(b'-');
        out.extend_from_slice(&hex(&Sha256::digest(bytes)).as_bytes()[..16]);
    }
    out.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(out)
}

fn dest_error(path: &Path, why: impl Into<String>) -> BatchError {
    BatchError::Destination {
        path: path.into(),
        why: why.into(),
    }
}

impl Run {
    pub fn open(dest: &Path, opts: &ConvertOptions, src: &Source) -> Result<Run, BatchError> {
        if opts.format.is_single_file() && dest.as_os_str().as_encoded_bytes().ends_with(b"/") {
            return Err(dest_error(
                dest,
                "ends in '/', but mbox and jsonl outputs are files",
            ));
        }
        let (parent_path, dest_name) = safe_fs::split_dest(dest).map_err(BatchError::io(dest))?;
        let parent = Dir::create_all(&parent_path).map_err(BatchError::io(&parent_path))?;
        let partial_name = sibling_name(&dest_name, ".partial", false);
        let state_name = sibling_name(&dest_name, ".mimeflow-state", true);
        let dest_shown = parent.display_path(&dest_name);
        let partial_shown = parent.display_path(&partial_name);
        let state_shown = parent.display_path(&state_name);
        let (source, _) = src.identity();
        let fp = fingerprint::of(src)?;
        let format = opts.format;
        let saved = if opts.resume {
            State::load(&parent, &state_name)?
        } else {
            None
        };
        let mut fresh = false;
        let mut state = match saved {
            Some(st) => {
                if st.format != format.name() {
                    return Err(BatchError::Resume(format!(
                        "{} belongs to a run of {} to {}, not to {}",
                        state_shown.display(),
                        st.source,
                        st.format,
                        format.name()
                    )));
                }
                let mut now = fp.clone();
                if let Some(b) = fingerprint::before(src, st.offset) {
                    now["before_sha256"] = b.into();
                }
                fingerprint::check(&st.fingerprint, &now, &source)?;
                st
            }
            None => {
                if !opts.resume
                    && parent
                        .kind(&state_name)
                        .map_err(BatchError::io(&state_shown))?
                        .is_some()
                {
                    return Err(dest_error(
                        dest,
                        format!(
                            "an interrupted run left {}: rerun with --resume to continue it",
                            state_shown.display()
                        ),
                    ));
                }
                let existing = parent.kind(&dest_name).map_err(BatchError::io(dest))?;
                let partial = if format.is_single_file() {
                    if existing.is_some() {
                        return Err(dest_error(
                            dest,
                            "exists; mbox and jsonl outputs are never overwritten",
                        ));
                    }
                    parent
                        .create_new(&partial_name)
                        .map_err(partial_taken(&partial_shown))?;
                    true
                } else if existing.is_some() {
                    // DEST is the user's path: a link to a folder is theirs
                    // to give; nothing below it is followed.
                    let d = Dir::open(&dest_shown).map_err(|e| match e.raw_os_error() {
                        Some(libc::ENOTDIR) => dest_error(dest, "exists and is not a folder"),
                        _ => BatchError::io(dest)(e),
                    })?;
                    if !d.is_empty().map_err(BatchError::io(dest))? && !opts.force && !opts.resume {
                        return Err(dest_error(
                            dest,
                            "is not empty: use --force to add to it (nothing is deleted) or --resume to continue",
                        ));
                    }
                    false
                } else {
                    parent
                        .create_dir(&partial_name)
                        .map_err(partial_taken(&partial_shown))?;
                    true
                };
                fresh = partial;
                State {
                    format: format.name().into(),
                    source: source.clone(),
                    fingerprint: fp.clone(),
                    partial,
                    ..State::default()
                }
            }
        };
        let work_name = if state.partial {
            &partial_name
        } else {
            &dest_name
        };
        let work_shown = parent.display_path(work_name);
        let folders = if format.is_single_file() {
            None
        } else {
            let root = if state.partial {
                parent.open_dir(&partial_name)
            } else {
                Dir::open(&dest_shown)
            }
            .map_err(BatchError::io(&work_shown))?;
            Some(if format == Format::Maildir {
                let sub = |name: &str| {
                    root.ensure_dir(name)
                        .map_err(BatchError::io(&root.display_path(name)))
                };
                let tmp = sub("tmp")?;
                if opts.resume {
                    tmp.sweep_temps(&[]).map_err(BatchError::io(tmp.path()))?;
                }
                Folders {
                    tmp,
                    new: sub("new")?,
                    cur: sub("cur")?,
                }
            } else {
                if opts.resume {
                    root.sweep_temps(&[]).map_err(BatchError::io(root.path()))?;
                }
                Folders {
                    tmp: root.clone(),
                    new: root.clone(),
                    cur: root,
                }
            })
        };
        let sink = if format.is_single_file() {
            let mut f = parent
                .open_file_rw(&partial_name)
                .map_err(BatchError::io(&work_shown))?;
            // A killed run may have appended part of a window: cut it off.
            f.set_len(state.out_bytes)
                .map_err(BatchError::io(&work_shown))?;
            f.seek(SeekFrom::End(0))
                .map_err(BatchError::io(&work_shown))?;
            Some(BufWriter::with_capacity(1 << 20, f))
        } else {
            None
        };
        let attach = match &opts.attachments {
            Some(dir) => Some(Index::open(dir, opts.force, opts.resume, &mut state)?),
            None => None,
        };
        let chain = fingerprint::needs_chain(&state.fingerprint).then(|| {
            Chain::from_hex(
                state
                    .fingerprint
                    .get("chain_sha256")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
        });
        let resumed_from = state.messages;
        let chain_checked = chain.is_none() || resumed_from == 0;
        let run = Run {
            opts: opts.clone(),
            dest: dest.into(),
            parent,
            dest_name,
            partial_name,
            state_name,
            state,
            chain,
            chain_checked,
            work_shown,
            folders,
            fresh,
            resumed_from,
            windows: 0,
            sink,
            attach,
        };
        run.state.save(&run.parent, &run.state_name)?;
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

    /// Windows committed by this process.
    pub fn committed_windows(&self) -> u64 {
        self.windows
    }

    pub fn bytes_in(&self) -> u64 {
        self.state.bytes_in
    }

    /// Prepares a window in parallel, then commits it in order.
    pub fn commit(
        &mut self,
        window: Window<'_>,
        src: &Source,
        hooks: &Hooks<'_>,
    ) -> Result<(), BatchError> {
        if let (Some(chain), Some(skipped)) = (&self.chain, &window.skipped_chain) {
            if chain.to_hex() != skipped.to_hex() {
                return Err(BatchError::Resume(format!(
                    "{} is not the stream the interrupted run read: its first {} messages differ",
                    self.state.source, self.resumed_from
                )));
            }
            self.chain_checked = true;
        }
        let base = self.state.messages;
        let opts = &self.opts;
        // DEST.partial (created by this run or the one it resumes) holds
        // nothing but our own files, named by archive index and content
        // hash, and nobody reads it before the final rename: files are
        // written in place there. A folder given with --force is linked
        // into without clobbering.
        let place = if self.state.partial {
            Place::InPlace
        } else {
            Place::LinkNoClobber
        };
        let ctx = Context {
            opts,
            folders: self.folders.as_ref(),
            place,
            shared: window.shared.as_ref(),
            attach: self.attach.as_ref(),
            chain: self.chain.is_some(),
        };
        let prepared: Vec<Prepared> = window
            .items
            .par_iter()
            .enumerate()
            .map(|(i, item)| prepare(item, base + i as u64, &ctx))
            .collect::<Result<_, _>>()?;
        for (p, item) in prepared.into_iter().zip(&window.items) {
            if let Some(line) = &p.report {
                (hooks.report)(line);
            }
            if let (Some(chain), Some(sha)) = (&mut self.chain, &p.chain) {
                chain.push_digest(sha);
            }
            self.state.defective += u64::from(p.defective);
            self.state.unparseable += u64::from(p.unparseable);
            if p.skipped {
                self.state.skipped += 1;
                continue;
            }
            self.state.written += 1;
            if let Some(sink) = &mut self.sink {
                if p.mbox_at_commit {
                    write_mbox(sink, item).map_err(BatchError::io(&self.work_shown))?;
                } else {
                    sink.write_all(&p.out)
                        .map_err(BatchError::io(&self.work_shown))?;
                }
            }
            if let Some(att) = &mut self.attach {
                att.add(
                    p.index,
                    p.offset,
                    p.message_id.as_deref(),
                    p.attachments,
                    &mut self.state,
                )?;
            }
        }
        if let Some(sink) = &mut self.sink {
            sink.flush().map_err(BatchError::io(&self.work_shown))?;
            self.state.out_bytes = sink
                .get_ref()
                .stream_position()
                .map_err(BatchError::io(&self.work_shown))?;
        }
        if let Some(att) = &mut self.attach {
            att.flush(&mut self.state)?;
        }
        self.state.offset = window.end.offset;
        self.state.messages = window.end.messages;
        self.state.bytes_in += window.bytes;
        if let Some(b) = fingerprint::before(src, self.state.offset) {
            self.state.fingerprint["before_sha256"] = b.into();
        }
        if let Some(chain) = &self.chain {
            self.state.fingerprint["chain_sha256"] = chain.to_hex().into();
        }
        super::test_pause(
            "MIMEFLOW_TEST_PAUSE_BEFORE_SAVE",
            self.windows + 1,
            hooks.cancel,
        );
        self.state.save(&self.parent, &self.state_name)?;
        self.windows += 1;
        Ok(())
    }

    /// Moves the output into place and removes the state file.
    pub fn finish(mut self) -> Result<Summary, BatchError> {
        if !self.chain_checked {
            return Err(BatchError::Resume(format!(
                "{} ended before the {} messages the interrupted run committed",
                self.state.source, self.resumed_from
            )));
        }
        if let Some(mut sink) = self.sink.take() {
            sink.flush().map_err(BatchError::io(&self.work_shown))?;
        }
        if self.state.partial {
            match self
                .parent
                .rename_noreplace(&self.partial_name, &self.parent, &self.dest_name)
            {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(dest_error(
                        &self.dest,
                        format!(
                            "appeared during the run; the output is in {}",
                            self.work_shown.display()
                        ),
                    ));
                }
                Err(e) => return Err(BatchError::io(&self.dest)(e)),
            }
        }
        if let Some(att) = self.attach.take() {
            att.finish()?;
        }
        let _ = self.parent.remove_file(&self.state_name);
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
        drop(self.folders.take());
        let bad_input = matches!(err, BatchError::Mbox(_) | BatchError::BadSource { .. });
        if bad_input && self.fresh {
            let _ = if self.opts.format.is_single_file() {
                self.parent.remove_file(&self.partial_name)
            } else {
                self.parent.remove_dir_all(&self.partial_name)
            };
            let _ = self.parent.remove_file(&self.state_name);
            if let Some(att) = self.attach.take() {
                att.discard();
            }
        }
    }
}

/// What every worker of a window shares.
struct Context<'a> {
    opts: &'a ConvertOptions,
    folders: Option<&'a Folders>,
    place: Place,
    shared: Option<&'a Bytes>,
    attach: Option<&'a Index>,
    /// The source is a stream fingerprinted by its content.
    chain: bool,
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
    /// mbox output of a large message: written from the item during the
    /// commit instead of held in `out` (see [`MBOX_AT_COMMIT`]).
    mbox_at_commit: bool,
    attachments: Vec<Attachment>,
    /// A stream source's fingerprint link for this message ([`Chain`]).
    chain: Option<[u8; 32]>,
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

fn prepare(item: &Item<'_>, index: u64, ctx: &Context<'_>) -> Result<Prepared, BatchError> {
    let opts = ctx.opts;
    let chain = ctx
        .chain
        .then(|| Chain::link(item.offset, item.envelope.as_deref(), &item.message));
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
            mbox_at_commit: false,
            attachments: Vec::new(),
            chain,
        });
    }
    let raw: &[u8] = &item.message;
    let full = opts.format == Format::Jsonl || opts.attachments.is_some();
    // Streamed and file items own their bytes (a spooled one is a map):
    // sliced, not copied, like the mapped archive.
    let msg = parse(raw, full, item.message.owner().or(ctx.shared));
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
        mbox_at_commit: false,
        attachments: Vec::new(),
        chain,
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
    match (opts.format, ctx.folders) {
        (Format::Maildir, Some(f)) => {
            let mut name = format!("{index:08}.{}.mimeflow", &hex(&sha())[..12]);
            let dir = if flags.old {
                name.push_str(":2,");
                name.push_str(&flags.letters());
                &f.cur
            } else {
                &f.new
            };
            publish(&f.tmp, dir, &name, raw, mtime, ctx.place)?;
        }
        (Format::Eml, Some(f)) => {
            publish(
                &f.tmp,
                &f.new,
                &format!("{index:08}.eml"),
                raw,
                mtime,
                ctx.place,
            )?;
        }
        (Format::Maildir | Format::Eml, None) => unreachable!("folder outputs have folders"),
        (Format::Mbox, _) if raw.len() >= MBOX_AT_COMMIT => p.mbox_at_commit = true,
        (Format::Mbox, _) => {
            write_mbox(&mut p.out, item)
                .map_err(|e| BatchError::io(Path::new("mbox output"))(e))?;
        }
        (Format::Jsonl, _) => {
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
            .map_err(|e| BatchError::io(Path::new("jsonl output"))(e.into()))?;
            p.out.push(b'\n');
        }
    }
    if let (Some(att), Some(m)) = (ctx.attach, &msg) {
        // One pass for every section (a section per part would walk the
        // siblings before each).
        let sections = m.sections();
        for part in m.attachments() {
            let section = &sections[part.index()];
            // Decoded straight into a temp file, hashed on the way: a window
            // holds descriptors, not attachment bytes, whatever their size.
            let mut tmp = attachments::temp(att.dir())?;
            let shown = att.dir().display_path(tmp.name());
            let file = tmp.file().map_err(BatchError::io(&shown))?;
            let mut sink = Sha256Sink::with_inner(file);
            part.decode_to(&mut sink).map_err(BatchError::io(&shown))?;
            let (sha, size, _) = sink.finish();
            // One message may have 100,000 attachments: keep names, not
            // descriptors.
            tmp.close_fd();
            let sha = hex(&sha);
            // Content this run has already filed needs no second copy.
            let file = (!att.has(&sha)).then_some(tmp);
            p.attachments.push(Attachment {
                sha,
                name: name_for_section(&part, section),
                section: section.clone(),
                filename: part.filename(),
                content_type: part.mime_type(),
                size,
                file,
            });
        }
    }
    Ok(p)
}

/// Messages at least this large go to an mbox output straight from the
/// source during the in-order commit: a prepared copy would double their
/// size in memory (a 405 MB message peaked at 784 MiB). Smaller ones are
/// quoted in parallel by the workers.
const MBOX_AT_COMMIT: usize = 4 << 20;

/// `item` as mboxrd: its From_ line, then the message with From_ quoting.
fn write_mbox(out: &mut impl Write, item: &Item<'_>) -> io::Result<()> {
    let raw: &[u8] = &item.message;
    let eol = if first_line_is_crlf(raw) {
        LineEnding::Crlf
    } else {
        LineEnding::Lf
    };
    mbox::write_mboxrd(out, item.envelope.as_deref(), raw, eol)
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

/// How a finished message file goes into place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// Created under its final name: only in our own DEST.partial, which
    /// no one reads before it is renamed to DEST. A killed run may leave a
    /// short file there; the resumed run redoes that window, removes the
    /// file and creates it anew under the same name (it depends on the
    /// archive index and the message's bytes only).
    InPlace,
    /// A temp file, then linked into place without ever replacing a file
    /// (a folder written with --force or --resume).
    LinkNoClobber,
}

/// Writes `data` as `name` in `dir` (see [`Place`]), temp files in
/// `tmp_dir`. With [`Place::LinkNoClobber`] nothing is ever replaced: an
/// existing file with the same bytes counts as this one (a redone window
/// after a kill); another file, or anything that is not a plain file (a
/// planted symlink), moves us to `name-1`, `name-2`, ... Returns the final
/// file name.
///
/// Syscalls per file: openat, write, futimens (when there is a date), close
/// -- plus renameat2 for [`Place::LinkNoClobber`]. No fsync: a conversion
/// is redone or resumed after a crash, and one fsync per message would
/// cost more than everything else together.
fn publish(
    tmp_dir: &Dir,
    dir: &Dir,
    name: &str,
    data: &[u8],
    mtime: Option<i64>,
    place: Place,
) -> Result<String, BatchError> {
    let set_time = |f: &File| match mtime {
        Some(t) if t >= 0 => f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)),
        Some(t) => {
            match SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(t.unsigned_abs())) {
                Some(when) => f.set_modified(when),
                None => Ok(()),
            }
        }
        None => Ok(()),
    };
    if place == Place::InPlace {
        let shown = dir.display_path(name);
        let mut f = match dir.create_new(name) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Left by the interrupted run's unfinished window.
                dir.remove_file(name).map_err(BatchError::io(&shown))?;
                dir.create_new(name)
            }
            r => r,
        }
        .map_err(BatchError::io(&shown))?;
        if let Err(e) = f.write_all(data).and_then(|()| set_time(&f)) {
            drop(f);
            let _ = dir.remove_file(name);
            return Err(BatchError::io(&shown)(e));
        }
        return Ok(name.to_string());
    }
    let mut tmp = tmp_dir.temp().map_err(BatchError::io(tmp_dir.path()))?;
    let tmp_shown = tmp_dir.display_path(tmp.name());
    tmp.write_all(data)
        .and_then(|()| tmp.file().and_then(|f| set_time(f)))
        .map_err(BatchError::io(&tmp_shown))?;
    for n in 0u32.. {
        let candidate = if n == 0 {
            name.to_string()
        } else {
            numbered(name, n)
        };
        match tmp.persist_noclobber(dir, &candidate) {
            Ok(_) => return Ok(candidate),
            Err((e, back)) if e.kind() == io::ErrorKind::AlreadyExists => {
                tmp = back;
                if same_file_content(dir, &candidate, data) {
                    return Ok(candidate);
                }
            }
            Err((e, _)) => return Err(BatchError::io(&dir.display_path(&candidate))(e)),
        }
    }
    unreachable!("u32 names run out only after 4 billion files")
}

fn same_file_content(dir: &Dir, name: &str, data: &[u8]) -> bool {
    use std::io::Read;
    if !matches!(dir.file_len(name), Ok(Some(n)) if n == data.len() as u64) {
        return false;
    }
    let mut buf = Vec::with_capacity(data.len());
    dir.open_file(name)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .is_ok_and(|_| buf == data)
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
