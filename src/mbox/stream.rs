//! The streaming reader: compressed or piped archives, split while reading.
//!
//! A buffer holds the current message and whatever has been read past it
//! (the roll-and-fill design of ripgrep's `line_buffer.rs`): the splitting
//! kernel answers `NeedMore` when a question needs bytes that have not
//! arrived, the reader moves the current message to the front of the buffer
//! and reads another chunk.
//!
//! Memory stays bounded whatever the message sizes: once the current
//! message outgrows [`Stream::spool_threshold`] (default
//! [`DEFAULT_SPOOL_THRESHOLD`]), the buffer is written to an unnamed
//! temporary file and the rest of the message is copied there through one
//! fixed chunk. Every [`SPOOL_STEP`] bytes the file is mapped read-only and
//! the same kernel searches the map (resuming where it stopped, so the
//! bytes are looked at once); when the record is complete the map is handed
//! on as the entry's [`Bytes`] (`Bytes::from_owner`), so a parser sees one
//! contiguous slice that costs page cache, not heap. A quoted message is
//! unquoted into a second temporary file the same way. What was read past
//! the record goes back into the buffer.
//!
//! [`Stream::max_message`] is an optional hard cap (none by default): a
//! message larger than it is *refused*: the iterator yields
//! [`MboxError::TooLarge`] for it, skips to the next From_ line and goes on.
//! Boundaries are the serial reader's, so a stream yields what
//! [`read`](super::read) yields on the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use bytes::Bytes;
use memchr::memmem::Finder;
use memmap2::Mmap;

use super::from_line::{detect_eol, newline_byte};
use super::mmap::map_readonly;
use super::scan::{self, Ctx, Found, Scan, ScanState, Step};
use super::sniff::{first_record, sniff_sample, First, Sniffed, SNIFF_SAMPLE};
use super::{LineEnding, MboxError, OwnedEntry, ReadOptions, SuspiciousKind, Variant};

/// The scan context of a [`Stream`]'s buffer. A macro rather than a method
/// so that it borrows only the finder: the scan state and the scratch list
/// stay free to borrow mutably beside it.
macro_rules! scan_ctx {
    ($s:expr) => {
        Ctx {
            finder: &$s.finder,
            nl: $s.nl,
            archive_start: $s.base == 0,
            eof: $s.eof,
        }
    };
}

/// Default for [`Stream::spool_threshold`]: 64 MiB.
pub const DEFAULT_SPOOL_THRESHOLD: usize = 64 << 20;
/// Read size, and the fixed buffer spooled bytes pass through.
const CHUNK: usize = 256 << 10;
/// The largest buffer reserved in one go (see `fill`); a larger spool
/// threshold grows the buffer by doubling.
const MAX_RESERVE: usize = 1 << 30;
/// Bytes appended to a spool file between two searches of its map.
const SPOOL_STEP: usize = 16 << 20;
/// What a spooled entry counts for in the read-ahead budgets of its
/// consumers (the batch pipeline, the Python reader), instead of its
/// length: it holds a map (address space, page cache and temp-file disk),
/// not heap, so it must not stall read-ahead, yet a few of them close a
/// batch so that the temp files in flight stay few.
#[cfg(any(feature = "parallel", feature = "python"))]
pub(crate) const SPOOLED_WEIGHT: u64 = 1 << 20;

#[derive(Clone, Copy)]
enum State {
    Start,
    /// A From_ line starts at this buffer index.
    At(usize),
    /// Skipping a refused message.
    Skip,
    /// The current message is being spooled (see the module docs); buffer
    /// index 0 (`base`) is byte 0 of the spool file, its From_ line.
    Spool,
    Done,
}

/// The temporary file a large message goes to.
struct Spool {
    file: File,
    len: usize,
}

/// Streaming reader (see [`stream`]).
pub struct Stream<R> {
    input: R,
    buf: Vec<u8>,
    base: u64,
    eof: bool,
    opts: ReadOptions,
    variant: Variant,
    sniffed: Option<Sniffed>,
    line_ending: LineEnding,
    nl: u8,
    finder: Finder<'static>,
    state: State,
    st: ScanState,
    max_message: Option<usize>,
    spool_threshold: usize,
    spool_dir: Option<PathBuf>,
    spool: Option<Spool>,
    suspicious: Vec<u64>,
    kinds: Vec<SuspiciousKind>,
    scratch: Vec<Found>,
}

