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
//! Two entry points agree on every input:
//! - [`split`]: one-shot, over a whole body in memory;
//! - [`Scanner`]: push-based, fed chunks of any size (a delimiter may straddle
//!   chunks), reporting [`Event`]s with absolute offsets while holding only
//!   the few bytes that could still begin a delimiter — never the body.
//!
//! Both search for `"\n--" boundary` with one [`memchr::memmem::Finder`] built
//! once, so every hit already sits at a line start and the line-start test
//! costs nothing; the body start counts as a line start (the scanner pretends
//! a `'\n'` precedes the first byte). After a hit, the rest of the line is
//! checked byte by byte against the grammar `("--")? [ \t]* "\r"? ("\n" | end)`,
//! which stops at the first byte that cannot belong to a delimiter, so a near
//! miss such as `"--boundaryX"` costs one byte.
//!
//! Lenient choices (STYLE §4): any number of padding blanks is accepted; a
//! lone CR before the end of the body is taken as the line end; a boundary
//! containing CR or LF (not a legal `bchars` string) never matches, since no
//! single line can contain it; the empty boundary is allowed (delimiters are
//! lines `"--"` / `"----"`). Nesting is the caller's job: scanning an outer
//! body with the outer boundary treats inner parts as opaque bytes.

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
    let rest = line.strip_prefix(boundary)?;
    let (close, pad) = match rest.strip_prefix(b"--") {
        Some(pad) => (true, pad),
        None => (false, rest),
    };
    pad.iter()
        .all(|&b| b == b' ' || b == b'\t')
        .then_some(close)
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

/// Builds the search needle `"\n--" boundary`, or `None` when the boundary
/// contains CR or LF and so can never match a line.
fn needle(boundary: &[u8]) -> Option<Vec<u8>> {
    if boundary.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    let mut n = Vec::with_capacity(boundary.len() + 3);
    n.extend_from_slice(b"\n--");
    n.extend_from_slice(boundary);
    Some(n)
}

