//! Walking a message as it streams past: the entity tree of
//! [`Message::parse`](super::Message::parse), one entity at a time, in
//! memory bounded by the limits and not by the message.
//!
//! # Why another walker
//!
//! `Message::parse` needs the whole source in one buffer: entities are byte
//! ranges into it. For `mimeflow extract -` and `mimeflow cat - SECTION` the
//! source is a pipe that may carry gigabytes, and both commands only need
//! each entity's header (type, name, encoding) and its body once, front to
//! back. [`walk`] reads the input in chunks, reports each entity to a
//! [`Visitor`] when its header block has been read, streams the bodies the
//! visitor asks for through the streaming decoders, and forgets everything
//! behind it.
//!
//! # One scanner per open multipart
//!
//! Every byte is pushed into one [`Scanner`] per
//! open multipart level (the levels are capped by [`Limits::max_depth`], so
//! this is at most `max_depth` scanners of a few bytes each). Each scanner
//! reports the delimiter lines of its own boundary; the walker takes the
//! reports in stream order and, where several levels report the same line,
//! the innermost wins, as in the parser's table of open boundaries. A
//! delimiter of an outer level closes every level inside it (their
//! scanners are dropped); an outer scanner that saw a line the inner level
//! took is restarted just after that line, so a close delimiter shared by
//! two levels cannot end the outer one. A new level's scanner starts at its
//! body, which is always a line start. The scanners say where a delimiter
//! line *ends*; the walker finds where it starts (the last line end before
//! it) in the bytes it still holds.
//!
//! # What is held
//!
//! - the bytes not yet given to a body: body bytes are handed on as soon as
//!   they cannot belong to a delimiter line, that is, everything but an
//!   unfinished line that starts with `--` (or is still too short to tell)
//!   and the line end before it. Such a line is held up to [`HOLD_LINE`]
//!   bytes; a longer one is handed on, and if it then turns out to be a
//!   delimiter (padding of more than 64 KiB) the walk stops with an error;
//! - the header block being read, up to `Limits::max_header_bytes` (the
//!   parser reads no more of it either); the rest of a longer header is
//!   skipped line by line, so a header with no end costs the limit, not
//!   the input;
//! - per open level, its scanner and boundary; per open entity, its
//!   section number and, for a body being decoded, the decoder's state
//!   (one 256 KiB block, `decode.rs`'s `BLOCK`).
//!
//! # Same answers as the parser
//!
//! The walker makes none of the parser's decisions itself. Each header
//! block is read by `Message::parse` (wrapped in a `multipart/digest` when
//! its parent is one, so the digest's default type applies), which gives
//! type, disposition, file name, transfer encoding and kind, with the depth
//! limit passed as a smaller `max_depth`. Bodies go through the same
//! decoders, fed the same `BLOCK`-sized pieces, with the same fallbacks
//! for broken Base64. What the walker does itself is the parser's walk
//! order: header extent (a blank line, or a delimiter line of an open
//! level: `missing_header_body_separator`), the line end before a
//! delimiter belonging to it, two delimiter lines in a row opening no part,
//! the parts limit, and the IMAP numbering (shared with `section.rs`).
//!
//! # What cannot stream
//!
//! A few answers of the parser are only known at the end of an entity
//! whose bytes are gone by then. The walk reports them as errors, never
//! as different output, and holds nothing unbounded for them:
//! - a multipart whose boundary never appears reads as a leaf (another
//!   section number for the root, its transfer encoding undone). While a
//!   multipart has seen no delimiter, and as a leaf it would be wanted,
//!   its body is kept up to [`KEEP_RAW`] bytes; it is dropped at the first
//!   delimiter, or read as the leaf's when the multipart ends without one.
//!   Past `KEEP_RAW` the walk fails ([`WalkError::BodyTooLarge`]);
//!   a body already handed on that now reads otherwise is taken back
//!   ([`Visitor::withdraw`]) or the walk fails;
//! - Base64 so broken that even the repairs fail is written as its raw
//!   text; that text is kept up to [`KEEP_RAW`] bytes, past which the walk
//!   fails, and a sink that cannot start over fails too (`write_section`
//!   holds its first `KEEP_RAW` bytes of output back so it can);
//! - a uuencoded body is decoded whole (its `begin` line may be anywhere):
//!   bodies up to [`KEEP_RAW`] bytes;
//! - a quoted-printable run with no place to cut (blanks with no line end)
//!   longer than [`HOLD_LINE`] bytes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::rc::Rc;

use super::decode::{TransferEncoding, BLOCK};
use super::section;
use super::{DecodeSink, Kind, Limits, Message, ParseOptions};
use crate::base64::{DecodeMode, DecodeState, STANDARD};
use crate::multipart::{Event, Scanner};
use crate::{qp, uu};

/// Longest unfinished line held back because it may still be a delimiter.
pub const HOLD_LINE: usize = 64 << 10;
/// Largest body kept whole where streaming cannot decide early (see the
/// module notes).
pub const KEEP_RAW: usize = 4 << 20;

/// A header block grows by doubling up to this size, then to the limit at
/// once (see `add_header_line`).
const HEADER_STEP: usize = 1 << 20;
/// Bytes read from the input at a time.
const READ: usize = 256 << 10;

/// Why a walk stopped without an answer; every other input has one.
#[derive(Debug)]
pub enum WalkError {
    /// A multipart whose boundary never appears would read as a wanted leaf.
    MultipartWithoutBoundary {
        /// Its section as a leaf.
        section: String,
    },
    /// A delimiter line longer than [`HOLD_LINE`].
    LongDelimiterLine {
        /// Where the line ends.
        offset: u64,
    },
    /// A body that must be kept whole is longer than [`KEEP_RAW`].
    BodyTooLarge {
        /// The part.
        section: String,
        /// What could not be kept.
        what: &'static str,
    },
    /// A body's decoded bytes had to start over on a sink that cannot.
    CannotRestart {
        /// The part.
        section: String,
    },
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkError::MultipartWithoutBoundary { section } => write!(
                f,
                "part {section:?} is a multipart whose boundary never appears; \
                 it cannot be read as a stream"
            ),
            WalkError::LongDelimiterLine { offset } => write!(
                f,
                "delimiter line at byte {offset} is longer than {HOLD_LINE} bytes; \
                 it cannot be read as a stream"
            ),
            WalkError::BodyTooLarge { section, what } => write!(
                f,
                "part {section:?}: {what} longer than {KEEP_RAW} bytes cannot be read as a stream"
            ),
            WalkError::CannotRestart { section } => write!(
                f,
                "part {section:?}: broken Base64 reads as its raw text, \
                 which cannot replace output already written"
            ),
        }
    }
}

