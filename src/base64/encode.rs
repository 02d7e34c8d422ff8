//! Encode drivers: the vector kernel takes the bulk, scalar code the tail.
//!
//! Wrapped (MIME) output is produced in one pass. For line widths that are a
//! multiple of 4, each line is a whole number of 3-byte groups and the
//! backend's fused `encode_lines` kernel writes lines and line endings
//! directly. Other widths split quanta across lines; those go through a small
//! cache-resident staging block (still one pass over memory).
//!
//! The drivers are generic over [`EncodeKernels`], so a backend can compile
//! a whole encode (kernel, scalar tail, padding, last line ending) into one
//! of its `target_feature` functions, and a small encode is then one call
//! instead of four. The AVX-512 backend does (`avx512vbmi::encode_all` and
//! `avx512vbmi::encode_wrapped`); the others run the same drivers through
//! the engine's dispatch. On the Xeon guest (family 6 model 167), with the
//! tail of the plain kernel taken as whole blocks before the masked one,
//! `mimeflow bench -j1` ns a call: encode 256 B 16.3 -> 14.7, 1 KiB 26.9 ->
//! 25.7; LF lines 256 B 42.0 -> 28.3, 1 KiB 57.4 -> 43.4; CRLF lines 256 B
//! 39.4 -> 28.6, 1 KiB 55.3 -> 45.0 (part of the wrapped gain is the
//! staging block's 4 KiB frame, no longer in every wrapped encode's).
//!
//! A backend may also take the tail ([`EncodeKernels::all`] and
//! [`EncodeKernels::last_line`]): the AVX-512 one blends the last group's
//! padding and the last line's ending into its last block, one masked store
//! for all of them. The rule itself is [`scalar::encode_tail`]'s and the
//! drivers' here; `tests/base64_backends.rs` holds every backend to it at
//! every length of the last group and of the last line.

use core::mem::MaybeUninit;

use crate::uninit::Out;

use super::kernel::Engine;
use super::{scalar, Alphabet, LineEnding, Wrap};

/// Encodes `src` unwrapped; `dst` must hold the encoded length. Returns it.
#[inline]
pub(crate) fn encode(
    engine: Engine,
    alphabet: Alphabet,
    pad: bool,
    src: &[u8],
    dst: Out<'_>,
) -> usize {
    engine.encode_all(alphabet, pad, src, dst)
}

