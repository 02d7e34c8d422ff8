//! Multipart boundary scanning (RFC 2046 §5.1).
//!
//! A multipart body is cut into parts by *delimiter lines*: a line that starts
//! with `"--" boundary`, optionally followed by `"--"` (the close delimiter),
//! then optional transport padding (spaces and tabs), then the line end (CRLF
//! or LF; a mix is fine) or the end of the body. Everything before the first
//! delimiter is the preamble, everything after the close delimiter's line the
//! epilogue. The line end *before* a delimiter belongs to the delimiter, so a
//! part's range stops short of it.
//!
//! Three readers cut bodies this way, and all three call the one grammar
//! below (see "One grammar for every reader"):
//! - [`Scanner`]: push-based, fed chunks of any size (a delimiter may straddle
//!   chunks), reporting [`Event`]s with absolute offsets while holding only
//!   the few bytes that could still begin a delimiter — never the body;
//! - [`split`]: one-shot, over a whole body in memory: the scanner fed one
//!   chunk;
//! - the message parser (`message::parse`), which watches every open
//!   multipart at once: it looks each candidate line up in its table of open
//!   boundaries ([`delimiter_keys`]) and confirms it with the same grammar.
//!
//! ## One grammar for every reader
//! - *Where lines start* ([`find_line`]): a [`memchr::memmem::Finder`] for
//!   `"\n--" boundary` (the parser: `"\n--"`), so every hit already sits at a
//!   line start and the line-start test costs nothing; the body start counts
//!   as a line start.
//! - *What ends a delimiter line* ([`delimiter_tail`]): after `"--" boundary`,
//!   `("--")? [ \t]* "\r"? ("\n" | end)`, checked byte by byte (a state
//!   machine, so the streaming scanner can stop and resume anywhere); it stops
//!   at the first byte that cannot belong to a delimiter, so a near miss such
//!   as `"--boundaryX"` costs one byte.
//! - *Where content ends* ([`content_end`]): one line end (LF or CRLF) before
//!   the delimiter line, never before the segment's start.
//! - *Repeated delimiters* ([`repeats_delimiter`]): an opening delimiter
//!   line that starts exactly where the part opened by the previous
//!   delimiter would begin (`--b LF --b`) repeats it and opens no part. RFC
//!   2046 §5.1.1 writes a body part as `delimiter transport-padding CRLF
//!   body-part`, and the CRLF *before* the next delimiter belongs to that
//!   delimiter: between two adjacent delimiter lines there is only one line
//!   end, which cannot be both the end of the first delimiter line and the
//!   start of the second, so no body-part lies between them. `--b LF LF --b`
//!   has two line ends: one empty part. A close delimiter in that place
//!   (`--b LF --b--`) still ends an empty part: the grammar requires at
//!   least one body-part before the close delimiter. CPython's `email` reads
//!   all three the same way, so agreement with it on the shared corpora
//!   stays as it was.
//! - *Which boundary* ([`boundary_key`]): the boundary parameter without
//!   trailing blanks (RFC 2046's `bcharsnospace`: a boundary cannot end in a
//!   blank, so trailing blanks read as transport padding). A boundary holding
//!   CR or LF (not a legal `bchars` string) never matches, since no single
//!   line can contain it.
//!
//! Lenient choices (STYLE §4): any number of padding blanks is accepted; a
//! lone CR before the end of the body is taken as the line end; the empty
//! boundary is allowed here (delimiters are lines `"--"` / `"----"`; the
//! parser reads a multipart without a boundary parameter as a leaf). Nesting
//! is the caller's job: scanning an outer body with the outer boundary treats
//! inner parts as opaque bytes.

use core::ops::Range;

use memchr::memmem::Finder;

