//! AVX-512 quoted-printable encoding of a line's body, 16 input bytes a step.
//!
//! Each byte is spread to a triplet (itself or `=`, then its two hex digits)
//! with one `vpermb`, and `vpcompressb` (VBMI2) drops the hex digits of the
//! bytes that stay literal, so a step writes 16..48 output bytes with one
//! store whatever the mix of escapes. The keep-mask gives the step's output
//! length (popcount) and, through `pext`, where in that output each input
//! byte starts: where the step crosses the soft-break column, the cut is the
//! last such start that still fits, found with one `lzcnt`, so an escape is
//! never split and the output is exactly the scalar encoder's.
#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

/// Proof that the CPU has what [`encode_body`] needs; only [`Avx512::get`]
/// makes one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx512(());

impl Avx512 {
    /// The kernel, where the CPU has it (detected once). Whether it runs
    /// by default is [`super::Backend::default_for_process`]'s choice.
    pub(super) fn get() -> Option<Avx512> {
        static ON: OnceLock<bool> = OnceLock::new();
        ON.get_or_init(is_available).then_some(Avx512(()))
    }

    /// [`encode_body`], behind the proof that it may run.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn encode_body(
        self,
        out: &mut [u8],
        o: usize,
        col: usize,
        body: &[u8],
        fit: usize,
        soft: u32,
        soft_len: usize,
    ) -> (usize, usize) {
        // SAFETY: an `Avx512` exists only where `is_available()` held.
        unsafe { encode_body(out, o, col, body, fit, soft, soft_len) }
    }
}

/// Every CPU feature [`encode_body`] uses.
fn is_available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512vbmi")
        && std::is_x86_feature_detected!("avx512vbmi2")
        && std::is_x86_feature_detected!("bmi2")
        && std::is_x86_feature_detected!("popcnt")
}

/// The least `fit` this kernel handles: one step's output (at most 48
/// bytes) must fit on a fresh line.
pub(super) const MIN_FIT: usize = 48;

/// Bit `3i` for each of the 16 input bytes of a step: where byte `i`'s
/// triplet starts.
const STARTS: u64 = {
    let mut m = 0u64;
    let mut i = 0;
    while i < 16 {
        m |= 1 << (3 * i);
        i += 1;
    }
    m
};

/// `vpermb` indexes: triplet `i` takes lane `i` of the first/`=` vector,
/// lane `16 + i` of the high digits and `32 + i` of the low digits.
const TRIPLETS: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 16 {
        t[3 * i] = i as u8;
        t[3 * i + 1] = 16 + i as u8;
        t[3 * i + 2] = 32 + i as u8;
        i += 1;
    }
    t
};