/// Where the content before a delimiter line starting at `line` ends, given
/// that the current segment began at `start`: one line end (LF or CRLF)
/// before `line`, but never before `start` (a delimiter right after another
/// delimiter's line leaves an empty part). `cr_before_lf` tells whether the
/// byte at `line - 2` is CR.
#[inline]
fn content_end(line: u64, start: u64, cr_before_lf: impl FnOnce() -> bool) -> u64 {
    let mut end = line;
    if end > start {
        end -= 1;
        if end > start && cr_before_lf() {
            end -= 1;
        }
    }
    end
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
fn delimiter_tail(body: &[u8], at: usize) -> Option<(bool, usize)> {
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

/// One-shot split of a multipart body by one boundary (one
/// [`memchr::memmem::Finder`] for `"\n--" boundary`, plus a check at the body
/// start). Delimiters only count at line starts (the body start counts as
/// one). Part ranges exclude the CRLF/LF that precedes the next delimiter (it
/// belongs to the delimiter, RFC 2046) and start after the delimiter line's
/// line end. When the boundary is never found, `parts` is empty and the
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
    let mut out = Split {
        preamble: 0..body.len(),
        ..Split::default()
    };
    let Some(needle) = needle(boundary) else {
        return out;
    };
    let finder = Finder::new(&needle);
    // Line starts of candidate delimiters: the body start, then every hit + 1.
    // Hits never overlap a delimiter line (the boundary holds no LF), and the
    // LF ending one delimiter line is left for the next hit.
    let first = body.starts_with(&needle[1..]).then_some(0);
    let hits = finder.find_iter(body).map(|h| h + 1);
    // Start of the current segment; `None` while in the preamble.
    let mut part: Option<usize> = None;
    for line in first.into_iter().chain(hits) {
        let Some((close, next)) = delimiter_tail(body, line + needle.len() - 1) else {
            continue;
        };
        let start = part.unwrap_or(0);
        let end = content_end(line as u64, start as u64, || body[line - 2] == b'\r') as usize;
        match part {
            Some(start) => out.parts.push(start..end),
            None => out.preamble = 0..end,
        }
        if close {
            out.closed = true;
            out.epilogue = Some(next..body.len());
            return out;
        }
        part = Some(next);
    }
    if let Some(start) = part {
        out.parts.push(start..body.len());
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
    /// `"--" boundary` matched at a line start; checking the rest of the line.
    /// `end` is where the current segment ends if this is a delimiter.
    Tail { tail: Tail, end: u64 },
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
    closed: bool,
}

impl Scanner {
    /// A scanner for `boundary` (without the leading `"--"`).
    pub fn new(boundary: &[u8]) -> Scanner {
        let needle = needle(boundary);
        Scanner {
            needle_len: boundary.len() + 3,
            finder: needle.map(|n| Finder::new(&n).into_owned()),
            tail: vec![b'\n'],
            tail_at: 0,
            pos: 1,
            state: State::Search { from: 0 },
            part: None,
            closed: false,
        }
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

    /// A delimiter line was confirmed; `next` is the absolute offset after it.
    fn delimiter(&mut self, close: bool, end: u64, next: u64, events: &mut Vec<Event>) {
        if self.part.take().is_some() {
            events.push(Event::PartEnd { offset: end });
        }
        if close {
            self.closed = true;
            self.state = State::Done;
            events.push(Event::Close { offset: next });
        } else {
            self.part = Some(next);
            events.push(Event::PartStart { offset: next });
        }
    }

    /// A needle hit: its `'\n'` is at virtual `at` (so the line starts at
    /// absolute `at`); computes where the current segment would end.
    fn hit(&mut self, at: u64, chunk: &[u8], base: u64) {
        let start = self.part.unwrap_or(0);
        let end = content_end(at, start, || self.byte_at(at - 1, chunk, base) == b'\r');
        self.state = State::Tail {
            tail: Tail::Start,
            end,
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
                State::Tail { mut tail, end } => {
                    let mut resolved = false;
                    while i < chunk.len() {
                        match step(tail, chunk[i]) {
                            Step::More(t) => tail = t,
                            Step::Match { close } => {
                                let at = base + i as u64;
                                // The LF at virtual `at` may begin the next hit.
                                self.state = State::Search { from: at };
                                self.delimiter(close, end, at, events);
                                resolved = true;
                                break;
                            }
                            Step::Fail => {
                                self.state = State::Search {
                                    from: base + i as u64,
                                };
                                resolved = true;
                                break;
                            }
                        }
                        i += 1;
                    }
                    if !resolved {
                        self.state = State::Tail { tail, end };
                        break;
                    }
                }
                State::Search { from } => {
                    if from < base {
                        if let Some(at) = self.seam_hit(&finder, from, chunk) {
                            self.hit(at, chunk, base);
                            i = (at + self.needle_len as u64).saturating_sub(base) as usize;
                            continue;
                        }
                        // No hit starts in the tail; go on in the chunk.
                        // `from` stays put: a partial match in the tail may
                        // still complete in a later chunk.
                    }
                    let from_i = from.saturating_sub(base) as usize;
                    match finder.find(&chunk[from_i.min(chunk.len())..]) {
                        Some(h) => {
                            let at = base + (from_i + h) as u64;
                            self.hit(at, chunk, base);
                            i = from_i + h + self.needle_len;
                        }
                        None => break,
                    }
                }
            }
        }
        self.finder = Some(finder);
        self.pos += chunk.len() as u64;
        self.carry(chunk);
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
        if let State::Tail { tail, end } = self.state {
            if let Some(close) = at_end(tail) {
                self.delimiter(close, end, len, events);
            }
        }
        if self.part.take().is_some() {
            events.push(Event::PartEnd { offset: len });
        }
        self.state = State::Done;
        self.closed
    }
}
