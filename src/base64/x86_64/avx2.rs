#![allow(unsafe_code)]
//! AVX2 bulk kernels for Base64 (x86-64 with AVX2 and POPCNT).
//!
//! This file holds the four "bulk" kernels the portable Base64 driver calls on CPUs that have
//! AVX2 but where a wider (AVX-512) backend is not available: plain encode, fused line-wrapped
//! (MIME) encode, general decode (optionally dropping whitespace or all non-alphabet bytes), and
//! a fast path for decoding regular MIME lines. They exist because the scalar driver moves about
//! one byte per cycle, while 256-bit vectors translate 24 bytes to 32 characters (or back) in a
//! dozen instructions. The kernels only ever process the easy middle of the input and report
//! exactly how much they consumed and produced; the driver owns every Base64 semantic (padding,
//! error offsets, streaming state) and finishes whatever the kernels leave behind.
//!
//! The algorithms follow Wojciech Muła and Daniel Lemire, "Faster Base64 Encoding and Decoding
//! Using AVX2 Instructions" (ACM TWEB, 2018) and "Base64 encoding and decoding at almost the speed
//! of a memory copy" (Software: Practice and Experience, 2019), and Muła's notes "Base64 encoding
//! with SIMD instructions" (<http://0x80.pl/notesen/2016-01-12-sse-base64-encoding.html>) and
//! "Base64 decoding with SIMD instructions"
//! (<http://0x80.pl/notesen/2016-01-17-sse-base64-decoding.html>). The code here is an
//! independent implementation of those published ideas.
//!
//! Memory safety rules followed throughout: no load ever touches a byte outside `src`, and no
//! store ever touches a byte outside `dst`; wide stores that spill garbage past the useful bytes
//! are only used where the spilled-over bytes are still inside `dst` and are rewritten (or are
//! beyond what we report as written).

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use crate::base64::{kernel::Skip, Alphabet};

/// True when the CPU can run every kernel of this file.
pub(crate) fn is_available() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt")
}

// ------------------------------------------------------------------------------------------------
// Shared encode machinery
// ------------------------------------------------------------------------------------------------

/// Per-call encode constants (all built from immediates; no tables are computed at run time).
#[derive(Clone, Copy)]
struct EncConsts {
    /// Shuffle for a vector loaded at `p - 4`: lane 0 takes bytes 4..16, lane 1 bytes 0..12.
    shuf_fast: __m256i,
    /// Shuffle for the two-load "safe" form: lane 0 takes bytes 0..12, lane 1 bytes 4..16.
    shuf_safe: __m256i,
    mask_hi: __m256i,
    mask_hi2: __m256i,
    mul_hi: __m256i,
    mask_lo: __m256i,
    mul_lo: __m256i,
    c51: __m256i,
    c25: __m256i,
    /// ASCII offsets indexed by the reduced 6-bit value class.
    offsets: __m256i,
}

/// Builds the encode constants for an alphabet.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn enc_consts<const URL: bool>() -> EncConsts {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available.
    unsafe {
        #[rustfmt::skip]
        let shuf_fast = _mm256_setr_epi8(
            5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14,
            1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
        );
        #[rustfmt::skip]
        let shuf_safe = _mm256_setr_epi8(
            1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
            5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14,
        );
        // Class 0: 'A'..'Z' (+65), 1: 'a'..'z' (+71), 2..=11: digits (-4), 12: value 62, 13: value 63.
        let (v62, v63) = if URL {
            (b'-' as i8 - 62, b'_' as i8 - 63)
        } else {
            (b'+' as i8 - 62, b'/' as i8 - 63)
        };
        #[rustfmt::skip]
        let offsets = _mm256_setr_epi8(
            65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, v62, v63, 0, 0,
            65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, v62, v63, 0, 0,
        );
        EncConsts {
            shuf_fast,
            shuf_safe,
            mask_hi: _mm256_set1_epi32(0x0fc0_fc00),
            mask_hi2: _mm256_set1_epi32(0x003f_003f),
            // LLVM sees that these multipliers are powers of two and "simplifies" the multiplies
            // into a long zero-extend/variable-shift/pack sequence that is far slower; hiding the
            // constants from the optimizer (once per call, outside the loops) keeps the multiplies.
            mul_hi: core::hint::black_box(_mm256_set1_epi32(0x0200_0020)),
            mask_lo: _mm256_set1_epi32(0x003f_03f0),
            mul_lo: core::hint::black_box(_mm256_set1_epi32(0x0100_0010)),
            c51: _mm256_set1_epi8(51),
            c25: _mm256_set1_epi8(25),
            offsets,
        }
    }
}

/// Turns a vector whose 32-bit lanes hold input bytes as `[b, a, c, b]` into 32 ASCII chars.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn enc_translate(k: &EncConsts, shuffled: __m256i) -> __m256i {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available.
    unsafe {
        // Muła's multiply trick: two masked 16-bit multiplies move the four 6-bit fields of every
        // 24-bit group into the low bits of four consecutive bytes.
        // The right shifts (word0 >> 10, word1 >> 6) use vpmulhrsw rather than Muła's vpmulhuw:
        // Rust's `_mm256_mulhi_epu16` is expressed as a generic widening multiply that LLVM fails
        // to match back to one vpmulhuw here (it emits zero-extend + two multiplies + pack +
        // permute). With the low bits masked off, (a * 2^(15-k) + 2^14) >> 15 is exactly a >> k
        // (arithmetic), and the second mask drops the sign bits that word0 (bit 15 set) brings in.
        let t0 = _mm256_and_si256(shuffled, k.mask_hi);
        let t1 = _mm256_and_si256(_mm256_mulhrs_epi16(t0, k.mul_hi), k.mask_hi2);
        let t2 = _mm256_and_si256(shuffled, k.mask_lo);
        let t3 = _mm256_mullo_epi16(t2, k.mul_lo);
        let idx = _mm256_or_si256(t1, t3);
        // Reduce 0..=63 to a class 0..=13, then add the class's ASCII offset.
        let reduced = _mm256_subs_epu8(idx, k.c51);
        let is_lower = _mm256_cmpgt_epi8(idx, k.c25);
        let reduced = _mm256_sub_epi8(reduced, is_lower);
        _mm256_add_epi8(idx, _mm256_shuffle_epi8(k.offsets, reduced))
    }
}