/// Encodes `body` (a hard line without its last byte, or a binary chunk)
/// into `out` from index `o`, the current line being at column `col`, with
/// the scalar encoder's rule: a byte goes on the line if its encoding ends
/// at column `fit` or before, else the soft break (`soft`, packed
/// little-endian, `soft_len` bytes) comes first. Returns the new `o` and
/// `col`. Bytes past the returned `o` may have been written (scratch).
///
/// # Panics
/// If `fit < MIN_FIT` or `out` is shorter than `o + 4 * body.len() + 67`
/// (a bound on the output, soft breaks included, plus one full store).
///
/// # Safety
/// The CPU must have the features [`is_available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2,popcnt")]
#[allow(clippy::too_many_arguments)]
unsafe fn encode_body(
    out: &mut [u8],
    mut o: usize,
    mut col: usize,
    body: &[u8],
    fit: usize,
    soft: u32,
    soft_len: usize,
) -> (usize, usize) {
    // SAFETY: the caller upholds this function's contract: the CPU has the features
    // `is_available()` checks; every access below is bounds-checked or noted.
    unsafe {
        assert!(fit >= MIN_FIT && col <= fit && soft_len <= 3);
        // Each input byte gives at most 3 bytes; a soft break (<= 3 bytes)
        // comes first once and then after every MIN_FIT - 2 or more output
        // bytes: at most 3 + 3.2 a byte, under the 4 a byte + 3 kept here.
        assert!(out.len() >= o + 4 * body.len() + 67);
        let hex = _mm_loadu_si128(super::HEX_UPPER.as_ptr().cast());
        let triplets = _mm512_loadu_si512(TRIPLETS.as_ptr().cast());
        let low_nibble = _mm_set1_epi8(0x0F);
        let space = _mm_set1_epi8(0x20);
        let tab = _mm_set1_epi8(b'\t' as i8);
        let del = _mm_set1_epi8(0x7F);
        let equals = _mm_set1_epi8(b'=' as i8);
        let mut i = 0;
        while i < body.len() {
            let take = (body.len() - i).min(16);
            let valid = (1u32 << take).wrapping_sub(1) as u16;
            // SAFETY: lanes past `take` are masked off, so only body[i..i+take]
            // is read.
            let v = _mm_maskz_loadu_epi8(valid, body.as_ptr().add(i).cast());
            let control = _mm_cmplt_epu8_mask(v, space) & !_mm_cmpeq_epi8_mask(v, tab);
            let escape =
                (control | _mm_cmpge_epu8_mask(v, del) | _mm_cmpeq_epi8_mask(v, equals)) & valid;
            let first = _mm_mask_blend_epi8(escape, v, equals);
            let high = _mm_shuffle_epi8(hex, _mm_and_si128(_mm_srli_epi16::<4>(v), low_nibble));
            let low = _mm_shuffle_epi8(hex, _mm_and_si128(v, low_nibble));
            let lanes = _mm512_inserti32x4::<2>(
                _mm512_inserti32x4::<1>(_mm512_castsi128_si512(first), high),
                low,
            );
            let spread = _mm512_permutexvar_epi8(triplets, lanes);
            let starts = STARTS & ((1u64 << (3 * take)) - 1);
            let digits = _pdep_u64(u64::from(escape), STARTS << 1);
            let keep = starts | digits | digits << 1;
            let encoded = _mm512_maskz_compress_epi8(keep, spread);
            let len = keep.count_ones() as usize;
            let dst = out.as_mut_ptr().add(o);
            // SAFETY: o + 64 <= out.len(): since the call began `o` grew by at
            // most 3 + 4 per input byte consumed (see the assert above).
            _mm512_storeu_si512(dst.cast(), encoded);
            if col + len <= fit {
                o += len;
                col += len;
            } else {
                // Cut at the last input byte start (or the end) at or before
                // column `fit`; `room < len <= 48`, so the shifts stay in range.
                let room = fit - col;
                let byte_starts = _pext_u64(starts, keep) | 1u64 << len;
                let c = 63 - (byte_starts & ((2u64 << room) - 1)).leading_zeros() as usize;
                // SAFETY: c + 4 <= 64 and the tail store writes lanes below
                // len <= 48 at dst + soft_len <= dst + 3: both inside the 64
                // bytes checked above.
                dst.add(c).cast::<u32>().write_unaligned(soft);
                let tail = (!0u64 << c) & ((1u64 << len) - 1);
                _mm512_mask_storeu_epi8(dst.add(soft_len).cast(), tail, encoded);
                o += len + soft_len;
                col = len - c;
            }
            i += take;
        }
        (o, col)
    }
}

impl Avx512 {
    /// [`binascii_decode_runs`], behind the proof that it may run.
    #[inline]
    pub(super) fn binascii_decode_runs(
        self,
        src: &[u8],
        i: usize,
        buf: &mut [u8],
        o: usize,
        header: bool,
    ) -> (usize, usize) {
        // SAFETY: an `Avx512` exists only where `is_available()` held.
        unsafe { binascii_decode_runs(src, i, buf, o, header) }
    }
}

/// `vpermb` indexes that move every lane down by one (`NEXT`) or two
/// (`NEXT2`) lanes, so lane `p` sees the digits after an `=` at `p` (the
/// last lanes repeat lane 63; they never belong to a whole escape).
const NEXT: [u8; 64] = shifted(1);
const NEXT2: [u8; 64] = shifted(2);

const fn shifted(k: usize) -> [u8; 64] {
    let mut t = [63u8; 64];
    let mut j = 0;
    while j + k < 64 {
        t[j] = (j + k) as u8;
        j += 1;
    }
    t
}

