//! Multi-threaded encode and decode of large buffers with rayon.
//!
//! The input is cut into chunks whose outputs have known, fixed sizes, so
//! every chunk writes straight into its own slice of one output buffer:
//! encode chunks are whole lines (or whole 3-byte groups); decode chunks are
//! whole quanta (or whole regular lines, for MIME text). A decode chunk that
//! turns out not to be regular (padding inside, an error, an irregular line)
//! sends the whole input back to the sequential decoder, so results and error
//! offsets are always exactly those of the one-thread path.
//!
//! Below [`PARALLEL_THRESHOLD`] bytes the one-thread path runs. Measured with
//! `cargo bench --bench base64 -- parallel` on the 2-core development VM: a
//! single thread decodes MIME text at about 20 GB/s, so below a few MiB the
//! cost of waking a second thread, splitting and (for MIME text) copying each
//! chunk out of a scratch buffer is not won back; with the second core busy
//! the split path lost at every size up to 4 MiB (e.g. 4 MiB: 20.8 vs 6.1
//! GiB/s). Re-measured with the second core idle (threshold forced to 64 KiB
//! in a scratch build): split decode still lost at every size up to 4 MiB
//! (4 MiB: 210 vs 175 us), split encode lost up to 1 MiB and won at 4 MiB
//! (97 vs 131 us). Hence 8 MiB for both; it wants re-measuring on a
//! many-core machine.
#![allow(unsafe_code)]

use core::mem::MaybeUninit;

use rayon::prelude::*;

use super::decode::Shape;
use super::kernel::Skip;
use super::{encode, gcd, Base64, DecodeMode, DecodeState, Rules, Wrap};
use crate::error::DecodeError;
use crate::uninit::{self, Out};

/// Inputs smaller than this are processed on the calling thread.
pub const PARALLEL_THRESHOLD: usize = 8 << 20;

/// Target input bytes per parallel chunk.
const CHUNK: usize = 256 * 1024;

impl Base64 {
    /// [`Base64::encode_wrapped_to_vec`] on all of rayon's threads.
    pub fn par_encode_wrapped_to_vec(&self, src: &[u8], wrap: Wrap) -> Vec<u8> {
        let mut out = Vec::new();
        self.par_encode_wrapped_append(src, wrap, &mut out);
        out
    }

    /// [`Base64::encode_wrapped_append`] on all of rayon's threads: `out`
    /// grows once by the exact encoded length and each chunk of the input
    /// is encoded straight into its own slot.
    pub fn par_encode_wrapped_append(&self, src: &[u8], wrap: Wrap, out: &mut Vec<u8>) {
        let total = self.encoded_length_wrapped(src.len(), wrap);
        let fill = |spare: Out<'_>| Ok::<_, ()>(self.par_encode_wrapped_into(src, wrap, spare));
        // SAFETY: `par_encode_wrapped_into` writes the bytes it reports.
        let _ = unsafe { uninit::append_with(out, total, fill) };
    }

    /// Encodes `src` wrapped by `wrap` into `dst` (at least
    /// [`Base64::encoded_length_wrapped`] long) on all of rayon's threads;
    /// returns the bytes written, every one of them initialised.
    ///
    /// Any width is accepted: one whose unit of whole lines (`lcm(cols, 4)`
    /// characters) overflows, or holds the whole input, is encoded on the
    /// calling thread (there is nothing to split).
    pub(crate) fn par_encode_wrapped_into(&self, src: &[u8], wrap: Wrap, dst: Out<'_>) -> usize {
        if src.len() < PARALLEL_THRESHOLD || rayon::current_num_threads() < 2 {
            return self.encode_wrapped_into(src, wrap, dst);
        }
        // A unit of input whose encoding is whole lines: lcm(cols, 4) / 4 * 3
        // bytes, checked, since the width is the caller's (2**62 + 1 would
        // overflow).
        let unit = match wrap.cols {
            0 => Some(3),
            c => (c / gcd(c, 4)).checked_mul(3),
        };
        let Some(unit) = unit.filter(|&u| u < src.len()) else {
            return self.encode_wrapped_into(src, wrap, dst);
        };
        let total = self.encoded_length_wrapped(src.len(), wrap);
        // No overflow: unit < src.len(), so this is below CHUNK + src.len().
        let chunk_in = CHUNK.div_ceil(unit) * unit;
        let chunk_out = self.encoded_length_wrapped(chunk_in, wrap);
        // Each chunk is small, but together they overflow the caches: the
        // kernel streams them to memory as it would one large output.
        let engine = self.engine().for_output_of(total);
        // SAFETY: every chunk is written only through an `Out`.
        let dst = unsafe { dst.into_uninit() };
        src.par_chunks(chunk_in)
            .zip(dst[..total].par_chunks_mut(chunk_out))
            .for_each(|(s, d)| {
                let n = d.len();
                let d = Out::from_uninit(d);
                let w = encode::encode_wrapped(engine, self.alphabet, self.padding, s, wrap, d);
                // Every byte of the slot must be written: callers rely on it.
                assert_eq!(w, n, "chunk output size mismatch");
            });
        total
    }