/// Encodes `src[p..p+24]` reading `src[p-4..p+28]` (one load).
///
/// # Safety
/// AVX2 must be available; `p >= 4` and `p + 28 <= src.len()` must hold for the slice behind `s`.
#[inline(always)]
unsafe fn enc_block_fast(k: &EncConsts, s: *const u8, p: usize) -> __m256i {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; `p >= 4` and `p
    // + 28 <= src.len()` must hold for the slice behind `s`.
    unsafe {
        let v = _mm256_loadu_si256(s.add(p - 4).cast());
        enc_translate(k, _mm256_shuffle_epi8(v, k.shuf_fast))
    }
}

/// Encodes `src[p..p+24]` reading exactly `src[p..p+24]` (two overlapping 16-byte loads).
///
/// # Safety
/// AVX2 must be available; `p + 24 <= src.len()` must hold for the slice behind `s`.
#[inline(always)]
unsafe fn enc_block_safe(k: &EncConsts, s: *const u8, p: usize) -> __m256i {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; `p + 24 <=
    // src.len()` must hold for the slice behind `s`.
    unsafe {
        let lo = _mm_loadu_si128(s.add(p).cast());
        let hi = _mm_loadu_si128(s.add(p + 8).cast());
        let v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        enc_translate(k, _mm256_shuffle_epi8(v, k.shuf_safe))
    }
}

/// Stores 32 bytes at `d + o`.
///
/// # Safety
/// AVX2 must be available; `d + o .. d + o + 32` must be writable.
#[inline(always)]
unsafe fn store32(d: *mut u8, o: usize, v: __m256i) {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; `d + o .. d + o
    // + 32` must be writable.
    unsafe {
        _mm256_storeu_si256(d.add(o).cast(), v);
    }
}

// ------------------------------------------------------------------------------------------------
// encode
// ------------------------------------------------------------------------------------------------

/// Plain encode: see the module contract. Consumes `src.len() / 24 * 24` bytes (when at least 24).
///
/// # Safety
/// `is_available()` must be true. `dst.len() >= src.len() / 3 * 4`.
#[target_feature(enable = "avx2,popcnt")]
pub(crate) unsafe fn encode(alphabet: Alphabet, src: &[u8], dst: &mut [MaybeUninit<u8>]) -> usize {
    match alphabet {
        // SAFETY: AVX2 is enabled on this function; the caller upholds the dst length.
        Alphabet::Standard => unsafe { encode_impl::<false>(src, dst) },
        // SAFETY: as above.
        Alphabet::UrlSafe => unsafe { encode_impl::<true>(src, dst) },
    }
}

// Encode essay. Every step turns 24 input bytes into 32 characters. The 24 bytes must be split
// over the two 128-bit lanes (12 each) because `vpshufb` cannot cross lanes; loading 32 bytes
// from `p - 4` puts bytes p..p+12 at lane-0 positions 4..16 and p+12..p+24 at lane-1 positions
// 0..12, so one unaligned load plus one in-lane shuffle suffices (Muła & Lemire). That load
// reads 4 bytes before and 4 bytes after the 24 it uses, which is not allowed at the very start
// and end of `src`; there a "safe" block is used instead that builds the same register from two
// 16-byte loads at p and p+8, touching exactly p..p+24. Each block's 32 output chars are written
// with one 32-byte store that is entirely inside the reported output, so no tail care is needed
// on the output side. The main loop is unrolled four times (96 bytes in, 128 out).

/// # Safety
/// AVX2 must be available; `dst.len() >= src.len() / 3 * 4`.
#[inline(always)]
unsafe fn encode_impl<const URL: bool>(src: &[u8], dst: &mut [MaybeUninit<u8>]) -> usize {
    let len = src.len();
    if len < 24 {
        return 0;
    }
    debug_assert!(dst.len() >= len / 3 * 4);
    // SAFETY: AVX2 is available (this function's contract); the constants are immediates.
    let k = unsafe { enc_consts::<URL>() };
    let s = src.as_ptr();
    let d = dst.as_mut_ptr().cast::<u8>();
    // SAFETY: (whole body) every block at p reads within src (fast blocks need 4 <= p and
    // p + 28 <= len, checked by the loop guards; safe blocks need p + 24 <= len) and stores 32
    // bytes at o = p / 3 * 4 with o + 32 = (p + 24) / 3 * 4 <= len / 3 * 4 <= dst.len().
    unsafe {
        store32(d, 0, enc_block_safe(&k, s, 0));
        let mut i = 24usize;
        let mut o = 32usize;
        while i + 100 <= len {
            let a = enc_block_fast(&k, s, i);
            let b = enc_block_fast(&k, s, i + 24);
            let c = enc_block_fast(&k, s, i + 48);
            let e = enc_block_fast(&k, s, i + 72);
            store32(d, o, a);
            store32(d, o + 32, b);
            store32(d, o + 64, c);
            store32(d, o + 96, e);
            i += 96;
            o += 128;
        }
        while i + 28 <= len {
            store32(d, o, enc_block_fast(&k, s, i));
            i += 24;
            o += 32;
        }
        if i + 24 <= len {
            store32(d, o, enc_block_safe(&k, s, i));
            i += 24;
        }
        i
    }
}