impl std::error::Error for WalkError {}

fn fail(e: WalkError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// What the walker knows of an entity when its header has been read.
#[derive(Clone, Debug)]
pub struct PartInfo {
    /// IMAP section as [`Message::sections`](super::Message::sections)
    /// prints it.
    pub section: String,
    /// The section's numbers (all of them, never cut).
    pub components: Vec<u32>,
    /// Kind as the parser would give it (a multipart may still turn into a
    /// leaf if its boundary never appears; the visitor is then asked again).
    pub kind: Kind,
    /// File name (as [`EntityRef::filename`](super::EntityRef::filename)).
    pub filename: Option<String>,
    /// Whether the entity is an attachment, were it a leaf.
    pub attachment: bool,
}

/// Where an entity's body goes.
pub enum Take<'v> {
    /// Nowhere.
    Skip,
    /// Decoded (as [`EntityRef::decode_to`](super::EntityRef::decode_to)).
    Decoded(Box<dyn DecodeSink + 'v>),
    /// As it stands (as [`EntityRef::body_bytes`](super::EntityRef::body_bytes)).
    Raw(Box<dyn DecodeSink + 'v>),
}

/// What a [`walk`] reports to.
pub trait Visitor<'v> {
    /// Whether the body of `part` is wanted (no side effects).
    fn wants(&self, part: &PartInfo) -> bool;
    /// An entity whose body [`wants`](Self::wants) says is wanted; says
    /// where its body goes.
    fn open(&mut self, part: &PartInfo) -> io::Result<Take<'v>>;
    /// The body asked for by `open` ended: `size` bytes went to `sink`.
    fn close(
        &mut self,
        part: &PartInfo,
        sink: Box<dyn DecodeSink + 'v>,
        size: u64,
    ) -> io::Result<()>;
    /// The multipart `part`, whose body went to `sink`, turned out to have
    /// no boundary and, read as a leaf, is not what `open` was told: take
    /// its body back, or fail.
    fn withdraw(&mut self, part: &PartInfo, sink: Box<dyn DecodeSink + 'v>) -> io::Result<()> {
        let _ = sink;
        Err(fail(WalkError::MultipartWithoutBoundary {
            section: part.section.clone(),
        }))
    }
}

/// Reads a message from `input` and reports its entities to `visitor` in
/// the order of [`Message::walk`](super::Message::walk), with the limits of
/// `limits` (as [`ParseOptions::limits`]).
pub fn walk<'v>(
    mut input: impl Read,
    limits: Limits,
    visitor: &mut impl Visitor<'v>,
) -> io::Result<()> {
    let mut w = Walker::new(limits);
    w.start_header(0, None, 0, 1);
    let mut chunk = vec![0u8; READ];
    loop {
        w.run(visitor)?;
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.feed(&chunk[..n])?;
    }
    w.eof()?;
    w.run(visitor)?;
    w.close_all(visitor)
}

/// A delimiter line a level's scanner reported.
#[derive(Clone, Copy, Debug)]
struct Delim {
    line_start: u64,
    next: u64,
    close: bool,
}

struct Level {
    scanner: Scanner,
    /// Absolute offset of the scanner's first byte.
    base: u64,
    boundary: Vec<u8>,
    /// Index in `open` of the multipart.
    entity: usize,
    saw_delimiter: bool,
    part_start: Option<u64>,
    parts: u32,
    digest: bool,
    queue: VecDeque<Delim>,
}

struct Open<'v> {
    info: PartInfo,
    kind: Kind,
    depth: u32,
    /// Section components (see `section::child_component`).
    comps: Vec<u32>,
    body_start: u64,
    body: Option<Body<'v>>,
    encoding: TransferEncoding,
    /// A multipart that has not seen its boundary yet and that, read as a
    /// leaf, the visitor would want: its info as a leaf, and its body so
    /// far (up to [`KEEP_RAW`]; `None` past it).
    spool: Option<(PartInfo, Option<Vec<u8>>)>,
    /// Where the spooled body stops.
    spool_next: u64,
}

/// Reading a header block.
struct Header {
    start: u64,
    /// Index in `open` of the parent (None for the root).
    parent: Option<usize>,
    /// Level whose delimiter opened this part, if any.
    level: Option<usize>,
    depth: u32,
    ordinal: u32,
    /// Start of the line being read.
    line: u64,
    block: Vec<u8>,
    /// The block passed `max_header_bytes`: the rest is skipped.
    full: bool,
    /// `line` is inside a line already begun (a line longer than
    /// [`HOLD_LINE`] is taken in pieces): neither blank nor a delimiter.
    mid_line: bool,
}

struct Walker<'v> {
    limits: Limits,
    /// Bytes from absolute `buf_at` on.
    buf: Vec<u8>,
    buf_at: u64,
    eof: bool,
    /// Just after the last LF seen (0 at the start).
    last_line: u64,
    levels: Vec<Level>,
    open: Vec<Open<'v>>,
    header: Option<Header>,
    /// Entities opened so far (for `max_parts`).
    entities: usize,
    events: Vec<Event>,
}

impl<'v> Walker<'v> {
    fn new(limits: Limits) -> Self {
        Walker {
            limits,
            buf: Vec::new(),
            buf_at: 0,
            eof: false,
            last_line: 0,
            levels: Vec::new(),
            open: Vec::new(),
            header: None,
            entities: 0,
            events: Vec::new(),
        }
    }

