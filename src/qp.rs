//! Quoted-printable (RFC 2045 §6.7): decoding of mail bodies and encoding
//! with soft line breaks.
//!
//! Both directions work on runs, not bytes. The decoder jumps between the
//! bytes that matter (`=` and LF) with `memchr2` and copies everything in
//! between with one `extend_from_slice`; trailing blanks are trimmed from the
//! output afterwards, never looked at on the way. The encoder finds the next
//! byte that cannot be copied as is with a SWAR test on 8-byte words (exact
//! per byte, no table lookups in the hot loop) and copies the run, cut into
//! lines, in bulk.
//!
//! Decoding is lenient, as mail needs: a bad escape is kept literally and its
//! offset reported, blanks after a soft-break `=` are tolerated, lowercase hex
//! is accepted. It never fails and never panics.

use memchr::memchr2;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// `HEX_VALUE[b]` is the value of the hex digit `b` (either case), or 0xFF.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// `LITERAL[b]`: `b` may appear unencoded in the output (printable ASCII
/// except `=`, plus space and tab, which need care at line ends).
const LITERAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7F {
        t[b] = true;
        b += 1;
    }
    t[b'=' as usize] = false;
    t[b'\t' as usize] = true;
    t
};

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Decodes a quoted-printable body into `out` (appended).
///
/// Soft line breaks (`=` CRLF or `=` LF, with blanks between the `=` and the
/// line end tolerated, and a final `=` at the very end) are removed; `=XX`
/// (hex, either case) decodes; trailing blanks at the end of each line,
/// including the last, are deleted (RFC 2045 rule (3)); line ends are kept as
/// they are in the input (CRLF stays CRLF, LF stays LF). An invalid escape
/// (`=` not followed by two hex digits and not a soft break) is kept literally
/// and its offset, relative to `src`, is returned (callers add their base).
///
/// ```
/// let mut out = Vec::new();
/// let bad = mimeflow::qp::decode(b"caf=C3=a9 =\r\nau lait =ZZ  \r\n", &mut out);
/// assert_eq!(out, "café au lait =ZZ\r\n".as_bytes());
/// assert_eq!(bad, vec![21]);
/// ```
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Vec<usize> {
    let mut bad = Vec::new();
    out.reserve(src.len());
    // Output below `floor` is never trimmed: it is a decoded escape or the
    // previous line, not a trailing blank of the current line.
    let mut floor = out.len();
    let mut pos = 0;
    while let Some(k) = memchr2(b'=', b'\n', &src[pos..]) {
        let hit = pos + k;
        out.extend_from_slice(&src[pos..hit]);
        if src[hit] == b'\n' {
            // Hard line end: trim the line's trailing blanks, keep CR LF or LF.
            let cr = out.len() > floor && out.last() == Some(&b'\r');
            if cr {
                out.pop();
            }
            trim_blanks(out, floor);
            if cr {
                out.push(b'\r');
            }
            out.push(b'\n');
            floor = out.len();
            pos = hit + 1;
            continue;
        }
        // An escape. Runs of escapes ("=E2=82=AC", binary data) are decoded
        // here without going back to memchr.
        let mut p = hit;
        while p + 2 < src.len() && src[p] == b'=' {
            let (hi, lo) = (
                HEX_VALUE[src[p + 1] as usize],
                HEX_VALUE[src[p + 2] as usize],
            );
            if hi | lo == 0xFF {
                break;
            }
            out.push(hi << 4 | lo);
            p += 3;
        }
        if p != hit {
            floor = out.len();
            pos = p;
            continue;
        }
        // Not "=XX": a soft break ("=", blanks, then CRLF, LF or the end), or
        // a bad escape kept as written.
        let mut q = hit + 1;
        while q < src.len() && is_blank(src[q]) {
            q += 1;
        }
        let soft_end = match src.get(q) {
            None => Some(q),
            Some(b'\n') => Some(q + 1),
            Some(b'\r') if q + 1 == src.len() => Some(q + 1),
            Some(b'\r') if src[q + 1] == b'\n' => Some(q + 2),
            _ => None,
        };
        match soft_end {
            Some(end) => pos = end,
            None => {
                bad.push(hit);
                out.push(b'=');
                pos = hit + 1;
            }
        }
        floor = out.len();
    }
    out.extend_from_slice(&src[pos..]);
    // The last line, even without a line end, loses its trailing blanks.
    trim_blanks(out, floor);
    bad
}