// ------------------------------------------------------------------------------------------------
// encode_lines
// ------------------------------------------------------------------------------------------------

/// Fused line-wrapped encode: see the module contract.
///
/// # Safety
/// `is_available()` must be true; `cols % 4 == 0`, `4 <= cols <= 1024`; `dst` has room for all
/// whole lines of `src` (`src.len() / (cols / 4 * 3) * (cols + eol_len)` bytes).
#[target_feature(enable = "avx2,popcnt")]
pub(crate) unsafe fn encode_lines(
    alphabet: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> usize {
    if !cols.is_multiple_of(4) || !(4..=1024).contains(&cols) {
        return 0;
    }
    // The common MIME widths get their own copies so the chunk loop is fully unrolled.
    // SAFETY: (all arms) AVX2 is enabled here; the caller upholds the dst room.
    unsafe {
        match (alphabet, cols) {
            (Alphabet::Standard, 76) => encode_lines_impl::<false>(src, dst, 76, crlf),
            (Alphabet::Standard, 64) => encode_lines_impl::<false>(src, dst, 64, crlf),
            (Alphabet::Standard, _) => encode_lines_impl::<false>(src, dst, cols, crlf),
            (Alphabet::UrlSafe, 76) => encode_lines_impl::<true>(src, dst, 76, crlf),
            (Alphabet::UrlSafe, 64) => encode_lines_impl::<true>(src, dst, 64, crlf),
            (Alphabet::UrlSafe, _) => encode_lines_impl::<true>(src, dst, cols, crlf),
        }
    }
}

/// Writes the line ending at `d + o`.
///
/// # Safety
/// `o + eol_len` bytes must be writable at `d`.
#[inline(always)]
unsafe fn put_eol(d: *mut u8, o: usize, crlf: bool) {
    // SAFETY: the caller upholds this function's contract: `o + eol_len` bytes must be writable at
    // `d`.
    unsafe {
        if crlf {
            d.add(o)
                .cast::<u16>()
                .write_unaligned(u16::from_le_bytes(*b"\r\n"));
        } else {
            d.add(o).write(b'\n');
        }
    }
}

// encode_lines essay. A line of `cols` chars consumes n = cols/4*3 input bytes. For cols >= 32
// the line is covered by 24-byte input chunks at 0, 24, 48, ... and, if n is not a multiple of
// 24, one final chunk at n - 24 (a multiple of 3, so it starts on a quantum) whose 32 output
// chars are stored at cols - 32, overlapping the previous chunk with identical characters. All
// stores therefore land inside the line itself, then the EOL is written after it: one pass, no
// temporary. Interior lines use the single-load "fast" block; a line whose chunks would read
// within 4 bytes of either end of `src` uses the safe two-load block. For cols < 32 a line is
// narrower than one vector: each line is encoded with one block whose 32-char store spills into
// the next line's space (rewritten by that line later); this is only done while the spill stays
// inside the output of the whole lines and the 24-byte read stays inside `src`, the remaining
// lines are left to the caller.

/// # Safety
/// AVX2 must be available; see [`encode_lines`] for the buffer requirements.
#[inline(always)]
unsafe fn encode_lines_impl<const URL: bool>(
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> usize {
    let len = src.len();
    let n = cols / 4 * 3;
    let eol = 1 + crlf as usize;
    let line_out = cols + eol;
    let lines = len / n;
    if lines == 0 {
        return 0;
    }
    let out_total = lines * line_out;
    debug_assert!(dst.len() >= out_total);
    // SAFETY: AVX2 is available (this function's contract); the constants are immediates.
    let k = unsafe { enc_consts::<URL>() };
    let s = src.as_ptr();
    let d = dst.as_mut_ptr().cast::<u8>();
    let mut i = 0usize;
    let mut o = 0usize;

    if cols < 32 {
        // SAFETY: the guard keeps the 24-byte read inside src and the 32-byte store inside the
        // output of the whole lines (<= dst.len()); the EOL at o + cols is inside this line.
        unsafe {
            while i + n <= len && i + 24 <= len && o + 32 <= out_total {
                store32(d, o, enc_block_safe(&k, s, i));
                put_eol(d, o + cols, crlf);
                i += n;
                o += line_out;
            }
        }
        return i;
    }

    let full = n / 24;
    let has_tail = !n.is_multiple_of(24);
    // SAFETY: each line satisfies i + n <= len; chunks read within [i, i + n) (safe form) or
    // [i - 4, i + n + 4) (fast form, only when i >= 4 and i + n + 4 <= len); stores write
    // within [o, o + cols + eol) which is inside the output of the whole lines.
    unsafe {
        while i + n <= len {
            if i >= 4 && i + n + 4 <= len {
                let mut c = 0;
                while c < full {
                    store32(d, o + c * 32, enc_block_fast(&k, s, i + c * 24));
                    c += 1;
                }
                if has_tail {
                    store32(d, o + cols - 32, enc_block_fast(&k, s, i + n - 24));
                }
            } else {
                let mut c = 0;
                while c < full {
                    store32(d, o + c * 32, enc_block_safe(&k, s, i + c * 24));
                    c += 1;
                }
                if has_tail {
                    store32(d, o + cols - 32, enc_block_safe(&k, s, i + n - 24));
                }
            }
            put_eol(d, o + cols, crlf);
            i += n;
            o += line_out;
        }
    }
    i
}

// ------------------------------------------------------------------------------------------------
// Shared decode machinery
// ------------------------------------------------------------------------------------------------

/// Per-call decode constants.
#[derive(Clone, Copy)]
struct DecConsts {
    m0f: __m256i,
    /// Indexed by the low nibble: the set of high-nibble classes that are invalid with it.
    lut_lo: __m256i,
    /// Indexed by the high nibble: its class bit.
    lut_hi: __m256i,
    /// Indexed by the high nibble (plus the '/' fix-up for the standard alphabet): the value
    /// to add to an ASCII char to get its 6-bit value.
    roll: __m256i,
    /// The char that needs a special offset ('/' standard: index fix-up; '_' URL: blend).
    special: __m256i,
    /// URL-safe only: the offset for '_'.
    special_off: __m256i,
    pack_madd1: __m256i,
    pack_madd2: __m256i,
    pack_shuf: __m256i,
    pack_perm: __m256i,
}

/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn dec_consts<const URL: bool>() -> DecConsts {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available.
    unsafe {
        // Validation (Muła / Lemire): every high nibble h is given a class bit lut_hi[h]; lut_lo[l]
        // holds the classes for which low nibble l does NOT form an alphabet char. A byte is valid
        // iff lut_lo[l] & lut_hi[h] == 0. Bit 0x10 marks high nibbles with no alphabet char at all
        // (0, 1, 8..15) and is set in every lut_lo entry.
        //   standard: 0x01 h=2 ('+' l=B, '/' l=F), 0x02 h=3 (digits l<=9), 0x04 h=4,6 (l>=1),
        //             0x08 h=5,7 (l<=A).
        //   URL-safe: 0x01 h=2 ('-' l=D), 0x02 h=3, 0x04 h=4,6, 0x08 h=5 (l<=A or '_' l=F),
        //             0x20 h=7 (l<=A).
        #[rustfmt::skip]
        let (lut_lo, lut_hi, roll) = if URL {
            (
                _mm256_setr_epi8(
                    0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x3B, 0x3B, 0x3A, 0x3B, 0x33,
                    0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x3B, 0x3B, 0x3A, 0x3B, 0x33,
                ),
                _mm256_setr_epi8(
                    0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x20, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
                    0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x20, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
                ),
                // h=2: '-' -> 62 (+17); h=3: digits (+4); h=4,5: upper (-65); h=6,7: lower (-71).
                _mm256_setr_epi8(
                    0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 0, 17, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
                ),
            )
        } else {
            (
                _mm256_setr_epi8(
                    0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A,
                    0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A,
                ),
                _mm256_setr_epi8(
                    0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
                    0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
                ),
                // index 1: '/' (h=2 minus 1) -> 63 (+16); h=2: '+' -> 62 (+19); h=3: +4;
                // h=4,5: -65; h=6,7: -71.
                _mm256_setr_epi8(
                    0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
                    0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,
                ),
            )
        };
        #[rustfmt::skip]
        // The last four entries of each lane are don't-care; they are not -1 (zero) on purpose, so
        // the optimizer has no known-zero bytes to "preserve" with an extra blend after vpermd.
        let pack_shuf = _mm256_setr_epi8(
            2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 3, 7, 11, 15,
            2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, 3, 7, 11, 15,
        );
        DecConsts {
            m0f: _mm256_set1_epi8(0x0f),
            lut_lo,
            lut_hi,
            roll,
            special: _mm256_set1_epi8(if URL { b'_' as i8 } else { b'/' as i8 }),
            special_off: _mm256_set1_epi8(63 - b'_' as i8),
            pack_madd1: _mm256_set1_epi32(0x0140_0140),
            pack_madd2: _mm256_set1_epi32(0x0001_1000),
            pack_shuf,
            pack_perm: _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7),
        }
    }
}

/// Classifies 32 chars: returns (high nibbles, error vector). A byte of the error vector is
/// non-zero exactly where the char is not in the alphabet.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn dec_classify(k: &DecConsts, x: __m256i) -> (__m256i, __m256i) {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available.
    unsafe {
        let hi = _mm256_and_si256(_mm256_srli_epi32(x, 4), k.m0f);
        let lo = _mm256_and_si256(x, k.m0f);
        let err = _mm256_and_si256(
            _mm256_shuffle_epi8(k.lut_lo, lo),
            _mm256_shuffle_epi8(k.lut_hi, hi),
        );
        (hi, err)
    }
}