    fn end(&self) -> u64 {
        self.buf_at + self.buf.len() as u64
    }

    fn byte(&self, at: u64) -> Option<u8> {
        at.checked_sub(self.buf_at)
            .and_then(|i| self.buf.get(i as usize).copied())
    }

    fn slice(&self, from: u64, to: u64) -> &[u8] {
        let a = (from.max(self.buf_at) - self.buf_at) as usize;
        let b = (to.max(self.buf_at) - self.buf_at) as usize;
        &self.buf[a.min(b)..b]
    }

    /// Appends input and pushes it into every open level's scanner.
    fn feed(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.trim();
        let from = self.end();
        self.buf.extend_from_slice(chunk);
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            self.last_line = from + i as u64 + 1;
        }
        for l in 0..self.levels.len() {
            self.push_level(l, from)?;
        }
        Ok(())
    }

    /// The input has ended: level `l`'s scanner finishes, and what it
    /// reports is queued.
    fn finish_level(&mut self, l: usize) -> io::Result<()> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        self.levels[l].scanner.finish(&mut events);
        let end = self.end();
        let r = self.queue_events(l, &events, end);
        self.events = events;
        r
    }

    /// Pushes the bytes from `from` to the end into level `l`'s scanner.
    fn push_level(&mut self, l: usize, from: u64) -> io::Result<()> {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let end = self.end();
        let a = (from - self.buf_at) as usize;
        self.levels[l].scanner.push(&self.buf[a..], &mut events);
        let r = self.queue_events(l, &events, end);
        self.events = events;
        r
    }

    fn queue_events(&mut self, l: usize, events: &[Event], end: u64) -> io::Result<()> {
        let base = self.levels[l].base;
        for ev in events {
            let (next, close) = match *ev {
                Event::PartStart { offset } => (base + offset, false),
                Event::Close { offset } => (base + offset, true),
                Event::PartEnd { .. } => continue,
            };
            let line_start = self.line_start(next, end)?;
            self.levels[l].queue.push_back(Delim {
                line_start,
                next,
                close,
            });
        }
        Ok(())
    }

    /// Start of the delimiter line that ends at `next` (after its LF, or at
    /// the end of the input).
    fn line_start(&self, next: u64, end: u64) -> io::Result<u64> {
        let mut stop = next;
        if next < end || self.byte(next.wrapping_sub(1)) == Some(b'\n') {
            stop = next - 1;
        }
        let hay = self.slice(self.buf_at, stop);
        match memchr::memrchr(b'\n', hay) {
            Some(i) => Ok(self.buf_at + i as u64 + 1),
            None if self.buf_at == 0 => Ok(0),
            None => Err(fail(WalkError::LongDelimiterLine { offset: stop })),
        }
    }

    /// The input ended: the scanners report delimiter lines without a line end.
    fn eof(&mut self) -> io::Result<()> {
        self.eof = true;
        let end = self.end();
        for l in 0..self.levels.len() {
            let mut events = std::mem::take(&mut self.events);
            events.clear();
            self.levels[l].scanner.finish(&mut events);
            let r = self.queue_events(l, &events, end);
            self.events = events;
            r?;
        }
        Ok(())
    }

    /// The earliest reported delimiter line (innermost on ties).
    fn next_delim(&self) -> Option<(usize, Delim)> {
        let mut best: Option<(usize, Delim)> = None;
        for (l, level) in self.levels.iter().enumerate() {
            if let Some(&d) = level.queue.front() {
                if best.is_none_or(|(_, b)| d.next <= b.next) {
                    best = Some((l, d));
                }
            }
        }
        best
    }

    /// Everything before this may go to the bodies being read.
    fn safe_end(&self) -> u64 {
        let end = self.end();
        if self.eof {
            return self
                .next_delim()
                .map_or(end, |(_, d)| d.line_start.saturating_sub(2));
        }
        // The line end before a line that may still be a delimiter, and
        // that line, are held.
        let mut hold = None::<u64>;
        if let Some((_, d)) = self.next_delim() {
            hold = Some(d.line_start);
        }
        let tail = end - self.last_line;
        let starts_dashes = self.slice(self.last_line, end).starts_with(b"--");
        if tail < 2 || (starts_dashes && tail as usize <= HOLD_LINE) {
            hold = Some(hold.map_or(self.last_line, |h| h.min(self.last_line)));
        }
        // A CR at the very end may be the first half of the next line end.
        let cr = u64::from(self.byte(end.wrapping_sub(1)) == Some(b'\r'));
        hold.map_or(end - cr, |h| h.saturating_sub(2))
    }

    /// Drops the bytes nobody needs any more.
    fn trim(&mut self) {
        let mut low = self.safe_end().saturating_sub(2);
        for o in &self.open {
            if let Some(b) = &o.body {
                low = low.min(b.next.max(o.body_start));
            }
        }
        if let Some(h) = &self.header {
            low = low.min(h.line);
        }
        if let Some((_, d)) = self.next_delim() {
            low = low.min(d.line_start.saturating_sub(2));
        }
        if self.last_line + HOLD_LINE as u64 >= self.end() {
            low = low.min(self.last_line.saturating_sub(2));
        }
        let k = low.saturating_sub(self.buf_at) as usize;
        if k > 0 && k >= self.buf.len() / 2 {
            self.buf.drain(..k);
            self.buf_at += k as u64;
        }
    }

    /// Goes as far as the bytes held allow.
    fn run(&mut self, v: &mut impl Visitor<'v>) -> io::Result<()> {
        loop {
            if self.header.is_some() {
                if !self.header_step(v)? {
                    break;
                }
                continue;
            }
            match self.next_delim() {
                Some((l, d)) => {
                    self.release(d.line_start.saturating_sub(2))?;
                    self.levels[l].queue.pop_front();
                    self.delimiter(l, d, v)?;
                }
                None => break,
            }
        }
        let safe = self.safe_end();
        self.release(safe)
    }

    /// Gives the bodies being read their bytes up to `to`.
    fn release(&mut self, to: u64) -> io::Result<()> {
        let (buf, buf_at) = (&self.buf, self.buf_at);
        for o in &mut self.open {
            if let Some((_, kept)) = &mut o.spool {
                let from = o.spool_next.max(o.body_start);
                if to > from {
                    let piece = &buf[(from - buf_at) as usize..(to - buf_at) as usize];
                    if kept
                        .as_ref()
                        .is_some_and(|k| k.len() + piece.len() > KEEP_RAW)
                    {
                        *kept = None;
                    }
                    if let Some(k) = kept {
                        k.extend_from_slice(piece);
                    }
                    o.spool_next = to;
                }
            }
            give_body(o, buf, buf_at, to)?;
        }
        Ok(())
    }

    /// One line of the header block being read; false when more input is needed.
    fn header_step(&mut self, v: &mut impl Visitor<'v>) -> io::Result<bool> {
        let h = self.header.as_ref().expect("reading a header");
        let (line, mid_line) = (h.line, h.mid_line);
        // A delimiter line of an open level ends the block, blank line or not.
        if let Some((l, d)) = self.next_delim() {
            if d.line_start == line && !mid_line {
                self.end_header(line, line, Some((l, d)), v)?;
                return Ok(true);
            }
        }
        let end = self.end();
        let rest = self.slice(line, end);
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            if self.eof {
                let block = rest.to_vec();
                self.add_header_line(&block);
                self.end_header(end, end, None, v)?;
                return Ok(true);
            }
            if rest.len() > HOLD_LINE {
                // A line with no end: keep what the limit allows, go on.
                let block = rest.to_vec();
                self.add_header_line(&block);
                let h = self.header.as_mut().expect("header");
                h.line = end;
                h.mid_line = true;
            }
            return Ok(false);
        };
        let next = line + lf as u64 + 1;
        let text = &rest[..=lf];
        if !mid_line && (text == b"\n" || text == b"\r\n") {
            self.end_header(line, next, None, v)?;
            return Ok(true);
        }
        let text = text.to_vec();
        self.add_header_line(&text);
        let h = self.header.as_mut().expect("header");
        h.line = next;
        h.mid_line = false;
        Ok(true)
    }

    fn add_header_line(&mut self, text: &[u8]) {
        let max = self.limits.max_header_bytes;
        let h = self.header.as_mut().expect("header");
        if h.full {
            return;
        }
        // Grown by hand, so the block's buffer never exceeds the limit (plus
        // the blank line `parse_block` adds): by doubling up to
        // `HEADER_STEP`, then straight to the limit. Doubling all the way
        // left every smaller buffer (8 + 4 + 2 ... MiB) with the allocator,
        // which keeps freed blocks mapped for a while: a header that never
        // ends peaked at 60 MB instead of about 40.
        let need = (h.block.len() + text.len()).min(max) + 4;
        if need > h.block.capacity() {
            let limit = max.saturating_add(4).max(need);
            let target = if need <= HEADER_STEP {
                (h.block.capacity() * 2).clamp(need, HEADER_STEP.min(limit))
            } else {
                limit
            };
            h.block.reserve_exact(target - h.block.len());
        }
        if h.block.len() + text.len() > max {
            let room = max - h.block.len();
            h.block.extend_from_slice(&text[..room]);
            // The parser keeps the block up to its last whole line.
            let keep = memchr::memrchr(b'\n', &h.block).map_or(0, |i| i + 1);
            h.block.truncate(keep);
            h.full = true;
        } else {
            h.block.extend_from_slice(text);
        }
    }

    fn start_header(&mut self, start: u64, parent: Option<usize>, depth: u32, ordinal: u32) {
        let level = parent.and_then(|p| self.levels.iter().rposition(|l| l.entity == p));
        self.header = Some(Header {
            start,
            parent,
            level: level.filter(|_| parent.is_some_and(|p| self.open[p].kind == Kind::Multipart)),
            depth,
            ordinal,
            line: start,
            block: Vec::new(),
            full: false,
            mid_line: false,
        });
    }

    /// The header block ended at `header_end`; the body starts at `body_start`.
    /// `delim` is the delimiter line that ended it, if one did.
    fn end_header(
        &mut self,
        _header_end: u64,
        body_start: u64,
        delim: Option<(usize, Delim)>,
        v: &mut impl Visitor<'v>,
    ) -> io::Result<()> {
        let h = self.header.take().expect("header");
        let digest = h.level.is_some_and(|l| self.levels[l].digest);
        // Two delimiter lines in a row open no part: `multipart`'s
        // repeated-delimiter rule, as the parser applies it (in a digest
        // too, where the part would have carried an implied message).
        if let (Some(pl), Some((l, d))) = (h.level, delim) {
            if pl == l && crate::multipart::repeats_delimiter(d.line_start, d.close, Some(h.start))
            {
                let level = &mut self.levels[l];
                level.parts -= 1;
                level.part_start = None;
                return Ok(());
            }
        }
        self.entities += 1;
        let head = read_header(h.block, digest, self.limits.max_depth, h.depth);
        let info_kind = head.kind;
        let info = part_info(&self.open, h.parent, info_kind, h.ordinal, &head);
        let comps = info.components.clone();
        let take = if v.wants(&info) {
            v.open(&info)?
        } else {
            Take::Skip
        };
        let encoding = head.encoding.clone();
        let took = !matches!(take, Take::Skip);
        let spool = (info_kind == Kind::Multipart)
            .then(|| {
                let mut leaf = part_info(&self.open, h.parent, Kind::Leaf, h.ordinal, &head);
                leaf.kind = Kind::Leaf;
                leaf
            })
            // Kept too when its body is taken as a multipart's: read as a
            // leaf it may need decoding from its first byte.
            .filter(|leaf| took || v.wants(leaf))
            .map(|leaf| (leaf, Some(Vec::new())));
        let boundary = head.boundary;
        let is_digest = head.digest;
        let body = match take {
            Take::Skip => None,
            Take::Raw(sink) => Some(Body::new(sink, Decoder::Raw)),
            Take::Decoded(sink) => {
                let dec = if info_kind != Kind::Leaf {
                    // A multipart's body as it stands (decode.rs, `to_sink`).
                    Decoder::Raw
                } else {
                    Decoder::for_encoding(&encoding)
                };
                Some(Body::new(sink, dec))
            }
        };
        let idx = self.open.len();
        self.open.push(Open {
            info,
            kind: info_kind,
            depth: h.depth,
            comps,
            body_start,
            body,
            encoding: encoding.clone(),
            spool,
            spool_next: body_start,
        });
        match info_kind {
            Kind::Leaf => {}
            Kind::Multipart => {
                let boundary = boundary.unwrap_or_default();
                let mut level = Level {
                    scanner: Scanner::every_delimiter(&boundary),
                    base: body_start,
                    boundary,
                    entity: idx,
                    saw_delimiter: false,
                    part_start: None,
                    parts: 0,
                    digest: is_digest,
                    queue: VecDeque::new(),
                };
                // The new level's delimiters lie ahead of every queued one
                // of the outer levels that starts at or after its body.
                level.queue.clear();
                self.levels.push(level);
                let l = self.levels.len() - 1;
                self.push_level(l, body_start)?;
                if self.eof {
                    self.finish_level(l)?;
                }
            }
            Kind::Message => {
                if self.entities >= self.limits.max_parts {
                    // The parser reads such a part as a leaf (parts_limit).
                    self.open[idx].kind = Kind::Leaf;
                } else {
                    self.start_header(body_start, Some(idx), h.depth + 1, 1);
                }
            }
        }
        Ok(())
    }

    /// A delimiter line of level `l`.
    fn delimiter(&mut self, l: usize, d: Delim, v: &mut impl Visitor<'v>) -> io::Result<()> {
        let multipart = self.levels[l].entity;
        let floor = self.open[multipart].body_start;
        let mut content_end = d.line_start;
        if content_end > floor && self.byte(content_end - 1) == Some(b'\n') {
            content_end -= 1;
            if content_end > floor && self.byte(content_end - 1) == Some(b'\r') {
                content_end -= 1;
            }
        }
        self.close_inside(l, content_end, v)?;
        self.restart_outer(l, d.next)?;
        if !d.close && !self.levels[l].saw_delimiter {
            self.levels[l].saw_delimiter = true;
            // A multipart after all: nothing to keep for reading it as a leaf.
            self.open[multipart].spool = None;
        }
        if d.close {
            self.pop_level(v)?;
            return Ok(());
        }
        if self.entities >= self.limits.max_parts {
            return Ok(());
        }
        let depth = self.open[multipart].depth + 1;
        let level = &mut self.levels[l];
        level.part_start = Some(d.next);
        level.parts += 1;
        let ordinal = level.parts;
        self.start_header(d.next, Some(multipart), depth, ordinal);
        Ok(())
    }

    /// Outer levels that saw the line level `l` took start over after it.
    fn restart_outer(&mut self, l: usize, next: u64) -> io::Result<()> {
        for o in 0..l {
            let stale = self.levels[o].queue.front().is_some_and(|d| d.next <= next);
            if stale {
                let level = &mut self.levels[o];
                level.queue.retain(|d| d.next > next);
                level.queue.clear();
                level.scanner = Scanner::every_delimiter(&level.boundary);
                level.base = next;
                if next < self.end() || !self.eof {
                    self.push_level(o, next)?;
                }
                if self.eof {
                    self.finish_level(o)?;
                }
            }
        }
        Ok(())
    }

    /// Closes every entity opened inside level `f`'s current part, and every
    /// level deeper than `f` (they lacked a close delimiter).
    fn close_inside(&mut self, f: usize, end: u64, v: &mut impl Visitor<'v>) -> io::Result<()> {
        self.header = None;
        while self.levels.len() > f + 1 {
            let keep = self.levels.last().expect("level").entity + 1;
            self.close_above(keep, end, v)?;
            self.pop_level(v)?;
        }
        let keep = self.levels[f].entity + 1;
        self.close_above(keep, end, v)
    }

    fn close_above(&mut self, keep: usize, end: u64, v: &mut impl Visitor<'v>) -> io::Result<()> {
        while self.open.len() > keep {
            self.close_last(end, v)?;
        }
        Ok(())
    }

    /// Pops the innermost level; a multipart that never saw its boundary
    /// reads as a leaf.
    fn pop_level(&mut self, v: &mut impl Visitor<'v>) -> io::Result<()> {
        let level = self.levels.pop().expect("a level is open");
        if level.saw_delimiter {
            return Ok(());
        }
        let o = &mut self.open[level.entity];
        o.kind = Kind::Leaf;
        // Its body, taken as a multipart's (as it stands), reads the same as
        // a leaf's unless it is encoded, or it was the root asked for as ""
        // (which names no leaf).
        if o.body.is_some() && (o.encoding.is_encoded() || o.info.components.is_empty()) {
            let body = o.body.take().expect("a body");
            v.withdraw(&o.info, body.sink)?;
        }
        // Wanted as a leaf: its body so far was kept, and goes on from here.
        if let Some((leaf, kept)) = o.spool.take().filter(|(leaf, _)| v.wants(leaf)) {
            let Some(kept) = kept else {
                return Err(fail(WalkError::BodyTooLarge {
                    section: leaf.section,
                    what: "a multipart whose boundary never appears",
                }));
            };
            let mut body = match v.open(&leaf)? {
                Take::Skip => return Ok(()),
                Take::Raw(sink) => Body::new(sink, Decoder::Raw),
                Take::Decoded(sink) => Body::new(sink, Decoder::for_encoding(&o.encoding)),
            };
            body.write(&kept, &leaf.section)?;
            body.next = o.spool_next;
            o.body = Some(body);
            o.info = leaf;
        }
        Ok(())
    }

    /// Closes the innermost open entity at `end`.
    fn close_last(&mut self, end: u64, v: &mut impl Visitor<'v>) -> io::Result<()> {
        let end = end.max(self.open.last().expect("open").body_start);
        self.release_one(self.open.len() - 1, end)?;
        let o = self.open.pop().expect("open");
        if let Some(body) = o.body {
            let (sink, size) = body.finish(&o.info.section)?;
            v.close(&o.info, sink, size)?;
        }
        Ok(())
    }

    fn release_one(&mut self, idx: usize, to: u64) -> io::Result<()> {
        let (buf, buf_at) = (&self.buf, self.buf_at);
        give_body(&mut self.open[idx], buf, buf_at, to)
    }

    /// The input ended: whatever is open ends here.
    fn close_all(&mut self, v: &mut impl Visitor<'v>) -> io::Result<()> {
        let end = self.end();
        if self.header.is_some() {
            // Unreachable after `run` at the end of input; kept for safety.
            self.header = None;
        }
        while let Some(inner) = self.levels.len().checked_sub(1) {
            let keep = self.levels[inner].entity + 1;
            self.close_above(keep, end, v)?;
            self.pop_level(v)?;
        }
        while !self.open.is_empty() {
            self.close_last(end, v)?;
        }
        Ok(())
    }
}

