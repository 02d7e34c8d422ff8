//! CPython's quoted-printable, byte for byte: `binascii.a2b_qp` and
//! `binascii.b2a_qp`, which `quopri` and Python mail code call.
//!
//! They are not the RFC 2045 codec of the parent module, and the
//! differences are the point: Python code compares their output with the
//! stdlib's. The decoder keeps trailing blanks, treats `==` as `=` and `=\r`
//! followed by anything up to the next LF as a soft break, and turns `_`
//! into a space in `header` mode. The encoder picks its line ending from the
//! input's first line (CRLF if that line ends with one, else LF) and writes
//! every line end in it; it cuts lines at 76 columns by binascii's own
//! accounting (an escape moves to a new line when it would reach column
//! 76, a literal byte when it would and is not the last before a line end),
//! escapes a lone `.` at a line start before a line end (SMTP's end of
//! data), `_` and writes a space as `_` in `header` mode, every blank with
//! `quotetabs`, CR and LF when not `istext`, and a blank before a line end
//! or at the end. The hex escape and hex digits are the parent module's
//! ([`escape_word`], [`HEX_VALUE`]).
//!
//! The decoder copies runs of bytes that need nothing (found with `memchr`)
//! at once. The encoder writes through the parent module's [`Encoder`]: the
//! bytes that need a rule of binascii's own go one at a time through
//! [`step`], CPython's loop; with the default switches, the runs between
//! them go through the parent's line-body encoder (SWAR, or the AVX-512
//! kernel), whose rule is binascii's there ([`fast_run_end`] says where);
//! with `quotetabs`, `header` or `istext=False`, runs of plain bytes are
//! copied. [`binascii_encode_reference`] sends every byte through [`step`],
//! and the tests hold every backend to it.

use memchr::{memchr, memchr2, memchr3};

use super::{escape_word, is_blank, Backend, Encoder, Simd, HEX_VALUE};

/// binascii's `MAXLINESIZE`.
const MAX_LINE: usize = 76;

/// `binascii.a2b_qp(src, header)`, appended to `out` (at most `src.len()`
/// bytes), on the process default [`Backend`]. Never fails: what is not a
/// valid escape is kept.
pub fn binascii_decode_append(src: &[u8], header: bool, out: &mut Vec<u8>) {
    binascii_decode_append_on(Backend::default_for_process(), src, header, out);
}

