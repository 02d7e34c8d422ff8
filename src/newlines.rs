//! The line ends of mail, 64 bytes at a time: the one newline scan of
//! header blocks ([`crate::header`], the parser's header extent) and of
//! DKIM's body canonicalization.
//!
//! Essay: why not `memchr` a line.
//!
//! A header line is short: 40-80 bytes in list mail, a few hundred at most
//! in a folded Received or DKIM-Signature. `memchr` is built for long
//! haystacks; each call dispatches, loads its first vector unaligned,
//! checks the length and returns, and for a 50-byte line that fixed part
//! is most of the call. The header of every message was walked that way
//! twice (once to find the blank line that ends it, once to cut it into
//! fields): in `mimeflow convert --to maildir -j2` on generated list mail
//! the two walks and `memchr` inside them took a third of the user time
//! (perf, Zen 5).
//!
//! [`NewlineIter`] instead compares 64 bytes at a time with `\n` into one
//! 64-bit mask (one bit a byte) and hands out the set bits in order: a
//! line then costs a count of trailing zeros and clearing the lowest bit,
//! and a new mask every 64 bytes. The mask is four SSE2 compares and
//! move-masks (SSE2 is part of every x86-64, so there is nothing to
//! detect), and eight words with the zero-byte trick elsewhere. Written as
//! a plain loop over the 64 bytes, the compiler made of it two bytes at a
//! time with shifts (LLVM, x86-64 baseline): no faster than `memchr` a
//! line. DKIM's body canonicalization had its own 16-byte form of this
//! (a 2.2 KB body of 48 lines went from 300 to 150 ns against
//! `memchr_iter`); it now uses this one. The scan reads at most 63 bytes
//! past the line it stops at (the rest of the last chunk), and the tail of
//! the input, shorter than a chunk, is read a byte at a time.

/// The positions of `\n` in `src` from `from` on, in order (see the
/// module essay).
pub(crate) struct NewlineIter<'a> {
    src: &'a [u8],
    /// Where the chunk of `mask` starts.
    chunk: usize,
    /// The newlines of the chunk not yet handed out, one bit a byte.
    mask: u64,
}

const CHUNK: usize = 64;

/// One bit for each `\n` among the 64 bytes.
#[inline]
#[allow(unsafe_code)]
fn newline_mask(bytes: &[u8; CHUNK]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is enabled in every x86-64 build, so these
        // intrinsics run on any machine this builds for; each 16-byte load
        // lies inside `bytes` (k < 4) and has no alignment rule.
        unsafe {
            let nl = _mm_set1_epi8(b'\n' as i8);
            let mut mask = 0u64;
            for k in 0..CHUNK / 16 {
                let v = _mm_loadu_si128(bytes.as_ptr().add(16 * k).cast::<__m128i>());
                let m = _mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) as u32 as u64;
                mask |= m << (16 * k);
            }
            mask
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        newline_mask_words(bytes)
    }
}

/// [`newline_mask`] a word at a time (SWAR), for other architectures; the
/// tests check it on x86-64 too.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn newline_mask_words(bytes: &[u8; CHUNK]) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut mask = 0u64;
    for (k, word) in bytes.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ 0x0a0a_0a0a_0a0a_0a0a;
        // The top bit of each byte of `y` is set where the byte of `x` is
        // not zero (exact: no carry crosses bytes), so `!y` marks newlines.
        let y = ((x & LOW7) + LOW7) | x;
        let marks = !y & 0x8080_8080_8080_8080;
        // Gather the eight top bits into one byte, byte i to bit i.
        let bits = ((marks >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56;
        mask |= bits << (8 * k);
    }
    mask
}

impl<'a> NewlineIter<'a> {
    /// The newlines of `src` at or after `from` (none when `from` is past
    /// the end).
    #[inline]
    pub(crate) fn new(src: &'a [u8], from: usize) -> NewlineIter<'a> {
        let from = from.min(src.len());
        let mut it = NewlineIter {
            src,
            chunk: from,
            mask: 0,
        };
        it.mask = it.mask_at(from);
        it
    }

    /// The mask of the chunk that starts at `at`: 64 bytes, or fewer at the
    /// end of the input.
    #[inline]
    fn mask_at(&self, at: usize) -> u64 {
        match self.src.get(at..at + CHUNK) {
            Some(bytes) => newline_mask(bytes.try_into().expect("a chunk is 64 bytes")),
            None => self.src[at..]
                .iter()
                .enumerate()
                .fold(0, |m, (i, &b)| m | u64::from(b == b'\n') << i),
        }
    }
}

impl Iterator for NewlineIter<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            let next = self.chunk + CHUNK;
            if next >= self.src.len() {
                return None;
            }
            self.chunk = next;
            self.mask = self.mask_at(next);
        }
        let at = self.chunk + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(src: &[u8], from: usize) -> Vec<usize> {
        (from..src.len()).filter(|&i| src[i] == b'\n').collect()
    }

    #[test]
    fn the_word_mask_equals_the_vector_mask() {
        let mut bytes = [0u8; CHUNK];
        for seed in 0..2000u64 {
            for (i, b) in bytes.iter_mut().enumerate() {
                let r = (seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (i % 57)) as u8;
                *b = match r % 5 {
                    0 => b'\n',
                    1 => b'\n' ^ 0x80,
                    2 => b'\n' + 1,
                    _ => r.wrapping_mul(i as u8 | 1),
                };
            }
            let want = bytes
                .iter()
                .enumerate()
                .fold(0u64, |m, (i, &b)| m | u64::from(b == b'\n') << i);
            assert_eq!(newline_mask(&bytes), want);
            assert_eq!(newline_mask_words(&bytes), want);
        }
        assert_eq!(newline_mask_words(&[b'\n'; CHUNK]), u64::MAX);
        assert_eq!(newline_mask_words(&[0x8a; CHUNK]), 0);
    }

    #[test]
    fn every_newline_at_every_start_and_length() {
        // Lengths around one, two and three chunks; newlines at each chunk
        // edge, in a run, first and last.
        for len in 0..200 {
            let src: Vec<u8> = (0..len)
                .map(|i| {
                    if i % 64 == 0 || i % 64 == 63 || i % 7 == 3 || (120..124).contains(&i) {
                        b'\n'
                    } else {
                        b'a' + (i % 26) as u8
                    }
                })
                .collect();
            for from in 0..=len + 2 {
                let got: Vec<usize> = NewlineIter::new(&src, from).collect();
                assert_eq!(got, naive(&src, from.min(len)), "len {len} from {from}");
            }
        }
        assert_eq!(NewlineIter::new(&[b'\n'; 64], 0).count(), 64);
        assert_eq!(NewlineIter::new(b"", 0).next(), None);
    }

    proptest! {
        #[test]
        fn equals_a_byte_loop(src in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..400), from in 0usize..420) {
            let got: Vec<usize> = NewlineIter::new(&src, from).collect();
            prop_assert_eq!(got, naive(&src, from.min(src.len())));
        }
    }
}