/// What the walker needs of a header block.
struct Head {
    kind: Kind,
    /// File name, and whether the entity is an attachment if a leaf.
    leaf: (Option<String>, bool),
    boundary: Option<Vec<u8>>,
    /// A multipart/digest (its parts default to message/rfc822).
    digest: bool,
    encoding: TransferEncoding,
}

/// Reads a header block the parser's way (see the module notes).
fn read_header(block: Vec<u8>, in_digest: bool, max_depth: usize, depth: u32) -> Head {
    let msg = parse_block(block, in_digest, max_depth, depth);
    let e = if in_digest {
        msg.get(1).unwrap_or_else(|| msg.root())
    } else {
        msg.root()
    };
    let ct = e.content_type();
    // Alone, a multipart header has no delimiter after it, so the parser
    // reads it as a leaf with `missing_boundary`: in the stream it is open.
    let kind = if e.kind() == Kind::Leaf
        && e.defects()
            .iter()
            .any(|d| d.code == super::DefectCode::MissingBoundary)
    {
        Kind::Multipart
    } else {
        e.kind()
    };
    Head {
        kind,
        leaf: (e.filename(), e.kind() == Kind::Leaf && e.is_attachment()),
        boundary: ct.boundary().map(|b| b.as_bytes().to_vec()),
        digest: ct.type_ == "multipart" && ct.subtype == "digest",
        encoding: e.transfer_encoding().clone(),
    }
}