/// Translates 32 valid chars to 6-bit values and packs them into 24 bytes (low 24 bytes of the
/// result; the top 8 bytes are junk).
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn dec_pack<const URL: bool>(k: &DecConsts, x: __m256i, hi: __m256i) -> __m256i {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available.
    unsafe {
        let values = if URL {
            let roll = _mm256_shuffle_epi8(k.roll, hi);
            let roll = _mm256_blendv_epi8(roll, k.special_off, _mm256_cmpeq_epi8(x, k.special));
            _mm256_add_epi8(x, roll)
        } else {
            let idx = _mm256_add_epi8(hi, _mm256_cmpeq_epi8(x, k.special));
            _mm256_add_epi8(x, _mm256_shuffle_epi8(k.roll, idx))
        };
        // Four 6-bit values a,b,c,d per 32-bit lane -> (a<<18 | b<<12 | c<<6 | d), then gather the
        // three meaningful bytes of each lane in big-endian order and close the gap between lanes.
        let t = _mm256_maddubs_epi16(values, k.pack_madd1);
        let t = _mm256_madd_epi16(t, k.pack_madd2);
        let t = _mm256_shuffle_epi8(t, k.pack_shuf);
        _mm256_permutevar8x32_epi32(t, k.pack_perm)
    }
}