    /// [`Base64::encode_to_vec`] on all of rayon's threads.
    pub fn par_encode_to_vec(&self, src: &[u8]) -> Vec<u8> {
        self.par_encode_wrapped_to_vec(src, Wrap::NONE)
    }

    /// [`Base64::decode_to_vec`] on all of rayon's threads.
    pub fn par_decode_to_vec(&self, src: &[u8], mode: DecodeMode) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        self.par_decode_append(src, mode, &mut out)?;
        Ok(out)
    }

    /// [`Base64::decode_append`] on all of rayon's threads: `out` grows by
    /// at most [`Base64::estimated_decoded_length`] and each chunk decodes
    /// straight into its own slot. On error, `out` is left as it was.
    pub fn par_decode_append(
        &self,
        src: &[u8],
        mode: DecodeMode,
        out: &mut Vec<u8>,
    ) -> Result<usize, DecodeError> {
        let n = self.estimated_decoded_length(src.len());
        let fill = |spare: Out<'_>| self.par_decode_into(self.rules(mode), src, spare);
        // SAFETY: `par_decode_into` writes the bytes it reports.
        unsafe { uninit::append_with(out, n, fill) }
    }

    /// Decodes `src` under `rules` into `dst` (at least
    /// [`Base64::estimated_decoded_length`] long) on all of rayon's threads;
    /// returns the bytes written, every one of them initialised. The one
    /// parallel decoder: `par_decode_append` and the Python module both
    /// call it.
    ///
    /// Strict input splits into whole quanta, MIME and lenient input into
    /// whole regular lines; anything else, and any chunk that turns out not
    /// to be regular, decodes on the calling thread, so results and error
    /// offsets are exactly those of the one-thread path.
    pub(crate) fn par_decode_into(
        &self,
        rules: Rules,
        src: &[u8],
        mut dst: Out<'_>,
    ) -> Result<usize, DecodeError> {
        if src.len() < PARALLEL_THRESHOLD || rayon::current_num_threads() < 2 {
            return self.decode_into(rules, src, dst);
        }
        let Some(split) = Split::of(self, rules, src) else {
            return self.decode_into(rules, src, dst);
        };
        match par_decode(self, rules, split, src, dst.reborrow()) {
            Some(n) => Ok(n),
            // Something irregular: the one-thread decoder gives the exact
            // result or error offset.
            None => self.decode_into(rules, src, dst),
        }
    }
}

/// How a decode input splits: chunks of whole quanta (when no whitespace is
/// allowed) or of whole regular lines, and each chunk's exact output.
#[derive(Clone, Copy)]
pub(crate) struct Split {
    pub(crate) shape: Shape,
    /// Input bytes of a chunk: a chunk starts where a quantum (and, for
    /// lines, a line) starts.
    pub(crate) chunk_in: usize,
    /// Bytes a regular chunk decodes to.
    pub(crate) chunk_out: usize,
}

impl Split {
    /// The split of an input that starts with `head`, if it has one: `None`
    /// for input whose first line is not a regular Base64 line.
    pub(crate) fn of(codec: &Base64, rules: Rules, head: &[u8]) -> Option<Split> {
        let shape = match rules.skip() {
            Skip::None => Shape::Irregular,
            skip => DecodeState::detect_shape(codec.engine(), skip, head),
        };
        let (chunk_in, chunk_out) = match (rules.skip(), shape) {
            (Skip::None, _) => (CHUNK, CHUNK / 4 * 3),
            (_, Shape::Lines { cols, crlf }) => {
                let line = cols + 1 + crlf as usize;
                let lines = CHUNK.div_ceil(line);
                (lines * line, lines * cols / 4 * 3)
            }
            _ => return None,
        };
        Some(Split {
            shape,
            chunk_in,
            chunk_out,
        })
    }
}