/// The entity's [`PartInfo`]: its section extends its parent's (the last
/// entity of `open`).
fn part_info(
    open: &[Open<'_>],
    parent: Option<usize>,
    kind: Kind,
    ordinal: u32,
    head: &Head,
) -> PartInfo {
    let mut comps = parent.map_or(Vec::new(), |p| open[p].comps.clone());
    let parent_kind = parent.map(|p| open[p].kind);
    comps.extend(section::child_component(parent_kind, kind, ordinal));
    PartInfo {
        section: section::render(&comps, section::MAX_PRINTED_COMPONENTS),
        components: comps,
        kind,
        filename: head.leaf.0.clone(),
        attachment: head.leaf.1,
    }
}

/// A boundary no header line can hold by chance.
const WRAP: &str = "=_mimeflow-stream-wrap-8c1f4e2a";

/// `block` is taken, not copied: a header block may be
/// `max_header_bytes` long (16 MiB by default), and the walk's memory is
/// what it holds at once.
fn parse_block(block: Vec<u8>, in_digest: bool, max_depth: usize, depth: u32) -> Message {
    let mut limits = Limits::default();
    let ended = block.is_empty() || block.ends_with(b"\n");
    let mut src = if in_digest {
        let mut src =
            format!("Content-Type: multipart/digest; boundary=\"{WRAP}\"\r\n\r\n--{WRAP}\r\n")
                .into_bytes();
        src.extend_from_slice(&block);
        src
    } else {
        block
    };
    if !ended {
        src.extend_from_slice(b"\r\n");
    }
    src.extend_from_slice(b"\r\n");
    if in_digest {
        src.extend_from_slice(format!("\r\n--{WRAP}--\r\n").as_bytes());
    }
    // The wrapped entity sits at depth 0 (or 1 in the wrapper): the same
    // depth test as at `depth` in the message.
    let shift = usize::from(in_digest);
    limits.max_depth = max_depth
        .saturating_sub(depth as usize)
        .saturating_add(shift);
    limits.max_header_bytes = usize::MAX;
    let options = ParseOptions {
        limits,
        strict: false,
    };
    Message::parse_with(src, &options).expect("lenient parsing never fails")
}

/// A body on its way to a sink, cut into the pieces the in-memory decoder
/// takes (`BLOCK` bytes), so every decoder sees what it sees there.
struct Body<'v> {
    sink: Box<dyn DecodeSink + 'v>,
    /// Absolute offset of the next body byte to write.
    next: u64,
    piece: Vec<u8>,
    decoder: Decoder,
    /// Bytes written to the sink.
    size: u64,
}

