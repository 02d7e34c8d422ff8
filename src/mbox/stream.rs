//! The streaming reader: compressed or piped archives, split while reading.
//!
//! A buffer holds the current message and whatever has been read past it
//! (the roll-and-fill design of ripgrep's `line_buffer.rs`): the splitting
//! kernel answers `NeedMore` when a question needs bytes that have not
//! arrived, the reader moves the current message to the front of the buffer
//! and reads another chunk. Memory is bounded by the largest message plus a
//! chunk: a message larger than [`Stream::max_message`] is *refused* (not
//! spooled): the iterator yields [`MboxError::TooLarge`] for it, skips to
//! the next From_ line and goes on. Boundaries are the serial reader's, so a
//! stream yields what [`read`](super::read) yields on the same bytes.

use std::io::{self, Read};

use memchr::memmem::Finder;

use super::from_line::{detect_eol, newline_byte};
use super::scan::{self, Ctx, Found, Scan, ScanState, Step};
use super::sniff::{first_record, sniff_sample, First, Sniffed, SNIFF_SAMPLE};
use super::{LineEnding, MboxError, OwnedEntry, ReadOptions, SuspiciousKind, Variant};

/// Default for [`Stream::max_message`]: 512 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 512 << 20;
const CHUNK: usize = 256 << 10;

#[derive(Clone, Copy)]
enum State {
    Start,
    /// A From_ line starts at this buffer index.
    At(usize),
    /// Skipping a refused message.
    Skip,
    Done,
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
    max_message: usize,
    suspicious: Vec<u64>,
    kinds: Vec<SuspiciousKind>,
    scratch: Vec<Found>,
}

/// Reads an archive from `input` as a stream, yielding owned entries in
/// order. The variant is sniffed (`opts.variant == None`) from the first
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
        max_message: DEFAULT_MAX_MESSAGE,
        suspicious: Vec::new(),
        kinds: Vec::new(),
        scratch: Vec::new(),
    }
}

impl<R: Read> Stream<R> {
    /// Sets the largest message kept in memory (default
    /// [`DEFAULT_MAX_MESSAGE`]); larger ones are reported and skipped.
    pub fn max_message(mut self, bytes: usize) -> Self {
        self.max_message = bytes.max(1);
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

    fn fail(&mut self, e: MboxError) -> Option<Result<OwnedEntry, MboxError>> {
        self.state = State::Done;
        Some(Err(e))
    }

    fn ctx(&self) -> (u8, bool, bool) {
        (self.nl, self.base == 0, self.eof)
    }
}

impl<R: Read> Iterator for Stream<R> {
    type Item = Result<OwnedEntry, MboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.state {
                State::Done => return None,
                State::Start => {
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
                                break;
                            }
                            First::Empty => return self.fail_none(),
                            First::NotMbox(reason) => {
                                return self.fail(MboxError::NotMbox { reason })
                            }
                            First::NeedMore if self.buf.len() > self.max_message => {
                                return self.fail(MboxError::NotMbox {
                                    reason: format!(
                                        "no From_ line in the first {} bytes",
                                        self.buf.len()
                                    ),
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
                State::At(p) => {
                    let (nl, archive_start, eof) = self.ctx();
                    let ctx = Ctx {
                        finder: &self.finder,
                        nl,
                        archive_start,
                        eof,
                    };
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
                        Step::Record(r) if r.end - p > self.max_message => {
                            self.st = ScanState::default();
                            self.state = if r.end < self.buf.len() {
                                State::At(r.end)
                            } else {
                                State::Done
                            };
                            let offset = self.base + p as u64;
                            return Some(Err(MboxError::TooLarge {
                                offset,
                                limit: self.max_message as u64,
                            }));
                        }
                        Step::Record(r) => {
                            let message = scan::message_of(
                                &self.buf,
                                &r,
                                self.variant,
                                self.opts.unquote_mboxo,
                                nl,
                                &self.finder,
                            )
                            .into_owned();
                            let entry = OwnedEntry {
                                offset: self.base + p as u64,
                                length: (r.end - p) as u64,
                                envelope: scan::envelope(&self.buf, p, r.content, nl).to_vec(),
                                message,
                            };
                            self.st = ScanState::default();
                            self.state = if r.end < self.buf.len() {
                                State::At(r.end)
                            } else {
                                State::Done
                            };
                            return Some(Ok(entry));
                        }
                        Step::NeedMore => {
                            self.consume(p);
                            self.state = State::At(0);
                            if self.buf.len() > self.max_message {
                                let offset = self.base;
                                // Keep scanning from where the search got to.
                                self.st.pos = self.st.pos.max(8);
                                self.st.quoted = false;
                                self.state = State::Skip;
                                return Some(Err(MboxError::TooLarge {
                                    offset,
                                    limit: self.max_message as u64,
                                }));
                            }
                            if let Err(e) = self.fill() {
                                return self.fail(e.into());
                            }
                        }
                    }
                }
                State::Skip => {
                    let (nl, archive_start, eof) = self.ctx();
                    let ctx = Ctx {
                        finder: &self.finder,
                        nl,
                        archive_start,
                        eof,
                    };
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
                }
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