/// The kernels the drivers below run, with the contracts of
/// [`Engine::encode`] and [`Engine::encode_lines`]. The engine implements it
/// by dispatching on its backend; a backend can implement it with its
/// kernels' bodies and compile a driver into its own `target_feature`
/// function, so that a small encode is one call. (A trait, not closures:
/// the methods are `#[inline(always)]`, so the intrinsics in them are
/// inlined into that function; closures do not inherit its features.)
pub(crate) trait EncodeKernels {
    /// Encodes a prefix of whole 3-byte groups; returns the bytes read.
    fn groups(&self, src: &[u8], dst: Out<'_>) -> usize;
    /// Encodes all of `src`, the last group padded where `pad`; returns
    /// the bytes written. `None` leaves it to the driver ([`Self::groups`]
    /// and the scalar tail), as a kernel without such a step does.
    #[inline(always)]
    fn all(&self, src: &[u8], dst: Out<'_>, pad: bool) -> Option<usize> {
        let _ = (src, dst, pad);
        None
    }
    /// Encodes whole lines of `cols` characters (a multiple of 4), each
    /// followed by CRLF (`crlf`) or LF; returns the bytes read.
    fn lines(&self, src: &[u8], dst: Out<'_>, cols: usize, crlf: bool) -> usize;
    /// Encodes `src`, the rest of a wrapped encode after its whole lines
    /// (1 byte or more, less than a line), as its last line: characters,
    /// padding where `pad`, then CRLF (`crlf`) or LF; returns the bytes
    /// written. `None` leaves it to the driver ([`encode_with`] and a
    /// scalar line ending), as a kernel without such a step does.
    #[inline(always)]
    fn last_line(&self, src: &[u8], dst: Out<'_>, pad: bool, crlf: bool) -> Option<usize> {
        let _ = (src, dst, pad, crlf);
        None
    }
}

/// The unwrapped encode: the kernel takes whole groups, scalar code what it
/// leaves and the tail.
#[inline(always)]
pub(crate) fn encode_with(
    kernels: &impl EncodeKernels,
    alphabet: Alphabet,
    pad: bool,
    src: &[u8],
    mut dst: Out<'_>,
) -> usize {
    if let Some(w) = kernels.all(src, dst.reborrow(), pad) {
        return w;
    }
    // Fewer than 3 bytes (the tail of a wrapped encode's last line) have
    // no whole group for the kernel: no call.
    let mut read = if src.len() >= 3 {
        kernels.groups(src, dst.reborrow())
    } else {
        0
    };
    // The SIMD kernels leave at most two bytes: no call for them.
    if src.len() - read >= 3 {
        read += scalar::encode(alphabet, &src[read..], dst.tail(read / 3 * 4));
    }
    let w = read / 3 * 4;
    w + scalar::encode_tail(alphabet, &src[read..], pad, dst.tail(w))
}

/// Encodes `src` in lines of `wrap.cols` characters, each ended by the line
/// ending, the last (partial) line included. `dst` must hold the wrapped
/// encoded length. Returns it.
#[inline(always)]
pub(crate) fn encode_wrapped(
    engine: Engine,
    alphabet: Alphabet,
    pad: bool,
    src: &[u8],
    wrap: Wrap,
    dst: Out<'_>,
) -> usize {
    if wrap.cols == 0 {
        return encode(engine, alphabet, pad, src, dst);
    }
    if src.is_empty() {
        return 0;
    }
    let eol: &[u8] = wrap.line_ending.as_bytes();
    match wrap.cols {
        // The MIME width as a constant: the line arithmetic below becomes
        // multiplications instead of divisions, which at 1 KiB is a visible
        // share of the call.
        76 => encode_whole_lines(engine, alphabet, pad, src, 76, wrap.line_ending, dst),
        cols if cols.is_multiple_of(4) => {
            encode_whole_lines(engine, alphabet, pad, src, cols, wrap.line_ending, dst)
        }
        cols => encode_wrapped_staged(engine, alphabet, pad, src, cols, eol, dst),
    }
}

/// [`encode_wrapped`] for widths that are a multiple of 4: the engine's
/// [`encode_whole_lines_with`].
#[inline(always)]
fn encode_whole_lines(
    engine: Engine,
    alphabet: Alphabet,
    pad: bool,
    src: &[u8],
    cols: usize,
    line_ending: LineEnding,
    dst: Out<'_>,
) -> usize {
    engine.encode_wrapped_lines(alphabet, pad, src, cols, line_ending, dst)
}

/// The wrapped encode for widths that are a multiple of 4: the line kernel
/// takes whole lines, scalar code what it leaves, and [`encode_with`] the
/// last, partial line.
#[inline(always)]
pub(crate) fn encode_whole_lines_with(
    kernels: &impl EncodeKernels,
    alphabet: Alphabet,
    pad: bool,
    src: &[u8],
    cols: usize,
    line_ending: LineEnding,
    mut dst: Out<'_>,
) -> usize {
    let crlf = line_ending == LineEnding::Crlf;
    let eol = line_ending.as_bytes();
    let line_in = cols / 4 * 3;
    let line_out = cols + eol.len();
    let mut read = if src.len() >= line_in {
        kernels.lines(src, dst.reborrow(), cols, crlf)
    } else {
        0
    };
    if src.len() - read >= line_in {
        let done = read / line_in * line_out;
        read += scalar::encode_lines(alphabet, &src[read..], dst.tail(done), cols, crlf);
    }
    let mut w = read / line_in * line_out;
    if read < src.len() {
        if let Some(n) = kernels.last_line(&src[read..], dst.tail(w), pad, crlf) {
            return w + n;
        }
        w += encode_with(kernels, alphabet, pad, &src[read..], dst.tail(w));
        for &b in eol {
            dst.write(w, b);
            w += 1;
        }
    }
    w
}

/// Any line width: encode a block into a stack buffer, then lay it out in lines.
#[allow(unsafe_code)]
#[inline(never)] // its 4 KiB stage would be every caller's stack frame
fn encode_wrapped_staged(
    engine: Engine,
    alphabet: Alphabet,
    pad: bool,
    src: &[u8],
    cols: usize,
    eol: &[u8],
    mut dst: Out<'_>,
) -> usize {
    const BLOCK: usize = 3 * 1024;
    let mut stage = [MaybeUninit::<u8>::uninit(); BLOCK / 3 * 4];
    let (mut w, mut col) = (0, 0);
    for block in src.chunks(BLOCK) {
        let n = encode(engine, alphabet, pad, block, Out::from_uninit(&mut stage));
        // SAFETY: `encode` wrote the `n` bytes it reports (its contract).
        let mut chars = unsafe { crate::uninit::written(&stage, n) };
        while !chars.is_empty() {
            let take = (cols - col).min(chars.len());
            dst.copy_from(w, &chars[..take]);
            w += take;
            col += take;
            chars = &chars[take..];
            if col == cols {
                for &b in eol {
                    dst.write(w, b);
                    w += 1;
                }
                col = 0;
            }
        }
    }
    if col > 0 {
        for &b in eol {
            dst.write(w, b);
            w += 1;
        }
    }
    w
}