enum Decoder {
    Raw,
    Base64(Box<B64>),
    Qp { pending: Vec<u8> },
    Uu { raw: Vec<u8> },
}

struct B64 {
    mime: DecodeState,
    mime_ok: bool,
    lenient: DecodeState,
    lenient_ok: bool,
    /// Bytes MIME mode wrote before it failed (the lenient pass skips them).
    written: u64,
    /// Bytes the lenient pass produced so far.
    lenient_out: u64,
    /// The raw text without line ends, while it fits in `KEEP_RAW`.
    text: Option<Vec<u8>>,
    out: Vec<MaybeUninit<u8>>,
}

impl Decoder {
    fn for_encoding(enc: &TransferEncoding) -> Decoder {
        match enc {
            TransferEncoding::Base64 => Decoder::Base64(Box::new(B64 {
                mime: STANDARD.decode_state(STANDARD.rules(DecodeMode::Mime)),
                mime_ok: true,
                lenient: STANDARD.decode_state(STANDARD.rules(DecodeMode::Lenient)),
                lenient_ok: true,
                written: 0,
                lenient_out: 0,
                text: Some(Vec::new()),
                out: vec![MaybeUninit::uninit(); DecodeState::max_output(BLOCK) + 3],
            })),
            TransferEncoding::QuotedPrintable => Decoder::Qp {
                pending: Vec::new(),
            },
            TransferEncoding::Uuencode => Decoder::Uu { raw: Vec::new() },
            _ => Decoder::Raw,
        }
    }
}

