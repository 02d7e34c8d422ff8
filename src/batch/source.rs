//! Where messages come from, cut into windows of parallel work.
//!
//! * A mapped mbox is planned into byte ranges of about [`RANGE_BYTES`]
//!   by the read-ahead engine ([`readahead`]); each worker of a
//!   window scans its own range with [`mbox::read_range`]. Mboxcl2 must be
//!   walked by Content-Length, so it is read serially on the calling thread
//!   (cheap: it jumps) and only the preparing is parallel.
//! * A compressed or piped archive is read by [`mbox::stream`] on its own
//!   thread, which sends batches through a bounded channel: reading
//!   overlaps the parallel work and memory stays bounded: a message over
//!   the spool threshold arrives as a map of a temporary file and counts
//!   for a small fixed weight in the budgets, not for its size.
//! * A Maildir (`cur/`, `new/`) or a folder of `.eml` files is listed,
//!   sorted by name, and read in chunks by the workers.

use std::borrow::Cow;
use std::fs;
use std::io::Read;
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;

use bytes::Bytes;
use rayon::prelude::*;

use super::fingerprint::Chain;
use super::readahead::{self, weight, RANGE_BYTES, UNITS_PER_JOB};
use super::BatchError;
use crate::mbox::{self, Archive, MboxError, OwnedEntry, ReadOptions, Sniffed, Variant};

/// Ranges of a mapped archive per worker in one window. Windows end in a
/// barrier (the in-order commit), where a worker left with one large
/// message idles the others: 8 ranges per worker keep that tail small
/// (measured on the attachment-heavy archive of scripts/gen_archive.py,
/// messages up to 2.7 MB). Items borrow from the map, so a larger window
/// costs address space, not heap. The first windows of a run take fewer
/// (`RangeFeed::next_window`).
const RANGES_PER_JOB: usize = 8;
/// Files per chunk of a folder source.
const FILES_PER_CHUNK: usize = 64;
/// Most entries in one streamed batch.
const BATCH_ENTRIES: usize = 1024;

/// One message as read from the source.
pub(crate) struct Item<'a> {
    /// Byte offset of its From_ line in the archive (0 for files).
    pub offset: u64,
    /// Bytes it takes in the archive (the file size for files).
    pub length: u64,
    /// The From_ line's rest, for mbox sources.
    pub envelope: Option<Cow<'a, [u8]>>,
    /// The message, quoting undone.
    pub message: Raw<'a>,
    /// Maildir source: whether it was in `cur/`, and its `2,FLAGS` info.
    pub maildir: Option<(bool, String)>,
    /// The file it came from, for folder sources.
    pub origin: Option<PathBuf>,
    /// Why the message could not be read (too large to stream): counted as
    /// skipped and reported.
    pub refused: Option<String>,
}

/// The bytes of an [`Item`]'s message.
pub(crate) enum Raw<'a> {
    /// Borrowed from the mapped archive (the window's `shared`), or a copy
    /// with the quoting undone.
    Cow(Cow<'a, [u8]>),
    /// Owned by the item: a streamed entry (heap, or a spooled map) or a
    /// file; parsing slices it instead of copying.
    Shared(Bytes),
}

impl Raw<'_> {
    /// The owner to slice when parsing, if the item has its own.
    pub fn owner(&self) -> Option<&Bytes> {
        match self {
            Raw::Cow(_) => None,
            Raw::Shared(b) => Some(b),
        }
    }
}

impl Deref for Raw<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Raw::Cow(c) => c,
            Raw::Shared(b) => b,
        }
    }
}

/// How far a run has come: the next message's offset (mapped archives) and
/// the number of messages consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub offset: u64,
    pub messages: u64,
}

/// Items of one window, in source order.
pub(crate) struct Window<'a> {
    pub items: Vec<Item<'a>>,
    /// The cursor after the window.
    pub end: Cursor,
    /// Source bytes the window covers.
    pub bytes: u64,
    /// Lines to report (suspicious From lines).
    pub reports: Vec<String>,
    /// The mapped archive that borrowed items point into, if any: parsing
    /// slices it instead of copying each message.
    pub shared: Option<Bytes>,
    /// A resumed stream: the [`Chain`] of the messages skipped because the
    /// interrupted run committed them, on the window where skipping ended
    /// (the run compares it with the one it saved).
    pub skipped_chain: Option<Chain>,
}

