//! Preparing one message of a window, on a worker thread: parse what the
//! format needs, read its flags, serialise it ([`super::format`]) or
//! write its file ([`MessageFile`]), and decode its attachments into temp
//! files for the store ([`super::attachments`]). Nothing here depends on
//! the order of messages; [`super::run::Run::commit`] puts the results in
//! order.

use std::path::Path;

use bytes::Bytes;
use twox_hash::XxHash3_64;

use super::attachments::{self, Attachment};
use super::fingerprint::Chain;
use super::flags::{flags_of, MailFlags};
use super::format::table::Rows;
use super::format::{jsonl, mbox};
use super::publish::{publish, Place};
use super::run::Folders;
use super::source::Item;
use super::{hex, BatchError, ConvertOptions, Format};
use crate::extract::name_for_section;
use crate::header;
use crate::message::{Message, Sha256Sink};
use crate::rows::threads::MessageKeys;
use crate::rows::{AttachmentRow, MessageRow};
use crate::safe_fs::Dir;

/// What every worker of a window shares.
pub(crate) struct Context<'a> {
    pub opts: &'a ConvertOptions,
    /// Folder outputs with more than one worker: the folders the workers
    /// create message files in, and how ([`MessageFile`]); `None` when the
    /// commit creates them, or for other outputs.
    pub files: Option<(&'a Folders, Place)>,
    pub shared: Option<&'a Bytes>,
    /// The attachment store's folder (`--attachments`): workers decode
    /// into temp files there; the commit files them ([`super::attachments::Index::add`]).
    pub attach: Option<&'a Dir>,
    /// The source is a stream fingerprinted by its content.
    pub chain: bool,
    /// The source as rows name it.
    pub source: &'a str,
}

/// One message, ready to commit.
pub(crate) struct Prepared {
    pub index: u64,
    pub offset: u64,
    pub message_id: Option<String>,
    pub skipped: bool,
    pub defective: bool,
    pub unparseable: bool,
    pub report: Option<String>,
    /// mbox or jsonl bytes.
    pub out: Vec<u8>,
    /// mbox output of a large message: written from the item during the
    /// commit instead of held in `out` (see [`mbox::AT_COMMIT`]).
    pub mbox_at_commit: bool,
    /// Maildir and `.eml` outputs at `-j1`: the message's file, for the
    /// commit to create ([`MessageFile`]).
    pub file: Option<MessageFile>,
    pub attachments: Vec<Attachment>,
    /// A stream source's fingerprint link for this message ([`Chain`]).
    pub chain: Option<[u8; 32]>,
    /// Table outputs: the message's rows.
    pub rows: Option<Box<Rows>>,
    /// jsonl: what the thread index needs of the message, its row's
    /// source and its thread keys. The rest of the row is dropped by the
    /// worker that made it, rather than freed on the thread that commits
    /// in order (a free of another thread's memory is the slow kind).
    pub thread: Option<(String, MessageKeys)>,
}

/// A message file of a folder output, named by the worker that prepares
/// the message and created ([`super::publish`]) with the item's bytes by
/// that worker, or at `-j1` by the commit.
///
/// Why the commit at `-j1`: a run has a committing thread besides its
/// workers, and for folder outputs it has little else to do. With the
/// files made by the one worker, the parse, the name's hash (SHA-256 then) and the
/// file creation ran one after the other there (2,205 of 2,430 samples of
/// a `--to maildir -j1` run) while the commit idled; handed to the commit,
/// file creation overlaps the parsing of the next messages. Maildir of the
/// 100 MB text archive, Xeon guest (family 6, model 167), three runs each:
/// 0.34 -> 0.20 s into tmpfs, 0.46 -> 0.29 s into ext4. With more workers
/// they keep making their own files: at `-j2` one writer was no faster
/// into tmpfs (0.22 s both ways) and slower into ext4 (0.30 -> 0.33 s),
/// and on many cores one writer would cap the run: creating a file takes
/// its folder's lock in the kernel, but copying the bytes does not.
pub(crate) struct MessageFile {
    /// Maildir `cur/` (an old message: its name has flags); else `new/`,
    /// or the `.eml` folder.
    pub cur: bool,
    pub name: String,
    /// The message's Date, as Unix seconds.
    pub mtime: Option<i64>,
}