impl<'v> Body<'v> {
    fn new(sink: Box<dyn DecodeSink + 'v>, decoder: Decoder) -> Self {
        Body {
            sink,
            next: 0,
            piece: Vec::new(),
            decoder,
            size: 0,
        }
    }

    fn write(&mut self, mut data: &[u8], section: &str) -> io::Result<()> {
        while !data.is_empty() {
            let room = BLOCK - self.piece.len();
            let take = room.min(data.len());
            self.piece.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.piece.len() == BLOCK {
                let piece = std::mem::take(&mut self.piece);
                self.decode(&piece, section)?;
                self.piece = piece;
                self.piece.clear();
            }
        }
        Ok(())
    }

    fn emit(sink: &mut (dyn DecodeSink + 'v), size: &mut u64, b: &[u8]) -> io::Result<()> {
        *size += b.len() as u64;
        sink.write_all(b)
    }

    fn decode(&mut self, piece: &[u8], section: &str) -> io::Result<()> {
        let (sink, size) = (&mut *self.sink, &mut self.size);
        match &mut self.decoder {
            Decoder::Raw => Self::emit(sink, size, piece),
            Decoder::Base64(b) => b.feed(piece, sink, size),
            Decoder::Qp { pending } => {
                pending.extend_from_slice(piece);
                let mut out = Vec::with_capacity(pending.len() + 32);
                let done = qp::decode_prefix(pending, &mut out);
                if done == 0 && pending.len() > HOLD_LINE + BLOCK {
                    return Err(fail(WalkError::BodyTooLarge {
                        section: section.into(),
                        what: "a quoted-printable run with no place to cut",
                    }));
                }
                pending.drain(..done);
                Self::emit(sink, size, &out)
            }
            Decoder::Uu { raw } => {
                if raw.len() + piece.len() > KEEP_RAW {
                    return Err(fail(WalkError::BodyTooLarge {
                        section: section.into(),
                        what: "a uuencoded body",
                    }));
                }
                raw.extend_from_slice(piece);
                Ok(())
            }
        }
    }

    fn finish(mut self, section: &str) -> io::Result<(Box<dyn DecodeSink + 'v>, u64)> {
        let piece = std::mem::take(&mut self.piece);
        if !piece.is_empty() {
            self.decode(&piece, section)?;
        }
        let (sink, size) = (&mut *self.sink, &mut self.size);
        match &mut self.decoder {
            Decoder::Raw => {}
            Decoder::Base64(b) => b.finish(sink, size, section)?,
            Decoder::Qp { pending } => {
                let mut out = Vec::with_capacity(pending.len() + 32);
                qp::decode_append(pending, &mut out);
                Self::emit(sink, size, &out)?;
            }
            Decoder::Uu { raw } => {
                let mut counted = crate::io_util::Counting::new(&mut *sink);
                if uu::decode_flushing(raw, &mut counted, BLOCK)?.is_none() {
                    counted.write_all(raw)?;
                }
                *size += counted.n;
            }
        }
        self.sink.flush()?;
        Ok((self.sink, self.size))
    }
}

/// Hands the body `o` is reading its bytes of `buf` (starting at stream
/// offset `buf_at`) up to `to`.
fn give_body(o: &mut Open<'_>, buf: &[u8], buf_at: u64, to: u64) -> io::Result<()> {
    if let Some(b) = &mut o.body {
        let from = b.next.max(o.body_start);
        if to > from {
            let a = (from - buf_at) as usize;
            let z = (to - buf_at) as usize;
            b.write(&buf[a..z], &o.info.section)?;
            b.next = to;
        }
    }
    Ok(())
}

/// Writes what the lenient pass made (`decoded`) past the bytes MIME mode
/// wrote (`written`), once MIME mode has failed; `lenient_out` counts what
/// the lenient pass made so far.
fn lenient_emit(
    lenient_out: &mut u64,
    written: u64,
    mime_ok: bool,
    decoded: &[u8],
    sink: &mut dyn DecodeSink,
    size: &mut u64,
) -> io::Result<()> {
    let from = *lenient_out;
    *lenient_out += decoded.len() as u64;
    if mime_ok {
        return Ok(());
    }
    let skip = written.saturating_sub(from).min(decoded.len() as u64) as usize;
    Body::emit(sink, size, &decoded[skip..])
}

impl B64 {
    /// One piece through MIME mode and, alongside, the lenient mode that
    /// takes over if MIME mode fails (`decode.rs`, `base64_to`).
    fn feed(&mut self, piece: &[u8], sink: &mut dyn DecodeSink, size: &mut u64) -> io::Result<()> {
        if let Some(t) = &mut self.text {
            if t.len() + piece.len() > KEEP_RAW {
                self.text = None;
            } else {
                t.extend(piece.iter().filter(|&&b| b != b'\r' && b != b'\n'));
            }
        }
        if self.mime_ok {
            match self.mime.feed_buf(piece, &mut self.out) {
                Ok(decoded) => {
                    self.written += decoded.len() as u64;
                    Body::emit(sink, size, decoded)?;
                }
                Err(_) => self.mime_ok = false,
            }
        }
        if self.lenient_ok {
            match self.lenient.feed_buf(piece, &mut self.out) {
                Ok(d) => lenient_emit(
                    &mut self.lenient_out,
                    self.written,
                    self.mime_ok,
                    d,
                    sink,
                    size,
                )?,
                Err(_) => self.lenient_ok = false,
            }
        }
        Ok(())
    }

