//! Quoted-printable (RFC 2045 §6.7): decoding of mail bodies and encoding
//! with soft line breaks.
//!
//! Both directions write through an index into output space made ahead of
//! time (the Vec is lengthened, zero-filled, by the worst case of the next
//! chunk of input, and truncated to what was written), so no byte is pushed
//! and no capacity is checked per byte. Zero-filling keeps this safe code;
//! it costs about one `memset` of the output.
//!
//! The encoder cuts text at hard line ends (`memchr` for LF). Where the CPU
//! has AVX-512 VBMI2, a line's body goes 16 bytes a step through the vector
//! kernel in `avx512.rs` (one compress per step, whatever the escapes);
//! the scalar [`Backend`] is the reference it is tested against. Otherwise it
//! encodes each line 8 bytes at a time. A SWAR test ([`not_literal_mask`]) tells
//! whether a word can be copied as is (one 8-byte store); if not, each
//! byte's encoded form comes from a 256-entry table of packed literal/`=XX`
//! words ([`ENC`]), written branch-free with one 4-byte store per byte.
//! Either way the word's output length is known before it is committed, so
//! the column moves by one addition per word; a word that crosses the
//! soft-break column is split there. Only the last byte of a line (which may
//! take the last column, and is escaped if blank) and the tail of fewer than
//! 8 bytes go byte by byte, through [`put_byte`], the rule that defines the
//! output.
//!
//! The decoder copies 8 bytes at a time with one unaligned store and stops at
//! the first `=` or LF (SWAR zero-byte test); runs of `=XX` escapes are
//! decoded in a tight loop. Trailing blanks are trimmed from the output at
//! line ends only, never looked at on the way.
//!
//! Decoding is lenient, as mail needs: a bad escape is kept literally and its
//! offset reported, blanks after a soft-break `=` are tolerated, lowercase hex
//! is accepted. It never fails and never panics.

use std::io::{self, Write};

use memchr::memchr;

use crate::base64::LineEnding;
#[cfg(doc)]
use crate::base64::Wrap;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod binascii;
mod quoprimime;

pub use binascii::{
    binascii_decode_append, binascii_decode_append_on, binascii_encode_append,
    binascii_encode_append_on, binascii_encode_pieces, binascii_encode_pieces_on,
    binascii_encode_reference, binascii_encoded_bound, BinasciiQp,
};
pub use quoprimime::{
    quoprimime_body_encode, quoprimime_body_encode_on, quoprimime_decode, quoprimime_header_decode,
    quoprimime_header_encode,
};

/// The vector kernel for line bodies, where the CPU has one.
#[cfg(target_arch = "x86_64")]
type Simd = avx512::Avx512;
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy)]
enum Simd {}

/// The kernels the quoted-printable encoder can run, chosen per call
/// ([`encode_append_on`]) as Base64's are per codec value, so tests drive each one
/// whatever the process default. Decoding has one (scalar SWAR) path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Eight bytes a step (SWAR); also the reference in tests.
    Scalar,
    /// The AVX-512 VBMI/VBMI2 line-body kernel (`vpermb` + `vpcompressb`).
    Avx512Vbmi,
}

impl Backend {
    /// Every backend, slowest first.
    pub const ALL: [Backend; 2] = [Backend::Scalar, Backend::Avx512Vbmi];