impl MessageFile {
    /// The file of message `index` in a Maildir (`maildir`) or `.eml`
    /// output.
    fn of(maildir: bool, index: u64, raw: &[u8], parsed: &Parsed) -> MessageFile {
        let mut name;
        if maildir {
            // The index makes the name unique in its folder; the tag keeps it unique when the
            // files of two runs are moved into one: the top 48 bits of the XXH3 of the header
            // block (Message-ID, Date, Received: what sets messages apart), seeded with the
            // message's length. The header is in the cache from reading the flags.
            let head = parsed
                .header_len
                .unwrap_or_else(|| header::split_header(raw).header_len);
            let tag = XxHash3_64::oneshot_with_seed(raw.len() as u64, &raw[..head]) >> 16;
            name = format!("{index:08}.{tag:012x}.mimeflow");
            if parsed.flags.old {
                name.push_str(":2,");
                name.push_str(&parsed.flags.letters());
            }
        } else {
            name = format!("{index:08}.eml");
        }
        MessageFile {
            cur: maildir && parsed.flags.old,
            name,
            mtime: parsed.mtime,
        }
    }

    /// Creates the file, with `data` (the message's bytes), in `folders`.
    pub fn publish(&self, folders: &Folders, data: &[u8], place: Place) -> Result<(), BatchError> {
        let dir = if self.cur { &folders.cur } else { &folders.new };
        publish(&folders.tmp, dir, &self.name, data, self.mtime, place)?;
        Ok(())
    }
}

/// The parsed message (or `None` when the parser gave up) and what the
/// outputs read from it.
pub(crate) struct Parsed {
    /// `None` also when only the header fields were read ([`read`]).
    pub msg: Option<Message>,
    pub flags: MailFlags,
    /// The message's Date as Unix seconds, for the modification time of
    /// its file (read only for outputs of files).
    pub mtime: Option<i64>,
    /// No header field could be read.
    pub unparseable: bool,
    /// Where the header block ends (before the blank line): where the
    /// header-only read found it, or the end of the root entity's header
    /// after a full parse; `None` when there was no parse to ask.
    pub header_len: Option<usize>,
}

/// Prepares message `index` of the archive (see the module docs).
pub(crate) fn prepare(
    item: &Item<'_>,
    index: u64,
    ctx: &Context<'_>,
) -> Result<Prepared, BatchError> {
    let chain = ctx
        .chain
        .then(|| Chain::link(item.offset, item.envelope.as_deref(), &item.message));
    if let Some(why) = &item.refused {
        return Ok(Prepared {
            skipped: true,
            report: Some(format!("message {index}: {why}")),
            ..Prepared::empty(index, item.offset, chain)
        });
    }
    let full = ctx.opts.format == Format::Jsonl
        || ctx.opts.format.is_table()
        || ctx.opts.attachments.is_some();
    let date = matches!(ctx.opts.format, Format::Maildir | Format::Eml);
    let parsed = read(item, full, date, ctx.shared);
    let mut p = Prepared::of(item, index, chain, &parsed, full, ctx.opts);
    if p.skipped {
        return Ok(p);
    }
    if ctx.opts.format == Format::Jsonl || ctx.opts.format.is_table() {
        p.rows = Some(Box::new(rows(item, index, &parsed, ctx)));
    }
    serialise(item, index, &parsed, ctx, &mut p)?;
    if ctx.opts.format == Format::Jsonl {
        p.thread = p.rows.take().map(|r| (r.message.source, r.thread_keys));
    }
    if let (Some(att), Some(m)) = (ctx.attach, &parsed.msg) {
        p.attachments = store_attachments(att, m)?;
    }
    Ok(p)
}

/// The rows of the message (see [`crate::rows`]): the row's source is the
/// file it came from (folder sources) or the archive.
fn rows(item: &Item<'_>, index: u64, parsed: &Parsed, ctx: &Context<'_>) -> Rows {
    let table = ctx.opts.format.is_table();
    let (message, attachments) = item_rows(
        item,
        Some(index),
        parsed,
        ctx.source,
        crate::rows::RowOptions {
            raw: ctx.opts.raw && table,
            hash_attachments: table,
        },
    );
    let thread_keys = MessageKeys::new(
        &message.source,
        message.offset,
        message.message_id.as_deref(),
        message.in_reply_to.as_deref(),
        &message.references,
    );
    #[allow(unused_mut)]
    let mut rows = Rows {
        message,
        attachments,
        thread_keys,
        #[cfg(feature = "sqlite")]
        sql_json: None,
    };
    #[cfg(feature = "dkim")]
    if let Some(check) = &ctx.opts.dkim {
        rows.message.dkim = Some(check.column(&item.message, item.envelope.as_deref()));
    }
    #[cfg(feature = "sqlite")]
    if ctx.opts.format == super::Format::Sqlite {
        rows.sql_json = Some(super::format::sqlite::json_columns(&rows.message));
    }
    rows
}

