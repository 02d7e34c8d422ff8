//! Portable scalar kernels: the fallback on CPUs without a vector backend and
//! the reference every other backend is tested against.
//!
//! They follow the same contracts as the SIMD kernels (see `kernel.rs`): each
//! processes an "easy" prefix and returns how far it got, leaving padding,
//! errors and partial quanta to the decoder state machine in `decode.rs`.
//! They write through [`Out`] and need no `unsafe`.

use super::kernel::Skip;
use super::Alphabet;
use crate::uninit::Out;

/// Decode-table marker: a byte outside the alphabet.
pub(crate) const INVALID: u8 = 0xFF;
/// Decode-table marker: CR, LF, space or tab, which MIME mode skips.
pub(crate) const SPACE: u8 = 0xFE;
/// Decode-table marker: `=`.
pub(crate) const PAD: u8 = 0xFD;

/// The alphabets, the crate's one copy (the AVX-512 tables are built from them).
pub(crate) const STANDARD_CHARS: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
pub(crate) const URL_SAFE_CHARS: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const fn decode_table(chars: &[u8; 64]) -> [u8; 256] {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[chars[i] as usize] = i as u8;
        i += 1;
    }
    t[b'\r' as usize] = SPACE;
    t[b'\n' as usize] = SPACE;
    t[b' ' as usize] = SPACE;
    t[b'\t' as usize] = SPACE;
    t[b'=' as usize] = PAD;
    t
}

static STANDARD_DECODE: [u8; 256] = decode_table(STANDARD_CHARS);
static URL_SAFE_DECODE: [u8; 256] = decode_table(URL_SAFE_CHARS);

impl Alphabet {
    /// The 64 characters, in value order.
    pub(crate) fn chars(self) -> &'static [u8; 64] {
        match self {
            Alphabet::Standard => STANDARD_CHARS,
            Alphabet::UrlSafe => URL_SAFE_CHARS,
        }
    }

    /// Maps each byte to its 6-bit value or one of the markers above.
    pub(crate) fn decode_table(self) -> &'static [u8; 256] {
        match self {
            Alphabet::Standard => &STANDARD_DECODE,
            Alphabet::UrlSafe => &URL_SAFE_DECODE,
        }
    }
}

#[inline(always)]
fn encode_group(chars: &[u8; 64], b: [u8; 3]) -> [u8; 4] {
    let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
    [
        chars[(n >> 18) as usize & 63],
        chars[(n >> 12) as usize & 63],
        chars[(n >> 6) as usize & 63],
        chars[n as usize & 63],
    ]
}

/// Encodes every whole 3-byte group of `src`; returns the bytes read.
pub(crate) fn encode(alphabet: Alphabet, src: &[u8], mut dst: Out<'_>) -> usize {
    let chars = alphabet.chars();
    let groups = src.len() / 3;
    assert!(dst.len() >= groups * 4);
    for (i, g) in src.chunks_exact(3).enumerate() {
        dst.copy_from(i * 4, &encode_group(chars, [g[0], g[1], g[2]]));
    }
    groups * 3
}

/// Encodes a final group of 1 or 2 bytes, padded with `=` when `pad`.
/// Returns the characters written (2, 3 or 4).
#[inline(always)]
pub(crate) fn encode_tail(alphabet: Alphabet, src: &[u8], pad: bool, mut dst: Out<'_>) -> usize {
    let chars = alphabet.chars();
    let (b1, b2) = match *src {
        [] => return 0,
        [a] => (a, None),
        [a, b] => (a, Some(b)),
        _ => unreachable!("encode_tail takes at most two bytes"),
    };
    let n = u32::from_be_bytes([0, b1, b2.unwrap_or(0), 0]);
    dst.write(0, chars[(n >> 18) as usize & 63]);
    dst.write(1, chars[(n >> 12) as usize & 63]);
    let mut w = 2;
    if b2.is_some() {
        dst.write(2, chars[(n >> 6) as usize & 63]);
        w = 3;
    }
    if pad {
        while w < 4 {
            dst.write(w, b'=');
            w += 1;
        }
    }
    w
}

/// Encodes whole lines of `cols` characters (cols % 4 == 0), each followed by
/// CRLF or LF. Returns the bytes read.
pub(crate) fn encode_lines(
    alphabet: Alphabet,
    src: &[u8],
    mut dst: Out<'_>,
    cols: usize,
    crlf: bool,
) -> usize {
    let line_in = cols / 4 * 3;
    let line_out = cols + 1 + crlf as usize;
    let lines = src.len() / line_in;
    for (i, line) in src.chunks_exact(line_in).enumerate() {
        let mut out = dst.slice(i * line_out..(i + 1) * line_out);
        encode(alphabet, line, out.slice(0..cols));
        if crlf {
            out.write(cols, b'\r');
        }
        out.write(line_out - 1, b'\n');
    }
    lines * line_in
}

/// Decodes the easy prefix of `src`: see `kernel::decode` for the contract.
pub(crate) fn decode(
    alphabet: Alphabet,
    skip: Skip,
    src: &[u8],
    mut dst: Out<'_>,
) -> (usize, usize) {
    let table = alphabet.decode_table();
    if skip == Skip::None {
        return decode_quads(table, src, dst);
    }
    // With skippable bytes, walk byte by byte and remember the last quantum boundary.
    let (mut read, mut written) = (0, 0);
    let mut acc = 0u32;
    let mut n = 0;
    for (i, &c) in src.iter().enumerate() {
        let v = table[c as usize];
        if v < 64 {
            acc = acc << 6 | v as u32;
            n += 1;
            if n == 4 {
                if written + 3 > dst.len() {
                    break;
                }
                let b = acc.to_be_bytes();
                dst.write(written, b[1]);
                dst.write(written + 1, b[2]);
                dst.write(written + 2, b[3]);
                written += 3;
                read = i + 1;
                n = 0;
                acc = 0;
            }
        } else if v == PAD || (v == INVALID && skip == Skip::Whitespace) {
            break;
        } else if n == 0 {
            // A skipped byte between quanta: the boundary moves past it.
            read = i + 1;
        }
    }
    (read, written)
}

/// Decodes whole quanta of pure alphabet characters, eight characters at a time.
fn decode_quads(table: &[u8; 256], src: &[u8], mut dst: Out<'_>) -> (usize, usize) {
    let (mut read, mut written) = (0, 0);
    for quad in src.chunks_exact(4) {
        let v = [
            table[quad[0] as usize],
            table[quad[1] as usize],
            table[quad[2] as usize],
            table[quad[3] as usize],
        ];
        if (v[0] | v[1] | v[2] | v[3]) >= 64 || written + 3 > dst.len() {
            break;
        }
        let n = (v[0] as u32) << 18 | (v[1] as u32) << 12 | (v[2] as u32) << 6 | v[3] as u32;
        let b = n.to_be_bytes();
        dst.write(written, b[1]);
        dst.write(written + 1, b[2]);
        dst.write(written + 2, b[3]);
        written += 3;
        read += 4;
    }
    (read, written)
}