    /// The name used by `MIMEFLOW_SIMD` and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx512Vbmi => "avx512vbmi",
        }
    }

    /// Whether this CPU can run the backend (detected once, then cached).
    pub fn is_available(self) -> bool {
        self.kernel().is_ok()
    }

    /// The backends this CPU can run, slowest first.
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_available())
            .collect()
    }

    /// The process default: the vector kernel where the CPU has it and the
    /// Base64 process default ([`crate::base64::Backend::default_for_process`],
    /// set by `MIMEFLOW_SIMD`) is AVX-512 too, so `MIMEFLOW_SIMD=scalar`
    /// turns both off; else scalar.
    pub fn default_for_process() -> Backend {
        static DEFAULT: std::sync::OnceLock<Backend> = std::sync::OnceLock::new();
        *DEFAULT.get_or_init(|| {
            let simd =
                crate::base64::Backend::default_for_process() == crate::base64::Backend::Avx512Vbmi;
            if simd && Backend::Avx512Vbmi.is_available() {
                Backend::Avx512Vbmi
            } else {
                Backend::Scalar
            }
        })
    }

    /// The kernel token of this backend: `Ok(None)` for scalar, `Err` where
    /// the CPU lacks the backend.
    fn kernel(self) -> Result<Option<Simd>, ()> {
        match self {
            Backend::Scalar => Ok(None),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512Vbmi => avx512::Avx512::get().map(Some).ok_or(()),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::Avx512Vbmi => Err(()),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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

/// Input bytes handled per output reservation. Small enough that the
/// zero-filled worst case stays in L1/L2, large enough to amortise it.
const CHUNK: usize = 4096;

#[inline(always)]
fn load_word(src: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&src[i..i + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn store_word(out: &mut [u8], o: usize, w: u64) {
    out[o..o + 8].copy_from_slice(&w.to_le_bytes());
}

/// The high bit of a byte of the result is set where `w` has a zero byte.
/// Only the lowest set bit is exact (a borrow can flag bytes above a zero),
/// which is all a "first match" search needs.
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
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
/// let bad = mimeflow::qp::decode_append(b"caf=C3=a9 =\r\nau lait =ZZ  \r\n", &mut out);
/// assert_eq!(out, "café au lait =ZZ\r\n".as_bytes());
/// assert_eq!(bad, vec![21]);
/// ```
pub fn decode_append(src: &[u8], out: &mut Vec<u8>) -> Vec<usize> {
    let mut bad = Vec::new();
    let n = src.len();
    out.reserve(n);
    // `o`: the write index into `out`. Output never outgrows the input
    // consumed (a literal is 1:1, an escape 3:1, a soft break 2+:0), so each
    // chunk makes `out` reach its input length past `o`, plus slack for the
    // overlapping 8-byte stores and for items that start up to 15 bytes past
    // `stop`. `out` is truncated to `o` at the end.
    let mut o = out.len();
    // Output below `floor` is never trimmed: it is a decoded escape or the
    // previous line, not a trailing blank of the current line.
    let mut floor = o;
    let mut i = 0;
    while i < n {
        let stop = n.min(i + CHUNK);
        let need = o + (stop - i) + 32;
        if out.len() < need {
            out.resize(need, 0);
        }
        let buf = &mut out[..];
        while i < stop {
            // Copy literals up to the next '=' or LF: a whole word is stored
            // and the index moves only past the literal bytes.
            if i + 8 <= n {
                let w = load_word(src, i);
                store_word(buf, o, w);
                let m =
                    zero_bytes(w ^ (b'=' as u64 * ONES)) | zero_bytes(w ^ (b'\n' as u64 * ONES));
                if m == 0 {
                    i += 8;
                    o += 8;
                    continue;
                }
                let k = (m.trailing_zeros() / 8) as usize;
                i += k;
                o += k;
            } else {
                let b = src[i];
                if b != b'=' && b != b'\n' {
                    buf[o] = b;
                    i += 1;
                    o += 1;
                    continue;
                }
            }
            if src[i] == b'\n' {
                // Hard line end: trim the line's trailing blanks, keep CR LF
                // or LF.
                let cr = o > floor && buf[o - 1] == b'\r';
                if cr {
                    o -= 1;
                }
                while o > floor && is_blank(buf[o - 1]) {
                    o -= 1;
                }
                if cr {
                    buf[o] = b'\r';
                    o += 1;
                }
                buf[o] = b'\n';
                o += 1;
                floor = o;
                i += 1;
                continue;
            }
            // An escape. Runs of escapes ("=E2=82=AC", binary data) are
            // decoded here without going back to the literal scan.
            // (The literal scan may have stepped up to 7 bytes past `stop`;
            // the slack covers that.)
            let mut p = i;
            while p < stop + 8 && p + 2 < n && src[p] == b'=' {
                let (hi, lo) = (
                    HEX_VALUE[src[p + 1] as usize],
                    HEX_VALUE[src[p + 2] as usize],
                );
                if hi | lo == 0xFF {
                    break;
                }
                buf[o] = hi << 4 | lo;
                o += 1;
                p += 3;
            }
            if p != i {
                floor = o;
                i = p;
                continue;
            }
            // Not "=XX": a soft break ("=", blanks, then CRLF, LF or the
            // end), or a bad escape kept as written.
            let mut q = i + 1;
            while q < n && is_blank(src[q]) {
                q += 1;
            }
            let soft_end = match src.get(q) {
                None => Some(q),
                Some(b'\n') => Some(q + 1),
                Some(b'\r') if q + 1 == n => Some(q + 1),
                Some(b'\r') if src[q + 1] == b'\n' => Some(q + 2),
                _ => None,
            };
            match soft_end {
                Some(end) => i = end,
                None => {
                    bad.push(i);
                    buf[o] = b'=';
                    o += 1;
                    i += 1;
                }
            }
            floor = o;
        }
    }
    // The last line, even without a line end, loses its trailing blanks.
    while o > floor && is_blank(out[o - 1]) {
        o -= 1;
    }
    out.truncate(o);
    bad
}

/// Input bytes per piece of [`decode_to_writer`]: the output it holds at once is
/// at most this (decoding never grows the data).
const PIECE: usize = 64 * 1024;

/// Decodes `src` as [`decode_append`] does, writing the output to `w` piece by
/// piece, so memory stays bounded whatever the size of the body. Offsets of
/// bad escapes (relative to `src`) are appended to `bad`. Returns the bytes
/// written.
///
/// Pieces end where [`decode_append`] keeps no state across the cut (see
/// [`is_cut`]), so the output is byte for byte that of one call. A line
/// with no such point (a run of blanks, CRs or `=` with no line end) is
/// decoded as one piece.
///
/// ```
/// let (mut out, mut bad) = (Vec::new(), Vec::new());
/// let n = mimeflow::qp::decode_to_writer(b"caf=C3=a9 =\r\nau lait =ZZ  \r\n", &mut out, &mut bad).unwrap();
/// assert_eq!(out, "café au lait =ZZ\r\n".as_bytes());
/// assert_eq!((n, bad), (out.len() as u64, vec![21]));
/// ```
pub fn decode_to_writer(src: &[u8], w: &mut impl Write, bad: &mut Vec<usize>) -> io::Result<u64> {
    decode_pieces(src, w, bad, PIECE)
}

/// [`decode_to_writer`] with pieces of about `piece` input bytes (the
/// message decoder passes its step size).
pub(crate) fn decode_pieces(
    src: &[u8],
    w: &mut impl Write,
    bad: &mut Vec<usize>,
    piece: usize,
) -> io::Result<u64> {
    let piece = piece.max(1);
    let mut out = Vec::with_capacity(piece.min(src.len()) + 32);
    let (mut start, mut total) = (0, 0u64);
    while start < src.len() {
        let end = next_cut(src, start, piece);
        out.clear();
        bad.extend(
            decode_append(&src[start..end], &mut out)
                .into_iter()
                .map(|b| start + b),
        );
        w.write_all(&out)?;
        total += out.len() as u64;
        start = end;
    }
    Ok(total)
}

/// Decodes the longest prefix of `src` that ends where [`decode_append`] keeps no
/// state (see `is_cut`), appending to `out`; returns the prefix's length
/// (0 when `src` has no such point). Streaming decoders call it on what has
/// arrived and keep the rest for the next call: the output is that of one
/// [`decode_append`] of the whole input, whatever the arrival. Bad escapes are not
/// reported.
pub fn decode_prefix(src: &[u8], out: &mut Vec<u8>) -> usize {
    let Some(cut) = (1..=src.len()).rev().find(|&c| is_cut(src, c)) else {
        return 0;
    };
    decode_append(&src[..cut], out);
    cut
}

/// The end of the piece that starts at `start`: the last cut within
/// `piece` bytes, else the first one after, else the end of `src`.
fn next_cut(src: &[u8], start: usize, piece: usize) -> usize {
    let hi = start.saturating_add(piece);
    if hi >= src.len() {
        return src.len();
    }
    (start + 1..=hi)
        .rev()
        .chain(hi + 1..src.len())
        .find(|&c| is_cut(src, c))
        .unwrap_or(src.len())
}

/// Whether [`decode_append`] of `src[..c]` then of `src[c..]` equals the decode of
/// `src`: nothing pending at `c`. That holds after a line end; after a
/// complete `=XX` escape (an `=` is never inside another item, so it starts
/// one; a decoded escape is never trimmed); and after a literal byte that
/// is not blank (the end-of-input trim would eat it), not CR (a line end
/// trims the blanks before its CR) and not the `=` or hex digit of an
/// unfinished escape or soft break.
fn is_cut(src: &[u8], c: usize) -> bool {
    let at = |k: usize| c.checked_sub(k).map(|i| src[i]);
    let last = src[c - 1];
    if last == b'\n' {
        return true;
    }
    if is_blank(last) || last == b'\r' || last == b'=' {
        return false;
    }
    let hex = |b: Option<u8>| b.is_some_and(|b| HEX_VALUE[b as usize] != 0xFF);
    if at(3) == Some(b'=') && hex(at(2)) && hex(at(1)) {
        return true;
    }
    at(2) != Some(b'=') && at(3) != Some(b'=')
}

/// Decodes a quoted-printable body into a new vector (bad escapes are kept
/// literally and not reported; use [`decode_append`] for their offsets).
pub fn decode_to_vec(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    decode_append(src, &mut out);
    out
}

/// How [`encode_append`] writes quoted-printable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// `true`: every byte is data, CR and LF are encoded as `=0D` `=0A`.
    /// `false` (text): CRLF and bare LF are line ends, written as hard breaks
    /// in the output line ending; a bare CR is encoded as `=0D`.
    pub binary: bool,
    /// Output line ending (the type Base64's [`Wrap`] uses).
    pub line_ending: LineEnding,
    /// Longest output line, counting a trailing soft-break `=` but not the
    /// line end (RFC 2045: 76); the name Base64's [`Wrap`] uses. Values
    /// below 4 are treated as 4, the least that fits an escape and a soft
    /// break.
    pub cols: usize,
}

impl Default for EncodeOptions {
    /// Text mode, CRLF, 76 columns.
    fn default() -> Self {
        EncodeOptions {
            binary: false,
            line_ending: LineEnding::Crlf,
            cols: 76,
        }
    }
}

/// `ENC[b]`: how `b` is written when it is not right before a line end,
/// packed little-endian (`b` itself, or `=XX`) in bits 0..24, with its
/// length (1 or 3) in bits 24..26.
const ENC: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if LITERAL[b] {
            b as u32 | 1 << 24
        } else {
            escape_word(b as u8)
        };
        b += 1;
    }
    t
};

/// `=XX` for `b` (uppercase hex, RFC 2045 §6.7): the crate's one hex
/// escape, also used by RFC 2047 Q-encoding (`compose::encode_header`).
pub(crate) const fn escape(b: u8) -> [u8; 3] {
    [
        b'=',
        HEX_UPPER[(b >> 4) as usize],
        HEX_UPPER[(b & 15) as usize],
    ]
}

/// `=XX` for `b`, packed as in [`ENC`].
const fn escape_word(b: u8) -> u32 {
    let [e, hi, lo] = escape(b);
    e as u32 | (hi as u32) << 8 | (lo as u32) << 16 | 3 << 24
}

#[inline(always)]
fn enc_len(t: u32) -> usize {
    (t >> 24 & 3) as usize
}

/// Encodes `src` as quoted-printable into `out` (appended).
///
/// `=`, control characters and 8-bit bytes are written `=XX` (uppercase);
/// a space or tab just before a hard line end or the end of the input is
/// encoded too; lines are cut with soft breaks so that none exceeds
/// `opts.cols`, never inside an escape. In text mode a final line
/// without a line end stays without one.
///
/// ```
/// use mimeflow::qp::{encode_to_vec, EncodeOptions};
/// let text = encode_to_vec("naïve = true \n".as_bytes(), EncodeOptions::default());
/// assert_eq!(text, b"na=C3=AFve =3D true=20\r\n");
/// ```
pub fn encode_append(src: &[u8], opts: EncodeOptions, out: &mut Vec<u8>) {
    encode_append_on(Backend::default_for_process(), src, opts, out);
}

/// [`encode_append`] on `backend`; every backend gives the same bytes.
///
/// # Panics
/// When this CPU lacks `backend` ([`Backend::is_available`]).
pub fn encode_append_on(backend: Backend, src: &[u8], opts: EncodeOptions, out: &mut Vec<u8>) {
    let simd = backend
        .kernel()
        .unwrap_or_else(|()| panic!("this CPU cannot run the {backend} QP backend"));
    encode_with(src, opts, out, simd);
}

fn encode_with(src: &[u8], opts: EncodeOptions, out: &mut Vec<u8>, simd: Option<Simd>) {
    let width = opts.cols.max(4);
    let crlf = opts.line_ending == LineEnding::Crlf;
    let n = src.len();
    // Text is mostly copied; binary mostly triples. [`Encoder::ensure`]
    // makes room for the worst case as it goes; this only saves regrowing.
    out.reserve(
        if opts.binary {
            n * 3 + n / 24
        } else {
            n + n / 16
        } + 8,
    );
    let mut enc = Encoder::new(out, width, crlf, simd);
    if opts.binary {
        // One "line": CR and LF are data.
        enc.line(src);
    } else {
        // Hard lines: LF or CRLF ends one (a CR before CR LF is data, the
        // last byte of its line).
        let mut i = 0;
        while let Some(k) = memchr(b'\n', &src[i..]) {
            let lf = i + k;
            let end = if lf > i && src[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            enc.line(&src[i..end]);
            enc.hard_break();
            i = lf + 1;
        }
        enc.line(&src[i..]);
    }
    let o = enc.o;
    out.truncate(o);
}

/// Encodes `src` as quoted-printable into a new vector.
pub fn encode_to_vec(src: &[u8], opts: EncodeOptions) -> Vec<u8> {
    let mut out = Vec::new();
    encode_append(src, opts, &mut out);
    out
}

/// Output state of [`encode_append`]: the write index into `out` (which is kept
/// longer than the output, zero-filled ahead, and truncated at the end) and
/// the column of the current line.
struct Encoder<'a> {
    out: &'a mut Vec<u8>,
    o: usize,
    /// `width - 1`: the last column a byte may reach when a soft-break `=`
    /// may have to follow it.
    fit: usize,
    /// Output bytes per input byte in the worst case, soft breaks included:
    /// each byte gives at most 3 (a line end at most 2), and every
    /// soft-broken line but the first holds at least `width - 3` of them, so
    /// `n` bytes give at most `3n + 3 (3n / (width - 3) + 1)`, which
    /// `n * (3 + ceil(9 / (width - 3)))` plus the slack in
    /// [`Encoder::ensure`] bounds.
    per_byte: usize,
    /// The line ending, packed little-endian, and its length.
    eol: u32,
    eol_len: usize,
    col: usize,
    /// The vector kernel for line bodies, if the CPU has one.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    simd: Option<Simd>,
}

impl<'a> Encoder<'a> {
    /// An encoder appending to `out` lines of at most `width` (>= 4)
    /// columns, ended by CRLF or LF, at column 0.
    fn new(out: &'a mut Vec<u8>, width: usize, crlf: bool, simd: Option<Simd>) -> Encoder<'a> {
        debug_assert!(width >= 4);
        Encoder {
            o: out.len(),
            out,
            fit: width - 1,
            per_byte: 3 + 9usize.div_ceil(width - 3),
            eol: if crlf { 0x0A0D } else { 0x0A },
            eol_len: if crlf { 2 } else { 1 },
            col: 0,
            simd,
        }
    }

    /// The soft break of this encoder's line ending.
    #[inline]
    fn soft(&self) -> Soft {
        Soft {
            word: b'=' as u32 | self.eol << 8,
            len: 1 + self.eol_len,
        }
    }

    /// Makes `out` hold at least the worst-case output of `n` more input
    /// bytes past `o`, plus slack for 4- and 8-byte stores. Zero-fills only
    /// what was never filled before, so the whole call zeroes about one
    /// output's worth.
    #[inline]
    fn ensure(&mut self, n: usize) {
        let need = self.o + n * self.per_byte + 70;
        if self.out.len() < need {
            // A little extra, so that short lines do not resize each time.
            self.out.resize(need + 512, 0);
        }
    }

    #[inline(always)]
    fn put(&mut self, w: u32, len: usize) {
        let o = self.o;
        self.out[o..o + 4].copy_from_slice(&w.to_le_bytes());
        self.o = o + len;
    }

    #[inline]
    fn hard_break(&mut self) {
        self.ensure(0);
        self.put(self.eol, self.eol_len);
        self.col = 0;
    }

    /// Encodes the content of one hard line (the whole input in binary
    /// mode). Every byte but the last follows [`put_byte`], 8 at a time
    /// where they fit before the soft-break column; the last one, which is
    /// right before a line end, may use the last column and is escaped if
    /// blank.
    fn line(&mut self, line: &[u8]) {
        let Some((&last, body)) = line.split_last() else {
            return;
        };
        self.run(body);
        self.ensure(1);
        let t = if is_blank(last) {
            escape_word(last)
        } else {
            ENC[last as usize]
        };
        let (mut o, mut col, fit, soft) = (self.o, self.col, self.fit, self.soft());
        put_byte(&mut self.out[..], &mut o, &mut col, t, fit + 1, soft);
        self.o = o;
        self.col = col;
    }

    /// Encodes bytes none of which is the last before a line end or the end
    /// of the input: each follows [`put_byte`] with `fit` (8 at a time, or
    /// through the vector kernel, where they fit before the soft-break
    /// column). `binascii::binascii_encode_append` calls it too, on the runs
    /// where CPython's rules are these.
    fn run(&mut self, body: &[u8]) {
        let fit = self.fit;
        let soft = self.soft();
        let mut col = self.col;
        for chunk in body.chunks(CHUNK) {
            self.ensure(chunk.len() + 1);
            #[cfg(target_arch = "x86_64")]
            if let Some(k) = self.simd.filter(|_| fit >= avx512::MIN_FIT) {
                // ensure() left n * per_byte (>= 4n) + 70 bytes past `o`.
                let (o, c) = k.encode_body(self.out, self.o, col, chunk, fit, soft.word, soft.len);
                self.o = o;
                col = c;
                continue;
            }
            // Locals, so that the index and column stay in registers.
            let buf = &mut self.out[..];
            let mut o = self.o;
            let mut words = chunk.chunks_exact(8);
            for word in &mut words {
                let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
                let literal = not_literal_mask(w) == 0;
                // Written speculatively past `o`; committed if it fits.
                let k = if literal {
                    store_word(buf, o, w);
                    8
                } else {
                    dense_word(buf, o, word)
                };
                if col + k <= fit {
                    o += k;
                    col += k;
                    continue;
                }
                if fit < 24 {
                    // Narrow lines: the rest may need more soft breaks.
                    for &b in word {
                        put_byte(buf, &mut o, &mut col, ENC[b as usize], fit, soft);
                    }
                    continue;
                }
                // The word crosses the soft-break column: the first `j`
                // bytes (`c` output bytes, already in place) stay on this
                // line, and the rest (at most 24 bytes) fits on the next.
                let (j, c) = if literal {
                    (fit - col, fit - col)
                } else {
                    let (mut j, mut c) = (0, 0);
                    for &b in word {
                        let len = enc_len(ENC[b as usize]);
                        if col + c + len > fit {
                            break;
                        }
                        c += len;
                        j += 1;
                    }
                    (j, c)
                };
                o += c;
                buf[o..o + 4].copy_from_slice(&soft.word.to_le_bytes());
                o += soft.len;
                let k = dense_word(buf, o, &word[j..]);
                o += k;
                col = k;
            }
            for &b in words.remainder() {
                put_byte(buf, &mut o, &mut col, ENC[b as usize], fit, soft);
            }
            self.o = o;
        }
        self.col = col;
    }
}

/// A soft break (`=` and the line ending), packed little-endian, and its
/// length.
#[derive(Clone, Copy)]
struct Soft {
    word: u32,
    len: usize,
}

/// The rule that defines the output, for one byte encoded as `t` (an [`ENC`]
/// word): it goes on this line if it ends at column `fit` or before (one
/// less than the width, leaving room for a soft-break `=`, or the width for
/// the last byte of a line), else a soft break comes first. Writes up to
/// 4 + 4 bytes.
#[inline(always)]
fn put_byte(buf: &mut [u8], o: &mut usize, col: &mut usize, t: u32, fit: usize, soft: Soft) {
    let len = enc_len(t);
    if *col + len > fit {
        buf[*o..*o + 4].copy_from_slice(&soft.word.to_le_bytes());
        *o += soft.len;
        *col = 0;
    }
    buf[*o..*o + 4].copy_from_slice(&t.to_le_bytes());
    *o += len;
    *col += len;
}

/// Writes the encoding of `word` (at most 8 bytes) at `out[o..]` from
/// [`ENC`], one 4-byte store per byte, and returns its length. Writes up to
/// 32 bytes.
#[inline(always)]
fn dense_word(out: &mut [u8], o: usize, word: &[u8]) -> usize {
    let win: &mut [u8; 32] = (&mut out[o..o + 32]).try_into().unwrap();
    let mut k = 0;
    for &b in word {
        let t = ENC[b as usize];
        win[k..k + 4].copy_from_slice(&t.to_le_bytes());
        k += enc_len(t);
    }
    k
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of the result is set where `w`'s byte is not
/// [`LITERAL`], and also where it is a tab (a literal that only the table
/// path copies; tabs are rare, and leaving them out saves a compare). Exact
/// per byte otherwise: the sums work on the low 7 bits (the high bit is
/// taken from `w` itself) and stay inside their byte, so no carry crosses
/// lanes.
#[inline(always)]
fn not_literal_mask(w: u64) -> u64 {
    let low7 = w & !HIGHS;
    // >= 0x80 (from `w`), or 0x7F (0x7F + 1 sets the high bit).
    let high_or_del = w | (low7 + ONES);
    // High bit set where low7 >= 0x20 (not a control character).
    let printable = low7 + 0x60 * ONES;
    // High bit set where low7 != '='.
    let not_eq = (low7 ^ (b'=' as u64 * ONES)) + 0x7F * ONES;
    (high_or_del | !(printable & not_eq)) & HIGHS
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
                let expect = if LITERAL[b as usize] && b != b'\t' {
                    0
                } else {
                    0x80u64 << (8 * lane)
                };
                assert_eq!(m, expect, "byte {b:#x} lane {lane}");
            }
        }
        // Mixed lanes: every flagged lane is flagged, no other.
        let m = not_literal_mask(u64::from_le_bytes(*b"abc\x7f=\xff\x00\t"));
        assert_eq!(m, 0x8080_8080_8000_0000);
        assert_eq!(not_literal_mask(u64::from_le_bytes(*b"~ !<>?@A")), 0);
    }

    #[test]
    fn escapes_are_uppercase_and_whole() {
        let o = EncodeOptions {
            binary: true,
            line_ending: LineEnding::Lf,
            cols: 10,
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
            line_ending: LineEnding::Crlf,
            cols: 0,
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
        assert_eq!(decode_append(b"=4=\n=", &mut out), vec![0]);
        assert_eq!(out, b"=4");
    }
}