/// The rows of an item already parsed ([`parse_item`]): the message's
/// and its attachments'; `source` names the archive (folder sources name
/// each file instead).
pub(crate) fn item_rows(
    item: &Item<'_>,
    row: Option<u64>,
    parsed: &Parsed,
    source: &str,
    opts: crate::rows::RowOptions,
) -> (MessageRow, Vec<AttachmentRow>) {
    let source = match &item.origin {
        Some(p) => p.to_string_lossy(),
        None => source.into(),
    };
    let origin = crate::rows::Origin {
        source: &source,
        offset: item.offset,
        length: item.length,
        envelope: item.envelope.as_deref(),
        flags: Some(parsed.flags),
        row,
    };
    crate::rows::message_row(&origin, &item.message, parsed.msg.as_ref(), opts)
}

impl Prepared {
    fn empty(index: u64, offset: u64, chain: Option<[u8; 32]>) -> Prepared {
        Prepared {
            index,
            offset,
            message_id: None,
            skipped: false,
            defective: false,
            unparseable: false,
            report: None,
            out: Vec::new(),
            mbox_at_commit: false,
            file: None,
            attachments: Vec::new(),
            chain,
            rows: None,
            thread: None,
        }
    }

    /// The counts, report and id of a parsed message; nothing written yet.
    fn of(
        item: &Item<'_>,
        index: u64,
        chain: Option<[u8; 32]>,
        parsed: &Parsed,
        full: bool,
        opts: &ConvertOptions,
    ) -> Prepared {
        let root = parsed.msg.as_ref().map(Message::root);
        let unparseable = parsed.unparseable;
        Prepared {
            message_id: root
                .as_ref()
                .and_then(|r| r.header("message-id"))
                .map(jsonl::lossy_unfolded),
            skipped: opts.skip_deleted && parsed.flags.deleted,
            defective: full
                && parsed
                    .msg
                    .as_ref()
                    .is_some_and(|m| m.defects().next().is_some()),
            unparseable,
            report: unparseable.then(|| {
                let at = match &item.origin {
                    Some(p) => p.display().to_string(),
                    None => format!("offset {}", item.offset),
                };
                format!("message {index} ({at}): no header fields could be read; written as it is")
            }),
            ..Prepared::empty(index, item.offset, chain)
        }
    }
}

/// Parses the whole item and reads its flags (what rows need).
#[cfg(feature = "arrow")]
pub(crate) fn parse_item(item: &Item<'_>, shared: Option<&Bytes>) -> Parsed {
    read(item, true, false, shared)
}

/// Parses the item and reads its flags (a Maildir source's from its file
/// name, others' from the header) and Date. Unless `full`, only the header
/// fields are read ([`crate::message::root_fields`]: what flags, dates and
/// names need), so that Maildir/eml/mbox runs parse neither bodies nor
/// Content-Type; `msg` is then `None`. The Date is read when `date` (the
/// outputs that make files), else `mtime` is `None`.
fn read(item: &Item<'_>, full: bool, date: bool, shared: Option<&Bytes>) -> Parsed {
    if !full {
        return read_fields(item, date);
    }
    // Streamed and file items own their bytes (a spooled one is a map):
    // sliced, not copied, like the mapped archive.
    let msg = parse(&item.message, item.message.owner().or(shared));
    let root = msg.as_ref().map(Message::root);
    let field = |name: &str| root.as_ref().and_then(|r| r.header(name));
    Parsed {
        flags: flags(item, root.is_some(), field),
        mtime: date.then(|| date_of(field("date"))).flatten(),
        unparseable: root.as_ref().is_none_or(|r| r.headers().next().is_none()),
        // The root entity starts at 0: its header block is the message's.
        header_len: root.as_ref().map(|r| r.header_bytes().len()),
        msg,
    }
}

/// [`read`] of the header fields only.
fn read_fields(item: &Item<'_>, date: bool) -> Parsed {
    let raw: &[u8] = &item.message;
    // The reader is lenient and fuzzed; should it still panic on some
    // input, the message is written as it is and reported, not lost.
    let read = std::panic::catch_unwind(|| crate::message::root_fields(raw)).ok();
    let header_len = match &read {
        Some((_, end)) => *end,
        None => header::split_header(raw).header_len,
    };
    let fields = read.map(|(fields, _)| fields);
    let field = |name: &str| {
        let f = header::first_named(fields.as_deref()?, raw, name)?;
        Some(&raw[f.value.clone()])
    };
    Parsed {
        msg: None,
        flags: flags(item, fields.is_some(), field),
        mtime: date.then(|| date_of(field("date"))).flatten(),
        unparseable: fields.as_ref().is_none_or(Vec::is_empty),
        header_len: Some(header_len),
    }
}