impl<'a> Window<'a> {
    /// A window of items that own their bytes (no shared map), with no
    /// lines to report.
    fn owned(items: Vec<Item<'a>>, end: Cursor, bytes: u64, skipped_chain: Option<Chain>) -> Self {
        Window {
            items,
            end,
            bytes,
            reports: Vec::new(),
            shared: None,
            skipped_chain,
        }
    }
}

/// A producer of windows.
pub(crate) trait Feed<'a>: Send {
    fn next_window(&mut self, jobs: usize) -> Result<Option<Window<'a>>, BatchError>;

    /// Whether the next window may be read while the run commits this one
    /// ([`super::drive`]): true where a window is an index into the
    /// mapped archive, whose items borrow the map (only a message whose
    /// mboxrd quoting was undone is a copy, bounded by the window's byte
    /// budget); a stream's or a folder's window holds its messages'
    /// bytes, and reading one ahead would double the memory a run holds.
    fn reads_ahead(&self) -> bool {
        false
    }
}

pub(crate) enum Source {
    Mapped {
        path: PathBuf,
        /// The mapped archive, shared: messages are parsed as zero-copy
        /// slices of its bytes, and a feed gives back its committed parts.
        map: mbox::SharedMap,
        sniffed: Sniffed,
    },
    Stream {
        path: PathBuf,
        reader: Mutex<Option<Box<dyn Read + Send>>>,
        variant: Option<Variant>,
        spool_threshold: usize,
    },
    Files {
        path: PathBuf,
        maildir: bool,
        files: Vec<(PathBuf, Option<(bool, String)>)>,
        total: u64,
    },
}

fn read_options(variant: Option<Variant>) -> ReadOptions {
    ReadOptions {
        variant,
        unquote_mboxo: false,
    }
}

impl Source {
    /// Opens `path`: a folder is a Maildir or an `.eml` folder, a file an
    /// mbox (compressed ones are streamed, spooling messages over
    /// `spool_threshold` bytes), `-` standard input.
    pub fn open(
        path: &Path,
        variant: Option<Variant>,
        spool_threshold: usize,
    ) -> Result<Source, BatchError> {
        if path.as_os_str() == "-" {
            // Compressed archives are recognised by their magic bytes here
            // too (`gunzip -c` is not needed).
            let reader = mbox::open_stream(Box::new(std::io::stdin()))?;
            return Source::streamed(reader, path, variant, spool_threshold);
        }
        let meta = fs::metadata(path).map_err(BatchError::io(path))?;
        if meta.is_dir() {
            return list_folder(path);
        }
        match mbox::open_path(path)? {
            Archive::Mapped(map) => {
                let first = first_line(&map);
                if !map.is_empty() && !mbox::is_from_line(first) {
                    return Err(not_mbox(path, first));
                }
                let mut sniffed = mbox::sniff(&map);
                if let Some(v) = variant {
                    sniffed.variant = v;
                    sniffed.reason = "given".into();
                }
                Ok(Source::Mapped {
                    path: path.into(),
                    map: mbox::SharedMap::new(map),
                    sniffed,
                })
            }
            Archive::Stream(reader) => Source::streamed(reader, path, variant, spool_threshold),
        }
    }

    /// [`Source::open`] without the map: a plain archive is read with
    /// `read(2)` like a compressed one ([`mbox::open_path_streamed`]), so
    /// another program truncating it cannot raise SIGBUS here; the read
    /// then fails instead. Folders are listed as by `open`. Only the Arrow
    /// rows read this way (`mimeflow.mbox.read_arrow(copy=True)`).
    #[cfg(feature = "arrow")]
    pub fn open_streamed(
        path: &Path,
        variant: Option<Variant>,
        spool_threshold: usize,
    ) -> Result<Source, BatchError> {
        let meta = fs::metadata(path).map_err(BatchError::io(path))?;
        if meta.is_dir() || path.as_os_str() == "-" {
            return Source::open(path, variant, spool_threshold);
        }
        let reader = mbox::open_path_streamed(path).map_err(|e| match e {
            MboxError::Io(io) => BatchError::io(path)(io),
            e => e.into(),
        })?;
        Source::streamed(reader, path, variant, spool_threshold)
    }