/// Recognises a delimiter line. `line` starts just after the leading `"--"`
/// and runs to the end of the line (excluding CR LF). Returns `Some(close)`
/// when `line` is `boundary` followed by optional `"--"` (close delimiter) and
/// then only transport padding (spaces/tabs). A boundary that is merely a
/// prefix of the line's token (boundary `"abc"`, line `"--abcd"`) is not a
/// match.
///
/// ```
/// use mimeflow::multipart::match_delimiter;
/// assert_eq!(match_delimiter(b"abc", b"abc"), Some(false));
/// assert_eq!(match_delimiter(b"abc-- \t", b"abc"), Some(true));
/// assert_eq!(match_delimiter(b"abcd", b"abc"), None);
/// ```
pub fn match_delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(boundary_key(boundary)?)?;
    delimiter_tail(rest, 0).map(|(close, _)| close)
}

/// The result of [`split`]: byte ranges into the body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Bytes before the first delimiter (excluding the line end before it);
    /// the whole body when no delimiter was found.
    pub preamble: Range<usize>,
    /// Each part's content, from just after its delimiter line to just before
    /// the line end that precedes the next delimiter (or to the end of the
    /// body when the close delimiter is missing).
    pub parts: Vec<Range<usize>>,
    /// Bytes after the close delimiter's line; `None` when not closed.
    pub epilogue: Option<Range<usize>>,
    /// Whether a close delimiter was found.
    pub closed: bool,
}

// ---------------------------------------------------------------------------
// One grammar for every reader (see the module docs).
// ---------------------------------------------------------------------------

/// The bytes a boundary parameter is matched by: without trailing blanks
/// (`bcharsnospace`), or `None` when it holds CR or LF and so can never match
/// a line.
pub(crate) fn boundary_key(boundary: &[u8]) -> Option<&[u8]> {
    if boundary.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    let end = boundary
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    Some(&boundary[..end])
}

/// The search needle `"\n--" key` for one boundary key.
pub(crate) fn needle(key: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(key.len() + 3);
    n.extend_from_slice(b"\n--");
    n.extend_from_slice(key);
    n
}

/// The first line start at or after `from` where a line begins with what
/// `finder` looks for after its leading `'\n'` (`"--" boundary`, or just
/// `"--"`). `hay_starts_line`: whether `hay[0]` is at a line start (the
/// start of a body is; the start of a later chunk of a stream is not known
/// to be).
#[inline]
pub(crate) fn find_line(
    finder: &Finder<'_>,
    hay: &[u8],
    from: usize,
    hay_starts_line: bool,
) -> Option<usize> {
    let at_line_start = if from == 0 {
        hay_starts_line
    } else {
        hay.get(from - 1) == Some(&b'\n')
    };
    if at_line_start && hay.get(from..)?.starts_with(&finder.needle()[1..]) {
        return Some(from);
    }
    // Hits whose '\n' lies at `from` or later: a '\n' at `from - 1` was
    // the line-start case above.
    finder.find(hay.get(from..)?).map(|h| from + h + 1)
}

/// Where the content before a delimiter line starting at `line` ends, given
/// that the current segment began at `start` (the preamble's start, or just
/// after the previous delimiter line): one line end (LF or CRLF) before
/// `line`, but never before `start`. `cr_before_lf` tells whether the byte at
/// `line - 2` is CR.
#[inline]
pub(crate) fn content_end(line: u64, start: u64, cr_before_lf: impl FnOnce() -> bool) -> u64 {
    let mut end = line;
    if end > start {
        end -= 1;
        if end > start && cr_before_lf() {
            end -= 1;
        }
    }
    end
}

/// Whether a delimiter line starting at `line` repeats the previous
/// delimiter: an opening delimiter (`close` false) that starts right where
/// the part the previous delimiter opened would begin (`part_start`). That
/// part holds not even a line end and does not exist; a close delimiter
/// there ends it empty (RFC 2046 §5.1.1; see the module docs).
#[inline]
pub(crate) fn repeats_delimiter(line: u64, close: bool, part_start: Option<u64>) -> bool {
    !close && part_start == Some(line)
}