/// Reads an archive from `input` as a stream, yielding owned entries in
/// order (large ones spooled to a temporary file, see the module docs). The variant is sniffed (`opts.variant == None`) from the first
/// 4 MiB, as [`sniff`](super::sniff) does. Input that is not an mbox yields
/// one `Err(NotMbox)`; an I/O error is yielded and ends the stream.
pub fn stream<R: Read>(input: R, opts: &ReadOptions) -> Stream<R> {
    Stream {
        input,
        buf: Vec::new(),
        base: 0,
        eof: false,
        opts: opts.clone(),
        variant: opts.variant.unwrap_or(Variant::Mboxrd),
        sniffed: None,
        line_ending: LineEnding::Lf,
        nl: b'\n',
        finder: Finder::new(b"From ").into_owned(),
        state: State::Start,
        st: ScanState::default(),
        max_message: None,
        spool_threshold: DEFAULT_SPOOL_THRESHOLD,
        spool_dir: None,
        spool: None,
        suspicious: Vec::new(),
        kinds: Vec::new(),
        scratch: Vec::new(),
    }
}

/// Reads `input` to its end into one contiguous buffer in bounded memory:
/// on the heap while it is at most `threshold` bytes, else in an unnamed
/// temporary file (in `TMPDIR`), memory-mapped, that goes with the last
/// clone of the `Bytes`. For a single message from a pipe or a device,
/// whose size is not known before it ends: `/dev/zero` takes disk, not
/// memory, until the disk is full and the read fails.
pub fn read_spooled(mut input: impl Read, threshold: usize) -> io::Result<Bytes> {
    // Reserved at once, as `Stream::fill` does: address space, touched
    // only as it fills, where doubling would hold twice the threshold.
    let most = threshold.saturating_add(1);
    let mut buf = Vec::with_capacity(most.min(MAX_RESERVE));
    (&mut input).take(most as u64).read_to_end(&mut buf)?;
    if buf.len() <= threshold {
        return Ok(Bytes::from(buf));
    }
    let mut file = tempfile::tempfile()?;
    file.write_all(&buf)?;
    drop(buf);
    io::copy(&mut input, &mut file)?;
    Ok(Bytes::from_owner(map_readonly(&file)?))
}

impl<R: Read> Stream<R> {
    /// Sets a hard cap on the size of a record (From_ line to separator):
    /// a larger one is reported ([`MboxError::TooLarge`]) and skipped.
    /// `None` (the default) accepts any size: large messages are spooled.
    pub fn max_message(mut self, bytes: Option<usize>) -> Self {
        self.max_message = bytes.map(|b| b.max(1));
        self
    }

    /// Sets the size from which a message is spooled to a temporary file
    /// instead of being held in memory (default
    /// [`DEFAULT_SPOOL_THRESHOLD`]). A message smaller than it always stays
    /// in memory; a larger one is spooled once its bytes in the buffer pass
    /// it (one that arrived with the read that completed it may stay in
    /// memory: the buffer holds at most the threshold plus a read chunk).
    pub fn spool_threshold(mut self, bytes: usize) -> Self {
        self.spool_threshold = bytes;
        self
    }

    /// Sets the folder of the spool files (default: the system's temporary
    /// folder, `TMPDIR` on Unix). The files are unnamed (unlinked at once),
    /// so nothing is left behind, even after a crash. Pick a folder on disk:
    /// on a tmpfs spooled messages take RAM after all.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// The variant being read (known after the first `next`).
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The line ending (known after the first `next`).
    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// What sniffing decided (after the first `next`; `None` when the
    /// variant was given).
    pub fn sniffed(&self) -> Option<&Sniffed> {
        self.sniffed.as_ref()
    }

    /// Offsets of the suspicious lines met so far (see `Reader::suspicious`).
    pub fn suspicious(&self) -> &[u64] {
        &self.suspicious
    }

    /// Why each suspicious line is suspicious.
    pub fn suspicious_kinds(&self) -> &[SuspiciousKind] {
        &self.kinds
    }