/// The items of `binascii.a2b_qp` that need no scalar rule, 64 input bytes
/// a step: literal bytes, `_` in header mode (a space), and `=XX` escapes
/// with two hex digits (either case). A step classifies the 64 bytes with
/// compares (`=`, hex digit, and the hex value of every lane), finds the
/// `=`s whose next two lanes are hex digits, and stops the step at the
/// first `=` that is not (a soft break, `==`, a broken escape, or one cut
/// by the end of the 64 bytes). Up to there, each escape's `=` lane takes
/// the decoded byte (the digits of the next two lanes, brought down by
/// `vpermb`) and `vpcompressb` drops the digit lanes, so one store writes
/// the step's output. Starts at `src[i]`, writing at `buf[o]`, and returns
/// the new `(i, o)` where an `=` needs the scalar rule or fewer than 64
/// bytes are left. Bytes past the returned `o` may have been written
/// (scratch).
///
/// # Panics
/// If `o > i` or `buf` is shorter than `o + (src.len() - i) + 64` (decoding
/// never grows the data, so the write index stays at or behind the read
/// index, and a store writes at most 64 bytes).
///
/// # Safety
/// The CPU must have the features [`is_available`] checks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,popcnt")]
unsafe fn binascii_decode_runs(
    src: &[u8],
    mut i: usize,
    buf: &mut [u8],
    mut o: usize,
    header: bool,
) -> (usize, usize) {
    // SAFETY: the caller upholds this function's contract: the CPU has the
    // features `is_available()` checks; every access below is noted.
    unsafe {
        let n = src.len();
        assert!(o <= i && buf.len() >= o + (n - i) + 64);
        let equals = _mm512_set1_epi8(b'=' as i8);
        let underscore = _mm512_set1_epi8(b'_' as i8);
        let space = _mm512_set1_epi8(b' ' as i8);
        let next = _mm512_loadu_si512(NEXT.as_ptr().cast());
        let next2 = _mm512_loadu_si512(NEXT2.as_ptr().cast());
        let zero = _mm512_set1_epi8(b'0' as i8);
        let ten = _mm512_set1_epi8(10);
        let lower = _mm512_set1_epi8(0x20);
        let a = _mm512_set1_epi8(b'a' as i8);
        let six = _mm512_set1_epi8(6);
        let high_nibble = _mm512_set1_epi8(0xF0u8 as i8);
        while i + 64 <= n {
            // SAFETY: i + 64 <= n.
            let v = _mm512_loadu_si512(src.as_ptr().add(i).cast());
            let eq = _mm512_cmpeq_epi8_mask(v, equals);
            let us = if header {
                _mm512_cmpeq_epi8_mask(v, underscore)
            } else {
                0
            };
            if eq | us == 0 {
                // Literals only (most of a text's steps): copied as they are.
                // SAFETY: o + 64 <= buf.len() (see the store below).
                _mm512_storeu_si512(buf.as_mut_ptr().add(o).cast(), v);
                i += 64;
                o += 64;
                continue;
            }
            let d = _mm512_sub_epi8(v, zero);
            let digit = _mm512_cmplt_epu8_mask(d, ten);
            let l = _mm512_sub_epi8(_mm512_or_si512(v, lower), a);
            let letter = _mm512_cmplt_epu8_mask(l, six);
            let hex = digit | letter;
            // An escape at lane p has its digits at p + 1 and p + 2, inside
            // the 64 lanes: the shifts bring in zeros, so an `=` in lane 62
            // or 63 is never whole.
            let whole = eq & (hex >> 1) & (hex >> 2);
            let bad = eq & !whole;
            // The step: lanes below the first bad `=`. No escape before it
            // reaches it (its digits are not `=`).
            let limit = bad.trailing_zeros() as usize;
            if limit == 0 {
                break;
            }
            let range = if limit == 64 {
                !0u64
            } else {
                (1u64 << limit) - 1
            };
            let escapes = whole & range;
            let keep = range & !(escapes << 1 | escapes << 2);
            let value = _mm512_mask_blend_epi8(digit, _mm512_add_epi8(l, ten), d);
            let hi = _mm512_permutexvar_epi8(next, value);
            let lo = _mm512_permutexvar_epi8(next2, value);
            let byte = _mm512_or_si512(
                _mm512_and_si512(_mm512_slli_epi16::<4>(hi), high_nibble),
                lo,
            );
            let mut w = _mm512_mask_blend_epi8(escapes, v, byte);
            if header {
                w = _mm512_mask_blend_epi8(us, w, space);
            }
            let packed = _mm512_maskz_compress_epi8(keep, w);
            // SAFETY: o + 64 <= buf.len(), since o <= i (asserted at the
            // start, kept below: a step moves o by at most what it moves i)
            // and i + 64 <= n.
            _mm512_storeu_si512(buf.as_mut_ptr().add(o).cast(), packed);
            i += limit;
            o += keep.count_ones() as usize;
        }
        (i, o)
    }
}