/// The keys under which a line can be looked up in a table of boundary keys,
/// for a reader that watches many boundaries at once. `rest` is the line
/// after its `"--"`, to its end (a line end may be included). Returns the
/// line as an opening delimiter's key and, when it ends in `"--"`, as a close
/// delimiter's key. A hit must still be confirmed with [`delimiter_tail`]
/// (the keys ignore what the grammar forbids, such as a CR inside).
pub(crate) fn delimiter_keys(rest: &[u8]) -> (&[u8], Option<&[u8]>) {
    let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    let end = rest
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    let token = &rest[..end];
    (token, token.strip_suffix(b"--"))
}

/// States of the byte-wise check of what follows `"--" boundary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tail {
    /// Right after the boundary.
    Start,
    /// One `'-'` seen; a second one makes a close delimiter.
    Dash,
    /// In the padding (`close`: after `"--"`).
    Pad { close: bool },
    /// A CR seen; only LF (or the end) may follow.
    Cr { close: bool },
}

/// One step of the tail check.
enum Step {
    /// Keep going.
    More(Tail),
    /// The LF ending a delimiter line.
    Match { close: bool },
    /// Not a delimiter; this byte may begin the next search.
    Fail,
}

#[inline]
fn step(state: Tail, b: u8) -> Step {
    match (state, b) {
        (Tail::Start, b'-') => Step::More(Tail::Dash),
        (Tail::Dash, b'-') => Step::More(Tail::Pad { close: true }),
        (Tail::Start, b' ' | b'\t') => Step::More(Tail::Pad { close: false }),
        (Tail::Pad { close }, b' ' | b'\t') => Step::More(Tail::Pad { close }),
        (Tail::Start, b'\r') => Step::More(Tail::Cr { close: false }),
        (Tail::Pad { close }, b'\r') => Step::More(Tail::Cr { close }),
        (Tail::Start, b'\n') => Step::Match { close: false },
        (Tail::Pad { close } | Tail::Cr { close }, b'\n') => Step::Match { close },
        _ => Step::Fail,
    }
}

/// The tail check at the end of the input: `Some(close)` if what was seen so
/// far is a complete delimiter line without a line end.
#[inline]
fn at_end(state: Tail) -> Option<bool> {
    match state {
        Tail::Start => Some(false),
        Tail::Dash => None,
        Tail::Pad { close } | Tail::Cr { close } => Some(close),
    }
}

/// Checks `body[at..]` (just after `"--" boundary`) for the rest of a
/// delimiter line; returns `(close, start of the next line)`.
pub(crate) fn delimiter_tail(body: &[u8], at: usize) -> Option<(bool, usize)> {
    let mut state = Tail::Start;
    for (i, &b) in body.get(at..)?.iter().enumerate() {
        match step(state, b) {
            Step::More(s) => state = s,
            Step::Match { close } => return Some((close, at + i + 1)),
            Step::Fail => return None,
        }
    }
    at_end(state).map(|close| (close, body.len()))
}

/// One-shot split of a multipart body by one boundary: the [`Scanner`] fed
/// the whole body as one chunk. Delimiters only count at line starts (the
/// body start counts as one). Part ranges exclude the CRLF/LF that precedes
/// the next delimiter (it belongs to the delimiter, RFC 2046) and start after
/// the delimiter line's line end; a repeated delimiter line (`--b LF --b`)
/// opens no part. When the boundary is never found, `parts` is empty and the
/// preamble is the whole body.
///
/// ```
/// use mimeflow::multipart::split;
/// let body = b"pre\r\n--b\r\none\r\n--b\r\ntwo\r\n--b--\r\nepi";
/// let s = split(body, b"b");
/// assert_eq!(&body[s.preamble], b"pre");
/// assert_eq!(s.parts.iter().map(|r| &body[r.clone()]).collect::<Vec<_>>(), [b"one", b"two"]);
/// assert!(s.closed);
/// assert_eq!(&body[s.epilogue.unwrap()], b"epi");
/// ```
pub fn split(body: &[u8], boundary: &[u8]) -> Split {
    let mut scanner = Scanner::new(boundary);
    let mut events = Vec::new();
    scanner.push(body, &mut events);
    let closed = scanner.finish(&mut events);
    let mut out = Split {
        preamble: 0..scanner.preamble_end().unwrap_or(body.len() as u64) as usize,
        closed,
        ..Split::default()
    };
    let mut start = 0;
    for event in events {
        match event {
            Event::PartStart { offset } => start = offset as usize,
            Event::PartEnd { offset } => out.parts.push(start..offset as usize),
            Event::Close { offset } => out.epilogue = Some(offset as usize..body.len()),
        }
    }
    out
}