/// The message's flags: a Maildir source's from its file name, others'
/// from the header fields `field` reads (none if the header could not be
/// read).
fn flags<'a>(item: &Item<'_>, read: bool, field: impl Fn(&str) -> Option<&'a [u8]>) -> MailFlags {
    match &item.maildir {
        Some((cur, info)) => MailFlags {
            old: *cur,
            ..MailFlags::from_info(info)
        },
        None if read => flags_of(field),
        None => MailFlags::default(),
    }
}

/// A Date field's value as Unix seconds.
fn date_of(value: Option<&[u8]>) -> Option<i64> {
    value
        .and_then(|d| header::date::parse_date(&header::unfold(d)))
        .map(|d| d.timestamp)
}

/// Parses `raw` (a message borrowed from the mapped archive `shared` is
/// sliced, not copied).
fn parse(raw: &[u8], shared: Option<&Bytes>) -> Option<Message> {
    let copy = match shared {
        Some(s)
            if s.as_ptr_range().start <= raw.as_ptr()
                && raw.as_ptr_range().end <= s.as_ptr_range().end =>
        {
            s.slice_ref(raw)
        }
        _ => Bytes::copy_from_slice(raw),
    };
    // The parser is lenient and fuzzed; should it still panic on some
    // input, the message is written as it is and reported, not lost.
    std::panic::catch_unwind(move || Message::parse(copy)).ok()
}

/// Writes the message in the run's format: a file of a folder output (or
/// its name, for the commit), or the bytes of a single-file output in
/// `p.out`.
fn serialise(
    item: &Item<'_>,
    index: u64,
    parsed: &Parsed,
    ctx: &Context<'_>,
    p: &mut Prepared,
) -> Result<(), BatchError> {
    let raw: &[u8] = &item.message;
    match ctx.opts.format {
        Format::Maildir | Format::Eml => {
            let file = MessageFile::of(ctx.opts.format == Format::Maildir, index, raw, parsed);
            match ctx.files {
                Some((folders, place)) => file.publish(folders, raw, place)?,
                None => p.file = Some(file),
            }
        }
        Format::Mbox if raw.len() >= mbox::AT_COMMIT => p.mbox_at_commit = true,
        Format::Mbox => {
            mbox::write_mbox(&mut p.out, item)
                .map_err(|e| BatchError::io(Path::new("mbox output"))(e))?;
        }
        Format::Jsonl => {
            let row = &p.rows.as_ref().expect("jsonl rows").message;
            jsonl::write_record(&mut p.out, item, index, row, parsed, ctx.opts.text)
                .map_err(|e| BatchError::io(Path::new("jsonl output"))(e.into()))?;
        }
        #[cfg(feature = "sqlite")]
        Format::Sqlite => {}
        #[cfg(feature = "parquet")]
        Format::Parquet => {}
    }
    Ok(())
}