    fn finish(
        &mut self,
        sink: &mut dyn DecodeSink,
        size: &mut u64,
        section: &str,
    ) -> io::Result<()> {
        if self.mime_ok {
            match self.mime.finish_buf(&mut self.out) {
                Ok(last) => return Body::emit(sink, size, last),
                Err(_) => self.mime_ok = false,
            }
        }
        // The lenient pass up to here wrote nothing while MIME mode held.
        // Bytes it made before the failure count as skipped already.
        let mut salvaged = self.lenient_ok;
        if salvaged {
            let (lenient_out, written, mime_ok) =
                (&mut self.lenient_out, self.written, self.mime_ok);
            salvaged = match self.lenient.finish_buf(&mut self.out) {
                Ok(d) => {
                    lenient_emit(lenient_out, written, mime_ok, d, sink, size).map(|()| true)?
                }
                Err(_) => match self.lenient.feed_buf(b"==", &mut self.out) {
                    Ok(d) => {
                        lenient_emit(lenient_out, written, mime_ok, d, sink, size)?;
                        match self.lenient.finish_buf(&mut self.out) {
                            Ok(d) => lenient_emit(lenient_out, written, mime_ok, d, sink, size)
                                .map(|()| true)?,
                            Err(_) => false,
                        }
                    }
                    Err(_) => false,
                },
            };
        }
        if !salvaged {
            let Some(text) = self.text.take() else {
                return Err(fail(WalkError::BodyTooLarge {
                    section: section.into(),
                    what: "Base64 that only reads as its raw text",
                }));
            };
            if sink.restart().is_err() {
                return Err(fail(WalkError::CannotRestart {
                    section: section.into(),
                }));
            }
            *size = 0;
            Body::emit(sink, size, &text)?;
        }
        Ok(())
    }
}

/// Writes the body of `section` (as [`Message::section`] finds it) of the
/// message read from `input` to `out`: decoded, or as it stands when `raw`
/// (as `EntityRef::decoded` and `EntityRef::body_bytes`). Returns whether
/// the section exists; the whole input is read either way.
///
/// Output is written as it is decoded, so an error (I/O, or one of
/// [`WalkError`]) can leave part of the body written.
pub fn write_section(
    input: impl Read,
    section: &str,
    raw: bool,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let target = parse_section(section);
    let mut v = SectionVisitor {
        target,
        raw,
        out: Rc::new(RefCell::new(Shared {
            out,
            pending: Vec::new(),
            through: false,
        })),
        found: false,
    };
    walk(input, Limits::default(), &mut v)?;
    Ok(v.found)
}

/// The numbers of a section as `section::find` reads it, or `None` when it
/// names nothing.
fn parse_section(section: &str) -> Option<Vec<u32>> {
    let section = section.trim();
    if section.is_empty() {
        return Some(Vec::new());
    }
    section
        .split('.')
        .map(|n| n.parse::<u32>().ok().filter(|&n| n > 0))
        .collect()
}

struct SectionVisitor<'o> {
    target: Option<Vec<u32>>,
    raw: bool,
    out: Rc<RefCell<Shared<'o>>>,
    found: bool,
}

impl<'o> Visitor<'o> for SectionVisitor<'o> {
    fn wants(&self, part: &PartInfo) -> bool {
        // The empty section names only a multipart root; the first entity
        // with the numbers wins (a carried multipart shares its message
        // part's numbers).
        !self.found
            && self.target.as_deref() == Some(&part.components[..])
            && (!part.components.is_empty() || part.kind == Kind::Multipart)
    }

    fn open(&mut self, _part: &PartInfo) -> io::Result<Take<'o>> {
        self.found = true;
        let sink = Box::new(Once(Rc::clone(&self.out)));
        Ok(if self.raw {
            Take::Raw(sink)
        } else {
            Take::Decoded(sink)
        })
    }

    fn close(&mut self, _: &PartInfo, _: Box<dyn DecodeSink + 'o>, _: u64) -> io::Result<()> {
        Ok(())
    }

    /// The multipart asked for had no boundary: as a leaf it is another
    /// section (the root's "" is "1") or decodes otherwise; start over.
    fn withdraw(&mut self, part: &PartInfo, mut sink: Box<dyn DecodeSink + 'o>) -> io::Result<()> {
        if sink.restart().is_err() {
            return Err(fail(WalkError::MultipartWithoutBoundary {
                section: part.section.clone(),
            }));
        }
        self.found = false;
        Ok(())
    }
}

/// A writer that can start over while nothing has gone through: the first
/// [`KEEP_RAW`] bytes wait here, so broken Base64 that ends up as its raw
/// text (the sink starts over) is answered as the parser does when the
/// part is not larger than that.
struct Once<'o>(Rc<RefCell<Shared<'o>>>);

/// The output of [`write_section`], and what waits to go to it.
struct Shared<'o> {
    out: &'o mut dyn Write,
    pending: Vec<u8>,
    through: bool,
}

impl Write for Once<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s = &mut *self.0.borrow_mut();
        if !s.through && s.pending.len() + buf.len() <= KEEP_RAW {
            s.pending.extend_from_slice(buf);
            return Ok(buf.len());
        }
        if !s.through {
            s.through = true;
            s.out.write_all(&std::mem::take(&mut s.pending))?;
        }
        s.out.write(buf)
    }

    /// Called once, at the end of the body: writes what waits.
    fn flush(&mut self) -> io::Result<()> {
        let s = &mut *self.0.borrow_mut();
        s.through = true;
        s.out.write_all(&std::mem::take(&mut s.pending))?;
        s.out.flush()
    }
}

impl DecodeSink for Once<'_> {
    fn restart(&mut self) -> io::Result<()> {
        let s = &mut *self.0.borrow_mut();
        if s.through {
            return Err(io::Error::other("cannot take back bytes already written"));
        }
        s.pending.clear();
        Ok(())
    }
}