/// An event of the streaming [`Scanner`]; offsets are absolute (bytes since
/// the first byte pushed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A delimiter line ended; a part begins.
    PartStart {
        /// First byte of the part (after the delimiter line).
        offset: u64,
    },
    /// The next delimiter was found (or the input ended); the open part ends.
    PartEnd {
        /// End of the part's content, excluding the line end before the
        /// delimiter.
        offset: u64,
    },
    /// The close delimiter line ended; the rest is epilogue.
    Close {
        /// Just after the close delimiter line.
        offset: u64,
    },
}

/// Where the scanner is.
#[derive(Clone, Copy, Debug)]
enum State {
    /// Looking for the next `"\n--" boundary`, starting at `from` (virtual
    /// position, see [`Scanner`]).
    Search { from: u64 },
    /// `"--" boundary` matched at the line starting at absolute `line`;
    /// checking the rest of the line. `end` is where the current segment ends
    /// if this is a delimiter.
    Tail { tail: Tail, end: u64, line: u64 },
    /// After the close delimiter (or after `finish`): ignore everything.
    Done,
}

/// Streaming push scanner for one boundary: feed chunks of any size (a
/// delimiter may straddle chunks) and get [`Event`]s with absolute offsets.
/// Memory is bounded by the boundary's length: the scanner keeps only the last
/// `len("\n--" boundary)` bytes seen (the start of a delimiter that a later
/// chunk may complete, plus the byte before it, to tell CRLF from LF), never
/// the body; transport padding is checked byte by byte as it streams past.
///
/// This is ripgrep's roll/fill idea (`crates/searcher/src/line_buffer.rs`)
/// shrunk to what a fixed needle needs: instead of rolling the unsearched
/// bytes to the front of a buffer and filling after them, it keeps only the
/// carried tail, checks the seam (a needle starting in the tail and ending in
/// the new chunk) in place, then searches the chunk itself without copying.
///
/// A part exists only once the line it starts with is known not to repeat
/// the delimiter ([`repeats_delimiter`]), so [`Event::PartStart`] may arrive
/// up to `len("\n--" boundary)` bytes (or the rest of a delimiter line) after
/// its offset was pushed; its offset is exact.
///
/// ```
/// use mimeflow::multipart::{Event, Scanner};
/// let mut sc = Scanner::new(b"b");
/// let mut ev = Vec::new();
/// for chunk in [&b"--b\r\nhi\r\n-"[..], b"-b-", b"-\r\n"] {
///     sc.push(chunk, &mut ev);
/// }
/// assert!(sc.finish(&mut ev));
/// assert_eq!(ev, [
///     Event::PartStart { offset: 5 },
///     Event::PartEnd { offset: 7 },
///     Event::Close { offset: 16 },
/// ]);
/// ```
#[derive(Clone, Debug)]
pub struct Scanner {
    /// `None` when the boundary can never match (it holds CR or LF).
    finder: Option<Finder<'static>>,
    /// `len("\n--" boundary)`.
    needle_len: usize,
    // Positions below are *virtual*: the input's absolute offset + 1, with a
    // pretend '\n' at virtual 0 so the body start is a line start too.
    /// The last `needle_len` bytes seen (fewer at the start).
    tail: Vec<u8>,
    /// Virtual position of `tail[0]`.
    tail_at: u64,
    /// Virtual position of the next byte to be pushed.
    pos: u64,
    state: State,
    /// Absolute start of the open part, if any.
    part: Option<u64>,
    /// Whether [`Event::PartStart`] went out for `part`.
    announced: bool,
    /// Absolute end of the preamble, once the first delimiter is found.
    preamble_end: Option<u64>,
    closed: bool,
    /// [`Scanner::every_delimiter`]: report each opening delimiter line as
    /// it ends, repeats included.
    every: bool,
}