/// Decodes every attachment of `m` straight into a temp file of the
/// store, hashed on the way: a window holds descriptors, not attachment
/// bytes, whatever their size.
///
/// Every attachment keeps its temp file, even one whose content the store
/// holds already: the commit runs while other workers prepare, so the
/// store's index is the commit's alone, and [`super::attachments::Index::add`] drops the
/// duplicates' files.
fn store_attachments(dir: &Dir, m: &Message) -> Result<Vec<Attachment>, BatchError> {
    // One pass for every section (a section per part would walk the
    // siblings before each).
    let sections = m.sections();
    let mut out = Vec::new();
    for part in m.attachments() {
        let section = &sections[part.index()];
        let mut tmp = attachments::temp(dir)?;
        let shown = dir.display_path(tmp.name());
        let file = tmp.file().map_err(BatchError::io(&shown))?;
        let mut sink = Sha256Sink::with_inner(file);
        part.decode_to(&mut sink).map_err(BatchError::io(&shown))?;
        let (sha, size, _) = sink.finish();
        // One message may have 100,000 attachments: keep names, not
        // descriptors.
        tmp.close_fd();
        out.push(Attachment {
            sha: hex(&sha),
            name: name_for_section(&part, section),
            section: section.clone(),
            filename: part.filename(),
            content_type: part.mime_type(),
            size,
            file: tmp,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::path::{Path, PathBuf};

    use super::super::source::Raw;
    use super::*;

    /// An archive item of the bytes `m` (at offset 0, no envelope).
    fn item_of(m: &[u8]) -> Item<'_> {
        Item {
            offset: 0,
            length: m.len() as u64,
            envelope: None,
            message: Raw::Cow(Cow::Borrowed(m)),
            maildir: None,
            origin: None,
            refused: None,
        }
    }

    /// Every message file under `dir` (recursively).
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_none_or(|x| x != "tsv" && x != "md") {
                out.push(p);
            }
        }
    }

    /// Maildir names: the index, then 12 hex digits that depend on the
    /// message's header block and length only (the same bytes at two
    /// indices give one tag; one byte more in the body, or another header
    /// of the same length, another), then `.mimeflow`, and `:2,FLAGS` for
    /// an old message (in `cur/`); `.eml` names are the index alone. The
    /// header's end as the header-only read finds it gives the tag that a
    /// full parse's name (which looks for it again) gives.
    #[test]
    fn maildir_names_are_index_tag_and_flags() {
        let parsed = |old| Parsed {
            msg: None,
            flags: MailFlags {
                old,
                seen: old,
                ..MailFlags::default()
            },
            mtime: None,
            unparseable: false,
            header_len: None,
        };
        let raw = b"Subject: a\n\nbody\n";
        let a = MessageFile::of(true, 7, raw, &parsed(false));
        let b = MessageFile::of(true, 123_456_789, raw, &parsed(true));
        let c = MessageFile::of(true, 7, b"Subject: a\n\nbody\n\n", &parsed(false));
        let d = MessageFile::of(true, 7, b"Subject: b\n\nbody\n", &parsed(false));
        let tag = |name: &str| name.split('.').nth(1).unwrap().to_string();
        let light = read(&item_of(raw), false, true, None);
        assert_eq!(light.header_len, Some(11));
        let l = MessageFile::of(true, 7, raw, &light);
        assert_eq!(tag(&l.name), tag(&a.name));
        assert_ne!(tag(&a.name), tag(&d.name));
        assert!(a.name.starts_with("00000007.") && a.name.ends_with(".mimeflow"));
        assert!(!a.cur && b.cur);
        assert!(b.name.starts_with("123456789.") && b.name.ends_with(".mimeflow:2,S"));
        assert_eq!(tag(&a.name).len(), 12);
        assert!(tag(&a.name)
            .bytes()
            .all(|x| x.is_ascii_hexdigit() && !x.is_ascii_uppercase()));
        assert_eq!(tag(&a.name), tag(&b.name));
        assert_ne!(tag(&a.name), tag(&c.name));
        let e = MessageFile::of(false, 7, raw, &parsed(true));
        assert_eq!((e.name.as_str(), e.cur), ("00000007.eml", false));
    }

    /// The header-only read (Maildir, eml and mbox runs) gives the flags,
    /// Date and unparseable mark of the full parse (jsonl and tables), on
    /// testdata and the shared corpora (when present), and on headers
    /// made to differ: flags fields repeated and folded, a Date that does
    /// not parse, no header at all, a header past the size limit.
    #[test]
    fn reading_only_the_fields_equals_the_full_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths = Vec::new();
        files(&root.join("testdata"), &mut paths);
        let shared = root.join("../shared/corpora");
        files(&shared, &mut paths);
        let mut messages: Vec<Vec<u8>> =
            paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
        for m in [
            &b"Status: RO\nX-Status: A\nstatus: N\nX-Mozilla-Status: 0009\n\nbody\n"[..],
            b"X-Status:\n F\n D\nDate: Mon, 1 Jan 2024 10:00:00 +0100\n\n",
            b"Date: yesterday\nStatus: O\n\nx",
            b"\nno header\n",
            b"",
            b"not a header line\nStatus: R\n\n",
        ] {
            messages.push(m.to_vec());
        }
        let mut big = b"Status: R\n".to_vec();
        big.extend(b"X-Filler: yes\n".repeat(200_000));
        big.extend(b"Date: Tue, 2 Jan 2024 10:00:00 +0000\n\nbody\n");
        messages.push(big);
        let mut with_date = 0;
        for m in &messages {
            let item = item_of(m);
            let (light, full) = (
                read(&item, false, true, None),
                read(&item, true, true, None),
            );
            let head = String::from_utf8_lossy(&m[..m.len().min(200)]);
            assert_eq!(light.flags, full.flags, "{head}");
            // Maildir names hash the header block up to this end: the same
            // from either read, and `split_header`'s (the fallback).
            assert_eq!(
                light.header_len,
                Some(header::split_header(m).header_len),
                "{head}"
            );
            assert_eq!(full.header_len, light.header_len, "{head}");
            assert_eq!(light.mtime, full.mtime, "{head}");
            assert_eq!(light.unparseable, full.unparseable, "{head}");
            with_date += usize::from(full.mtime.is_some());
        }
        assert!(with_date > 10, "only {with_date} messages had a Date");
    }
}