/// [`binascii_decode_append`] on `backend`; every backend gives the same
/// bytes. The vector kernel decodes the runs of literals and of `=XX`
/// escapes; every other item goes through the scalar loop here.
///
/// # Panics
/// When this CPU lacks `backend` ([`Backend::is_available`]).
pub fn binascii_decode_append_on(backend: Backend, src: &[u8], header: bool, out: &mut Vec<u8>) {
    let simd = backend
        .kernel()
        .unwrap_or_else(|()| panic!("this CPU cannot run the {backend} QP backend"));
    let n = src.len();
    let base = out.len();
    // Decoding never grows the data: write through an index into room
    // made ahead (plus one vector store of slack), and cut it to what was
    // written (as the parent module).
    out.resize(base + n + 64, 0);
    let buf = &mut out[base..];
    let special = |c: u8| c == b'=' || (header && c == b'_');
    let (mut i, mut o) = (0, 0);
    while i < n {
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = simd {
            (i, o) = k.binascii_decode_runs(src, i, buf, o, header);
            if i == n {
                break;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = simd;
        let c = src[i];
        if c == b'=' {
            // A soft break, `==`, an escape, or kept as it is.
            i += 1;
            let Some(&d) = src.get(i) else {
                break;
            };
            if d == b'\n' || d == b'\r' {
                if d == b'\r' {
                    i += memchr(b'\n', &src[i..]).unwrap_or(n - i);
                }
                i = (i + 1).min(n);
            } else if d == b'=' {
                // "broken case from broken python qp" (binascii's words).
                buf[o] = b'=';
                o += 1;
                i += 1;
            } else if i + 1 < n
                && HEX_VALUE[d as usize] != 0xFF
                && HEX_VALUE[src[i + 1] as usize] != 0xFF
            {
                buf[o] = HEX_VALUE[d as usize] << 4 | HEX_VALUE[src[i + 1] as usize];
                o += 1;
                i += 2;
            } else {
                buf[o] = b'=';
                o += 1;
            }
            continue;
        }
        if c == b'_' && header {
            buf[o] = b' ';
            o += 1;
            i += 1;
            continue;
        }
        // A run of literal bytes: a few looked at here (text with many
        // escapes has short runs), the rest found with `memchr`.
        let mut j = i + 1;
        let near = (i + 16).min(n);
        while j < near && !special(src[j]) {
            j += 1;
        }
        if j == near && j < n {
            let found = if header {
                memchr2(b'=', b'_', &src[j..])
            } else {
                memchr(b'=', &src[j..])
            };
            j = found.map_or(n, |k| j + k);
        }
        buf[o..o + j - i].copy_from_slice(&src[i..j]);
        o += j - i;
        i = j;
    }
    out.truncate(base + o);
}

/// The switches of `binascii.b2a_qp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BinasciiQp {
    /// Escape every space and tab.
    pub quotetabs: bool,
    /// Text: LF and CRLF are line ends (else every CR and LF is escaped).
    pub istext: bool,
    /// RFC 2047 header mode: `_` is escaped and a space written as `_`.
    pub header: bool,
}

impl Default for BinasciiQp {
    /// binascii's defaults: `quotetabs=False, istext=True, header=False`.
    fn default() -> Self {
        BinasciiQp {
            quotetabs: false,
            istext: true,
            header: false,
        }
    }
}

impl BinasciiQp {
    /// `PLAIN[b]`: `b` is copied as it is wherever it stands, except
    /// possibly at the end of a line or the input (checked by the caller):
    /// printable ASCII but `=` and `.`, and blanks unless quoted; `_` and
    /// the space (written as `_`) go the slow way in header mode.
    fn plain_table(self) -> [bool; 256] {
        let mut t = [false; 256];
        for b in 33..=126u8 {
            t[b as usize] = true;
        }
        t[b'=' as usize] = false;
        t[b'.' as usize] = false;
        if !self.quotetabs {
            t[b'\t' as usize] = true;
            t[b' ' as usize] = true;
        }
        if self.header {
            t[b'_' as usize] = false;
            t[b' ' as usize] = false;
        }
        t
    }

    /// `ALWAYS[c]`: the terms of binascii's escape condition that depend on
    /// the byte alone (8-bit, `=`, `_` in header mode, CR and LF in binary
    /// mode, controls, and blanks with `quotetabs`).
    fn always_table(self) -> [bool; 256] {
        let mut t = [false; 256];
        for (c, e) in (0..=255u8).zip(t.iter_mut()) {
            *e = c > 126
                || c == b'='
                || (self.header && c == b'_')
                || (!self.istext && (c == b'\r' || c == b'\n'))
                || (c < 33
                    && c != b'\r'
                    && c != b'\n'
                    && (self.quotetabs || (c != b'\t' && c != b' ')));
        }
        t
    }

    /// Whether binascii writes `src[i]` as `=XX` when the current line holds
    /// `linelen` bytes (CPython's condition: `always` holds the terms of
    /// the byte alone, the rest look at its place).
    #[inline]
    fn escapes(src: &[u8], i: usize, linelen: usize, always: &[bool; 256]) -> bool {
        let c = src[i];
        let last = i + 1 == src.len();
        always[c as usize]
            || (c == b'.' && linelen == 0 && (last || matches!(src[i + 1], b'\n' | b'\r' | 0)))
            || ((c == b'\t' || c == b' ') && last)
    }
}

/// `binascii.b2a_qp(src, quotetabs, istext, header)`, appended to `out`,
/// on the process default [`Backend`].
pub fn binascii_encode_append(src: &[u8], opts: BinasciiQp, out: &mut Vec<u8>) {
    binascii_encode_append_on(Backend::default_for_process(), src, opts, out);
}

/// [`binascii_encode_append`] on `backend`; every backend gives the same
/// bytes, those of [`binascii_encode_reference`].
///
/// # Panics
/// When this CPU lacks `backend` ([`Backend::is_available`]).
pub fn binascii_encode_append_on(
    backend: Backend,
    src: &[u8],
    opts: BinasciiQp,
    out: &mut Vec<u8>,
) {
    let simd = backend
        .kernel()
        .unwrap_or_else(|()| panic!("this CPU cannot run the {backend} QP backend"));
    encode(src, opts, first_line_crlf(src), out, Some(simd));
}

/// Input bytes per piece of [`binascii_encode_pieces`].
const PIECE: usize = 256 * 1024;

/// [`binascii_encode_append`] handed to `sink` a piece at a time: the
/// pieces, in order, make the whole output. A piece of the input ends after
/// an LF where `istext` is on (there the encoder keeps no state: the line
/// is at column 0, the next byte's rules look no further back than its
/// line, and the line ending was chosen from the whole input's first line),
/// so a large input needs a piece's worth of scratch, not a second copy of
/// its output (the Python binding writes the pieces straight into the
/// `bytes` it returns). With `istext` off, or no LF, it is one piece.
pub fn binascii_encode_pieces(src: &[u8], opts: BinasciiQp, sink: impl FnMut(&[u8])) {
    binascii_encode_pieces_on(Backend::default_for_process(), src, opts, PIECE, sink);
}

/// [`binascii_encode_pieces`] on `backend`, with pieces of about `piece`
/// input bytes (the tests make them small).
///
/// # Panics
/// When this CPU lacks `backend` ([`Backend::is_available`]).
#[doc(hidden)]
pub fn binascii_encode_pieces_on(
    backend: Backend,
    src: &[u8],
    opts: BinasciiQp,
    piece: usize,
    mut sink: impl FnMut(&[u8]),
) {
    let simd = backend
        .kernel()
        .unwrap_or_else(|()| panic!("this CPU cannot run the {backend} QP backend"));
    let crlf = first_line_crlf(src);
    let mut scratch = Vec::new();
    let mut i = 0;
    while i < src.len() {
        let end = match src.get(i + piece.max(1)..) {
            Some(rest) if opts.istext => {
                memchr(b'\n', rest).map_or(src.len(), |k| i + piece.max(1) + k + 1)
            }
            _ => src.len(),
        };
        scratch.clear();
        encode(&src[i..end], opts, crlf, &mut scratch, Some(simd));
        sink(&scratch);
        i = end;
    }
}

/// binascii's choice of line ending: CRLF if the input's first line ends
/// with one, else LF.
fn first_line_crlf(src: &[u8]) -> bool {
    matches!(memchr(b'\n', src), Some(p) if p > 0 && src[p - 1] == b'\r')
}

/// A bound on the length of [`binascii_encode_append`]'s output for `n`
/// input bytes: at most 3 bytes a byte (an escape; a line end becomes at
/// most CRLF, a blank before it `=XX`), and a soft break of at most 3
/// bytes after every 25 or more escapes' worth of a line.
pub fn binascii_encoded_bound(n: usize) -> usize {
    n.saturating_mul(4).saturating_add(16)
}

/// [`binascii_encode_append`] one byte at a time through [`step`], CPython's
/// loop and nothing else: the reference the fast paths are tested against.
#[doc(hidden)]
pub fn binascii_encode_reference(src: &[u8], opts: BinasciiQp, out: &mut Vec<u8>) {
    encode(src, opts, first_line_crlf(src), out, None);
}

/// The encoder, with the line ending already chosen (`crlf`). `runs`: `None` sends every byte through [`step`]; `Some`
/// lets runs that need no rule of their own go faster: with the default
/// switches, the parent module's encoder ([`Encoder::run`], SWAR or the
/// vector kernel), whose rule is binascii's there (see [`fast_run_end`]);
/// with the others, runs of plain bytes copied as they are.
fn encode(src: &[u8], opts: BinasciiQp, crlf: bool, out: &mut Vec<u8>, runs: Option<Option<Simd>>) {
    let n = src.len();
    out.reserve(n + n / 4 + 8);
    let mut enc = Encoder::new(out, MAX_LINE, crlf, runs.flatten());
    let start = enc.o;
    let plain = opts.plain_table();
    let always = opts.always_table();
    let default = opts == BinasciiQp::default();
    let mut i = 0;
    while i < n {
        if runs.is_some() {
            if default {
                let end = fast_run_end(src, i);
                if end > i {
                    enc.run(&src[i..end]);
                    i = end;
                    continue;
                }
            } else {
                // Plain bytes, none the last of the input (a blank there is
                // escaped) and none that would reach column 76 (it may need
                // a soft break first): at column 74 or less, a literal goes
                // as it is.
                let room = (MAX_LINE - 1).saturating_sub(enc.col);
                let stop = (i + room).min(n - 1);
                let mut j = i;
                while j < stop && plain[src[j] as usize] {
                    j += 1;
                }
                if j > i {
                    enc.ensure(j - i);
                    let o = enc.o;
                    enc.out[o..o + j - i].copy_from_slice(&src[i..j]);
                    enc.o += j - i;
                    enc.col += j - i;
                    i = j;
                    continue;
                }
            }
        }
        i = step(&mut enc, src, i, opts, &always, start);
    }
    let o = enc.o;
    out.truncate(o);
}

/// The end of the run from `i` where, with binascii's default switches,
/// every byte is encoded by the parent module's rule for a byte that is not
/// the last of its line ([`Encoder::run`]): the same bytes escaped (controls,
/// DEL and above, `=`; CR and LF are not in the run) and the same soft break
/// (a byte goes on the line if it ends at column 75 or before: binascii's
/// `linelen + 3 >= 76` for an escape, `linelen + 1 >= 76` for a literal not
/// followed by LF). What stays out, for [`step`]: CR (literal when alone in
/// text mode), LF, NUL, the last byte of the input, a byte before LF (a
/// literal may take column 76 there), and a `.` before CR or NUL (the
/// lone-dot rule, which can apply after a soft break).
fn fast_run_end(src: &[u8], i: usize) -> usize {
    let last = src.len() - 1;
    let p = memchr3(b'\r', b'\n', 0, &src[i..last]).map_or(last, |k| i + k);
    let next = src[p];
    if p > i && (next == b'\n' || (src[p - 1] == b'.' && (next == b'\r' || next == 0))) {
        p - 1
    } else {
        p
    }
}

/// One byte of CPython's `b2a_qp` loop, at `src[i]` with the current line at
/// column `enc.col`; returns where the next byte starts. `start`: where this
/// call's output began.
fn step(
    enc: &mut Encoder<'_>,
    src: &[u8],
    i: usize,
    opts: BinasciiQp,
    always: &[bool; 256],
    start: usize,
) -> usize {
    let n = src.len();
    let c = src[i];
    let soft = enc.soft();
    enc.ensure(2);
    if BinasciiQp::escapes(src, i, enc.col, always) {
        if enc.col + 3 >= MAX_LINE {
            enc.put(soft.word, soft.len);
            enc.col = 0;
        }
        enc.put(escape_word(c), 3);
        enc.col += 3;
        i + 1
    } else if opts.istext && (c == b'\n' || (c == b'\r' && src.get(i + 1) == Some(&b'\n'))) {
        // A blank at the end of a line is escaped (it would be lost).
        if enc.o > start && is_blank(enc.out[enc.o - 1]) {
            enc.o -= 1;
            let prev = enc.out[enc.o];
            enc.put(escape_word(prev), 3);
        }
        enc.put(enc.eol, enc.eol_len);
        enc.col = 0;
        i + if c == b'\r' { 2 } else { 1 }
    } else {
        if i + 1 != n && src[i + 1] != b'\n' && enc.col + 1 >= MAX_LINE {
            enc.put(soft.word, soft.len);
            enc.col = 0;
        }
        enc.col += 1;
        enc.put(
            u32::from(if opts.header && c == b' ' { b'_' } else { c }),
            1,
        );
        i + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoding of `s`, the same on every backend (checked here).
    fn dec(s: &[u8], header: bool) -> Vec<u8> {
        let mut want = Vec::new();
        binascii_decode_append_on(Backend::Scalar, s, header, &mut want);
        for b in Backend::available() {
            let mut got = Vec::new();
            binascii_decode_append_on(b, s, header, &mut got);
            assert_eq!(got, want, "backend {b}, header {header}, input {s:?}");
        }
        want
    }

    /// The encoding of `s`, the same through the reference and every
    /// backend (checked here).
    fn enc(s: &[u8], opts: BinasciiQp) -> Vec<u8> {
        let mut want = Vec::new();
        binascii_encode_reference(s, opts, &mut want);
        for b in Backend::available() {
            let mut got = Vec::new();
            binascii_encode_append_on(b, s, opts, &mut got);
            assert_eq!(got, want, "backend {b}, {opts:?}, input {s:?}");
        }
        want
    }

    #[test]
    fn decode_matches_cpython_corners() {
        // Expected values from CPython 3.13's binascii.a2b_qp.
        assert_eq!(dec(b"=", false), b"");
        assert_eq!(dec(b"==", false), b"=");
        assert_eq!(dec(b"=AX", false), b"=AX");
        assert_eq!(dec(b"=ab=CD", false), b"\xab\xcd");
        assert_eq!(dec(b"a=\r junk\nb", false), b"ab");
        assert_eq!(dec(b"a=\rb", false), b"a");
        assert_eq!(dec(b"a b  \n", false), b"a b  \n");
        assert_eq!(dec(b"a_b=_", true), b"a b= ");
        assert_eq!(dec(b"=A", false), b"=A");
    }

    #[test]
    fn encode_matches_cpython_corners() {
        let d = BinasciiQp::default();
        assert_eq!(enc(b"", d), b"");
        assert_eq!(enc(b".", d), b"=2E");
        assert_eq!(enc(b".\nx", d), b"=2E\nx");
        assert_eq!(enc(b"a.\n", d), b"a.\n");
        assert_eq!(enc(b"a \nb\t", d), b"a=20\nb=09");
        assert_eq!(enc(b"a\r\nb\nc", d), b"a\r\nb\r\nc");
        assert_eq!(enc(b"a b_", BinasciiQp { header: true, ..d }), b"a_b=5F");
        assert_eq!(
            enc(
                b"a b",
                BinasciiQp {
                    quotetabs: true,
                    ..d
                }
            ),
            b"a=20b"
        );
        assert_eq!(enc(b"a\nb", BinasciiQp { istext: false, ..d }), b"a=0Ab");
        let long = [b'x'; 200];
        let out = enc(&long, d);
        let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
        assert_eq!(lines[0].len(), 76);
        assert_eq!(&lines[0][75..], b"=");
    }
}