    /// One message file (not an mbox): a folder source of one file
    /// (`dkim verify` reads single messages too).
    #[cfg(feature = "dkim")]
    pub fn single_file(path: &Path) -> Result<Source, BatchError> {
        let total = fs::metadata(path).map_err(BatchError::io(path))?.len();
        Ok(Source::Files {
            path: path.into(),
            maildir: false,
            files: vec![(path.into(), None)],
            total,
        })
    }

    /// A [`Source::Stream`] of `reader`, once [`peek_mbox`] has seen an
    /// mbox start.
    pub(crate) fn streamed(
        reader: Box<dyn Read + Send>,
        path: &Path,
        variant: Option<Variant>,
        spool_threshold: usize,
    ) -> Result<Source, BatchError> {
        let reader = peek_mbox(reader, path)?;
        Ok(Source::Stream {
            path: path.into(),
            reader: Mutex::new(Some(reader)),
            variant,
            spool_threshold,
        })
    }

    /// "mboxrd", "maildir", ... for the summary.
    pub fn kind(&self) -> String {
        match self {
            Source::Mapped { sniffed, .. } => sniffed.variant.name().to_string(),
            Source::Stream { variant, .. } => {
                format!("{} (streamed)", variant.map_or("mbox", Variant::name))
            }
            Source::Files { maildir: true, .. } => "maildir".into(),
            Source::Files { .. } => "eml folder".into(),
        }
    }

    pub fn variant_reason(&self) -> Option<String> {
        match self {
            Source::Mapped { sniffed, .. } => Some(sniffed.reason.clone()),
            _ => None,
        }
    }

    /// Source size when it is known up front.
    pub fn total_bytes(&self) -> Option<u64> {
        match self {
            Source::Mapped { map, .. } => Some(map.bytes().len() as u64),
            Source::Files { total, .. } => Some(*total),
            Source::Stream { .. } => None,
        }
    }

    /// Identifies the source for the resume state: its path and size.
    pub fn identity(&self) -> (String, u64) {
        let path = match self {
            Source::Mapped { path, .. }
            | Source::Stream { path, .. }
            | Source::Files { path, .. } => path,
        };
        let size = match self {
            Source::Files { files, .. } => files.len() as u64,
            _ => self.total_bytes().unwrap_or(0),
        };
        (path.display().to_string(), size)
    }

    /// Windows from `start` on.
    pub fn feed(&self, start: Cursor) -> Result<Box<dyn Feed<'_> + '_>, BatchError> {
        match self {
            Source::Mapped { map, sniffed, .. } => {
                let shared = map.bytes();
                let data: &[u8] = shared;
                let base = start.offset.min(data.len() as u64);
                let rest = &data[base as usize..];
                let variant = sniffed.variant;
                if variant == Variant::Mboxcl2 {
                    let reader = mbox::read(rest, &read_options(Some(variant)));
                    return Ok(Box::new(SerialFeed {
                        reader,
                        base,
                        cursor: start,
                        shared: shared.clone(),
                    }));
                }
                let ranges = readahead::plan_ranges(rest, variant)?;
                Ok(Box::new(RangeFeed {
                    data: rest,
                    base,
                    ranges,
                    next: 0,
                    windows: 0,
                    map,
                    released: base as usize,
                    last_start: base as usize,
                    variant,
                    cursor: start,
                    shared: shared.clone(),
                }))
            }
            Source::Stream {
                reader,
                variant,
                spool_threshold,
                ..
            } => {
                let reader = reader
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take()
                    .expect("a stream source is fed once");
                Ok(Box::new(StreamFeed::spawn(
                    reader,
                    *variant,
                    *spool_threshold,
                    start,
                )))
            }
            Source::Files { files, .. } => {
                let skip = (start.messages as usize).min(files.len());
                Ok(Box::new(FileFeed {
                    files: &files[skip..],
                    cursor: start,
                }))
            }
        }
    }
}

