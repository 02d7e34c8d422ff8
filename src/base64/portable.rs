//! The `base64-simd` backend: that crate's own runtime dispatch (SSE4.1, AVX2,
//! NEON, WASM SIMD) serves CPUs we have no hand-written kernels for.
//!
//! `base64-simd` decodes whole canonical strings only, so MIME whitespace is
//! handled a line at a time for regularly wrapped text and by the scalar
//! kernel otherwise.

use core::mem::MaybeUninit;

use base64_simd::Out;

use super::kernel::Skip;
use super::{scalar, Alphabet};

fn codec(a: Alphabet) -> &'static base64_simd::Base64 {
    match a {
        Alphabet::Standard => &base64_simd::STANDARD_NO_PAD,
        Alphabet::UrlSafe => &base64_simd::URL_SAFE_NO_PAD,
    }
}

pub(crate) fn encode(a: Alphabet, src: &[u8], dst: &mut [MaybeUninit<u8>]) -> usize {
    let n = src.len() / 3 * 3;
    let _ = codec(a).encode(&src[..n], Out::from_uninit_slice(&mut dst[..n / 3 * 4]));
    n
}

pub(crate) fn encode_lines(
    a: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> usize {
    let line_in = cols / 4 * 3;
    let line_out = cols + 1 + crlf as usize;
    let lines = src.len() / line_in;
    for (line, out) in src
        .chunks_exact(line_in)
        .zip(dst[..lines * line_out].chunks_exact_mut(line_out))
    {
        let _ = codec(a).encode(line, Out::from_uninit_slice(&mut out[..cols]));
        if crlf {
            out[cols].write(b'\r');
        }
        out[line_out - 1].write(b'\n');
    }
    lines * line_in
}

pub(crate) fn decode(
    a: Alphabet,
    skip: Skip,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
) -> (usize, usize) {
    // Up to the first line break or blank the input may be canonical: try
    // that prefix with base64-simd, leaving the rest to the state machine.
    let clean = match skip {
        Skip::None => src.len(),
        _ => memchr::memchr3(b'\r', b'\n', b' ', src).unwrap_or(src.len()),
    };
    // Leave the last quantum (it may carry padding) to the state machine.
    let n = (clean / 4 * 4).saturating_sub(4);
    if n == 0 {
        return scalar::decode(a, skip, src, crate::uninit::Out::from_uninit(dst));
    }
    match codec(a).decode(&src[..n], Out::from_uninit_slice(&mut dst[..n / 4 * 3])) {
        Ok(out) => (n, out.len()),
        // Something unusual inside: the scalar kernel finds how far is clean.
        Err(_) => scalar::decode(a, skip, src, crate::uninit::Out::from_uninit(dst)),
    }
}

pub(crate) fn decode_lines(
    a: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> (usize, usize) {
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let line_len = cols + eol.len();
    let line_out = cols / 4 * 3;
    let (mut read, mut written) = (0, 0);
    for line in src.chunks_exact(line_len) {
        if &line[cols..] != eol {
            break;
        }
        let out = Out::from_uninit_slice(&mut dst[written..written + line_out]);
        if codec(a).decode(&line[..cols], out).is_err() {
            break;
        }
        read += line_len;
        written += line_out;
    }
    (read, written)
}