/// Stores the low 24 bytes of `v` at `d + o`, with one 32-byte store when `o + 32 <= dlen`.
///
/// # Safety
/// AVX2 must be available; `o + 24 <= dlen` and `dlen` bytes are writable at `d`.
#[inline(always)]
unsafe fn store24(d: *mut u8, o: usize, dlen: usize, v: __m256i) {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; `o + 24 <= dlen`
    // and `dlen` bytes are writable at `d`.
    unsafe {
        if o + 32 <= dlen {
            _mm256_storeu_si256(d.add(o).cast(), v);
        } else {
            _mm_storeu_si128(d.add(o).cast(), _mm256_castsi256_si128(v));
            _mm_storel_epi64(d.add(o + 16).cast(), _mm256_extracti128_si256(v, 1));
        }
    }
}

/// Loads 32 bytes from `s + p`.
///
/// # Safety
/// AVX2 must be available; `s + p .. s + p + 32` must be readable.
#[inline(always)]
unsafe fn load32(s: *const u8, p: usize) -> __m256i {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; `s + p .. s + p
    // + 32` must be readable.
    unsafe { _mm256_loadu_si256(s.add(p).cast()) }
}

/// True when every bit of `v` is zero.
///
/// # Safety
/// AVX2 must be available.
#[inline(always)]
unsafe fn is_zero(v: __m256i) -> bool {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available.
    unsafe { _mm256_testz_si256(v, v) != 0 }
}

/// For every 8-bit keep mask: the positions of its set bits, in order, zero-filled.
static COMPACT: [[u8; 8]; 256] = build_compact();

/// [`COMPACT`] with each entry as one little-endian u64.
static COMPACT64: [u64; 256] = build_compact64();

const fn build_compact64() -> [u64; 256] {
    let t = build_compact();
    let mut r = [0u64; 256];
    let mut m = 0;
    while m < 256 {
        r[m] = u64::from_le_bytes(t[m]);
        m += 1;
    }
    r
}

const fn build_compact() -> [[u8; 8]; 256] {
    let mut t = [[0u8; 8]; 256];
    let mut m = 0;
    while m < 256 {
        let mut j = 0;
        let mut b = 0;
        while b < 8 {
            if m & (1 << b) != 0 {
                t[m][j] = b as u8;
                j += 1;
            }
            b += 1;
        }
        m += 1;
    }
    t
}

/// Index of the `k`-th (0-based) set bit of `mask`; requires `k < mask.count_ones()`.
#[inline(always)]
fn select_bit(mask: u32, mut k: u32) -> usize {
    let mut g = 0;
    while g < 4 {
        let b = (mask >> (8 * g)) & 0xff;
        let c = b.count_ones();
        if k < c {
            return 8 * g as usize + COMPACT[b as usize][k as usize] as usize;
        }
        k -= c;
        g += 1;
    }
    32
}

// ------------------------------------------------------------------------------------------------
// decode
// ------------------------------------------------------------------------------------------------

/// General decode: see the module contract.
///
/// # Safety
/// `is_available()` must be true; `dst.len() >= src.len() / 4 * 3`.
#[target_feature(enable = "avx2,popcnt")]
pub(crate) unsafe fn decode(
    alphabet: Alphabet,
    skip: Skip,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
) -> (usize, usize) {
    // SAFETY: (all arms) AVX2 and POPCNT are enabled here; the caller upholds the dst length.
    unsafe {
        match (alphabet, skip) {
            (Alphabet::Standard, Skip::None) => decode_impl::<false, 0>(src, dst),
            (Alphabet::Standard, Skip::Whitespace) => decode_impl::<false, 1>(src, dst),
            (Alphabet::Standard, Skip::NonAlphabet) => decode_impl::<false, 2>(src, dst),
            (Alphabet::UrlSafe, Skip::None) => decode_impl::<true, 0>(src, dst),
            (Alphabet::UrlSafe, Skip::Whitespace) => decode_impl::<true, 1>(src, dst),
            (Alphabet::UrlSafe, Skip::NonAlphabet) => decode_impl::<true, 2>(src, dst),
        }
    }
}

// decode essay. The clean case is Muła's pshufb decoder: two 16-entry nibble lookups classify
// 32 chars at once (see `dec_consts`), a third lookup indexed by the high nibble gives the offset
// that maps each char to its 6-bit value, and maddubs/madd/pshufb/vpermd pack 32 values into
// 24 bytes. Two blocks (64 chars) are validated together with one `vptest` before either is
// stored (measured faster than four here: fewer spills); when that fails we fall back to single
// blocks to find the first block that is not clean. Output is stored 32 bytes at a time (the
// 8 junk bytes are overwritten by the next block) except where fewer than 32 bytes of dst
// remain, where a 16 + 8 byte store is used.
//
// With a skip mode, a block that holds non-alphabet bytes goes to the compaction path
// (`decode_compact`): a movemask of the classification gives a 32-bit "keep" mask; if any byte
// is neither alphabet nor skippable we stop before the block. Otherwise each 8-byte group is
// compacted by one in-lane `vpshufb` whose control comes from a 256-entry table of 8-byte masks
// indexed by the group's keep bits (the odd groups get +8 added to address the upper half of
// their lane), and the four compacted groups are appended to a staging buffer with 8-byte
// stores advanced by popcnt. Once 128 chars are staged, four 32-char chunks are decoded like
// clean blocks (batching keeps the buffer loads well behind the narrow stores, so failed
// store-to-load forwarding does not serialise the loop) and the rest is moved to the front.
// A clean block arriving while the staged count is a multiple of 4 flushes the buffer (the last,
// partial chunk is decoded with a full 24-byte store, which fits because the clean block still
// lies ahead) and returns to the fast loop. When we stop with 1..31 chars still pending, those
// must not count as read: we walk back over the blocks of the compaction run, recomputing their
// keep masks, to the block holding the first pending char, and report `read` as its index
// (found with the same table), so everything before it is alphabet or skippable and exactly the
// decoded chars precede it.