pub(crate) fn first_line(data: &[u8]) -> &[u8] {
    let line = &data[..memchr::memchr(b'\n', data).unwrap_or(data.len())];
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn not_mbox(path: &Path, first: &[u8]) -> BatchError {
    let shown: String = String::from_utf8_lossy(&first[..first.len().min(40)])
        .escape_debug()
        .collect();
    BatchError::BadSource {
        path: path.into(),
        why: format!(
            "not an mbox archive (the first line should be a \"From \" line, found \"{shown}\")"
        ),
    }
}

/// Bytes of a streamed archive looked at for its first line.
const PEEK: usize = 64 * 1024;

/// Checks that a streamed archive starts with a From_ line. Reads until
/// the first line is complete (or [`PEEK`] bytes, or the end): one read
/// may return any few bytes (a pipe, or the magic bytes that opening put
/// back), so a single `fill_buf` would judge a fragment.
fn peek_mbox(
    mut reader: Box<dyn Read + Send>,
    path: &Path,
) -> Result<Box<dyn Read + Send>, BatchError> {
    let mut head = vec![0; PEEK];
    let mut got = 0;
    while got < PEEK && memchr::memchr2(b'\n', b'\r', &head[..got]).is_none() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(BatchError::io(path)(e)),
        }
    }
    head.truncate(got);
    if !head.is_empty() && !mbox::is_from_line(first_line(&head)) {
        return Err(not_mbox(path, first_line(&head)));
    }
    Ok(Box::new(std::io::Cursor::new(head).chain(reader)))
}

/// A Maildir file name's `2,FLAGS` info (empty when it has none).
pub(crate) fn maildir_info(name: &str) -> String {
    name.rsplit_once(":2,")
        .map(|(_, f)| format!("2,{f}"))
        .unwrap_or_default()
}

fn list_folder(path: &Path) -> Result<Source, BatchError> {
    let is_maildir = path.join("cur").is_dir() && path.join("new").is_dir();
    let mut files = Vec::new();
    if is_maildir {
        for (sub, cur) in [("cur", true), ("new", false)] {
            for e in fs::read_dir(path.join(sub)).map_err(BatchError::io(path))? {
                let e = e.map_err(BatchError::io(path))?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !e.file_type().map_err(BatchError::io(path))?.is_file()
                {
                    continue;
                }
                files.push((e.path(), Some((cur, maildir_info(&name)))));
            }
        }
    } else {
        for e in fs::read_dir(path).map_err(BatchError::io(path))? {
            let e = e.map_err(BatchError::io(path))?;
            let p = e.path();
            let eml = p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml"));
            if eml && e.file_type().map_err(BatchError::io(path))?.is_file() {
                files.push((p, None));
            }
        }
        if files.is_empty() {
            return Err(BatchError::BadSource {
                path: path.into(),
                why: "neither a Maildir (cur/, new/) nor a folder of .eml files".into(),
            });
        }
    }
    // By file name: Maildir names start with a time (ours with the archive
    // index), `.eml` names are numbered; so this is arrival/archive order.
    files.sort_by(|a, b| a.0.file_name().cmp(&b.0.file_name()));
    let mut total = 0;
    for (p, _) in &files {
        total += fs::metadata(p).map_err(BatchError::io(p))?.len();
    }
    Ok(Source::Files {
        path: path.into(),
        maildir: is_maildir,
        files,
        total,
    })
}

struct RangeFeed<'a> {
    data: &'a [u8],
    base: u64,
    ranges: Vec<Range<u64>>,
    next: usize,
    /// Windows made so far.
    windows: u32,
    /// The map `data` lies in, its pages before `released` given back,
    /// and where the last window handed out starts (offsets into the map).
    map: &'a mbox::SharedMap,
    released: usize,
    last_start: usize,
    variant: Variant,
    cursor: Cursor,
    shared: Bytes,
}