    fn fill(&mut self) -> io::Result<()> {
        let old = self.buf.len();
        if self.buf.capacity() < old + CHUNK {
            // Reserve what the buffer may reach before spooling at once
            // (address space: pages are only touched as they fill):
            // doubling up to it would copy, and briefly hold both the old
            // and the new buffer, 1.5 times the threshold.
            let most = self.spool_threshold.max(SNIFF_SAMPLE).saturating_add(CHUNK);
            if most > old + CHUNK && most <= MAX_RESERVE {
                self.buf.reserve_exact(most - old);
            }
        }
        self.buf.resize(old + CHUNK, 0);
        loop {
            match self.input.read(&mut self.buf[old..]) {
                Ok(k) => {
                    self.buf.truncate(old + k);
                    self.eof = k == 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        }
    }

    /// Drops the first `k` bytes of the buffer.
    fn consume(&mut self, k: usize) {
        if k > 0 {
            self.buf.drain(..k);
            self.base += k as u64;
            self.st.pos = self.st.pos.saturating_sub(k);
        }
    }

    fn flush_scratch(&mut self) {
        for &(off, kind) in &self.scratch {
            self.suspicious.push(self.base + off as u64);
            self.kinds.push(kind);
        }
        self.scratch.clear();
    }

    /// An unnamed temporary file in the spool folder.
    fn temp_file(&self) -> io::Result<File> {
        match &self.spool_dir {
            Some(dir) => tempfile::tempfile_in(dir),
            None => tempfile::tempfile(),
        }
    }

    /// Moves the buffer (the current message so far, from index 0) into a
    /// new spool file.
    fn start_spool(&mut self) -> io::Result<()> {
        let mut file = self.temp_file()?;
        file.write_all(&self.buf)?;
        self.spool = Some(Spool {
            file,
            len: self.buf.len(),
        });
        self.buf = Vec::with_capacity(CHUNK);
        self.state = State::Spool;
        Ok(())
    }

    /// Copies up to [`SPOOL_STEP`] more input bytes to the spool file,
    /// through the fixed buffer.
    fn spool_more(&mut self) -> io::Result<()> {
        let spool = self.spool.as_mut().expect("spooling");
        self.buf.resize(CHUNK, 0);
        let mut moved = 0;
        while moved < SPOOL_STEP && !self.eof {
            match self.input.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    spool.file.write_all(&self.buf[..k])?;
                    spool.len += k;
                    moved += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.clear();
        Ok(())
    }

    /// Leaves spool mode: the buffer gets `map[from..]` (what was read past
    /// the record, or the tail a skip goes on from).
    fn end_spool(&mut self, map: &[u8], from: usize) {
        self.spool = None;
        self.buf.clear();
        self.buf.extend_from_slice(&map[from..]);
        self.base += from as u64;
    }

    /// The entry of a spooled record `r` of `map` (whose byte 0 is `base`).
    fn spooled_entry(&mut self, map: Mmap, r: &scan::Record) -> io::Result<OwnedEntry> {
        let nl = self.nl;
        let offset = self.base;
        let envelope = scan::envelope(&map, 0, r.content, nl).to_vec();
        let msg = r.content..r.content_end;
        let message = match scan::quoting(self.variant, self.opts.unquote_mboxo) {
            Some(mboxo) if r.quoted => {
                // Unquoted into a copy: the map goes with this scope.
                let m = self.unquote_spooled(&map[msg], mboxo)?;
                self.end_spool(&map, r.end);
                m
            }
            _ => {
                // Keep the tail read past the record before giving the map
                // away.
                self.end_spool(&map, r.end);
                Bytes::from_owner(map).slice(msg)
            }
        };
        Ok(OwnedEntry {
            offset,
            length: r.end as u64,
            envelope,
            message,
            spooled: true,
        })
    }

    /// `msg` with its quoting undone, written to a second spool file through
    /// a fixed buffer and mapped.
    fn unquote_spooled(&self, msg: &[u8], mboxo: bool) -> io::Result<Bytes> {
        let mut out = BufWriter::with_capacity(CHUNK, self.temp_file()?);
        let mut copied = 0;
        for j in scan::unquote_cuts(msg, self.nl, mboxo, &self.finder) {
            out.write_all(&msg[copied..j])?;
            copied = j + 1; // drop the first '>'
        }
        out.write_all(&msg[copied..])?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::new());
        }
        Ok(Bytes::from_owner(map_readonly(&file)?))
    }

    /// Refuses the spooled message (over `max_message`): goes on from the
    /// next boundary in the map, or skips from the map's tail.
    fn refuse_spooled(&mut self, map: &[u8]) -> MboxError {
        let offset = self.base;
        let limit = self.max_message.unwrap_or(0) as u64;
        let ctx = scan_ctx!(self);
        // Search from where the record search got to (mboxcl2 may not have
        // searched yet: then only the last step, so that the copy back into
        // the buffer stays small).
        let pos = self
            .st
            .pos
            .max(8)
            .max(map.len().saturating_sub(SPOOL_STEP))
            .min(map.len());
        let mut st = ScanState { pos, quoted: false };
        match scan::next_boundary(map, pos, &mut st, &ctx, None) {
            Scan::Boundary(q) => {
                self.end_spool(map, q);
                self.st = ScanState::default();
                self.state = State::At(0);
            }
            Scan::End => {
                self.end_spool(map, map.len());
                self.state = State::Done;
            }
            Scan::NeedMore => {
                // Keep a few bytes before the search point: the blank-line
                // test looks back up to three.
                let keep_from = st.pos.saturating_sub(8);
                self.end_spool(map, keep_from);
                self.st = ScanState {
                    pos: st.pos - keep_from,
                    quoted: false,
                };
                self.state = State::Skip;
            }
        }
        MboxError::TooLarge { offset, limit }
    }

    /// One step of spool mode: append, search the map, finish the record.
    fn spool_step(&mut self) -> Option<Result<OwnedEntry, MboxError>> {
        if let Err(e) = self.spool_more() {
            return self.fail(e.into());
        }
        let spool = self.spool.as_ref().expect("spooling");
        let map = match map_readonly(&spool.file) {
            Ok(m) => m,
            Err(e) => return self.fail(e.into()),
        };
        let ctx = scan_ctx!(self);
        let step = scan::next_record(&map, 0, &mut self.st, self.variant, &ctx, &mut self.scratch);
        self.flush_scratch();
        let max = self.max_message;
        let over = move |n: usize| max.is_some_and(|m| n > m);
        match step {
            Step::NeedMore if over(map.len()) => Some(Err(self.refuse_spooled(&map))),
            // The map is dropped before the file grows.
            Step::NeedMore => None,
            Step::Record(r) if over(r.end) => {
                // The record is complete: the next one starts at r.end.
                let offset = self.base;
                self.end_spool(&map, r.end);
                self.next_at(0);
                Some(Err(MboxError::TooLarge {
                    offset,
                    limit: self.max_message.unwrap_or(0) as u64,
                }))
            }
            Step::Record(r) => {
                let entry = self.spooled_entry(map, &r);
                self.next_at(0);
                match entry {
                    Ok(e) => Some(Ok(e)),
                    Err(e) => self.fail(e.into()),
                }
            }
        }
    }

    fn fail(&mut self, e: MboxError) -> Option<Result<OwnedEntry, MboxError>> {
        self.state = State::Done;
        Some(Err(e))
    }

    /// Goes on at buffer index `end` with a fresh scan state: the next
    /// record starts there, or the stream is done when nothing is left in
    /// the buffer past `end`.
    fn next_at(&mut self, end: usize) {
        self.st = ScanState::default();
        self.state = if end < self.buf.len() {
            State::At(end)
        } else {
            State::Done
        };
    }

    /// [`State::Start`]: reads enough to sniff the line ending and the
    /// variant, then finds the first From_ line.
    fn start_step(&mut self) -> Option<Result<OwnedEntry, MboxError>> {
        while !self.eof && self.buf.len() < SNIFF_SAMPLE {
            if let Err(e) = self.fill() {
                return self.fail(e.into());
            }
        }
        self.line_ending = detect_eol(&self.buf);
        self.nl = newline_byte(self.line_ending);
        if self.opts.variant.is_none() {
            let complete = self.eof && self.buf.len() <= SNIFF_SAMPLE;
            let n = self.buf.len().min(SNIFF_SAMPLE);
            let s = sniff_sample(&self.buf[..n], complete, self.line_ending);
            self.variant = s.variant;
            self.sniffed = Some(s);
        }
        loop {
            match first_record(&self.buf, self.eof) {
                First::Record(p) => {
                    self.state = State::At(p);
                    return None;
                }
                First::Empty => return self.fail_none(),
                First::NotMbox(reason) => return self.fail(MboxError::NotMbox { reason }),
                First::NeedMore if self.buf.len() > self.spool_threshold.max(SNIFF_SAMPLE) => {
                    return self.fail(MboxError::NotMbox {
                        reason: format!("no From_ line in the first {} bytes", self.buf.len()),
                    })
                }
                First::NeedMore => {
                    if let Err(e) = self.fill() {
                        return self.fail(e.into());
                    }
                }
            }
        }
    }

    /// [`State::At`]: the record starting at `p` in the buffer, once its
    /// end is in the buffer; else more input, or spool mode for a message
    /// past the spool threshold.
    fn record_step(&mut self, p: usize) -> Option<Result<OwnedEntry, MboxError>> {
        let ctx = scan_ctx!(self);
        let step = scan::next_record(
            &self.buf,
            p,
            &mut self.st,
            self.variant,
            &ctx,
            &mut self.scratch,
        );
        self.flush_scratch();
        match step {
            Step::Record(r) if self.max_message.is_some_and(|m| r.end - p > m) => {
                self.next_at(r.end);
                let offset = self.base + p as u64;
                return Some(Err(MboxError::TooLarge {
                    offset,
                    limit: self.max_message.unwrap_or(0) as u64,
                }));
            }
            Step::Record(r) => {
                let message = scan::message_of(
                    &self.buf,
                    &r,
                    self.variant,
                    self.opts.unquote_mboxo,
                    self.nl,
                    &self.finder,
                )
                .into_owned();
                let entry = OwnedEntry {
                    offset: self.base + p as u64,
                    length: (r.end - p) as u64,
                    envelope: scan::envelope(&self.buf, p, r.content, self.nl).to_vec(),
                    message: Bytes::from(message),
                    spooled: false,
                };
                self.next_at(r.end);
                return Some(Ok(entry));
            }
            Step::NeedMore => {
                self.consume(p);
                self.state = State::At(0);
                if let Some(limit) = self.max_message.filter(|&m| self.buf.len() > m) {
                    let offset = self.base;
                    // Keep scanning from where the search got to.
                    self.st.pos = self.st.pos.max(8);
                    self.st.quoted = false;
                    self.state = State::Skip;
                    return Some(Err(MboxError::TooLarge {
                        offset,
                        limit: limit as u64,
                    }));
                }
                if self.buf.len() >= self.spool_threshold {
                    if let Err(e) = self.start_spool() {
                        return self.fail(e.into());
                    }
                    return None;
                }
                if let Err(e) = self.fill() {
                    return self.fail(e.into());
                }
            }
        }
        None
    }

    /// [`State::Skip`]: after a message over the size limit, finds the
    /// next From_ line without keeping what comes before it.
    fn skip_step(&mut self) -> Option<Result<OwnedEntry, MboxError>> {
        let ctx = scan_ctx!(self);
        let pos = self.st.pos;
        match scan::next_boundary(&self.buf, pos, &mut self.st, &ctx, None) {
            Scan::Boundary(q) => {
                self.st = ScanState::default();
                self.state = State::At(q);
            }
            Scan::End => return self.fail_none(),
            Scan::NeedMore => {
                // Keep a few bytes before the search point: the
                // blank-line test looks back up to three.
                let keep_from = self.st.pos.saturating_sub(8);
                self.consume(keep_from);
                if let Err(e) = self.fill() {
                    return self.fail(e.into());
                }
            }
        }
        None
    }
}

impl<R: Read> Iterator for Stream<R> {
    type Item = Result<OwnedEntry, MboxError>;

    /// One step of the state machine per turn: each step returns an item,
    /// or `None` to go on (from the state it left; [`State::Done`] ends).
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = match self.state {
                State::Done => return None,
                State::Start => self.start_step(),
                State::At(p) => self.record_step(p),
                State::Spool => self.spool_step(),
                State::Skip => self.skip_step(),
            };
            if item.is_some() {
                return item;
            }
        }
    }
}

impl<R> Stream<R> {
    fn fail_none(&mut self) -> Option<Result<OwnedEntry, MboxError>> {
        self.state = State::Done;
        None
    }
}