/// # Safety
/// AVX2 and POPCNT must be available; `dst.len() >= src.len() / 4 * 3`.
#[inline(always)]
unsafe fn decode_impl<const URL: bool, const SKIP: u8>(
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
) -> (usize, usize) {
    let len = src.len();
    let dlen = dst.len();
    debug_assert!(dlen >= len / 4 * 3);
    // SAFETY: AVX2 is available (this function's contract); the constants are immediates.
    let k = unsafe { dec_consts::<URL>() };
    let s = src.as_ptr();
    let d = dst.as_mut_ptr().cast::<u8>();
    let mut i = 0usize;
    let mut o = 0usize;
    // Invariant: o <= (alphabet chars in src[..i]) / 4 * 3, so o + 24 * m <= dlen whenever
    // i + 32 * m <= len.
    loop {
        // SAFETY: loads read src[i..i + 64] / src[i..i + 32], inside src by the loop guards;
        // stores stay inside dst by the invariant above (the first 32-byte store of the
        // unrolled loop ends at o + 32 <= o + 48 <= dlen; the last block uses store24).
        unsafe {
            while i + 64 <= len {
                let x0 = load32(s, i);
                let x1 = load32(s, i + 32);
                let (h0, e0) = dec_classify(&k, x0);
                let (h1, e1) = dec_classify(&k, x1);
                if !is_zero(_mm256_or_si256(e0, e1)) {
                    break;
                }
                store32(d, o, dec_pack::<URL>(&k, x0, h0));
                store24(d, o + 24, dlen, dec_pack::<URL>(&k, x1, h1));
                i += 64;
                o += 48;
            }
            while i + 32 <= len {
                let x = load32(s, i);
                let (h, e) = dec_classify(&k, x);
                if !is_zero(e) {
                    break;
                }
                store24(d, o, dlen, dec_pack::<URL>(&k, x, h));
                i += 32;
                o += 24;
            }
        }
        if i + 32 > len {
            // SAFETY: as for the loops above (the window is inside src, the
            // store inside dst); see `decode_tail`.
            return unsafe { decode_tail::<URL, SKIP>(&k, src, dst, i, o) };
        }
        if SKIP == 0 {
            return (i, o);
        }

        // Compaction path; the block at i holds at least one non-alphabet byte.
        // SAFETY: AVX2 and POPCNT are available (entry points enable them), and the caller's
        // dst guarantee is forwarded.
        let (ni, no, back_to_fast) = unsafe { decode_compact::<URL, SKIP>(&k, src, dst, i, o) };
        i = ni;
        o = no;
        if !back_to_fast {
            return (i, o);
        }
    }
}

/// Fewer than 32 chars are left at `i`: in strict mode (everything before
/// `i` is alphabet, decoded on the quantum grid) one more block, placed to
/// end before the last quantum (which may hold padding, for the driver), may
/// overlap what is done; its first chars re-decode to the bytes already
/// written. At 1 KiB this keeps the last few quanta out of the scalar
/// driver. Returns (read, written) as [`decode`] does.
///
/// # Safety
/// AVX2 must be available; `dst.len() >= src.len() / 4 * 3`; `o` is the
/// output of the alphabet chars `src[..i]`, `i` a multiple of 4.
#[inline(always)]
unsafe fn decode_tail<const URL: bool, const SKIP: u8>(
    k: &DecConsts,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    i: usize,
    o: usize,
) -> (usize, usize) {
    let len = src.len();
    let end = (len & !3).saturating_sub(4);
    // Only without skipping: then src[..i] holds no skipped bytes, so the
    // overlapped chars sit on the same quantum grid as before.
    if SKIP != 0 || end <= i || end < 32 {
        return (i, o);
    }
    let start = end - 32;
    let back = (i - start) / 4 * 3;
    // SAFETY: src[start..end] is inside src (end <= len); the 24 bytes stored
    // at o - back end at end / 4 * 3 <= dlen (o - back is the output of the
    // chars before start, all alphabet).
    unsafe {
        let x = load32(src.as_ptr(), start);
        let (h, e) = dec_classify(k, x);
        if !is_zero(e) {
            return (i, o);
        }
        let d = dst.as_mut_ptr().cast::<u8>();
        store24(d, o - back, dst.len(), dec_pack::<URL>(k, x, h));
    }
    (end, o - back + 24)
}

/// Keep mask (bit set = alphabet char) of the 32 chars at `s + p`.
///
/// # Safety
/// AVX2 must be available; 32 bytes must be readable at `s + p`.
#[inline(always)]
unsafe fn keep_mask(k: &DecConsts, s: *const u8, p: usize) -> u32 {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; 32 bytes must be
    // readable at `s + p`.
    unsafe {
        let (_, e) = dec_classify(k, load32(s, p));
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(e, _mm256_setzero_si256())) as u32
    }
}

/// Decodes the 32 chars at `b + off` into `d + o` (24 bytes, wider store where dst allows).
///
/// # Safety
/// AVX2 must be available; 32 bytes readable at `b + off`; `o + 24 <= dlen`.
#[inline(always)]
unsafe fn decode_chunk<const URL: bool>(
    k: &DecConsts,
    b: *const u8,
    off: usize,
    d: *mut u8,
    o: usize,
    dlen: usize,
) {
    // SAFETY: the caller upholds this function's contract: AVX2 must be available; 32 bytes
    // readable at `b + off`; `o + 24 <= dlen`.
    unsafe {
        let y = load32(b, off);
        let hy = _mm256_and_si256(_mm256_srli_epi32(y, 4), k.m0f);
        store24(d, o, dlen, dec_pack::<URL>(k, y, hy));
    }
}