impl<'a> Feed<'a> for RangeFeed<'a> {
    fn next_window(&mut self, jobs: usize) -> Result<Option<Window<'a>>, BatchError> {
        // The window handed out last may be committing still (this runs
        // while it does: `Feed::reads_ahead`); the ones before it are
        // committed, and their pages go back to the kernel (see
        // `mbox::SharedMap`): the process keeps only the windows in
        // flight mapped, and only the last ones are unmapped at the end.
        self.map.release(self.released..self.last_start);
        self.released = self.last_start;
        if self.next >= self.ranges.len() {
            return Ok(None);
        }
        // The first windows are smaller (1, 2, 4 ranges per worker, then
        // [`RANGES_PER_JOB`]): nothing is committed before the first window
        // is scanned, and later ones are scanned while the run commits the
        // one before ([`Feed::reads_ahead`]).
        let per_job = RANGES_PER_JOB.min(1 << self.windows.min(8));
        self.windows += 1;
        // Every item's output is held until the window's in-order commit,
        // so a window is bounded in bytes too: a range never cuts a message,
        // and 8 ranges per worker of 14 MB messages each held 400 MB of jsonl.
        let budget = RANGE_BYTES * (jobs * per_job) as u64;
        let (mut take, mut bytes) = (0, 0);
        for r in &self.ranges[self.next..] {
            if take == jobs * per_job || bytes >= budget {
                break;
            }
            take += 1;
            bytes += r.end - r.start;
        }
        let units = &self.ranges[self.next..self.next + take];
        self.next += take;
        if let Some(first) = units.first() {
            self.last_start = (self.base + first.start) as usize;
        }
        let (data, base, variant) = (self.data, self.base, self.variant);
        // Each worker scans its own range: no serial pass over the archive.
        let scanned: Vec<(Vec<Item<'a>>, Vec<u64>)> = units
            .par_iter()
            .map(|r| {
                let mut reader = mbox::read_range(data, r.clone(), &read_options(Some(variant)));
                let items: Vec<Item<'a>> = reader.by_ref().map(|e| entry_item(e, base)).collect();
                (
                    items,
                    reader.suspicious().iter().map(|o| o + base).collect(),
                )
            })
            .collect();
        let mut items = Vec::new();
        let mut reports = Vec::new();
        for (mut part, suspicious) in scanned {
            items.append(&mut part);
            reports.extend(suspicious.into_iter().map(|o| {
                format!("offset {o}: a line starting \"From \" that is no From_ line was kept inside its message")
            }));
        }
        let end = units.last().map_or(self.cursor.offset, |r| base + r.end);
        let bytes = end - self.cursor.offset;
        self.cursor = Cursor {
            offset: end,
            messages: self.cursor.messages + items.len() as u64,
        };
        Ok(Some(Window {
            items,
            end: self.cursor,
            bytes,
            reports,
            shared: Some(self.shared.clone()),
            skipped_chain: None,
        }))
    }

    fn reads_ahead(&self) -> bool {
        true
    }
}

fn entry_item<'a>(e: mbox::Entry<'a>, base: u64) -> Item<'a> {
    Item {
        offset: e.offset + base,
        length: e.length,
        envelope: Some(Cow::Borrowed(e.envelope)),
        message: Raw::Cow(e.message),
        maildir: None,
        origin: None,
        refused: None,
    }
}

struct SerialFeed<'a> {
    reader: mbox::Reader<'a>,
    base: u64,
    cursor: Cursor,
    shared: Bytes,
}

impl<'a> Feed<'a> for SerialFeed<'a> {
    fn next_window(&mut self, jobs: usize) -> Result<Option<Window<'a>>, BatchError> {
        let limit = RANGE_BYTES * (jobs * RANGES_PER_JOB) as u64;
        let mut items = Vec::new();
        let mut bytes = 0;
        while bytes < limit {
            let Some(e) = self.reader.next() else { break };
            bytes += e.length;
            items.push(entry_item(e, self.base));
        }
        if items.is_empty() {
            return Ok(None);
        }
        let last = items.last().expect("not empty");
        self.cursor = Cursor {
            offset: last.offset + last.length,
            messages: self.cursor.messages + items.len() as u64,
        };
        Ok(Some(Window {
            items,
            end: self.cursor,
            bytes,
            reports: Vec::new(),
            shared: Some(self.shared.clone()),
            skipped_chain: None,
        }))
    }

    fn reads_ahead(&self) -> bool {
        true
    }
}