impl Scanner {
    /// A scanner for `boundary` (without the leading `"--"`).
    pub fn new(boundary: &[u8]) -> Scanner {
        let key = boundary_key(boundary);
        Scanner {
            needle_len: key.map_or(boundary.len(), <[u8]>::len) + 3,
            finder: key.map(|k| Finder::new(&needle(k)).into_owned()),
            tail: vec![b'\n'],
            tail_at: 0,
            pos: 1,
            state: State::Search { from: 0 },
            part: None,
            announced: false,
            preamble_end: None,
            closed: false,
            every: false,
        }
    }

    /// A scanner that reports [`Event::PartStart`] for every opening
    /// delimiter line as soon as the line ends, a repeated one included
    /// (its part is then empty): for a caller that watches several levels
    /// at once and must see each delimiter line when it is complete. Such a
    /// caller applies the repeated-delimiter rule itself
    /// (`multipart::repeats_delimiter`, as the message parser does).
    pub fn every_delimiter(boundary: &[u8]) -> Scanner {
        Scanner {
            every: true,
            ..Scanner::new(boundary)
        }
    }

    /// Where the preamble ends (before the first delimiter line and the line
    /// end that precedes it); `None` until a delimiter is found.
    pub fn preamble_end(&self) -> Option<u64> {
        self.preamble_end
    }

    /// The byte at virtual position `at`, which must lie in the carried tail
    /// or in `chunk` (starting at virtual `base`).
    #[inline]
    fn byte_at(&self, at: u64, chunk: &[u8], base: u64) -> u8 {
        if at >= base {
            chunk[(at - base) as usize]
        } else {
            self.tail[(at - self.tail_at) as usize]
        }
    }

    /// Reports the open part's start if it has not gone out yet.
    fn announce(&mut self, events: &mut Vec<Event>) {
        if let (Some(offset), false) = (self.part, self.announced) {
            self.announced = true;
            events.push(Event::PartStart { offset });
        }
    }

    /// A delimiter line starting at `line` was confirmed; `next` is the
    /// absolute offset after it.
    fn delimiter(&mut self, close: bool, line: u64, end: u64, next: u64, events: &mut Vec<Event>) {
        if !self.every && repeats_delimiter(line, close, self.part) {
            // The part the previous delimiter opened holds nothing: no part.
            self.part = None;
        } else if self.part.is_some() {
            self.announce(events);
            self.part = None;
            events.push(Event::PartEnd { offset: end });
        } else if self.preamble_end.is_none() {
            self.preamble_end = Some(end);
        }
        if close {
            self.closed = true;
            self.state = State::Done;
            events.push(Event::Close { offset: next });
        } else {
            self.part = Some(next);
            self.announced = false;
            if self.every {
                self.announce(events);
            }
        }
    }

    /// A needle hit: its `'\n'` is at virtual `at` (so the line starts at
    /// absolute `at`); computes where the current segment would end. A hit
    /// past the open part's first line settles that the part exists.
    fn hit(&mut self, at: u64, chunk: &[u8], base: u64, events: &mut Vec<Event>) {
        if self.part.is_some_and(|p| at > p) {
            self.announce(events);
        }
        let start = self.part.unwrap_or(0);
        let end = content_end(at, start, || self.byte_at(at - 1, chunk, base) == b'\r');
        self.state = State::Tail {
            tail: Tail::Start,
            end,
            line: at,
        };
    }

    /// The first needle hit that starts in the carried tail (at or after
    /// virtual `from`) and ends in `chunk`. The needle's only LF is its first
    /// byte, so only the tail's LFs can start one: each is checked against
    /// the needle in place, with no copying.
    fn seam_hit(&self, finder: &Finder<'_>, from: u64, chunk: &[u8]) -> Option<u64> {
        let needle = finder.needle();
        let skip = (from.saturating_sub(self.tail_at) as usize).min(self.tail.len());
        memchr::memchr_iter(b'\n', &self.tail[skip..]).find_map(|k| {
            let k = skip + k;
            let have = &self.tail[k..];
            let (head, rest) = needle.split_at(have.len().min(needle.len()));
            (have.len() < needle.len() && have == head && chunk.starts_with(rest))
                .then_some(self.tail_at + k as u64)
        })
    }