#[inline]
fn trim_blanks(out: &mut Vec<u8>, floor: usize) {
    let mut n = out.len();
    while n > floor && is_blank(out[n - 1]) {
        n -= 1;
    }
    out.truncate(n);
}

/// Decodes a quoted-printable body into a new vector (bad escapes are kept
/// literally and not reported; use [`decode`] for their offsets).
pub fn decode_to_vec(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    decode(src, &mut out);
    out
}

/// How [`encode`] writes quoted-printable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `true`: every byte is data, CR and LF are encoded as `=0D` `=0A`.
    /// `false` (text): CRLF and bare LF are line ends, written as hard breaks
    /// in the output line ending; a bare CR is encoded as `=0D`.
    pub binary: bool,
    /// Output line ending: CRLF (`true`) or LF.
    pub crlf: bool,
    /// Longest output line, counting a trailing soft-break `=` but not the
    /// line end (RFC 2045: 76). Values below 4 are treated as 4, the least
    /// that fits an escape and a soft break.
    pub line_length: usize,
}

impl Default for EncodeOptions {
    /// Text mode, CRLF, 76 columns.
    fn default() -> Self {
        EncodeOptions {
            binary: false,
            crlf: true,
            line_length: 76,
        }
    }
}

/// Encodes `src` as quoted-printable into `out` (appended).
///
/// `=`, control characters and 8-bit bytes are written `=XX` (uppercase);
/// a space or tab just before a hard line end or the end of the input is
/// encoded too; lines are cut with soft breaks so that none exceeds
/// `opts.line_length`, never inside an escape. In text mode a final line
/// without a line end stays without one.
///
/// ```
/// use mimeflow::qp::{encode_to_vec, EncodeOptions};
/// let text = encode_to_vec("naïve = true \n".as_bytes(), EncodeOptions::default());
/// assert_eq!(text, b"na=C3=AFve =3D true=20\r\n");
/// ```
pub fn encode(src: &[u8], opts: EncodeOptions, out: &mut Vec<u8>) {
    let width = opts.line_length.max(4);
    let eol: &[u8] = if opts.crlf { b"\r\n" } else { b"\n" };
    // Text is mostly copied; binary mostly triples. Both are upper-bounded
    // by a small multiple of the input, and the Vec grows if we guess low.
    out.reserve(
        if opts.binary {
            src.len() * 3 + src.len() / 24
        } else {
            src.len() + src.len() / 16
        } + 8,
    );
    let mut enc = Encoder {
        out,
        width,
        eol,
        col: 0,
    };
    // Does the line end right after position `p` (a hard break or the end)?
    let ends_line = |p: usize| -> bool {
        match src.get(p) {
            None => true,
            Some(_) if opts.binary => false,
            Some(b'\n') => true,
            Some(b'\r') => src.get(p + 1) == Some(&b'\n'),
            Some(_) => false,
        }
    };
    let mut pos = 0;
    while pos < src.len() {
        let b = src[pos];
        if LITERAL[b as usize] {
            let end = literal_run_end(src, pos + 1);
            let last_ends = ends_line(end);
            if last_ends && is_blank(src[end - 1]) {
                // A trailing blank must be encoded; the rest of the run
                // does not end the line any more.
                enc.literal(&src[pos..end - 1], false);
                enc.escape(src[end - 1], true);
            } else {
                enc.literal(&src[pos..end], last_ends);
            }
            pos = end;
            continue;
        }
        if !opts.binary {
            if b == b'\n' {
                enc.hard_break();
                pos += 1;
                continue;
            }
            if b == b'\r' && src.get(pos + 1) == Some(&b'\n') {
                enc.hard_break();
                pos += 2;
                continue;
            }
        }
        enc.escape(b, ends_line(pos + 1));
        pos += 1;
    }
}

/// Encodes `src` as quoted-printable into a new vector.
pub fn encode_to_vec(src: &[u8], opts: EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    encode(src, opts, &mut out);
    out
}

/// Output state of [`encode`]: the column of the current line.
struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    width: usize,
    eol: &'static [u8],
    col: usize,
}