/// One streamed batch: entries, and messages refused as too large.
type Batch = Vec<Result<OwnedEntry, (u64, String)>>;

struct StreamFeed {
    rx: Receiver<Result<Batch, MboxError>>,
    skip: u64,
    /// The chain of the skipped messages, while skipping.
    skipped: Option<Chain>,
    cursor: Cursor,
}

impl StreamFeed {
    fn spawn(
        reader: Box<dyn Read + Send>,
        variant: Option<Variant>,
        spool_threshold: usize,
        start: Cursor,
    ) -> StreamFeed {
        // Two batches per core in flight at most: bounded memory.
        let (tx, rx) = sync_channel(rayon::current_num_threads() * UNITS_PER_JOB);
        std::thread::spawn(move || {
            let mut stream =
                mbox::stream(reader, &read_options(variant)).spool_threshold(spool_threshold);
            loop {
                let chunk = readahead::next_chunk(&mut stream, RANGE_BYTES, BATCH_ENTRIES);
                if let Some(e) = chunk.error {
                    let _ = tx.send(Err(e));
                    return;
                }
                let batch: Batch = chunk
                    .entries
                    .into_iter()
                    .map(|e| e.map_err(refused))
                    .collect();
                if !batch.is_empty() && tx.send(Ok(batch)).is_err() {
                    return;
                }
                if chunk.done {
                    return;
                }
            }
        });
        StreamFeed {
            rx,
            skip: start.messages,
            skipped: (start.messages > 0).then(Chain::default),
            cursor: Cursor {
                offset: 0,
                messages: start.messages,
            },
        }
    }
}

/// A message skipped as too large, as its item reports it.
fn refused(e: MboxError) -> (u64, String) {
    match e {
        MboxError::TooLarge { offset, limit } => (
            offset,
            format!("message at offset {offset} is larger than the streaming limit of {limit} bytes; skipped"),
        ),
        e => unreachable!("a chunk keeps only TooLarge in place: {e}"),
    }
}

impl<'a> Feed<'a> for StreamFeed {
    fn next_window(&mut self, jobs: usize) -> Result<Option<Window<'a>>, BatchError> {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut budget = 0;
        let mut seen = 0;
        let mut skipped_chain = None;
        for _ in 0..jobs * UNITS_PER_JOB {
            let Ok(batch) = self.rx.recv() else { break };
            for e in batch? {
                seen += 1;
                let item = match e {
                    Ok(e) => {
                        self.cursor.offset = e.offset + e.length;
                        bytes += e.length;
                        budget += weight(&e);
                        Item {
                            offset: e.offset,
                            length: e.length,
                            envelope: Some(Cow::Owned(e.envelope)),
                            message: Raw::Shared(e.message),
                            maildir: None,
                            origin: None,
                            refused: None,
                        }
                    }
                    Err((offset, why)) => Item {
                        offset,
                        length: 0,
                        envelope: None,
                        message: Raw::Cow(Cow::Borrowed(&[])),
                        maildir: None,
                        origin: None,
                        refused: Some(why),
                    },
                };
                if self.skip > 0 {
                    // Committed by the run being resumed.
                    self.skip -= 1;
                    if let Some(chain) = &mut self.skipped {
                        chain.push_digest(&Chain::link(
                            item.offset,
                            item.envelope.as_deref(),
                            &item.message,
                        ));
                        if self.skip == 0 {
                            skipped_chain = self.skipped.take();
                        }
                    }
                    continue;
                }
                items.push(item);
            }
            if budget >= RANGE_BYTES * jobs as u64 {
                break;
            }
        }
        if seen == 0 {
            return Ok(None);
        }
        self.cursor.messages += items.len() as u64;
        Ok(Some(Window::owned(
            items,
            self.cursor,
            bytes,
            skipped_chain,
        )))
    }
}

struct FileFeed<'a> {
    files: &'a [(PathBuf, Option<(bool, String)>)],
    cursor: Cursor,
}