    /// Feeds the next chunk; appends the events it completes to `events`.
    pub fn push(&mut self, chunk: &[u8], events: &mut Vec<Event>) {
        let base = self.pos;
        let Some(finder) = self.finder.take() else {
            self.pos += chunk.len() as u64;
            return;
        };
        // Index into `chunk` of the next byte not yet looked at.
        let mut i = 0usize;
        loop {
            match self.state {
                State::Done => break,
                State::Tail {
                    mut tail,
                    end,
                    line,
                } => {
                    let mut resolved = false;
                    while i < chunk.len() {
                        match step(tail, chunk[i]) {
                            Step::More(t) => tail = t,
                            Step::Match { close } => {
                                let at = base + i as u64;
                                // The LF at virtual `at` may begin the next hit.
                                self.state = State::Search { from: at };
                                self.delimiter(close, line, end, at, events);
                                resolved = true;
                                break;
                            }
                            Step::Fail => {
                                self.state = State::Search {
                                    from: base + i as u64,
                                };
                                // Not a delimiter: a part opening here is real.
                                self.announce(events);
                                resolved = true;
                                break;
                            }
                        }
                        i += 1;
                    }
                    if !resolved {
                        self.state = State::Tail { tail, end, line };
                        break;
                    }
                }
                State::Search { from } => {
                    if from < base {
                        if let Some(at) = self.seam_hit(&finder, from, chunk) {
                            self.hit(at, chunk, base, events);
                            i = (at + self.needle_len as u64).saturating_sub(base) as usize;
                            continue;
                        }
                        // No hit starts in the tail; go on in the chunk.
                        // `from` stays put: a partial match in the tail may
                        // still complete in a later chunk.
                    }
                    let from_i = (from.saturating_sub(base) as usize).min(chunk.len());
                    // Virtual positions: a hit's '\n' is at `line - 1` in
                    // `chunk`, so `find_line`'s line starts are one past it.
                    match find_line(&finder, chunk, from_i, false) {
                        Some(line) => {
                            let at = base + line as u64 - 1;
                            self.hit(at, chunk, base, events);
                            i = line - 1 + self.needle_len;
                        }
                        None => break,
                    }
                }
            }
        }
        self.finder = Some(finder);
        self.pos += chunk.len() as u64;
        self.carry(chunk);
        // Every byte a delimiter at the open part's first line would need has
        // been searched, and none was found there: the part exists.
        if let (Some(p), State::Search { .. }) = (self.part, self.state) {
            if self.pos >= p + self.needle_len as u64 {
                self.announce(events);
            }
        }
    }

    /// Keeps the last `needle_len` bytes of the stream in `tail`.
    fn carry(&mut self, chunk: &[u8]) {
        let n = self.needle_len;
        if chunk.len() >= n {
            self.tail.clear();
            self.tail.extend_from_slice(&chunk[chunk.len() - n..]);
        } else {
            self.tail.extend_from_slice(chunk);
            let excess = self.tail.len().saturating_sub(n);
            self.tail.drain(..excess);
        }
        self.tail_at = self.pos - self.tail.len() as u64;
    }

    /// Ends the input: completes a delimiter line that ends without a line
    /// end, closes the open part at the end of the input, and returns whether
    /// a close delimiter was found. Later calls to `push`/`finish` add nothing.
    pub fn finish(&mut self, events: &mut Vec<Event>) -> bool {
        let len = self.pos - 1;
        if let State::Tail { tail, end, line } = self.state {
            if let Some(close) = at_end(tail) {
                self.delimiter(close, line, end, len, events);
            }
        }
        if self.part.is_some() && !self.closed {
            self.announce(events);
            self.part = None;
            events.push(Event::PartEnd { offset: len });
        }
        self.state = State::Done;
        self.closed
    }
}