/// The skip-mode part of [`decode`]: starts at block `i` (output `o`, nothing pending) and
/// compacts blocks that hold skippable bytes. Returns (i, o, back_to_fast): with back_to_fast
/// the block at `i` is clean and nothing is pending, so the fast loop can continue there;
/// otherwise (read, written) to report.
///
/// # Safety
/// AVX2 and POPCNT must be available; `dst.len() >= src.len() / 4 * 3`; `o` must be the bytes
/// decoded from the alphabet chars of `src[..i]`, with no chars pending.
#[inline(always)]
unsafe fn decode_compact<const URL: bool, const SKIP: u8>(
    k: &DecConsts,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    mut i: usize,
    mut o: usize,
) -> (usize, usize, bool) {
    // SAFETY: the caller upholds this function's contract: AVX2 and POPCNT must be available;
    // `dst.len() >= src.len() / 4 * 3`; `o` must be the bytes decoded from the alphabet chars of
    // `src[..i]`, with no chars pending.
    unsafe {
        let len = src.len();
        let dlen = dst.len();
        let s = src.as_ptr();
        let d = dst.as_mut_ptr().cast::<u8>();
        // Whitespace test: tbl[x & 15] == x exactly for x in {'\t', '\n', '\r', ' '} (entries that
        // must never match hold 0xFF, which is not ASCII, and vpshufb yields 0 for bytes >= 0x80,
        // which differs from those bytes).
        #[rustfmt::skip]
        let ws_tbl = _mm256_setr_epi8(
            0x20, -1, -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0A, -1, -1, 0x0D, -1, -1,
            0x20, -1, -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0A, -1, -1, 0x0D, -1, -1,
        );
        let eq_char = _mm256_set1_epi8(b'=' as i8);
        let zero = _mm256_setzero_si256();
        let start = i;
        let o_start = o;
        // Staging buffer: n < 128 chars between blocks; a block appends at most 32 (the last
        // 8-byte compaction store ends before n + 32), so n + 32 <= 160 <= buf.len().
        let mut buf = [0u8; 160];
        let b = buf.as_mut_ptr();
        let mut n = 0usize;
        // Output room: every decoded chunk consists of alphabet chars of src[..i + 32], so
        // o + 24 * chunks <= (alphabet chars) / 4 * 3 <= len / 4 * 3 <= dlen.
        while i + 32 <= len {
            let x = load32(s, i);
            let (_, e) = dec_classify(k, x);
            let keep = _mm256_movemask_epi8(_mm256_cmpeq_epi8(e, zero)) as u32;
            if keep == u32::MAX {
                if n.is_multiple_of(4) {
                    // Flush everything, including a final partial chunk of n % 32 chars: its 24-byte
                    // store fits because this clean block still lies ahead in src (see above).
                    let mut off = 0;
                    while off < n {
                        decode_chunk::<URL>(k, b, off, d, o, dlen);
                        let take = if n - off >= 32 { 32 } else { n - off };
                        o += take / 4 * 3;
                        off += 32;
                    }
                    return (i, o, true);
                }
                _mm256_storeu_si256(b.add(n).cast(), x);
            } else {
                let skippable = if SKIP == 1 {
                    _mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(ws_tbl, x), x))
                        as u32
                } else {
                    !(_mm256_movemask_epi8(_mm256_cmpeq_epi8(x, eq_char)) as u32)
                };
                if keep | skippable != u32::MAX {
                    break;
                }
                // Compact each 8-byte group with one in-lane shuffle; odd groups address the
                // upper half of their lane, hence +8 on their indices.
                let k0 = (keep & 0xff) as usize;
                let k1 = ((keep >> 8) & 0xff) as usize;
                let k2 = ((keep >> 16) & 0xff) as usize;
                let k3 = (keep >> 24) as usize;
                let ctl = _mm256_setr_epi64x(
                    COMPACT64[k0] as i64,
                    (COMPACT64[k1] + 0x0808_0808_0808_0808) as i64,
                    COMPACT64[k2] as i64,
                    (COMPACT64[k3] + 0x0808_0808_0808_0808) as i64,
                );
                let c = _mm256_shuffle_epi8(x, ctl);
                let lo = _mm256_castsi256_si128(c);
                let hi = _mm256_extracti128_si256(c, 1);
                let mut p = n;
                _mm_storel_epi64(b.add(p).cast(), lo);
                p += (k0 as u32).count_ones() as usize;
                _mm_storeh_pd(b.add(p).cast(), _mm_castsi128_pd(lo));
                p += (k1 as u32).count_ones() as usize;
                _mm_storel_epi64(b.add(p).cast(), hi);
                p += (k2 as u32).count_ones() as usize;
                _mm_storeh_pd(b.add(p).cast(), _mm_castsi128_pd(hi));
            }
            n += keep.count_ones() as usize;
            i += 32;
            if n >= 128 {
                // Decode in batches of four chunks, so the loads from the staging buffer are far
                // behind the stores that fill it.
                decode_chunk::<URL>(k, b, 0, d, o, dlen);
                decode_chunk::<URL>(k, b, 32, d, o + 24, dlen);
                decode_chunk::<URL>(k, b, 64, d, o + 48, dlen);
                decode_chunk::<URL>(k, b, 96, d, o + 72, dlen);
                o += 96;
                n -= 128;
                _mm256_storeu_si256(b.cast(), load32(b, 128));
            }
        }
        // Stop: decode the whole chunks still staged; fewer than 32 chars stay pending.
        let mut off = 0;
        while n - off >= 32 {
            decode_chunk::<URL>(k, b, off, d, o, dlen);
            o += 24;
            off += 32;
        }
        let mut rem = (n - off) as u32;
        if rem == 0 {
            return (i, o, false);
        }
        // Rewind `read` to the first pending char: walk back over the blocks of this compaction
        // run (everything since `start` was staged, nothing was pending at `start`), re-deriving
        // each block's keep mask, until the block holding it.
        let mut j = i;
        while j > start {
            j -= 32;
            let keep = keep_mask(k, s, j);
            let c = keep.count_ones();
            if c >= rem {
                return (j + select_bit(keep, c - rem), o, false);
            }
            rem -= c;
        }
        // Not reached (the pending chars all come from blocks in [start, i)); if it were, this
        // would still be a consistent answer: nothing of the compaction run counts.
        debug_assert!(false, "pending chars not found");
        (start, o_start, false)
    }
}