impl<'a> Feed<'a> for FileFeed<'a> {
    fn next_window(&mut self, jobs: usize) -> Result<Option<Window<'a>>, BatchError> {
        if self.files.is_empty() {
            return Ok(None);
        }
        let take = (jobs * UNITS_PER_JOB * FILES_PER_CHUNK).min(self.files.len());
        let (now, later) = self.files.split_at(take);
        self.files = later;
        let items = now
            .par_iter()
            .map(|(path, maildir)| {
                let data = fs::read(path).map_err(BatchError::io(path))?;
                Ok(Item {
                    offset: 0,
                    length: data.len() as u64,
                    envelope: None,
                    message: Raw::Shared(Bytes::from(data)),
                    maildir: maildir.clone(),
                    origin: Some(path.clone()),
                    refused: None,
                })
            })
            .collect::<Result<Vec<_>, BatchError>>()?;
        let bytes = items.iter().map(|i| i.length).sum();
        self.cursor.messages += items.len() as u64;
        Ok(Some(Window::owned(items, self.cursor, bytes, None)))
    }
}

/// What `mimeflow count` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountSummary {
    /// Messages in the source.
    pub messages: u64,
    /// Source bytes (uncompressed).
    pub bytes: u64,
    /// "mboxrd", "maildir", ...
    pub kind: String,
    /// Why that mbox variant, where sniffed.
    pub reason: Option<String>,
}

/// Counts the messages of an mbox, Maildir or `.eml` folder, in parallel
/// over byte ranges for a mapped archive.
pub fn count(path: &Path, variant: Option<Variant>) -> Result<CountSummary, BatchError> {
    let src = Source::open(path, variant, mbox::DEFAULT_SPOOL_THRESHOLD)?;
    let (messages, bytes) = match &src {
        Source::Mapped { map, sniffed, .. } => {
            let data = map.bytes();
            let data: &[u8] = data;
            let n = if sniffed.variant == Variant::Mboxcl2 {
                mbox::read(data, &read_options(Some(sniffed.variant))).count() as u64
            } else {
                let ranges = readahead::plan_ranges(data, sniffed.variant)?;
                ranges
                    .into_par_iter()
                    .map(|r| {
                        mbox::read_range(data, r, &read_options(Some(sniffed.variant))).count()
                            as u64
                    })
                    .sum()
            };
            (n, data.len() as u64)
        }
        Source::Stream { .. } => {
            let mut feed = src.feed(Cursor::default())?;
            let (mut n, mut bytes) = (0, 0);
            while let Some(w) = feed.next_window(rayon::current_num_threads())? {
                n += w.items.len() as u64;
                bytes += w.bytes;
            }
            (n, bytes)
        }
        Source::Files { files, total, .. } => (files.len() as u64, *total),
    };
    Ok(CountSummary {
        messages,
        bytes,
        kind: src.kind(),
        reason: src.variant_reason(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn mapped_windows_are_bounded_in_bytes() {
        // Six messages of 12 MiB, each its own range: eight ranges per
        // worker would put all 72 MiB (and their outputs) in one window.
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let body = "x".repeat(1022) + "\r\n";
        for i in 0..6 {
            write!(
                f,
                "From a@b Mon Jan  1 00:00:00 2024\r\nSubject: {i}\r\n\r\n"
            )
            .unwrap();
            for _ in 0..12 * 1024 {
                f.write_all(body.as_bytes()).unwrap();
            }
            f.write_all(b"\r\n").unwrap();
        }
        f.flush().unwrap();
        let source = Source::open(f.path(), None, usize::MAX).unwrap();
        let mut feed = source.feed(Cursor::default()).unwrap();
        let (mut windows, mut messages) = (0, 0);
        while let Some(w) = feed.next_window(1).unwrap() {
            assert!(
                w.bytes <= RANGE_BYTES * RANGES_PER_JOB as u64 + (13 << 20),
                "{}",
                w.bytes
            );
            windows += 1;
            messages += w.items.len();
        }
        // Windows of 1, 2, 4, then 8 ranges (see `RangeFeed::next_window`),
        // cut short by the byte budget: 1, 1, 2 and 2 messages.
        assert_eq!((windows, messages), (4, 6));
    }
}
