//! Canonicalization (RFC 6376 §3.4): `simple` and `relaxed`, for header
//! fields and for the body, always producing the wire form (CRLF line
//! ends) whatever the stored form was.
//!
//! Messages in mbox files, Maildirs and most `.eml` files are stored with
//! bare LF line ends; receiving servers saw (and signers signed) CRLF. Both
//! canonicalizers therefore read a line as "bytes up to LF, minus one CR
//! before it" and always write CRLF, so an LF-stored message hashes exactly
//! as its CRLF original. A CR not followed by LF is kept as content.
//!
//! The body canonicalizer streams: it hands slices of the input (and the
//! few constant pieces `\r\n` and ` `) to a sink, and never copies the body.
//! Empty lines are only counted until a non-empty line follows, which is
//! how trailing empty lines disappear without looking ahead.

use super::tags::{find_fws, is_fws};
use crate::newlines::NewlineIter;

/// `simple` or `relaxed`, for the header or the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canon {
    /// Bytes as they are (line ends aside; trailing empty body lines go).
    Simple,
    /// Case of header names, white space runs and line-end blanks ignored.
    Relaxed,
}

impl Canon {
    /// `simple` / `relaxed`.
    pub fn name(self) -> &'static str {
        match self {
            Canon::Simple => "simple",
            Canon::Relaxed => "relaxed",
        }
    }

    /// Reads a `c=` half; anything else is `None` (a permerror).
    pub fn from_name(s: &[u8]) -> Option<Canon> {
        match s {
            b"simple" => Some(Canon::Simple),
            b"relaxed" => Some(Canon::Relaxed),
            _ => None,
        }
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Appends the canonical form of one header field to `out`: `name` as
/// written before the colon, `raw` the whole field from its name to its
/// final line end (as [`crate::header::Field::line`] gives it). With
/// `crlf_end` false the final line end is left off (the signature field
/// itself is hashed without it, §3.7).
pub(crate) fn header_field(
    canon: Canon,
    name: &[u8],
    raw: &[u8],
    crlf_end: bool,
    out: &mut Vec<u8>,
) {
    // The field without its final line end.
    let body = raw
        .strip_suffix(b"\n")
        .map(|r| r.strip_suffix(b"\r").unwrap_or(r))
        .unwrap_or(raw);
    match canon {
        Canon::Simple => {
            // Inner line ends (folding) become CRLF too.
            for (i, line) in body.split(|&b| b == b'\n').enumerate() {
                if i > 0 {
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            }
        }
        Canon::Relaxed => {
            let at = out.len();
            out.extend_from_slice(name);
            out[at..].make_ascii_lowercase();
            out.push(b':');
            // The colon follows the name, after blanks at most.
            let colon = body
                .iter()
                .skip(name.len())
                .position(|&b| b == b':')
                .map_or(body.len(), |c| name.len() + c + 1);
            relaxed_value(&body[colon..], out);
        }
    }
    if crlf_end {
        out.extend_from_slice(b"\r\n");
    }
}

/// What one pass over `body` tells [`body`]: whether relaxed body
/// canonicalization leaves every line as it is (no tab, and no blank
/// followed by a blank or a line end, so no run of blanks and no blank at
/// a line's end, nor a blank as the last byte), and whether every line
/// feed ends a CRLF (no bare LF). Both true of most mail stored with CRLF;
/// the compiler vectorizes the pass, instead of a search per line. A false
/// never errs: it only sends the body down the line-by-line path.
fn scan(body: &[u8]) -> (bool, bool) {
    let pairs = body.iter().zip(body.iter().skip(1));
    let (blanks, bare_lf) = pairs.fold((false, false), |(blanks, bare_lf), (&a, &b)| {
        (
            blanks | (a == b'\t') | ((a == b' ') & matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
            bare_lf | ((b == b'\n') & (a != b'\r')),
        )
    });
    let keeps = !blanks && body.last().is_none_or(|&b| !is_wsp(b));
    (keeps, !bare_lf && body.first() != Some(&b'\n'))
}

/// Appends a field value under relaxed canonicalization: line ends
/// removed (unfolding), each run of blanks one space, none at either end.
/// Copied a run of other bytes at a time.
fn relaxed_value(mut v: &[u8], out: &mut Vec<u8>) {
    let special = |b: &u8| is_fws(*b);
    // Most values are one line of words with one space between them: only
    // their ends change, so they are copied whole (a test over the pairs
    // of bytes that the compiler vectorizes) rather than a word at a time.
    let first = v.iter().position(|b| !special(b)).unwrap_or(v.len());
    let last = v.iter().rposition(|b| !special(b)).map_or(first, |l| l + 1);
    let words = &v[first..last];
    let pairs = words.iter().zip(words.iter().skip(1));
    let folded = pairs.fold(false, |folded, (&a, &b)| {
        folded | matches!(a, b'\t' | b'\r' | b'\n') | ((a == b' ') & (b == b' '))
    });
    if !folded {
        out.extend_from_slice(words);
        return;
    }
    // A blank seen since the last copied byte (and something was copied).
    let mut pending_space = false;
    let mut any = false;
    while !v.is_empty() {
        let text = find_fws(v).unwrap_or(v.len());
        if text > 0 {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.extend_from_slice(&v[..text]);
            any = true;
        }
        v = &v[text..];
        let gap = v.iter().position(|b| !special(b)).unwrap_or(v.len());
        if v[..gap].iter().any(|&b| is_wsp(b)) {
            pending_space = any;
        }
        v = &v[gap..];
    }
}

/// Canonical output on its way to [`body`]'s `emit`, gathered into blocks
/// of about [`BLOCK`] bytes: the hash behind `emit` is fed a few large
/// updates, not two or more per line. A piece that would not fit goes on
/// its own after the block, uncopied.
struct Gather<E> {
    block: Vec<u8>,
    emit: E,
}

/// The size of [`Gather`]'s blocks.
const BLOCK: usize = 8192;

thread_local! {
    /// Each thread's block, kept between bodies: a new one for every
    /// message was a malloc and a free of a few KiB per verification, the
    /// size that sends glibc down its slower paths.
    static BLOCKS: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl<E: FnMut(&[u8])> Gather<E> {
    /// Blocks for a body's canonical form, in this thread's block
    /// (taken, so a nested use would make its own). A block never holds
    /// more than [`BLOCK`] bytes, so the one kept never grows past it.
    fn new(emit: E) -> Gather<E> {
        let mut block = BLOCKS.take();
        block.clear();
        block.reserve(BLOCK);
        Gather { block, emit }
    }

    #[inline]
    fn put(&mut self, piece: &[u8]) {
        if self.block.len() + piece.len() > BLOCK {
            self.flush();
            if piece.len() >= BLOCK {
                (self.emit)(piece);
                return;
            }
        }
        self.block.extend_from_slice(piece);
    }

    /// `line` and a CRLF.
    #[inline]
    fn put_line(&mut self, line: &[u8]) {
        if self.block.len() + line.len() + 2 > BLOCK {
            self.put(line);
            self.put(b"\r\n");
        } else {
            self.block.extend_from_slice(line);
            self.block.extend_from_slice(b"\r\n");
        }
    }

    fn flush(&mut self) {
        if !self.block.is_empty() {
            (self.emit)(&self.block);
            self.block.clear();
        }
    }
}

impl<E> Drop for Gather<E> {
    /// The block goes back to this thread for the next body (or is freed,
    /// should the thread's locals be going away).
    fn drop(&mut self) {
        let block = std::mem::take(&mut self.block);
        let _ = BLOCKS.try_with(|b| b.set(block));
    }
}

/// The end of the last line of `body` with content (its line end
/// included), or the end of `body` when its last line has no line end: the
/// empty lines after it are not hashed (§3.4.3, §3.4.4). A line is what
/// ends with LF, and a CR before that LF is part of its line end.
fn content_end(body: &[u8]) -> usize {
    let mut end = body.len();
    while let Some(rest) = body[..end].strip_suffix(b"\n") {
        let start = memchr::memrchr(b'\n', rest).map_or(0, |lf| lf + 1);
        if !matches!(&rest[start..], b"" | b"\r") {
            break;
        }
        end = start;
    }
    end
}

/// Streams the canonical form of `body` into `emit`, in order.
pub(crate) fn body(canon: Canon, body: &[u8], mut emit: impl FnMut(&[u8])) {
    // Whether lines need the relaxed rewriting; when they do not, relaxed
    // differs from simple only in what an empty body becomes (below).
    let (keeps, crlf) = scan(body);
    let rewrite = canon == Canon::Relaxed && !keeps;
    if !rewrite {
        // Every line is kept as it is (simple, or relaxed with nothing to
        // rewrite): the canonical body is the body up to the end of its
        // last line with content, each bare LF written CRLF, and a CRLF
        // after a last line that has none. Stored with CRLF, that is one
        // piece of the body.
        let end = content_end(body);
        if end == 0 {
            // §3.4.3: an empty (or all-blank-lines) body is one CRLF under
            // simple; §3.4.4 (errata 3133 applied): nothing under relaxed.
            if canon == Canon::Simple {
                emit(b"\r\n");
            }
            return;
        }
        let kept = &body[..end];
        let open = kept.last() != Some(&b'\n');
        if crlf {
            emit(kept);
            if open {
                emit(b"\r\n");
            }
            return;
        }
        let mut out = Gather::new(emit);
        let mut start = 0;
        // Mail lines are a few dozen bytes: a search call a line cost as
        // much as the line's copy (see crate::newlines).
        for lf in NewlineIter::new(kept, 0) {
            if lf == 0 || kept[lf - 1] != b'\r' {
                out.put(&kept[start..lf]);
                out.put(b"\r\n");
                start = lf + 1;
            }
        }
        out.put(&kept[start..]);
        if open {
            out.put(b"\r\n");
        }
        out.flush();
        return;
    }
    // Relaxed, with lines to rewrite: line by line.
    let mut out = Gather::new(emit);
    let mut blank_lines = 0usize;
    let mut ends = memchr::memchr_iter(b'\n', body);
    let mut start = 0;
    while start < body.len() {
        let line = match ends.next() {
            Some(nl) => {
                let line = &body[start..nl];
                start = nl + 1;
                line.strip_suffix(b"\r").unwrap_or(line)
            }
            // A last line without a line end, a CR at its end included.
            None => &body[std::mem::replace(&mut start, body.len())..],
        };
        let line = &line[..line.iter().rposition(|&b| !is_wsp(b)).map_or(0, |e| e + 1)];
        if line.is_empty() {
            blank_lines += 1;
            continue;
        }
        for _ in 0..std::mem::take(&mut blank_lines) {
            out.put(b"\r\n");
        }
        // Runs of blanks become one space; the line has no trailing
        // blanks left.
        let mut start = 0;
        let mut i = 0;
        while i < line.len() {
            if is_wsp(line[i]) {
                out.put(&line[start..i]);
                out.put(b" ");
                while i < line.len() && is_wsp(line[i]) {
                    i += 1;
                }
                start = i;
            } else {
                i += 1;
            }
        }
        out.put_line(&line[start..]);
    }
    out.flush();
}

/// [`body`] for a body that arrives in pieces (a message being written:
/// `MessageBuilder::write_to` hashes its body before it writes it). The
/// same rules, held as state between pieces, a byte at a time: [`body`]
/// stays the fast path for bodies in memory, and a property test holds the
/// two to the same output for every way of cutting the input.
#[derive(Debug)]
pub(crate) struct BodyStream {
    canon: Canon,
    /// Empty lines not yet written (they vanish if nothing follows).
    blank_lines: u64,
    /// The current line has content (for relaxed: a non-blank byte).
    line_open: bool,
    /// Relaxed: blanks seen since the last content byte.
    pending_wsp: bool,
    /// A CR whose LF may come in the next piece.
    pending_cr: bool,
    wrote: bool,
}

impl BodyStream {
    pub(crate) fn new(canon: Canon) -> BodyStream {
        BodyStream {
            canon,
            blank_lines: 0,
            line_open: false,
            pending_wsp: false,
            pending_cr: false,
            wrote: false,
        }
    }

    fn open_line(&mut self, emit: &mut impl FnMut(&[u8])) {
        if !self.line_open {
            for _ in 0..std::mem::take(&mut self.blank_lines) {
                emit(b"\r\n");
            }
            self.line_open = true;
            self.wrote = true;
        }
    }

    fn content(&mut self, b: u8, emit: &mut impl FnMut(&[u8])) {
        if self.canon == Canon::Relaxed && is_wsp(b) {
            self.pending_wsp = true;
            return;
        }
        self.open_line(emit);
        if std::mem::take(&mut self.pending_wsp) {
            emit(b" ");
        }
        emit(&[b]);
    }

    fn end_line(&mut self, emit: &mut impl FnMut(&[u8])) {
        self.pending_wsp = false;
        if std::mem::take(&mut self.line_open) {
            emit(b"\r\n");
        } else {
            self.blank_lines += 1;
        }
    }

    /// Canonicalizes the next piece.
    pub(crate) fn update(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        for &b in data {
            if std::mem::take(&mut self.pending_cr) {
                if b == b'\n' {
                    self.end_line(&mut emit);
                    continue;
                }
                self.content(b'\r', &mut emit);
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => self.end_line(&mut emit),
                _ => self.content(b, &mut emit),
            }
        }
    }

    /// Ends the body.
    pub(crate) fn finish(mut self, mut emit: impl FnMut(&[u8])) {
        if std::mem::take(&mut self.pending_cr) {
            self.content(b'\r', &mut emit);
        }
        if self.line_open {
            emit(b"\r\n");
        }
        if !self.wrote && self.canon == Canon::Simple {
            emit(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(canon: Canon, src: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        body(canon, src, |s| out.extend_from_slice(s));
        out
    }

    fn head(canon: Canon, name: &str, raw: &str) -> String {
        let mut out = Vec::new();
        header_field(canon, name.as_bytes(), raw.as_bytes(), true, &mut out);
        String::from_utf8(out).unwrap()
    }

    // RFC 6376 §3.4.5, with LF and CRLF storage giving the same bytes.
    #[test]
    fn rfc_6376_example() {
        let h = ["A: X\r\n", "B : Y\t\r\n\tZ  \r\n"];
        let b = " C \r\nD \t E\r\n\r\n\r\n";
        for crlf in [true, false] {
            let fix = |s: &str| {
                if crlf {
                    s.to_string()
                } else {
                    s.replace("\r\n", "\n")
                }
            };
            assert_eq!(head(Canon::Relaxed, "A", &fix(h[0])), "a:X\r\n");
            assert_eq!(head(Canon::Relaxed, "B", &fix(h[1])), "b:Y Z\r\n");
            assert_eq!(head(Canon::Simple, "B ", &fix(h[1])), h[1]);
            assert_eq!(body_of(Canon::Relaxed, fix(b).as_bytes()), b" C\r\nD E\r\n");
            assert_eq!(
                body_of(Canon::Simple, fix(b).as_bytes()),
                b" C \r\nD \t E\r\n"
            );
        }
    }

    fn relaxed_of(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        relaxed_value(value, &mut out);
        out
    }

    /// Relaxed header canonicalization of a value a byte at a time, as
    /// RFC 6376 §3.4.2 states it.
    fn relaxed_bytewise(src: &[u8]) -> Vec<u8> {
        let mut want = Vec::new();
        let (mut pending, mut any) = (false, false);
        for &b in src {
            match b {
                b'\r' | b'\n' => {}
                b' ' | b'\t' => pending = any,
                _ => {
                    if pending {
                        want.push(b' ');
                        pending = false;
                    }
                    want.push(b);
                    any = true;
                }
            }
        }
        want
    }

    proptest::proptest! {
        /// Field values of the bytes that matter: [`relaxed_value`] writes
        /// what the rule a byte at a time writes.
        #[test]
        fn relaxed_value_equals_bytewise_rule(
            src in proptest::collection::vec(proptest::sample::select(&b"ab \t\r\n:"[..]), 0..48),
        ) {
            proptest::prop_assert_eq!(relaxed_of(&src), relaxed_bytewise(&src));
        }

        /// Values on one line, mostly with single spaces: the whole-value
        /// copy, and the word-at-a-time path where two spaces meet.
        #[test]
        fn one_line_values_equal_bytewise_rule(
            src in proptest::collection::vec(proptest::sample::select(&b"ab :"[..]), 0..48),
        ) {
            proptest::prop_assert_eq!(relaxed_of(&src), relaxed_bytewise(&src));
        }

        /// The streaming canonicalizer writes what [`body`] writes, for
        /// every input of the bytes that matter and every cut into pieces.
        #[test]
        fn stream_equals_body(
            src in proptest::collection::vec(proptest::sample::select(&b"ab \t\r\n"[..]), 0..64),
            cuts in proptest::collection::vec(0usize..64, 0..6),
        ) {
            for canon in [Canon::Simple, Canon::Relaxed] {
                let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(src.len())).collect();
                cuts.sort_unstable();
                let mut st = BodyStream::new(canon);
                let mut out = Vec::new();
                let mut at = 0;
                for c in cuts.into_iter().chain([src.len()]) {
                    st.update(&src[at..c], |s| out.extend_from_slice(s));
                    at = c;
                }
                st.finish(|s| out.extend_from_slice(s));
                proptest::prop_assert_eq!(out, body_of(canon, &src));
            }
        }
    }

    /// The lines of [`stored_line_ends_equal_stream`]'s bodies.
    const LINES: [&str; 10] = [
        "", "a", "ab c", " a", "a b", "a  b", "a\tb", "b ", "\r", "a\r",
    ];

    proptest::proptest! {
        /// Bodies stored with one kind of line end, as nearly all mail is,
        /// with lines that relaxed keeps and lines it rewrites (and CRs
        /// inside lines): [`body`], whose CRLF bodies take its one-piece
        /// path, gives what the byte-at-a-time rule gives.
        #[test]
        fn stored_line_ends_equal_stream(
            lines in proptest::collection::vec(proptest::sample::select(&LINES[..]), 0..12),
            crlf in proptest::bool::ANY,
            last_end in proptest::bool::ANY,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut src = lines.join(eol);
            if last_end && !lines.is_empty() {
                src.push_str(eol);
            }
            for canon in [Canon::Simple, Canon::Relaxed] {
                let mut st = BodyStream::new(canon);
                let mut want = Vec::new();
                st.update(src.as_bytes(), |s| want.extend_from_slice(s));
                st.finish(|s| want.extend_from_slice(s));
                proptest::prop_assert_eq!(body_of(canon, src.as_bytes()), want);
            }
        }
    }

    /// How [`long_bodies_equal_stream`]'s lines end before their line end.
    const TAILS: [&str; 4] = ["", "ab c", "a  b ", "\t"];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Bodies past [`BLOCK`]: lines of up to 1.5 blocks (a tail of
        /// blanks in some), runs of empty lines, either line end, so that
        /// [`Gather`] flushes between the two halves of a line and its
        /// CRLF and hands long lines on whole; [`body`] gives what the
        /// byte-at-a-time rule gives.
        #[test]
        fn long_bodies_equal_stream(
            lines in proptest::collection::vec(
                (0usize..BLOCK * 3 / 2, proptest::sample::select(&TAILS[..]), 0usize..4),
                1..8,
            ),
            crlf in proptest::bool::ANY,
        ) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut src = String::new();
            for (len, tail, blanks) in lines {
                src.push_str(&"x".repeat(len));
                src.push_str(tail);
                src.push_str(&eol.repeat(blanks + 1));
            }
            for canon in [Canon::Simple, Canon::Relaxed] {
                let mut st = BodyStream::new(canon);
                let mut want = Vec::new();
                st.update(src.as_bytes(), |s| want.extend_from_slice(s));
                st.finish(|s| want.extend_from_slice(s));
                proptest::prop_assert_eq!(body_of(canon, src.as_bytes()), want);
            }
        }
    }

    #[test]
    fn empty_bodies_and_missing_final_line_end() {
        for empty in [&b""[..], b"\r\n", b"\n\n", b"\r\n\r\n"] {
            assert_eq!(body_of(Canon::Simple, empty), b"\r\n");
            assert_eq!(body_of(Canon::Relaxed, empty), b"");
        }
        assert_eq!(body_of(Canon::Relaxed, b" \t \n  \n"), b"");
        assert_eq!(body_of(Canon::Simple, b"x"), b"x\r\n");
        assert_eq!(body_of(Canon::Relaxed, b"a  b \t"), b"a b\r\n");
        assert_eq!(body_of(Canon::Simple, b"a\n\nb\n\n"), b"a\r\n\r\nb\r\n");
        // A bare CR is content.
        assert_eq!(body_of(Canon::Simple, b"a\rb\n"), b"a\rb\r\n");
    }
}