// ------------------------------------------------------------------------------------------------
// decode_lines
// ------------------------------------------------------------------------------------------------

/// Regular-lines decode: see the module contract. Handles `cols >= 32`; returns (0, 0) for
/// narrower lines (the general decoder covers them).
///
/// # Safety
/// `is_available()` must be true; `dst.len() >= src.len() / 4 * 3`.
#[target_feature(enable = "avx2,popcnt")]
pub(crate) unsafe fn decode_lines(
    alphabet: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> (usize, usize) {
    if !cols.is_multiple_of(4) || !(32..=1024).contains(&cols) {
        return (0, 0);
    }
    // SAFETY: (all arms) AVX2 is enabled here; the caller upholds the dst length.
    unsafe {
        match (alphabet, cols) {
            (Alphabet::Standard, 76) => decode_lines_impl::<false>(src, dst, 76, crlf),
            (Alphabet::Standard, 64) => decode_lines_impl::<false>(src, dst, 64, crlf),
            (Alphabet::Standard, _) => decode_lines_impl::<false>(src, dst, cols, crlf),
            (Alphabet::UrlSafe, 76) => decode_lines_impl::<true>(src, dst, 76, crlf),
            (Alphabet::UrlSafe, 64) => decode_lines_impl::<true>(src, dst, 64, crlf),
            (Alphabet::UrlSafe, _) => decode_lines_impl::<true>(src, dst, cols, crlf),
        }
    }
}

// decode_lines essay. With every line exactly `cols` alphabet chars plus a fixed EOL, no
// compaction is needed: a line is covered by 32-char windows at 0, 32, 64, ... and, when cols is
// not a multiple of 32, one last window at cols - 32 (quantum aligned, since cols % 4 == 0),
// whose 24 output bytes overlap the previous window's with identical values. For cols = 76 that
// is [0,32), [32,64), [44,76). Each window is classified, translated and stored immediately
// (stores in increasing address order, so each 32-byte store's 8 junk bytes are overwritten by
// the next window or line); the error vectors are OR-ed and, together with an in-place check of
// the EOL bytes, decide at the end of the line whether the line counts. A failing line is not
// counted (its bytes in dst beyond `written` are scratch). Loads never leave the line + EOL.

/// # Safety
/// AVX2 must be available; `32 <= cols`, `cols % 4 == 0`; `dst.len() >= src.len() / 4 * 3`.
#[inline(always)]
unsafe fn decode_lines_impl<const URL: bool>(
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> (usize, usize) {
    let len = src.len();
    let dlen = dst.len();
    let eol = 1 + crlf as usize;
    let line_in = cols + eol;
    let line_out = cols / 4 * 3;
    let full = cols / 32;
    let has_tail = !cols.is_multiple_of(32);
    // SAFETY: AVX2 is available (this function's contract); the constants are immediates.
    let k = unsafe { dec_consts::<URL>() };
    let s = src.as_ptr();
    let d = dst.as_mut_ptr().cast::<u8>();
    let mut i = 0usize;
    let mut o = 0usize;
    // SAFETY: a line is processed only when i + line_in <= len, and all loads are inside
    // src[i..i + line_in]. Output: (i / line_in) lines were written, so o = i / line_in *
    // line_out and o + line_out <= (i + cols) / 4 * 3 <= len / 4 * 3 <= dlen; every store24 is
    // inside [o, o + line_out) and uses a 32-byte store only where 32 bytes of dst remain.
    unsafe {
        while i + line_in <= len {
            let eol_ok = if crlf {
                s.add(i + cols).cast::<u16>().read_unaligned() == u16::from_le_bytes(*b"\r\n")
            } else {
                *s.add(i + cols) == b'\n'
            };
            if !eol_ok {
                break;
            }
            let mut err = _mm256_setzero_si256();
            let mut c = 0;
            while c < full {
                let x = load32(s, i + 32 * c);
                let (h, e) = dec_classify(&k, x);
                err = _mm256_or_si256(err, e);
                store24(d, o + 24 * c, dlen, dec_pack::<URL>(&k, x, h));
                c += 1;
            }
            if has_tail {
                let x = load32(s, i + cols - 32);
                let (h, e) = dec_classify(&k, x);
                err = _mm256_or_si256(err, e);
                store24(d, o + line_out - 24, dlen, dec_pack::<URL>(&k, x, h));
            }
            if !is_zero(err) {
                break;
            }
            i += line_in;
            o += line_out;
        }
    }
    (i, o)
}