/// Decodes `src`, whole chunks of `split` whose first byte is at absolute
/// `offset`, each into its `chunk_out` slot of `dst`, on all of rayon's
/// threads. `false` when some chunk is not regular (its output is then not
/// whole, and the caller decodes again on one thread): a regular chunk ends
/// clean and writes exactly `chunk_out` bytes, which is why a fresh state
/// at the next chunk start continues it exactly.
pub(crate) fn decode_chunks(
    codec: &Base64,
    rules: Rules,
    split: Split,
    src: &[u8],
    offset: u64,
    dst: &mut [MaybeUninit<u8>],
) -> bool {
    let Split {
        shape,
        chunk_in,
        chunk_out,
    } = split;
    debug_assert!(src.len().is_multiple_of(chunk_in));
    debug_assert_eq!(dst.len(), src.len() / chunk_in * chunk_out);
    src.par_chunks(chunk_in)
        .zip(dst.par_chunks_mut(chunk_out))
        .enumerate()
        .all(|(i, (s, d))| {
            let at = offset + (i * chunk_in) as u64;
            let mut st = codec.decode_state(rules).at(at, shape);
            let need = DecodeState::max_output(s.len());
            if d.len() >= need {
                let n = st.feed(s, Out::from_uninit(d));
                return matches!(n, Ok(n) if n == chunk_out && st.is_clean());
            }
            // `feed` wants room for its worst case; a regular chunk fills `d` exactly.
            let mut tmp = vec![MaybeUninit::uninit(); need];
            match st.feed_buf(s, &mut tmp) {
                Ok(out) if out.len() == chunk_out && st.is_clean() => {
                    Out::from_uninit(d).copy_from(0, out);
                    true
                }
                _ => false,
            }
        })
}

/// [`decode_chunks`] appending to `out`: `true` when every chunk was
/// regular and `out` grew by their whole output; `out` is left as it was
/// otherwise.
pub(crate) fn decode_chunks_append(
    codec: &Base64,
    rules: Rules,
    split: Split,
    src: &[u8],
    offset: u64,
    out: &mut Vec<u8>,
) -> bool {
    let n = src.len() / split.chunk_in * split.chunk_out;
    let fill = |spare: Out<'_>| {
        // SAFETY: the chunks are written only through `Out`s.
        let dst = unsafe { spare.into_uninit() };
        decode_chunks(codec, rules, split, src, offset, dst)
            .then_some(n)
            .ok_or(())
    };
    // SAFETY: on success every chunk wrote its whole slot, `n` bytes in all.
    unsafe { uninit::append_with(out, n, fill) }.is_ok()
}

/// Decodes chunk by chunk into `dst`; `None` when some middle chunk was not
/// regular, the last one failed, or `dst` is too short for the split.
fn par_decode(
    codec: &Base64,
    rules: Rules,
    split: Split,
    src: &[u8],
    mut dst: Out<'_>,
) -> Option<usize> {
    let Split {
        shape,
        chunk_in,
        chunk_out,
    } = split;
    let chunks = src.len().div_ceil(chunk_in);
    let (middle_src, last_src) = src.split_at((chunks - 1) * chunk_in);
    let need = (chunks - 1) * chunk_out + DecodeState::max_output(last_src.len());
    if dst.len() < need {
        return None;
    }
    let (middle, mut last) = dst.slice(0..need).split_at((chunks - 1) * chunk_out);
    // SAFETY: every middle chunk is written only through an `Out`.
    let middle = unsafe { middle.into_uninit() };
    let (ok, last_written) = rayon::join(
        || decode_chunks(codec, rules, split, middle_src, 0, middle),
        || {
            let mut st = codec
                .decode_state(rules)
                .at(((chunks - 1) * chunk_in) as u64, shape);
            let w = st.feed(last_src, last.reborrow()).ok()?;
            let w2 = st.finish(last.tail(w)).ok()?;
            Some(w + w2)
        },
    );
    // Every middle slot was filled (each chunk wrote exactly `chunk_out`).
    Some((chunks - 1) * chunk_out + last_written.filter(|_| ok)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64::{LineEnding, STANDARD};

    /// Widths whose whole-line unit overflows (`lcm(2**62 + 1, 4)` is
    /// 2**64 + 4) or exceeds the input: the split path used to panic on
    /// them; now it gives the one-thread result.
    #[test]
    fn huge_widths_match_sequential() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let src: Vec<u8> = (0..PARALLEL_THRESHOLD + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for cols in [
            (1usize << 62) + 1,
            usize::MAX,
            usize::MAX - 3,
            src.len() * 2,
            77,
        ] {
            for le in [LineEnding::Lf, LineEnding::Crlf] {
                let wrap = Wrap::new(cols, le);
                let par = pool.install(|| STANDARD.par_encode_wrapped_to_vec(&src, wrap));
                assert_eq!(
                    par,
                    STANDARD.encode_wrapped_to_vec(&src, wrap),
                    "cols {cols}"
                );
            }
        }
    }
}