impl Encoder<'_> {
    #[inline]
    fn soft_break(&mut self) {
        self.out.push(b'=');
        self.out.extend_from_slice(self.eol);
        self.col = 0;
    }

    #[inline]
    fn hard_break(&mut self) {
        self.out.extend_from_slice(self.eol);
        self.col = 0;
    }

    /// Copies a run of literal bytes, cut by soft breaks. `ends_line`: the
    /// run is followed by a hard break or the end, so its last line needs no
    /// room for a soft-break `=`.
    #[inline]
    fn literal(&mut self, mut run: &[u8], ends_line: bool) {
        loop {
            let room = self.width - 1 - self.col;
            if run.len() <= room || (ends_line && run.len() <= room + 1) {
                self.out.extend_from_slice(run);
                self.col += run.len();
                return;
            }
            self.out.extend_from_slice(&run[..room]);
            run = &run[room..];
            self.soft_break();
        }
    }

    /// Writes `=XX`, after a soft break if it does not fit on this line.
    #[inline]
    fn escape(&mut self, b: u8, ends_line: bool) {
        let limit = if ends_line {
            self.width
        } else {
            self.width - 1
        };
        if self.col + 3 > limit {
            self.soft_break();
        }
        self.out.extend_from_slice(&[
            b'=',
            HEX_UPPER[(b >> 4) as usize],
            HEX_UPPER[(b & 15) as usize],
        ]);
        self.col += 3;
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of the result is set where `w`'s byte is not
/// [`LITERAL`]. Exact per byte: every sum stays inside its byte (the inputs
/// have their high bit cleared first), so no carry crosses lanes.
#[inline(always)]
fn not_literal_mask(w: u64) -> u64 {
    let low7 = w & !HIGHS;
    // >= 0x80, or 0x7F (0x7F + 1 sets the high bit).
    let high_or_del = w | (low7 + ONES);
    // < 0x20: low7 + 0x60 has its high bit clear.
    let control = !(low7 + 0x60 * ONES);
    let eq = |c: u64| {
        let z = w ^ (c * ONES);
        !(((z & !HIGHS) + !HIGHS) | z)
    };
    (high_or_del | (control & !eq(b'\t' as u64)) | eq(b'=' as u64)) & HIGHS
}

/// The end of the run of [`LITERAL`] bytes starting at `from` (the index of
/// the first byte that is not literal, or `src.len()`).
#[inline]
fn literal_run_end(src: &[u8], from: usize) -> usize {
    let mut i = from;
    let mut words = src[from..].chunks_exact(8);
    for chunk in &mut words {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = not_literal_mask(w);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    for &b in words.remainder() {
        if !LITERAL[b as usize] {
            return i;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_mask_matches_table() {
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'a'; 8];
                bytes[lane] = b;
                let m = not_literal_mask(u64::from_le_bytes(bytes));
                let expect = if LITERAL[b as usize] {
                    0
                } else {
                    0x80u64 << (8 * lane)
                };
                assert_eq!(m, expect, "byte {b:#x} lane {lane}");
            }
        }
        // Mixed lanes: the lowest flagged lane is the first non-literal byte.
        let src = b"abc\x7f=\xff\x00\t";
        assert_eq!(literal_run_end(src, 0), 3);
        assert_eq!(literal_run_end(b"\t\t\t\t\t\t\t\t\t \t=", 0), 11);
    }

    #[test]
    fn escapes_are_uppercase_and_whole() {
        let o = EncodeOptions {
            binary: true,
            crlf: false,
            line_length: 10,
        };
        let e = encode_to_vec(&[0xAB; 7], o);
        assert_eq!(e, b"=AB=AB=AB=\n=AB=AB=AB=\n=AB");
        for line in e.split(|&b| b == b'\n') {
            assert!(line.len() <= 10);
        }
    }

    #[test]
    fn tiny_width_is_clamped() {
        let o = EncodeOptions {
            binary: true,
            crlf: true,
            line_length: 0,
        };
        let e = encode_to_vec(b"ab\xff", o);
        assert_eq!(decode_to_vec(&e), b"ab\xff");
        assert!(e.split(|&b| b == b'\n').all(|l| l.len() <= 5));
    }

    #[test]
    fn decode_edge_cases() {
        assert_eq!(decode_to_vec(b"a=\r"), b"a");
        assert_eq!(decode_to_vec(b"="), b"");
        assert_eq!(decode_to_vec(b"=0D\n"), b"\r\n");
        assert_eq!(decode_to_vec(b" =20 \n \n"), b"  \n\n");
        let mut out = Vec::new();
        assert_eq!(decode(b"=4=\n=", &mut out), vec![0]);
        assert_eq!(out, b"=4");
    }
}
