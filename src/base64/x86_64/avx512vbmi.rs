#![allow(unsafe_code)]
//! AVX-512 VBMI bulk kernels for Base64 (x86-64, Ice Lake / Zen 4 and later).
//!
//! This file holds the four "bulk" kernels of the AVX-512 backend: plain encode, fused
//! line-wrapped (MIME) encode, general decode (optionally skipping whitespace or all
//! non-alphabet bytes) and the regular-lines MIME decode fast path. They only process the easy
//! middle of an input with 64-byte vectors and return how far they got; the portable driver owns
//! every piece of Base64 semantics (padding, error offsets, streaming state) and finishes with
//! scalar code. The kernels exist because AVX-512 VBMI turns each Base64 step into one or two
//! byte-permute instructions, which lets encode and decode run close to memory-copy speed.
//!
//! The algorithms follow Wojciech Muła and Daniel Lemire, "Base64 encoding and decoding at
//! almost the speed of a memory copy", Software: Practice and Experience 50(2), 2020
//! (arXiv:1910.05109, 2019), and Muła's earlier notes on SSE/AVX2 Base64 ("Base64 encoding with
//! SIMD instructions", "Base64 decoding with SIMD instructions", 0x80.pl, 2016-2018):
//!
//! * encode: `vpermb` spreads every 3 input bytes over a 4-byte lane, `vpmultishiftqb` extracts
//!   the four 6-bit fields, and `vpermb` with the 64-character alphabet as its table translates
//!   them (it only looks at the low 6 bits of each index, so no masking is needed);
//! * decode: `vpermi2b` looks every character up in a 128-entry table (low 7 bits; bytes with
//!   the top bit set are rejected separately), `vpmaddubsw` + `vpmaddwd` pack four 6-bit values
//!   into 24 bits and `vpermb` compacts the 16 triples into 48 contiguous bytes.
//!
//! Skipping whitespace/garbage uses `vpcompressb` (AVX-512 VBMI2, detected separately) into a
//! register; without VBMI2 the skipping decode simply stops at the first skippable block.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::base64::encode::{encode_whole_lines_with, encode_with, EncodeKernels};
use crate::base64::scalar::{STANDARD_CHARS as STD_CHARS, URL_SAFE_CHARS as URL_CHARS};
use crate::base64::{
    encoded_len, encoded_len_wrapped, kernel::Skip, Alphabet, LineEnding, Stores, Wrap,
};
use crate::uninit::Out;

// ---------------------------------------------------------------------------------------------
// Constant tables
// ---------------------------------------------------------------------------------------------

/// Decode-table marker for a byte that may be dropped (whitespace in MIME mode).
const SKIP_MARK: u8 = 0x40;
/// Decode-table marker for a byte that stops the kernel.
const STOP_MARK: u8 = 0x80;

/// 128-entry decode table over the low 7 bits of a character: the 6-bit value for alphabet
/// characters, `SKIP_MARK` for whitespace when `ws`, `STOP_MARK` otherwise.
const fn decode_table(chars: &[u8; 64], ws: bool) -> [u8; 128] {
    let mut t = [STOP_MARK; 128];
    if ws {
        t[b'\r' as usize] = SKIP_MARK;
        t[b'\n' as usize] = SKIP_MARK;
        t[b' ' as usize] = SKIP_MARK;
        t[b'\t' as usize] = SKIP_MARK;
    }
    let mut i = 0;
    while i < 64 {
        t[chars[i] as usize] = i as u8;
        i += 1;
    }
    t
}

static DEC_STD: [u8; 128] = decode_table(STD_CHARS, false);
static DEC_URL: [u8; 128] = decode_table(URL_CHARS, false);
static DEC_STD_WS: [u8; 128] = decode_table(STD_CHARS, true);
static DEC_URL_WS: [u8; 128] = decode_table(URL_CHARS, true);

/// `vpermb` indices for encode: 32-bit lane `i` receives input bytes `[3i+1, 3i, 3i+2, 3i+1]`,
/// the layout that lets one `vpmultishiftqb` control pull out all four 6-bit fields.
const ENC_SPREAD: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 16 {
        t[4 * i] = (3 * i + 1) as u8;
        t[4 * i + 1] = (3 * i) as u8;
        t[4 * i + 2] = (3 * i + 2) as u8;
        t[4 * i + 3] = (3 * i + 1) as u8;
        i += 1;
    }
    t
};

/// Bit offsets of the four 6-bit fields inside each spread 32-bit lane (two lanes per qword).
const ENC_SHIFTS: i64 = 0x3036_242a_1016_040a;

/// `vpermb` indices for decode: output byte `3i+k` is byte `2-k` of packed 32-bit lane `i`.
const DEC_PACK: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 16 {
        t[3 * i] = (4 * i + 2) as u8;
        t[3 * i + 1] = (4 * i + 1) as u8;
        t[3 * i + 2] = (4 * i) as u8;
        i += 1;
    }
    t
};

const IOTA: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

/// Mask with the low `n` bits set (`n` may be 0..=64).
#[inline(always)]
fn low_mask(n: usize) -> u64 {
    if n >= 64 {
        !0
    } else {
        (1u64 << n) - 1
    }
}

// ---------------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------------

/// True when the CPU runs every kernel of this file (the whitespace-skipping decode also wants
/// AVX-512 VBMI2, which is detected separately and is optional).
pub(crate) fn is_available() -> bool {
    std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512bw")
        && std::is_x86_feature_detected!("avx512vbmi")
}

/// True when the CPU also has AVX-512 VBMI2 (`vpcompressb`), which the skipping decode uses.
/// Probed once per [`Engine`](crate::base64::kernel::Engine), never per call.
pub(crate) fn has_vbmi2() -> bool {
    is_available() && std::is_x86_feature_detected!("avx512vbmi2")
}

// ---------------------------------------------------------------------------------------------
// Shared vector helpers
// ---------------------------------------------------------------------------------------------

/// Loads a 64-byte constant table.
///
/// # Safety
/// AVX-512F must be available.
#[inline(always)]
unsafe fn load_table(t: &[u8; 64]) -> __m512i {
    // SAFETY: `t` is 64 readable bytes; loadu has no alignment requirement.
    unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }
}

/// The encoders' constants for `alphabet`: its 64 characters, [`ENC_SPREAD`] and
/// [`ENC_SHIFTS`], the three operands of [`enc_block`] besides the input.
///
/// # Safety
/// AVX-512F available (inlined into `target_feature` functions only).
#[inline(always)]
unsafe fn enc_consts(alphabet: Alphabet) -> (__m512i, __m512i, __m512i) {
    let chars = if alphabet == Alphabet::Standard {
        STD_CHARS
    } else {
        URL_CHARS
    };
    // SAFETY: loads of 64-byte constant tables and a register intrinsic; features by the
    // caller.
    unsafe {
        (
            load_table(chars),
            load_table(&ENC_SPREAD),
            _mm512_set1_epi64(ENC_SHIFTS),
        )
    }
}

// Essay: masked loads at the end of a mapping.
//
// A masked load reads only its unmasked lanes, and masked-off lanes cannot fault. But when the
// masked-off part of the 64-byte window lies on a page with nothing behind it (unmapped, or mapped
// but never touched), the CPU suppresses the fault in microcode: on Zen 4 a 1000-byte encode took
// 109 ns instead of 21.5 when its input ended at a page followed by an unmapped one (simdutf
// alike: 112 vs 21), and a 4 KiB MIME encode 199 vs 107 ns. Inputs end there whenever they end
// their mapping: a file mapped into memory, a large allocation (glibc's mmap threshold), a buffer
// at the top of the heap. So a window that would cross into the next page, for bytes that all lie
// on this one, is loaded from the window that ends at the page boundary instead, and its lanes
// moved down with one permute; masked-off lanes before `p` stay on `p`'s page, so they cannot
// fault either. (`GUARD=1` of `examples/call_cost.rs` measures this case.) Masked stores pay the
// same assist when their masked-off lanes reach such a page, as they do for an exact-size output
// ending just before pages nothing has touched yet (a 1000-byte MIME encode: 152 ns instead of
// 45). So `store_n` moves its window back the same way; the full-line stores of the encoders never
// reach past the output, so only the masked tails needed it.

/// Loads `len` bytes from `p` (all 64 when `len >= 64`), zeroing the remaining lanes; masked
/// lanes are never touched, so this cannot fault past the end of the readable range, and a
/// window that would reach into the next page only with masked-off lanes is moved back into
/// this one (see the essay above).
///
/// # Safety
/// `p[..min(len, 64)]` must be readable; AVX-512BW and VBMI must be available.
#[inline(always)]
unsafe fn load_upto(p: *const u8, len: usize) -> __m512i {
    // SAFETY: the caller guarantees the unmasked bytes are readable; the moved window's
    // unmasked lanes are the same bytes `p[..len]`.
    unsafe {
        if len >= 64 {
            return _mm512_loadu_si512(p.cast());
        }
        let page_off = p as usize % 4096;
        if page_off + 64 <= 4096 || page_off + len > 4096 {
            // The window stays on one page, or the wanted bytes themselves cross (so the next
            // page is readable).
            return _mm512_maskz_loadu_epi8(low_mask(len), p.cast());
        }
        let back = page_off + 64 - 4096;
        let v = _mm512_maskz_loadu_epi8(low_mask(len) << back, p.wrapping_sub(back).cast());
        let down = _mm512_add_epi8(load_table(&IOTA), _mm512_set1_epi8(back as i8));
        _mm512_maskz_permutexvar_epi8(low_mask(len), down, v)
    }
}

/// Encodes the 48 bytes in the low lanes of `v` into 64 characters.
///
/// # Safety
/// AVX-512 VBMI must be available.
#[inline(always)]
unsafe fn enc_block(v: __m512i, spread: __m512i, shifts: __m512i, lut: __m512i) -> __m512i {
    // SAFETY: pure register intrinsics; the caller guarantees the CPU features.
    unsafe {
        let s = _mm512_permutexvar_epi8(spread, v);
        let f = _mm512_multishift_epi64_epi8(shifts, s);
        _mm512_permutexvar_epi8(f, lut)
    }
}

/// Packs 64 translated 6-bit values (one per byte) into 48 bytes in the low lanes.
///
/// # Safety
/// AVX-512 VBMI must be available.
#[inline(always)]
unsafe fn dec_pack(t: __m512i, pack: __m512i) -> __m512i {
    // SAFETY: pure register intrinsics; the caller guarantees the CPU features.
    unsafe {
        let w = _mm512_maddubs_epi16(t, _mm512_set1_epi32(0x0140_0140));
        let d = _mm512_madd_epi16(w, _mm512_set1_epi32(0x0001_1000));
        _mm512_permutexvar_epi8(pack, d)
    }
}

/// Stores the low `n` (<= 64) bytes of `v` at `p`; with `full` the whole 64-byte vector is
/// written (the caller has checked that the extra bytes are inside the output). A masked
/// window that would reach into the next page only with masked-off lanes is moved back into
/// this one, as [`load_upto`] does: masked stores pay the same assist (see the essay above).
///
/// # Safety
/// `p[..n]` (or `p[..64]` when `full`) must be writable; AVX-512BW and VBMI must be available.
#[inline(always)]
unsafe fn store_n(p: *mut u8, v: __m512i, n: usize, full: bool) {
    // SAFETY: the caller guarantees the written range is inside the output; the moved
    // window writes the same bytes `p[..n]`, and its masked-off lanes before `p` lie on
    // `p`'s page.
    unsafe {
        if full {
            return _mm512_storeu_si512(p.cast(), v);
        }
        let page_off = p as usize % 4096;
        if page_off + 64 <= 4096 || page_off + n > 4096 {
            return _mm512_mask_storeu_epi8(p.cast(), low_mask(n), v);
        }
        let back = page_off + 64 - 4096;
        let up = _mm512_sub_epi8(load_table(&IOTA), _mm512_set1_epi8(back as i8));
        let moved = _mm512_permutexvar_epi8(up, v);
        _mm512_mask_storeu_epi8(p.wrapping_sub(back).cast(), low_mask(n) << back, moved)
    }
}

// ---------------------------------------------------------------------------------------------
// Non-temporal output
// ---------------------------------------------------------------------------------------------

// Essay: streaming stores for outputs larger than the caches.
//
// An ordinary store to a line that is not in the cache first reads the line from memory (a
// read-for-ownership), so an encoder whose output does not fit in the cache moves
// in + 2 * out bytes instead of in + out. Non-temporal stores (`vmovntdq`) write whole 64-byte
// lines straight to memory without that read, which is what lets a large encode approach the
// speed of a copy moving the same bytes (glibc's memcpy switches to them for large copies for
// the same reason). They need 64-byte-aligned addresses, while the encoders' output is a
// stream of variable-length pieces (64-character blocks, and for 76-column MIME text blocks
// that overlap) at arbitrary alignment. `LineWriter` turns that stream into aligned lines: it
// keeps the `fill` bytes of the current line in a register, and each appended piece is merged
// in with one two-source byte permute (`vpermt2b`); a completed line is streamed and the rest
// of the piece becomes the next line with one more permute. The first line (which starts
// before `dst` unless `dst` is aligned) and the last (partial) one are written with masked
// ordinary stores, so nothing outside the output is ever written, and `finish` fences the
// streaming stores (`sfence`) before the kernel returns, so the output is ordered before any
// later store of the caller, as if it had been written with ordinary stores.
//
// The cost is two permutes per piece; below the threshold below it does not pay (the output
// is still in the cache when the caller, or the next call, touches it), so small outputs keep
// the ordinary stores.
//
// The same writer with ordinary aligned stores (`LineWriter<false>`) serves Intel's cores,
// whose 512-bit stores want 64-byte alignment (essay "Aligned output" below), for the
// 76-column groups of the wrapped encode, whose blocks land at every alignment. Its permute
// chain (each piece waits for the last merge) costs while the output sits in the L1, and the
// split stores it saves cost once the output leaves the L2. On the Xeon guest (family 6 model
// 167, 2 MiB of L2), LF lines, ratio to simdutf in three alternating runs: unaligned blocks
// 1.03/0.99/1.10 at 512 KiB, 0.92/0.91/0.89 at 1 MiB, 0.98/0.97/0.98 at 2 MiB; through the
// writer 1.06/0.99/1.08, 1.04/1.00/1.02, 1.00/0.99/1.01; at 4 MiB both 0.97-0.98, and at
// 64 KiB / 256 KiB the writer lost 10% (2.75-2.80 vs 2.48-2.60 us; 10.5-10.9 vs 9.5-9.9).
// So on Intel the wrapped encode goes through it from 1 MiB of output ([`aligned_threshold`]);
// Zen 4 splits 512-bit stores into 256-bit halves anyway and keeps the unaligned blocks.

// Where streaming starts to pay depends on the CPU's last-level cache. Measured with
// `mimeflow bench --op encode` (and mime-encode(-lf)), streaming forced on and off in two
// builds, two alternating runs:
//
// * on this project's Zen 4 EPYC VM (32 MiB of L3 per CCD): at 1 MiB and 4 MiB of input,
//   where input and output still fit in the L2 + L3 the repeated calls reuse, streaming stores
//   were about 2x *slower* (encode 20-21 vs 40 GB/s at 1 MiB; ~21 vs ~24 at 4 MiB, noisy),
//   because every call then writes to memory instead of to cache; at 16 MiB (21 MiB of encoded
//   output, input + output well past the L3) they were much faster (encode 20.3 vs 11.7 GB/s,
//   MIME encode 18.8 vs 13.7). The threshold there was a constant 8 MiB of output.
// * on an Intel Xeon guest with AMX (Sapphire Rapids class, family 6 model 167, CPUID reports
//   480 MiB of L3): at 16 MiB of input ordinary stores were faster (encode 1.36 vs 1.51-1.53
//   ms, LF lines 1.40-1.41 vs 1.43-1.45) and so at 24 MiB (2.10-2.11 vs 2.19-2.21 ms), while
//   at 32 MiB streaming won (2.89-3.00 vs 3.05-3.11 ms) and at 64 MiB by far (6.1-7.1 vs
//   10.6-11.3 ms). The constant 8 MiB made 16 MiB encode 0.92x simdutf there.
//
// So the threshold is a quarter of the L3 that CPUID describes (from there input plus output of
// one call, about 1.75x the output, take close to half of it), at least the 8 MiB measured on
// Zen 4 and at most 32 MiB: a guest's L3 is shared with other tenants, and the crossover on the
// Xeon guest lay between 32 and 43 MiB of output whatever its CPUID said. Where CPUID does not
// describe an L3, 8 MiB.

/// Output size (bytes) from which the encoders use non-temporal stores; see above. Computed
/// once from CPUID and cached.
#[inline]
pub(crate) fn nt_threshold() -> usize {
    static CACHED: AtomicUsize = AtomicUsize::new(0);
    cached(&CACHED, || {
        super::last_level_cache().map_or(NT_MIN, |l3| (l3 / 4).clamp(NT_MIN, NT_MAX))
    })
}

/// Output size (bytes) from which the wrapped encode writes its 76-column groups through
/// aligned lines when streaming does not apply: 1 MiB on Intel, never elsewhere (see the essay
/// on non-temporal output). Computed once and cached.
#[inline]
pub(crate) fn aligned_threshold() -> usize {
    static CACHED: AtomicUsize = AtomicUsize::new(0);
    cached(&CACHED, || {
        if super::is_intel() {
            ALIGNED_INTEL
        } else {
            usize::MAX
        }
    })
}

/// Whether an output of `out` bytes takes streaming stores ([`nt_threshold`]); an output below
/// the least threshold does not load the cached one.
#[inline(always)]
fn streams(out: usize) -> bool {
    out >= NT_MIN && out >= nt_threshold()
}

/// Whether an unwrapped encode of `out` bytes of output streams under `stores`: forced, or by
/// [`streams`] for `Auto`. Its output is aligned by the head block either way, so `Aligned`
/// is ordinary stores.
#[inline(always)]
fn plain_streams(stores: Stores, out: usize) -> bool {
    match stores {
        Stores::Streaming => true,
        Stores::Auto => streams(out),
        Stores::Aligned => false,
    }
}

/// [`aligned_threshold`] on Intel, the least it can be.
const ALIGNED_INTEL: usize = 1 << 20;

/// `cell`'s value, computed by `compute` (never 0) on the first call. Racing first calls
/// compute the same value.
#[inline(always)]
fn cached(cell: &AtomicUsize, compute: fn() -> usize) -> usize {
    match cell.load(Ordering::Relaxed) {
        0 => {
            let t = compute();
            cell.store(t, Ordering::Relaxed);
            t
        }
        t => t,
    }
}

/// Bounds of [`nt_threshold`].
const NT_MIN: usize = 8 << 20;
const NT_MAX: usize = 32 << 20;

// Essay: aligned output.
//
// A 64-byte store that is not 64-byte aligned touches two cache lines; the store unit handles
// it at a cost. Output buffers are whatever the caller has: glibc's malloc returns 16-byte
// alignment, a Python `bytes` object's data follows a 32-byte header. Measured on Zen 4
// (encode through `Base64::encode` into one buffer at offsets 0, 8, 16, 32, 48 mod 64): at 0
// or 32 mod 64 ran at 48.5 / 65.8 / 54.2 / 49.5 GB/s for 1, 4, 16 and 64 KiB of input, at 16
// or 48 mod 64 at 41.7 / 51.3 / 46.5 / 44.3 (-9% to -22%). Zen 4 splits a 512-bit store into
// two 256-bit halves, so 32-byte alignment is enough there; Intel's 512-bit stores want 64.
// So encode starts with one masked block whose output ends at a 64-byte boundary, when the
// output is 4-byte aligned (4 characters per 3 bytes: other misalignments cannot be fixed by
// a whole number of groups) and the input is long enough that the extra block pays
// ([`align_min`]). With it, offsets 8, 16, 32 and 48 ran at 44.1-47.8 / 60.4-62.2 /
// 51.5-51.8 / 46.7-46.8 GB/s (offset 0: 48.9 / 65.3 / 53.6 / 48.1). At 256 bytes the head
// took offset 16 from 13.7 to 17.2 GB/s (aligned: 17.5); at 192 it cost 3% (12.4 -> 12.1),
// hence the bound ([`align_min`]).
//
// The Xeon guest (family 6 model 167) pays less for the split stores and as much for the
// head: `examples/call_cost encode SIZE 16` (outputs at 0, 16, 32 and 48 mod 64, the mean of
// the four, ns a call), head from 256 bytes against none: 256 B 14.95 vs 14.2, 1 KiB 26.9 vs
// 26.2, 2 KiB 42.8 vs 43.1, 3 KiB 59.0 vs 58.9-60.2, 4 KiB 79.0 vs 79.6, 8 KiB 147.0 vs
// 149.1, 32 KiB 1018 vs 1151, 64 KiB 2009 vs 2277. So on Intel the bound is 2 KiB.

/// Inputs shorter than this encode without the aligning head block (see the essay): 256 bytes,
/// 2 KiB on Intel. Computed once and cached.
#[inline(always)]
fn align_min() -> usize {
    static CACHED: AtomicUsize = AtomicUsize::new(0);
    cached(&CACHED, || if super::is_intel() { 2048 } else { 256 })
}

/// Input bytes to encode before the output reaches a 64-byte boundary (a multiple of 3, at
/// most 45), or 0 when `dst` is aligned, cannot be aligned by whole groups, or `n` is short.
#[inline(always)]
fn align_head(dst: usize, n: usize) -> usize {
    let mis = dst % 64;
    // The cached bound is loaded last: 256 is the least it can be.
    if n < 256 || mis == 0 || !mis.is_multiple_of(4) || n < align_min() {
        return 0;
    }
    (64 - mis) / 4 * 3
}

/// Collects a stream of output pieces into 64-byte-aligned lines, written with streaming
/// stores when `NT`, else with ordinary aligned stores; see the essay above.
struct LineWriter<const NT: bool> {
    /// Start of the line being filled (64-byte aligned; may lie before the output for the
    /// first line).
    line: *mut u8,
    /// The line's bytes so far, in lanes `[0, fill)`.
    acc: __m512i,
    fill: usize,
    /// Lanes of the first line that lie before the output (0 once it is written).
    before: usize,
    iota: __m512i,
}

impl<const NT: bool> LineWriter<NT> {
    /// A writer for output starting at `dst`.
    ///
    /// # Safety
    /// AVX-512 F/BW/VBMI available.
    #[inline(always)]
    unsafe fn new(dst: *mut u8) -> LineWriter<NT> {
        let before = dst as usize % 64;
        // SAFETY: register intrinsics and a load of a 64-byte constant; features by the caller.
        unsafe {
            LineWriter {
                line: dst.wrapping_sub(before),
                acc: _mm512_setzero_si512(),
                fill: before,
                before,
                iota: load_table(&IOTA),
            }
        }
    }

    /// Appends bytes `[off, off + len)` of `v` (`off + len <= 64`, `len >= 1`).
    ///
    /// # Safety
    /// AVX-512 F/BW/VBMI available; the output has room for the appended bytes (every line
    /// written lies inside the bytes appended so far, past the lanes before the output).
    #[inline(always)]
    unsafe fn push(&mut self, v: __m512i, off: usize, len: usize) {
        // SAFETY: register intrinsics; the stores write `self.line[..64]`, a whole line made of
        // appended bytes (minus the `before` lanes, masked off), hence inside the output, and
        // aligned to 64 as `vmovntdq` and `vmovdqa64` require.
        unsafe {
            // Lane j of the merged line: acc[j] for j < fill, else v[off + j - fill].
            let sh = _mm512_set1_epi8((off + 64 - self.fill) as u8 as i8);
            let idx = _mm512_and_si512(_mm512_add_epi8(self.iota, sh), _mm512_set1_epi8(63));
            let from_v = !low_mask(self.fill);
            let pick = _mm512_mask_blend_epi8(
                from_v,
                self.iota,
                _mm512_or_si512(idx, _mm512_set1_epi8(64)),
            );
            let merged = _mm512_permutex2var_epi8(self.acc, pick, v);
            let fill = self.fill + len;
            if fill < 64 {
                self.acc = merged;
                self.fill = fill;
                return;
            }
            if self.before == 0 && NT {
                _mm512_stream_si512(self.line.cast(), merged);
            } else if self.before == 0 {
                _mm512_store_si512(self.line.cast(), merged);
            } else {
                _mm512_mask_storeu_epi8(self.line.cast(), !low_mask(self.before), merged);
                self.before = 0;
            }
            self.line = self.line.add(64);
            // The rest of the piece, v[off + 64 - old fill ..], moved to lane 0.
            self.acc = _mm512_permutexvar_epi8(idx, v);
            self.fill = fill - 64;
        }
    }

    /// Writes the last, partial line and fences the streaming stores (if any).
    ///
    /// # Safety
    /// As for `push`.
    #[inline(always)]
    unsafe fn finish(self) {
        // SAFETY: the masked store writes lanes [before, fill) of the current line, bytes
        // appended before, hence inside the output.
        unsafe {
            if self.fill > self.before {
                let m = low_mask(self.fill) & !low_mask(self.before);
                _mm512_mask_storeu_epi8(self.line.cast(), m, self.acc);
            }
            if NT {
                _mm_sfence();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encode
// ---------------------------------------------------------------------------------------------

/// Plain encode; see the module docs for the algorithm.
///
/// Returns the number of bytes read (a multiple of 3); exactly `read / 3 * 4` characters are
/// written to `dst[..read / 3 * 4]`. Tails shorter than 48 bytes are encoded with masked loads
/// and stores, so everything except the last 0..=2 bytes is handled.
///
/// `stores`: `Streaming` uses streaming stores (see "Non-temporal output") whatever the size
/// (a piece of a larger output, or forced); `Auto` from [`nt_threshold`] bytes of output; the
/// output is aligned by the head block otherwise, so `Aligned` is `Auto` below the threshold.
///
/// # Safety
/// `is_available()` must be true and `dst.len() >= src.len() / 3 * 4`.
#[inline]
pub(crate) unsafe fn encode(
    alphabet: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    stores: Stores,
) -> usize {
    debug_assert!(dst.len() >= src.len() / 3 * 4);
    let stream = plain_streams(stores, src.len() / 3 * 4);
    // SAFETY: the caller guarantees the CPU features and the output size.
    unsafe { encode_impl(alphabet, src, dst.as_mut_ptr().cast(), stream) }
}

/// This file's encode kernels as the drivers' [`EncodeKernels`], with their bodies inlined.
/// Only [`encode_all`] and [`encode_wrapped`] build one: holding it is the proof that the
/// CPU features are there.
///
/// With `MASKED`, the plain encode reads its blocks with masked loads (see "Masked block
/// loads"): only [`encode_all`]'s copy for large inputs.
struct Kernels<const MASKED: bool> {
    alphabet: Alphabet,
    stores: Stores,
}

impl<const MASKED: bool> EncodeKernels for Kernels<MASKED> {
    #[inline(always)]
    fn groups(&self, src: &[u8], mut dst: Out<'_>) -> usize {
        assert!(dst.len() >= src.len() / 3 * 4, "kernel output too short");
        let stream = plain_streams(self.stores, src.len() / 3 * 4);
        // SAFETY: a `Kernels` exists only inside the `target_feature` functions below, whose
        // callers guarantee the features; the output size is checked above; the kernel writes
        // initialised bytes only.
        unsafe {
            let d = dst.as_uninit().as_mut_ptr().cast();
            encode_body::<MASKED>(self.alphabet, src, d, stream, None).0
        }
    }

    /// The whole input, the last group's padding blended into the kernel's last block.
    #[inline(always)]
    fn all(&self, src: &[u8], mut dst: Out<'_>, pad: bool) -> Option<usize> {
        let n = src.len();
        // One or two bytes: the driver's scalar tail is cheaper than loading the tables.
        if n < 3 {
            return None;
        }
        let total = encoded_len(n, pad);
        assert!(dst.len() >= total, "kernel output too short");
        let stream = plain_streams(self.stores, n / 3 * 4);
        // SAFETY: as in `groups`, with the whole output's size checked above.
        let (read, written) = unsafe {
            let d = dst.as_uninit().as_mut_ptr().cast();
            encode_body::<MASKED>(self.alphabet, src, d, stream, Some(pad))
        };
        debug_assert_eq!((read, written), (n, total));
        Some(written)
    }

    #[inline(always)]
    fn lines(&self, src: &[u8], mut dst: Out<'_>, cols: usize, crlf: bool) -> usize {
        let Some((lines, stores)) = lines_plan(src.len(), dst.len(), cols, crlf, self.stores)
        else {
            return 0;
        };
        // SAFETY: as in `groups`; `lines` whole lines fit `src` and `dst`.
        unsafe {
            let d = dst.as_uninit().as_mut_ptr().cast();
            encode_lines_body(self.alphabet, src, d, cols, crlf, lines, stores)
        }
    }

    /// The last partial line in vectors: whole groups a block at a time while more than 45
    /// bytes are left, then the rest with the padding and the line ending blended into its
    /// block, and one masked store for them all.
    #[inline(always)]
    fn last_line(&self, src: &[u8], mut dst: Out<'_>, pad: bool, crlf: bool) -> Option<usize> {
        let n = src.len();
        // One or two bytes: the driver's scalar tail is cheaper than loading the tables.
        if n < 3 {
            return None;
        }
        let total = encoded_len(n, pad) + 1 + crlf as usize;
        assert!(dst.len() >= total, "kernel output too short");
        // SAFETY: features as in `groups`; `src[..n]` readable and `dst[..total]` writable
        // (checked above).
        unsafe {
            let consts = enc_consts(self.alphabet);
            let d = dst.as_uninit().as_mut_ptr().cast::<u8>();
            last_line_body(consts, src.as_ptr(), n, d, pad, crlf);
        }
        Some(total)
    }
}

/// The last, partial line of a wrapped encode: `n` (>= 1) bytes at `sp` into
/// `encoded_len(n, pad)` characters and a line ending at `dp`. Whole groups a block at a time
/// while more than 45 bytes are left, then the rest with the padding and the line ending
/// blended into its block, and one masked store for them all.
///
/// # Safety
/// AVX-512 F/BW/VBMI available (inlined into `target_feature` functions only); `sp[..n]`
/// readable, `dp[..encoded_len(n, pad) + eol]` writable.
#[inline(always)]
unsafe fn last_line_body(
    (lut, spread, shifts): (__m512i, __m512i, __m512i),
    sp: *const u8,
    n: usize,
    dp: *mut u8,
    pad: bool,
    crlf: bool,
) {
    let eol = 1 + crlf as usize;
    // SAFETY: reads stay in `sp[..n]` (masked loads of `take` and `rest` bytes from `i`);
    // writes in `dp[..encoded_len(n, pad) + eol]`: a block of `take / 3 * 4` characters at
    // `o`, then `end` bytes at `o`, and `o + end` is that length.
    unsafe {
        let (mut i, mut o) = (0, 0);
        while n - i > 45 {
            let take = (n - i).min(48) / 3 * 3;
            let v = enc_block(load_upto(sp.add(i), take), spread, shifts, lut);
            store_n(dp.add(o), v, take / 3 * 4, false);
            i += take;
            o += take / 3 * 4;
        }
        let rest = n - i;
        let (chars, len) = (encoded_len(rest, false), encoded_len(rest, pad));
        let end = len + eol;
        let v = enc_block(load_upto(sp.add(i), rest), spread, shifts, lut);
        // '=' from `chars` on, then the line ending at `len` (a CR before the LF).
        let mut tail = _mm512_set1_epi8(b'=' as i8);
        if crlf {
            tail = _mm512_mask_set1_epi8(tail, 1 << len, b'\r' as i8);
        }
        tail = _mm512_mask_set1_epi8(tail, 1 << (end - 1), b'\n' as i8);
        let v = _mm512_mask_blend_epi8(low_mask(chars), tail, v);
        store_n(dp.add(o), v, end, false);
        debug_assert_eq!(o + end, encoded_len(n, pad) + eol);
    }
}

/// One 76-column line: `sp[i..i + 57]` into two overlapping 64-character blocks at `d` (the
/// second 12 characters on) and the line ending at `d + 76`.
///
/// # Safety
/// AVX-512 F/BW/VBMI available (inlined into `target_feature` functions only);
/// `i + 57 <= n`, `sp[..n]` readable, `d[..76 + eol]` writable.
#[inline(always)]
unsafe fn line_76(
    (lut, spread, shifts): (__m512i, __m512i, __m512i),
    sp: *const u8,
    n: usize,
    i: usize,
    d: *mut u8,
    crlf: bool,
) {
    // SAFETY: 64-byte loads only where they end inside `sp[..n]`, else masked loads of the 48
    // bytes each block needs (`i + 9 + 48 == i + 57 <= n`); stores in `d[..76 + eol]`.
    unsafe {
        let a0 = load_upto(sp.add(i), if i + 64 <= n { 64 } else { 48 });
        let a1 = load_upto(sp.add(i + 9), if i + 73 <= n { 64 } else { 48 });
        _mm512_storeu_si512(d.cast(), enc_block(a0, spread, shifts, lut));
        _mm512_storeu_si512(d.add(12).cast(), enc_block(a1, spread, shifts, lut));
        if crlf {
            d.add(76)
                .cast::<u16>()
                .write_unaligned(u16::from_le_bytes([b'\r', b'\n']));
        } else {
            *d.add(76) = b'\n';
        }
    }
}

/// A whole unwrapped encode: the driver's [`encode_with`] around this file's kernel, compiled
/// into one function.
///
/// # Safety
/// `is_available()` must be true.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn encode_all(
    (alphabet, pad, stores): (Alphabet, bool, Stores),
    src: &[u8],
    dst: Out<'_>,
) -> usize {
    if reads_masked(src.len()) {
        // SAFETY: the same features, by this function's caller.
        return unsafe { encode_all_masked((alphabet, pad, stores), src, dst) };
    }
    encode_with(
        &Kernels::<false> { alphabet, stores },
        alphabet,
        pad,
        src,
        dst,
    )
}

/// [`encode_all`] for inputs of [`MASKED_LOADS_MIN`] bytes and more: the main loop reads its
/// blocks with masked loads (see "Masked block loads"). Out of line, so that neither the small
/// calls nor the wrapped encoders, which share the kernels, carry this copy.
///
/// # Safety
/// `is_available()` must be true.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline(never)]
unsafe fn encode_all_masked(
    (alphabet, pad, stores): (Alphabet, bool, Stores),
    src: &[u8],
    dst: Out<'_>,
) -> usize {
    encode_with(
        &Kernels::<true> { alphabet, stores },
        alphabet,
        pad,
        src,
        dst,
    )
}

/// # Safety
/// AVX-512 F/BW/VBMI available; `dst` has room for `src.len() / 3 * 4` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn encode_impl(alphabet: Alphabet, src: &[u8], dst: *mut u8, stream: bool) -> usize {
    if reads_masked(src.len()) {
        // SAFETY: as for this function.
        return unsafe { encode_impl_masked(alphabet, src, dst, stream) };
    }
    // SAFETY: as for this function.
    unsafe { encode_body::<false>(alphabet, src, dst, stream, None).0 }
}

/// [`encode_impl`] for the inputs [`reads_masked`] picks, out of line as [`encode_all_masked`].
///
/// # Safety
/// As for [`encode_impl`].
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline(never)]
unsafe fn encode_impl_masked(alphabet: Alphabet, src: &[u8], dst: *mut u8, stream: bool) -> usize {
    // SAFETY: as for this function.
    unsafe { encode_body::<true>(alphabet, src, dst, stream, None).0 }
}

/// [`encode_impl`]'s body, for inlining into other `target_feature` functions. Returns the
/// bytes read and written: with `tail` `None` whole groups only, as [`encode_impl`]; with
/// `Some(pad)` all of `src`, the last group padded where `pad`. The main loop reads its
/// blocks with masked loads when `MASKED` (see "Masked block loads" below; only the plain
/// encodes of [`MASKED_LOADS_MIN`] bytes and more take that copy).
///
/// # Safety
/// As for [`encode_impl`]; with `tail` `Some`, `dst` must have room for the whole encoding
/// (padded where `Some(true)`).
#[inline(always)]
unsafe fn encode_body<const MASKED: bool>(
    alphabet: Alphabet,
    src: &[u8],
    dst: *mut u8,
    stream: bool,
    tail: Option<bool>,
) -> (usize, usize) {
    // SAFETY: AVX-512F by the caller (this body is inlined into `target_feature` functions
    // only).
    let (lut, spread, shifts) = unsafe { enc_consts(alphabet) };
    let n = src.len();
    let sp = src.as_ptr();
    let mut i = 0usize;
    let mut o = 0usize;
    // SAFETY: every full load reads sp[i..i + 64] with i + 64 <= n (checked by the loop
    // conditions); every full store writes dst[o..o + 64] for 48 consumed bytes, and
    // o + 64 == (i + 48) / 3 * 4 <= n / 3 * 4 <= the caller's output size.
    unsafe {
        if stream {
            // Large output: aligned streaming stores (see "Non-temporal output"); the writer
            // writes exactly dst[..o], the rest below goes through ordinary stores.
            let mut wr = LineWriter::<true>::new(dst);
            while i + 2 * 48 + 16 <= n {
                let a = _mm512_loadu_si512(sp.add(i).cast());
                let b = _mm512_loadu_si512(sp.add(i + 48).cast());
                wr.push(enc_block(a, spread, shifts, lut), 0, 64);
                wr.push(enc_block(b, spread, shifts, lut), 0, 64);
                i += 96;
                o += 128;
            }
            wr.finish();
        }
        // Align the stores (see "Aligned output" above): one masked block whose output ends
        // at the next 64-byte boundary. It reads `head <= 45 < n` bytes and writes
        // `head / 3 * 4 <= n / 3 * 4` (masked load and store).
        // (The streaming path above aligns its own stores and has consumed the input.)
        let head = if i == 0 {
            align_head(dst as usize, n)
        } else {
            0
        };
        if head != 0 {
            let v = load_upto(sp, head);
            store_n(dst, enc_block(v, spread, shifts, lut), head / 3 * 4, false);
            i = head;
            o = head / 3 * 4;
        }
        // Four blocks a turn, each read with a masked load when `MASKED` (see "Masked block
        // loads" below).
        let load = |p: *const u8| {
            if MASKED {
                _mm512_maskz_loadu_epi8(low_mask(48), p.cast())
            } else {
                _mm512_loadu_si512(p.cast())
            }
        };
        while i + 4 * 48 + 16 <= n {
            let a = load(sp.add(i));
            let b = load(sp.add(i + 48));
            let c = load(sp.add(i + 96));
            let d = load(sp.add(i + 144));
            _mm512_storeu_si512(dst.add(o).cast(), enc_block(a, spread, shifts, lut));
            _mm512_storeu_si512(dst.add(o + 64).cast(), enc_block(b, spread, shifts, lut));
            _mm512_storeu_si512(dst.add(o + 128).cast(), enc_block(c, spread, shifts, lut));
            _mm512_storeu_si512(dst.add(o + 192).cast(), enc_block(d, spread, shifts, lut));
            i += 192;
            o += 256;
        }
        // The rest, fewer than 208 bytes: whole blocks with plain loads while 64 bytes are
        // there, one whole block from a masked load of 48, then the last groups masked.
        while n - i >= 64 {
            let v = _mm512_loadu_si512(sp.add(i).cast());
            _mm512_storeu_si512(dst.add(o).cast(), enc_block(v, spread, shifts, lut));
            i += 48;
            o += 64;
        }
        if n - i >= 48 {
            let v = load_upto(sp.add(i), 48);
            _mm512_storeu_si512(dst.add(o).cast(), enc_block(v, spread, shifts, lut));
            i += 48;
            o += 64;
        }
        // Fewer than 48 bytes are left: their whole groups in one masked block, or with `tail`
        // all of them, the last group's padding blended in (`Some(pad)`).
        let rest = n - i;
        let take = if tail.is_some() { rest } else { rest / 3 * 3 };
        if take > 0 {
            let v = enc_block(load_upto(sp.add(i), take), spread, shifts, lut);
            let chars = encoded_len(take, false);
            let len = encoded_len(take, tail == Some(true));
            let v = match tail {
                Some(_) => _mm512_mask_blend_epi8(low_mask(chars), _mm512_set1_epi8(b'=' as i8), v),
                None => v,
            };
            store_n(dst.add(o), v, len, false);
            i += take;
            o += len;
        }
    }
    (i, o)
}

// Essay: masked block loads.
//
// A block needs 48 input bytes. The main loop used to read each with a plain 64-byte load
// (`vmovdqu64`, or folded into the first `vpermb`); simdutf reads the same 48 bytes with a
// masked load (`vmovdqu8 {k}{z}`). Measured on Zen 5 (AMD EPYC, cpu family 26, model 2),
// input 16 and output 528 bytes past a 64-byte boundary, one buffer pair reused, median
// ns a call of 15 rounds interleaved between the loops (a throwaway copy of this loop beside
// simdutf), two processes each:
//
// | input | plain loads | masked, 48 lanes | masked, all 64 lanes | simdutf |
// |---|---|---|---|---|
// | 16 KiB | 152.5 | 156.7 | | 202.1 |
// | 256 KiB | 2885 | 2918 | | 3167 |
// | 512 KiB | 9289 | 8744 | | 8961 |
// | 768 KiB | 17540 / 17420 | 15809 / 15573 | | 16021 / 15712 |
// | 1 MiB | 23960 / 24922 | 21837 / 22904 | 21941 / 22816 | 21918 / 22862 |
// | 2 MiB | 52759 / 53763 | 47040 / 49251 | 45932 / 49132 | 45477 / 49644 |
//
// Once the input and output outgrow Zen 5's 1 MiB L2, the masked form is 7-13% faster, and
// not because it reads 16 bytes fewer: with all 64 lanes enabled it is as fast. Plain loads
// issued unfolded (three aligned loads a turn, the blocks put together with `vpermi2b`) were as
// slow as the folded ones, so it is the form of the load, not the folding; why, the public
// documents do not say. Within the L1 and L2 the plain loop is 1-3% faster, so the masked one
// runs from 512 KiB of input. The committed runs of Zen 4 and the Xeon guest had simdutf's
// masked loop within 1-8% of ours at 1 MiB either way (docs/bench); the switch is not
// measured there. The streaming loop (outputs past `nt_threshold`) keeps plain loads.
//
// The masked loop is a copy of the whole driver of its own ([`encode_all_masked`]), chosen at
// [`encode_all`]'s entry. With the choice inside the kernels, which the wrapped encoders share
// (0f25249), `mimeflow bench` read LF lines of 1 KiB at 40-42 ns a call against 29-31.

/// Input size (bytes) from which the plain encode reads its blocks with masked loads (see the
/// essay above).
const MASKED_LOADS_MIN: usize = 512 * 1024;

/// Whether a plain encode of `n` input bytes takes the masked copy of the driver: from
/// [`MASKED_LOADS_MIN`] bytes. The one statement of the rule, for both entries
/// ([`encode_all`], [`encode_impl`]). An output that streams takes the copy too, whose streaming
/// loop keeps plain loads ([`encode_body`]): the choice is the size alone, so that the entry of
/// every small call tests one number. With the streaming test in it as well (f6c6ac6), the
/// entry's prologue saved six registers rather than three (the threshold's first-call
/// computation is a call), and `mimeflow bench --op encode` read 256 bytes 0.5-1 ns a call
/// slower on Zen 5.
#[inline(always)]
fn reads_masked(n: usize) -> bool {
    n >= MASKED_LOADS_MIN
}

// ---------------------------------------------------------------------------------------------
// Fused line-wrapped encode
// ---------------------------------------------------------------------------------------------

// Essay: wrapped (MIME) encode in one pass.
//
// A line of `cols` characters consumes `cols / 4 * 3` input bytes. Rather than encoding into a
// temporary and inserting line breaks, every line is encoded straight into its place: whole
// 48-byte chunks become 64-character stores, and a remainder (when `cols` is not a multiple of
// 64) is covered by one more 48 -> 64 encode of the line's *last* 48 bytes, stored so that it
// ends exactly at the end of the line. The overlap rewrites characters that were already
// written with identical values, which costs one extra shuffle chain but no branches or masks;
// for the MIME width of 76 this is two encodes per line: bytes [0, 48) -> chars [0, 64) and
// bytes [9, 57) -> chars [12, 76) (used for the last line or two; the bulk of 76-column text
// goes through the five-blocks-per-four-lines scheme below). The end of line is then written
// with a 2- or 1-byte store.
// Lines narrower than 64 characters use one masked load and one masked store per line.
// Loads read 64 bytes when that stays inside `src`, else they are masked to 48.

// Essay: the MIME width (76 columns) with five vectors per four lines.
//
// For 76 columns the per-line scheme above spends two encode chains (and a scalar EOL store) on
// 76 characters. Four output lines are 312 bytes with CRLF (308 with LF), which five 64-byte
// blocks cover: output bytes [0, 64), [64, 128), [128, 192), [192, 256) and
// [4 * line_out - 64, 4 * line_out), the last overlapping the fourth. Because the group of
// lines repeats exactly, every block has a *constant* layout, computed by a const fn and kept in
// registers:
//
// * `in_off`: where the block's input window starts (one block's characters need at most
//   48 + 2 contiguous input bytes, so one 64-byte load covers them);
// * `gather`: `vpermb` indices that place, for each output qword (8 lanes), the input bytes its
//   characters need. A character is a 6-bit field of a big-endian 24-bit quantum, so the bytes
//   of each quantum are laid out in reverse order (b2 b1 b0), which keeps every character's
//   bits contiguous; only the bytes a qword needs from its first and last quantum are taken, so
//   8 characters from up to 3 quanta always fit in 7 bytes (asserted at compile time);
// * `shift`: the `vpmultishiftqb` bit offset of every character inside its qword;
// * `chars`: the lanes that hold characters; the other lanes hold EOL bytes, merged in from a
//   constant vector by the masked alphabet `vpermb` (with CRLF every CR sits at an even output
//   position, 76 + 78k, so that vector alternates CR, LF; with LF it is all LF).
//
// Each block costs one load, `vpermb`, `vpmultishiftqb`, a masked `vpermb` and one store: five
// encode chains per 228 input bytes, and no scalar EOL stores. The group size is the one that
// wastes least: a group of g lines needs ceil(g * line_out / 64) blocks, 1.25 per line for
// g = 4 against 1.5 for pairs and 1.23 at best (g = 13, sixteen blocks; more constant
// registers than the gain is worth). The first version took pairs of lines (three blocks per
// two). On an Intel Xeon guest with AMX (Sapphire Rapids class; /proc/cpuinfo: family 6, model
// 167) four-line groups took LF lines (`mimeflow bench --op mime-encode-lf`, two runs each) at
// 4 KiB from 107-114 to 99 ns, 16 KiB 343-362 -> 297-308, 64 KiB 2.83-2.99 -> 2.46 us, 256 KiB
// 11.4-12.3 -> 9.0-9.8, 1 MiB 73-76 -> 59-64 (simdutf's wrapped encode: 2.5-2.8, 10.0-10.7
// and 53-58): past the 48 KiB L1, where each block's unaligned load and store touch two cache
// lines, one block in six fewer shows in full. (A variant with one table entry per block of
// the full lcm(78, 64)-byte period, 39 blocks, was measured on Zen 4 too: its two extra table
// loads per block made it no faster at 64 KiB and slower at 16 MiB.)

/// Constant layout of one 64-byte output block of the wrapped encode.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct LineBlock {
    gather: [u8; 64],
    shift: [u8; 64],
    /// Lanes holding characters (the others hold EOL bytes).
    chars: u64,
    in_off: usize,
}

/// Layout of the block of output bytes [out_start, out_start + 64) of wrapped text with `cols`
/// characters and `eol` EOL bytes per line. Panics (at compile time) if a qword would need
/// more than 8 bytes or the input window exceeds 64 bytes.
const fn line_block(cols: usize, eol: usize, out_start: usize) -> LineBlock {
    let line_out = cols + eol;
    let bpl = cols / 4 * 3;
    let mut blk = LineBlock {
        gather: [0; 64],
        shift: [0; 64],
        chars: !0,
        in_off: 0,
    };
    // Input offset of the quantum of output lane j (usize::MAX for an EOL lane) and the index
    // of the lane's character inside that quantum.
    let mut qin = [usize::MAX; 64];
    let mut kk = [0usize; 64];
    let mut in_start = usize::MAX;
    let mut j = 0;
    while j < 64 {
        let g = out_start + j;
        let col = g % line_out;
        if col < cols {
            qin[j] = g / line_out * bpl + col / 4 * 3;
            kk[j] = col % 4;
            if qin[j] < in_start {
                in_start = qin[j];
            }
        } else {
            blk.chars &= !(1u64 << j);
        }
        j += 1;
    }
    blk.in_off = in_start;
    let mut w = 0;
    while w < 8 {
        let mut p = 0usize; // next free byte of the qword
        let mut j = 8 * w;
        while j < 8 * w + 8 {
            if qin[j] == usize::MAX {
                j += 1;
                continue;
            }
            // Run of lanes [j, e) from the same quantum.
            let mut e = j + 1;
            while e < 8 * w + 8 && qin[e] == qin[j] {
                e += 1;
            }
            let ka = kk[j];
            let kb = kk[e - 1];
            // Bytes lb..=hb of v = b0 << 16 | b1 << 8 | b2 hold chars ka..=kb.
            let lb = (18 - 6 * kb) / 8;
            let hb = (23 - 6 * ka) / 8;
            let mut x = lb;
            while x <= hb {
                assert!(p + x - lb < 8);
                let src = qin[j] + (2 - x) - in_start;
                assert!(src < 64);
                blk.gather[8 * w + p + x - lb] = src as u8;
                x += 1;
            }
            let mut l = j;
            while l < e {
                blk.shift[l] = (8 * p + 18 - 6 * kk[l] - 8 * lb) as u8;
                l += 1;
            }
            p += hb - lb + 1;
            j = e;
        }
        w += 1;
    }
    blk
}

/// The five blocks covering four output lines of width 76 with `eol` EOL bytes.
const fn four_lines_76(eol: usize) -> [LineBlock; 5] {
    let line_out = 76 + eol;
    [
        line_block(76, eol, 0),
        line_block(76, eol, 64),
        line_block(76, eol, 128),
        line_block(76, eol, 192),
        line_block(76, eol, 4 * line_out - 64),
    ]
}

static QUAD_76_CRLF: [LineBlock; 5] = four_lines_76(2);
static QUAD_76_LF: [LineBlock; 5] = four_lines_76(1);

/// Input bytes of four 76-column lines.
const QUAD_IN: usize = 4 * 57;

/// Encodes `quads` groups of four 76-column lines with the constant blocks `blocks`: through
/// non-temporal stores of aligned lines for `Streaming`, ordinary stores of aligned lines for
/// `Aligned`, else one unaligned store per block.
///
/// # Safety
/// AVX-512 F/BW/VBMI available; `src[..quads * QUAD_IN + 16]` readable and
/// `dst[..quads * 4 * line_out]` writable.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn encode_quads_76(
    blocks: &[LineBlock; 5],
    line_out: usize,
    src: *const u8,
    dst: *mut u8,
    quads: usize,
    lut: __m512i,
    eolv: __m512i,
    stores: Stores,
) {
    // SAFETY: the ranges are guaranteed by the caller; every block's load window ends at most
    // 16 bytes past its group's input (in_off + 64 <= QUAD_IN + 16, asserted below) and its
    // store inside the group's output.
    unsafe {
        // (Macros, not closures, where intrinsics are called: they must be inlined into the
        // caller's `target_feature` function.)
        macro_rules! load5 {
            ($field:ident) => {
                [
                    _mm512_load_si512(blocks[0].$field.as_ptr().cast()),
                    _mm512_load_si512(blocks[1].$field.as_ptr().cast()),
                    _mm512_load_si512(blocks[2].$field.as_ptr().cast()),
                    _mm512_load_si512(blocks[3].$field.as_ptr().cast()),
                    _mm512_load_si512(blocks[4].$field.as_ptr().cast()),
                ]
            };
        }
        let gather = load5!(gather);
        let shift = load5!(shift);
        // (Not `[0, 1, 2, 3, 4].map(..)`: its closure is not always inlined.)
        let chars = [
            blocks[0].chars,
            blocks[1].chars,
            blocks[2].chars,
            blocks[3].chars,
            blocks[4].chars,
        ];
        let in_off = [
            blocks[0].in_off,
            blocks[1].in_off,
            blocks[2].in_off,
            blocks[3].in_off,
            blocks[4].in_off,
        ];
        // Block k of the group at `s`, encoded, EOL lanes merged in.
        macro_rules! block {
            ($s:expr, $k:expr) => {{
                let k = $k;
                let v = _mm512_loadu_si512($s.add(in_off[k]).cast());
                let v = _mm512_permutexvar_epi8(gather[k], v);
                let v = _mm512_multishift_epi64_epi8(shift[k], v);
                _mm512_mask_permutexvar_epi8(eolv, chars[k], v, lut)
            }};
        }
        let last = 4 * line_out - 64;
        let mut s = src;
        // Through a line writer: the last block overlaps the fourth; only its bytes
        // [256, 4 * line_out) of the group are new.
        macro_rules! through {
            ($wr:expr) => {{
                let mut wr = $wr;
                let (tail_off, tail_len) = (256 - last, 4 * line_out - 256);
                for _ in 0..quads {
                    for k in 0..4 {
                        wr.push(block!(s, k), 0, 64);
                    }
                    wr.push(block!(s, 4), tail_off, tail_len);
                    s = s.add(QUAD_IN);
                }
                wr.finish();
                return;
            }};
        }
        match stores {
            Stores::Streaming => through!(LineWriter::<true>::new(dst)),
            Stores::Aligned => through!(LineWriter::<false>::new(dst)),
            Stores::Auto => {}
        }
        let mut d = dst;
        for _ in 0..quads {
            for k in 0..4 {
                _mm512_storeu_si512(d.add(64 * k).cast(), block!(s, k));
            }
            _mm512_storeu_si512(d.add(last).cast(), block!(s, 4));
            s = s.add(QUAD_IN);
            d = d.add(4 * line_out);
        }
    }
}

const _: () = {
    let mut k = 0;
    while k < 5 {
        assert!(QUAD_76_CRLF[k].in_off + 64 <= QUAD_IN + 16);
        assert!(QUAD_76_LF[k].in_off + 64 <= QUAD_IN + 16);
        k += 1;
    }
};

/// Fused line-wrapped encode: whole lines of `cols` characters, each followed by CRLF
/// (`crlf`) or LF. Returns the bytes read, a multiple of `cols / 4 * 3`; writes
/// `read / (cols / 4 * 3) * (cols + eol_len)` bytes to `dst`.
///
/// `stores`: as for [`encode`]; `Aligned` (or `Auto` from [`aligned_threshold`] bytes of output)
/// writes the 76-column groups through aligned 64-byte lines (see the essay on four-line groups).
///
/// # Safety
/// `is_available()` must be true; `cols % 4 == 0`, `4 <= cols <= 1024`; `dst` has room for all
/// whole lines of `src`.
#[inline]
pub(crate) unsafe fn encode_lines(
    alphabet: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
    stores: Stores,
) -> usize {
    let Some((lines, stores)) = lines_plan(src.len(), dst.len(), cols, crlf, stores) else {
        return 0;
    };
    // SAFETY: CPU features by the caller; `lines` whole lines fit both `src` and `dst`.
    unsafe {
        encode_lines_impl(
            alphabet,
            src,
            dst.as_mut_ptr().cast(),
            cols,
            crlf,
            lines,
            stores,
        )
    }
}

/// [`encode_lines`]' arguments resolved: the whole lines that fit both `src_len` input bytes
/// and `dst_len` output bytes, and the way the 76-column groups store (`Auto` resolved, so
/// that it then means unaligned blocks); `None` for no line or an unsupported width.
#[inline(always)]
fn lines_plan(
    src_len: usize,
    dst_len: usize,
    cols: usize,
    crlf: bool,
    stores: Stores,
) -> Option<(usize, Stores)> {
    if cols < 4 || !cols.is_multiple_of(4) || cols > 1024 {
        return None;
    }
    let bpl = cols / 4 * 3;
    let line_out = cols + if crlf { 2 } else { 1 };
    // The drivers pass room for every whole line, so the output bound is checked with a
    // multiplication and divided out only when it binds: with `line_out` known only at run time
    // (CRLF or LF) the division was a 32-bit `div` on the way into every wrapped encode.
    let mut lines = src_len / bpl;
    if lines.saturating_mul(line_out) > dst_len {
        lines = dst_len / line_out;
    }
    if lines == 0 {
        return None;
    }
    let out = lines * line_out;
    let stores = match stores {
        Stores::Auto if streams(out) => Stores::Streaming,
        Stores::Auto if out >= ALIGNED_INTEL && out >= aligned_threshold() => Stores::Aligned,
        stores => stores,
    };
    Some((lines, stores))
}

/// A whole wrapped encode for a width that is a multiple of 4: the driver's
/// [`encode_whole_lines_with`] around this file's kernels, compiled into one function (the
/// MIME width as a constant).
///
/// # Safety
/// `is_available()` must be true.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn encode_wrapped(
    (alphabet, pad, stores, line_ending): (Alphabet, bool, Stores, LineEnding),
    src: &[u8],
    cols: usize,
    dst: Out<'_>,
) -> usize {
    let k = Kernels::<false> { alphabet, stores };
    match cols {
        76 => encode_whole_lines_with(&k, alphabet, pad, src, 76, line_ending, dst),
        _ => encode_whole_lines_with(&k, alphabet, pad, src, cols, line_ending, dst),
    }
}

/// The plan of a whole wrapped encode of `n` bytes at the MIME width into `room` bytes: its
/// length (the one rule, checked against `room` with the message of
/// [`crate::base64::Base64::encode_wrapped`]), whether lines end in CRLF, the whole lines and
/// the bytes each takes.
#[inline(always)]
fn whole_76_plan(
    n: usize,
    pad: bool,
    line_ending: LineEnding,
    room: usize,
) -> (usize, bool, usize, usize) {
    let total = encoded_len_wrapped(n, pad, Wrap::new(76, line_ending));
    crate::base64::check_room(room, total);
    let crlf = line_ending == LineEnding::Crlf;
    (total, crlf, n / 57, 77 + crlf as usize)
}

/// Inputs shorter than this many bytes (eight 76-column lines) take [`encode_wrapped_small_76`]:
/// from eight lines on, [`encode_lines_body`] takes groups of four (see the essay above).
pub(crate) const SMALL_76: usize = 8 * 57;

/// A whole wrapped encode at the MIME width of fewer than [`SMALL_76`] input bytes: each whole
/// line as two overlapping blocks ([`line_76`]), then the last, partial one
/// ([`last_line_body`]). For these sizes the call is mostly fixed cost, and the general wrapped
/// encode ([`encode_wrapped`]: the plan, four-line groups, the scalar and unwrapped fallbacks)
/// paid about 4 ns of it on Zen 4 (mime-encode-lf 256 B 22.3 -> 18.0-18.4 ns, 57 B 15.8 -> 10.7
/// ns, `mimeflow bench`, two alternating runs). Checks the room itself, before writing
/// ([`whole_76_plan`]). Returns the bytes written.
///
/// # Safety
/// `is_available()` must be true.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn encode_wrapped_small_76(
    (alphabet, pad, line_ending): (Alphabet, bool, LineEnding),
    src: &[u8],
    mut dst: Out<'_>,
) -> usize {
    let n = src.len();
    let (total, crlf, lines, line_out) = whole_76_plan(n, pad, line_ending, dst.len());
    // SAFETY: features by the caller; `total` bytes of room (checked above) hold `lines` whole
    // lines of `line_out` bytes and the last line after them.
    unsafe {
        let consts = enc_consts(alphabet);
        let (sp, dp) = (src.as_ptr(), dst.as_uninit().as_mut_ptr().cast::<u8>());
        for l in 0..lines {
            line_76(consts, sp, n, l * 57, dp.add(l * line_out), crlf);
        }
        if n > lines * 57 {
            let i = lines * 57;
            last_line_body(
                consts,
                sp.add(i),
                n - i,
                dp.add(lines * line_out),
                pad,
                crlf,
            );
        }
    }
    total
}

/// Inputs shorter than this many bytes, from [`SMALL_76`] on, take [`encode_wrapped_medium_76`]
/// where the engine's stores are `Auto`: up to 88 KiB of output, far below the sizes from
/// which `Auto` means aligned or streaming stores ([`ALIGNED_INTEL`], [`NT_MIN`]).
pub(crate) const MEDIUM_76: usize = 64 * 1024;

/// [`encode_wrapped_small_76`] for [`SMALL_76`] to [`MEDIUM_76`] input bytes: the whole lines
/// in [`encode_lines_body`]'s four-line groups (ordinary unaligned stores), then the last line.
/// Without the general wrapped encode's plan and fallbacks, mime-encode-lf 1 KiB took 37.6-38.4
/// ns a call instead of 42.4-42.5 on Zen 4 (`mimeflow bench`, two alternating runs).
///
/// # Safety
/// `is_available()` must be true.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn encode_wrapped_medium_76(
    (alphabet, pad, line_ending): (Alphabet, bool, LineEnding),
    src: &[u8],
    mut dst: Out<'_>,
) -> usize {
    let n = src.len();
    let (total, crlf, lines, line_out) = whole_76_plan(n, pad, line_ending, dst.len());
    // SAFETY: features by the caller; `total` bytes of room (checked above) hold `lines` whole
    // lines of `line_out` bytes and the last line after them.
    unsafe {
        let dp = dst.as_uninit().as_mut_ptr().cast::<u8>();
        let i = encode_lines_body(alphabet, src, dp, 76, crlf, lines, Stores::Auto);
        debug_assert_eq!(i, lines * 57);
        if n > i {
            let consts = enc_consts(alphabet);
            last_line_body(
                consts,
                src.as_ptr().add(i),
                n - i,
                dp.add(lines * line_out),
                pad,
                crlf,
            );
        }
    }
    total
}

/// # Safety
/// AVX-512 F/BW/VBMI available; `src` holds `lines` whole input lines and `dst` has room for
/// `lines` whole output lines.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn encode_lines_impl(
    alphabet: Alphabet,
    src: &[u8],
    dst: *mut u8,
    cols: usize,
    crlf: bool,
    lines: usize,
    stores: Stores,
) -> usize {
    // SAFETY: as for this function.
    unsafe { encode_lines_body(alphabet, src, dst, cols, crlf, lines, stores) }
}

/// [`encode_lines_impl`]'s body, for inlining into other `target_feature` functions.
///
/// # Safety
/// As for [`encode_lines_impl`].
#[inline(always)]
unsafe fn encode_lines_body(
    alphabet: Alphabet,
    src: &[u8],
    dst: *mut u8,
    cols: usize,
    crlf: bool,
    lines: usize,
    stores: Stores,
) -> usize {
    // SAFETY: AVX-512F by the caller (this body is inlined into `target_feature` functions
    // only).
    let (lut, spread, shifts) = unsafe { enc_consts(alphabet) };
    let n = src.len();
    let sp = src.as_ptr();
    let bpl = cols / 4 * 3;
    let line_out = cols + if crlf { 2 } else { 1 };
    let eol16 = u16::from_le_bytes([b'\r', b'\n']);
    let mut i = 0usize;
    let mut o = 0usize;
    // SAFETY (whole block): input reads stay in sp[i..i + bpl] (64-byte loads only where
    // i + off + 64 <= n), output writes stay in dst[o..o + line_out] for line index < lines.
    unsafe {
        if cols == 76 {
            // Groups of four lines with the constant five-block layout (see the essay above),
            // from two groups: one does not pay for loading the ten constant vectors. Xeon
            // family 6 model 167, `call_cost mime-encode-lf`, ns: with one group taken per line
            // 240 B 24.1 -> 22.5, 256 B 21.9 -> 20.4-21.2, 400 B 26.5-27.5 -> 25.5; with two
            // and three groups per line too, 500 B 25.7 -> 28.9 and 700 B 29.7 -> 35.5.
            let quads = (lines / 4).min(n.saturating_sub(16) / QUAD_IN);
            let quads = if quads > 1 { quads } else { 0 };
            if quads > 0 {
                let eolv = if crlf {
                    _mm512_set1_epi16(i16::from_le_bytes([b'\r', b'\n']))
                } else {
                    _mm512_set1_epi8(b'\n' as i8)
                };
                let blocks = if crlf { &QUAD_76_CRLF } else { &QUAD_76_LF };
                encode_quads_76(blocks, line_out, sp, dst, quads, lut, eolv, stores);
            }
            let mut l = 4 * quads;
            i = l * 57;
            o = l * line_out;
            // Remaining lines (at most seven, or near the end of `src`): per-line overlapped
            // encodes.
            while l + 2 <= lines && i + 2 * 57 + 16 <= n {
                let a0 = _mm512_loadu_si512(sp.add(i).cast());
                let a1 = _mm512_loadu_si512(sp.add(i + 9).cast());
                let b0 = _mm512_loadu_si512(sp.add(i + 57).cast());
                let b1 = _mm512_loadu_si512(sp.add(i + 66).cast());
                let d = dst.add(o);
                _mm512_storeu_si512(d.cast(), enc_block(a0, spread, shifts, lut));
                _mm512_storeu_si512(d.add(12).cast(), enc_block(a1, spread, shifts, lut));
                let d2 = d.add(line_out);
                _mm512_storeu_si512(d2.cast(), enc_block(b0, spread, shifts, lut));
                _mm512_storeu_si512(d2.add(12).cast(), enc_block(b1, spread, shifts, lut));
                if crlf {
                    d.add(76).cast::<u16>().write_unaligned(eol16);
                    d2.add(76).cast::<u16>().write_unaligned(eol16);
                } else {
                    *d.add(76) = b'\n';
                    *d2.add(76) = b'\n';
                }
                i += 114;
                o += 2 * line_out;
                l += 2;
            }
            while l < lines {
                line_76((lut, spread, shifts), sp, n, i, dst.add(o), crlf);
                i += 57;
                o += line_out;
                l += 1;
            }
            return i;
        }
        for _ in 0..lines {
            let s = sp.add(i);
            let d = dst.add(o);
            if cols >= 64 {
                let mut c = 0;
                while c + 48 <= bpl {
                    let v = load_upto(s.add(c), if i + c + 64 <= n { 64 } else { 48 });
                    _mm512_storeu_si512(d.add(c / 3 * 4).cast(), enc_block(v, spread, shifts, lut));
                    c += 48;
                }
                if c < bpl {
                    let c = bpl - 48;
                    let v = load_upto(s.add(c), if i + c + 64 <= n { 64 } else { 48 });
                    _mm512_storeu_si512(d.add(cols - 64).cast(), enc_block(v, spread, shifts, lut));
                }
            } else {
                let v = load_upto(s, bpl);
                store_n(d, enc_block(v, spread, shifts, lut), cols, false);
            }
            if crlf {
                d.add(cols).cast::<u16>().write_unaligned(eol16);
            } else {
                *d.add(cols) = b'\n';
            }
            i += bpl;
            o += line_out;
        }
    }
    i
}

// ---------------------------------------------------------------------------------------------
// Decode
// ---------------------------------------------------------------------------------------------

// Essay: decode with validation, and skipping without a scalar loop.
//
// Every 64-character block is translated with one `vpermi2b` over a 128-entry table indexed by
// the low 7 bits of each character. The table yields the 6-bit value for alphabet characters,
// 0x40 for bytes that may be skipped (whitespace in MIME mode) and 0x80 for bytes that stop the
// kernel. Characters with the top bit set alias into the table, so their own top bit is ORed
// in: `movepi8_mask(t | c)` is then the set of stopping lanes. In lenient mode
// (Skip::NonAlphabet) only '=' stops and every lane whose translation or source byte has one of
// the top two bits set is skippable.
//
// A clean block is packed (`vpmaddubsw`, `vpmaddwd`, `vpermb`) and stored as 48 bytes (64-byte
// stores while the output has 16 bytes of slack, masked stores at the end). A block that has a
// stopping byte is decoded up to the last whole quantum before it, then the kernel returns.
//
// A block with skippable bytes is compacted with `vpcompressb` of the *translated* values into
// a register (never to memory: the memory form is microcoded and very slow on Zen 4). The
// compacted values are appended to a staging register `acc` that holds `s < 64` pending values
// in its lanes [e - s, e): one `vpermi2b` over (acc, compacted) with the index
// `iota + (e - s)` (plus `64 - e` in lanes >= s) yields the pending values followed by the new
// ones. When that reaches 64 values it is decoded and stored, and the compacted vector itself
// becomes the new staging register (its leftover values are exactly its lanes [64 - s, cnt)),
// so no extra shift is needed. The loop advances its input position by the constant 64 on the
// continue path, keeping the mask/tzcnt latency off the chain of load addresses. At the end the
// staged whole quanta are decoded with a masked store, and `read` is rewound to the first
// still-pending character so that no partial quantum is ever reported as read.

/// General decode of the easy prefix of `src`. Returns `(read, written)`; see the contract in
/// the driver: `src[..read]` holds only alphabet or skippable bytes, a multiple of 4 alphabet
/// characters, whose decoded `written` bytes are in `dst[..written]`.
///
/// Without AVX-512 VBMI2 (`vbmi2` false) the skipping modes decode only up to the first block
/// that holds a skippable byte.
///
/// # Safety
/// `is_available()` must be true, `has_vbmi2()` too where `vbmi2` is, and
/// `dst.len() >= src.len() / 4 * 3`.
pub(crate) unsafe fn decode(
    alphabet: Alphabet,
    skip: Skip,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    vbmi2: bool,
) -> (usize, usize) {
    debug_assert!(dst.len() >= src.len() / 4 * 3);
    let std = alphabet == Alphabet::Standard;
    let dlen = dst.len();
    let dp: *mut u8 = dst.as_mut_ptr().cast();
    // SAFETY: CPU features (VBMI2 where `vbmi2`) and output size by the caller.
    unsafe {
        match skip {
            Skip::None => decode_plain(if std { &DEC_STD } else { &DEC_URL }, src, dp, dlen),
            _ if !vbmi2 => {
                // Without vpcompressb, decode the clean prefix: the plain kernel stops at the
                // first block holding a skippable byte (the table marks it as a stop).
                decode_plain(if std { &DEC_STD } else { &DEC_URL }, src, dp, dlen)
            }
            Skip::Whitespace => {
                decode_skip::<false>(if std { &DEC_STD_WS } else { &DEC_URL_WS }, src, dp, dlen)
            }
            Skip::NonAlphabet => {
                decode_skip::<true>(if std { &DEC_STD } else { &DEC_URL }, src, dp, dlen)
            }
        }
    }
}

/// Translates the characters of `v` through the 128-entry table `(lo, hi)`.
///
/// # Safety
/// AVX-512 VBMI must be available.
#[inline(always)]
unsafe fn translate(v: __m512i, lo: __m512i, hi: __m512i) -> __m512i {
    // SAFETY: pure register intrinsic; CPU features by the caller.
    unsafe { _mm512_permutex2var_epi8(lo, v, hi) }
}

/// Mask of lanes that are not alphabet characters for a table without skip markers.
///
/// # Safety
/// AVX-512BW must be available.
#[inline(always)]
unsafe fn bad_lanes(v: __m512i, t: __m512i) -> u64 {
    // SAFETY: pure register intrinsics; CPU features by the caller.
    unsafe { _mm512_movepi8_mask(_mm512_or_si512(v, t)) }
}

// Essay: masked block stores.
//
// A decoded block is 48 bytes, stored with a plain 64-byte store whose last 16 bytes the next
// block overwrites. simdutf stores the 48 bytes with a masked store. On Zen 5 (cpu family 26,
// model 2), measured as the loads of the encoder (essay "Masked block loads"; input 16 and
// output 528 bytes past a 64-byte boundary, median ns a call, two processes), by decoded size:
//
// | decoded | plain stores | masked stores | masked loads and stores | simdutf |
// |---|---|---|---|---|
// | 64 KiB | 907 / 896 | 1226 / 1228 | 913 / 908 | 1189 / 1169 |
// | 256 KiB | 3608 / 3850 | 5041 / 5103 | 3755 / 3944 | 4855 / 4979 |
// | 512 KiB | 13594 / 13183 | 13423 / 13136 | 14603 / 13349 | 16367 / 15582 |
// | 768 KiB | 17538 / 19334 | 17058 / 18201 | 19058 / 20434 | 17464 / 19131 |
// | 1 MiB | 24397 / 25307 | 23867 / 24388 | 26580 / 27452 | 24075 / 24246 |
// | 2 MiB | 48866 / 52780 | 42850 / 49465 | 51362 / 55279 | 42703 / 49081 |
// | 4 MiB | 118339 / 124982 | 106587 / 107624 | 119571 / 136546 | 106696 / 126702 |
//
// Inside the L2 the masked store costs a third more; past it, where the output is written
// back to the L3, it is 2-14% faster (masked loads, unlike the encoder's, gain nothing here).
// Further out it turns again. The same loops later (2026-12-07, six processes, each size in
// one to four of them, ns a call, plain / masked): 3 MiB 68319 / 64524, 81336 / 76665; 4 MiB
// 116144 / 112550, 85881 / 86107; 6 MiB 136494 / 143313, 187511 / 184255, 133912 / 137293,
// 134924 / 142742; 7 MiB 165054 / 183391; 8 MiB 209314 / 279528; 9 MiB 318628 / 393722,
// 273403 / 351413. Once the output heads for memory rather than the L3, the masked store is
// the slower one, by a quarter to a third at 8-9 MiB (a plain decode of 16 MiB read 29.0-29.6 GB/s in
// `mimeflow bench`, masked 17.9-19.1). So the masked stores run from 768 KiB of input
// (576 KiB decoded) to below 4 MiB (3 MiB decoded), where they won in every process.
//
// Measured on Zen 5 only. simdutf, whose decode stores its blocks this way, decoded 1 MiB
// from level with ours to 15% behind on Zen 4, and 5% ahead in two runs of three on the Xeon
// guest (family 6, model 167), in the committed runs (docs/bench): the form is no outlier
// there, but the switch itself is not measured on those CPUs.

/// Input sizes (bytes) at which the plain decode stores its blocks with masked stores: from
/// `MASKED_STORES_MIN` to below `MASKED_STORES_END` (see the essay above).
const MASKED_STORES_MIN: usize = 768 * 1024;
const MASKED_STORES_END: usize = 4 << 20;

/// Decodes whole turns of four blocks (256 characters) from the start of `sp[..n]` while the
/// output has 16 bytes of slack past a turn, storing each block with a masked 48-byte store
/// when `MASKED`, else a plain 64-byte one; stops before a turn that holds a byte outside the
/// alphabet. Returns `(read, written)`.
///
/// # Safety
/// AVX-512 F/BW/VBMI available (inlined into `target_feature` functions only); `sp[..n]`
/// readable; `dst` has room for `dlen` bytes.
#[inline(always)]
unsafe fn decode_quads<const MASKED: bool>(
    (lo, hi, pack): (__m512i, __m512i, __m512i),
    sp: *const u8,
    n: usize,
    dst: *mut u8,
    dlen: usize,
) -> (usize, usize) {
    let mut i = 0usize;
    let mut o = 0usize;
    // SAFETY: loads read sp[i..i + 256] with i + 256 <= n; stores write (at most)
    // dst[o..o + 208] with o + 208 <= dlen.
    unsafe {
        let store = |p: *mut u8, v: __m512i| {
            if MASKED {
                _mm512_mask_storeu_epi8(p.cast(), low_mask(48), v)
            } else {
                _mm512_storeu_si512(p.cast(), v)
            }
        };
        while i + 256 <= n && o + 192 + 16 <= dlen {
            let a = _mm512_loadu_si512(sp.add(i).cast());
            let b = _mm512_loadu_si512(sp.add(i + 64).cast());
            let c = _mm512_loadu_si512(sp.add(i + 128).cast());
            let d = _mm512_loadu_si512(sp.add(i + 192).cast());
            let ta = translate(a, lo, hi);
            let tb = translate(b, lo, hi);
            let tc = translate(c, lo, hi);
            let td = translate(d, lo, hi);
            let any = _mm512_ternarylogic_epi64::<0xFE>(
                _mm512_or_si512(a, b),
                _mm512_or_si512(c, d),
                _mm512_ternarylogic_epi64::<0xFE>(ta, tb, _mm512_or_si512(tc, td)),
            );
            if _mm512_movepi8_mask(any) != 0 {
                break;
            }
            store(dst.add(o), dec_pack(ta, pack));
            store(dst.add(o + 48), dec_pack(tb, pack));
            store(dst.add(o + 96), dec_pack(tc, pack));
            store(dst.add(o + 144), dec_pack(td, pack));
            i += 256;
            o += 192;
        }
    }
    (i, o)
}

/// Skip::None decode (also the no-VBMI2 fallback of the skipping modes).
///
/// # Safety
/// AVX-512 F/BW/VBMI available; `dst` has room for `dlen >= src.len() / 4 * 3` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn decode_plain(table: &[u8; 128], src: &[u8], dst: *mut u8, dlen: usize) -> (usize, usize) {
    let n = src.len();
    let sp = src.as_ptr();
    let (mut i, mut o);
    // SAFETY (whole block): loads read sp[i..i + 64] with i + 64 <= n or are masked to n - i;
    // full stores write dst[o..o + 64] only when o + 64 <= dlen, else exactly the decoded bytes,
    // and o + decoded <= (i + consumed) / 4 * 3 <= n / 4 * 3 <= dlen.
    unsafe {
        let lo = _mm512_loadu_si512(table.as_ptr().cast());
        let hi = _mm512_loadu_si512(table.as_ptr().add(64).cast());
        let pack = load_table(&DEC_PACK);
        // Four blocks a turn; inputs from `MASKED_STORES_MIN` to below `MASKED_STORES_END`
        // store each block's 48 bytes with a masked store (see "Masked block stores" above).
        (i, o) = if (MASKED_STORES_MIN..MASKED_STORES_END).contains(&n) {
            decode_quads::<true>((lo, hi, pack), sp, n, dst, dlen)
        } else {
            decode_quads::<false>((lo, hi, pack), sp, n, dst, dlen)
        };
        while i + 4 <= n {
            let v = load_upto(sp.add(i), n - i);
            let t = translate(v, lo, hi);
            let bad = bad_lanes(v, t);
            // Lanes past the end were zero-filled and translate to STOP_MARK, so `bad`
            // also marks the end of the input.
            let lim = if bad == 0 {
                64
            } else {
                bad.trailing_zeros() as usize
            };
            let q = lim / 4;
            if q == 0 {
                break;
            }
            store_n(
                dst.add(o),
                dec_pack(t, pack),
                q * 3,
                q == 16 && o + 64 <= dlen,
            );
            i += q * 4;
            o += q * 3;
            if lim < 64 {
                break;
            }
        }
    }
    (i, o)
}

/// Whitespace-skipping (`LENIENT == false`) or lenient (`LENIENT == true`) decode.
///
/// # Safety
/// AVX-512 F/BW/VBMI/VBMI2 available; `dst` has room for `dlen >= src.len() / 4 * 3` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,popcnt")]
unsafe fn decode_skip<const LENIENT: bool>(
    table: &[u8; 128],
    src: &[u8],
    dst: *mut u8,
    dlen: usize,
) -> (usize, usize) {
    let n = src.len();
    let sp = src.as_ptr();
    let mut i = 0usize;
    let mut o = 0usize;
    // `s` values are staged in `acc`, in lanes [e - s, e).
    let mut s = 0usize;
    let mut e = 0usize;
    // SAFETY (whole block): loads read sp[i..i + 64] with i + 64 <= n or are masked to n - i;
    // every decoded 64-value block consumed 64 alphabet characters of src[..i], so
    // o + 48 <= (alphabet chars in src[..n]) / 4 * 3 <= dlen; full stores are used only when
    // o + 64 <= dlen, otherwise masked stores write exactly the decoded bytes.
    unsafe {
        let lo = _mm512_loadu_si512(table.as_ptr().cast());
        let hi = _mm512_loadu_si512(table.as_ptr().add(64).cast());
        let pack = load_table(&DEC_PACK);
        let iota = load_table(&IOTA);
        let eq = _mm512_set1_epi8(b'=' as i8);
        let top2 = _mm512_set1_epi8(0xC0u8 as i8);
        let skipm = _mm512_set1_epi8(SKIP_MARK as i8);
        let mut acc = _mm512_setzero_si512();
        while i < n {
            let len = n - i;
            let v = load_upto(sp.add(i), len);
            let t = translate(v, lo, hi);
            let (stop, skippable) = if LENIENT {
                let stop = _mm512_cmpeq_epi8_mask(v, eq) | !low_mask(len);
                let skippable = _mm512_test_epi8_mask(t, top2) | _mm512_movepi8_mask(v);
                (stop, skippable)
            } else {
                // Zero-filled lanes past the end translate to STOP_MARK.
                (bad_lanes(v, t), _mm512_test_epi8_mask(t, skipm))
            };
            if (stop | skippable) == 0 && s == 0 {
                // Clean block, nothing staged: decode in place.
                store_n(dst.add(o), dec_pack(t, pack), 48, o + 64 <= dlen);
                i += 64;
                o += 48;
                continue;
            }
            let lim = if stop == 0 {
                64
            } else {
                stop.trailing_zeros() as usize
            };
            let valid = !skippable & low_mask(lim);
            let cnt = valid.count_ones() as usize;
            // Compact the valid values to the low lanes (register form of vpcompressb).
            let c = _mm512_maskz_compress_epi8(valid, t);
            // Append to the staged values (lanes [e - s, e) of `acc`): lane j < s takes
            // acc[e - s + j], lane j >= s takes c[j - s] (index 64 + j - s of the pair).
            let idx = _mm512_add_epi8(iota, _mm512_set1_epi8((e - s) as i8));
            let idx =
                _mm512_mask_add_epi8(idx, !low_mask(s), idx, _mm512_set1_epi8((64 - e) as i8));
            let merged = _mm512_permutex2var_epi8(acc, idx, c);
            if s + cnt >= 64 {
                store_n(dst.add(o), dec_pack(merged, pack), 48, o + 64 <= dlen);
                o += 48;
                // The leftover values are c[64 - s .. cnt), i.e. lanes [e - s, e) with e = cnt.
                acc = c;
                e = cnt;
                s = s + cnt - 64;
            } else {
                acc = merged;
                s += cnt;
                e = s;
            }
            // Advance by the constant 64 on the (predicted) continue path: deriving `i` from
            // `lim` would put the whole load -> translate -> mask -> tzcnt latency on the
            // loop-carried chain of the load addresses.
            if stop != 0 {
                i += lim;
                break;
            }
            i += 64;
        }
        // Flush the whole quanta that are still staged.
        let q = s / 4;
        if q > 0 {
            let staged = _mm512_permutexvar_epi8(
                _mm512_add_epi8(iota, _mm512_set1_epi8((e - s) as i8)),
                acc,
            );
            store_n(dst.add(o), dec_pack(staged, pack), q * 3, false);
            o += q * 3;
        }
        // Rewind over the 0..=3 characters of an incomplete quantum: `read` ends right before
        // the first of them.
        let mut r = s % 4;
        while r > 0 {
            i -= 1;
            let c = *sp.add(i);
            if c < 0x80 && table[c as usize] < 64 {
                r -= 1;
            }
        }
    }
    (i, o)
}

// ---------------------------------------------------------------------------------------------
// Regular-lines decode
// ---------------------------------------------------------------------------------------------

// Essay: MIME lines decoded in place.
//
// Well-formed MIME text is a sequence of identical lines: `cols` alphabet characters and an
// EOL. Instead of compacting, each line is covered by 64-character vectors that start at
// quantum boundaries inside the line: chunks at 0, 64, ... and, when `cols` is not a multiple
// of 64, one last chunk that ends exactly at the end of the line (cols - 64 is a multiple of 4,
// so it is quantum aligned and its 48 output bytes overlap the previous chunk's output with
// identical values). For cols = 76 that is chars [0, 64) and [12, 76), stored at out and
// out + 9. Every character is validated by the translate step and the EOL bytes are compared in
// place; a line is only counted when all of it checks out, so `read` always lands on a line
// start. Two 76-column lines are validated before any of their bytes are stored. Lines
// narrower than 64 characters are handled with one masked load covering line and EOL.

/// Regular-lines decode fast path; see the contract. Returns `(read, written)` with `read` at a
/// line start and `written == lines * cols / 4 * 3`.
///
/// # Safety
/// `is_available()` must be true; `dst.len() >= src.len() / 4 * 3`.
pub(crate) unsafe fn decode_lines(
    alphabet: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> (usize, usize) {
    if cols < 4 || !cols.is_multiple_of(4) || cols > 1024 {
        return (0, 0);
    }
    debug_assert!(dst.len() >= src.len() / 4 * 3);
    let table = if alphabet == Alphabet::Standard {
        &DEC_STD
    } else {
        &DEC_URL
    };
    // SAFETY: CPU features and output size by the caller.
    unsafe { decode_lines_impl(table, src, dst.as_mut_ptr().cast(), dst.len(), cols, crlf) }
}

/// # Safety
/// AVX-512 F/BW/VBMI available; `dst` has room for `dlen >= src.len() / 4 * 3` bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn decode_lines_impl(
    table: &[u8; 128],
    src: &[u8],
    dst: *mut u8,
    dlen: usize,
    cols: usize,
    crlf: bool,
) -> (usize, usize) {
    let n = src.len();
    let sp = src.as_ptr();
    let eol_len = if crlf { 2 } else { 1 };
    let line_len = cols + eol_len;
    let out_line = cols / 4 * 3;
    let mut i = 0usize;
    let mut o = 0usize;
    // SAFETY (whole block): a line is only touched when i + line_len <= n, and all loads stay
    // inside it (64-byte chunks at offsets <= cols - 64, or one masked load of line_len bytes).
    // Output: a line's decoded bytes go to dst[o..o + out_line]; since src holds at least
    // (lines + 1) * cols chars, o + out_line <= n / 4 * 3 <= dlen. Full 64-byte stores spill at
    // most 16 bytes past a chunk's 48 and are only used when o + out_line + 16 <= dlen.
    unsafe {
        let lo = _mm512_loadu_si512(table.as_ptr().cast());
        let hi = _mm512_loadu_si512(table.as_ptr().add(64).cast());
        let pack = load_table(&DEC_PACK);
        let eol_ok = |p: *const u8| -> bool {
            if crlf {
                p.cast::<u16>().read_unaligned() == u16::from_le_bytes([b'\r', b'\n'])
            } else {
                *p == b'\n'
            }
        };
        if cols == 76 {
            while i + 2 * line_len <= n && o + 2 * 57 + 16 <= dlen {
                let l2 = i + line_len;
                let a = _mm512_loadu_si512(sp.add(i).cast());
                let b = _mm512_loadu_si512(sp.add(i + 12).cast());
                let c = _mm512_loadu_si512(sp.add(l2).cast());
                let d = _mm512_loadu_si512(sp.add(l2 + 12).cast());
                let ta = translate(a, lo, hi);
                let tb = translate(b, lo, hi);
                let tc = translate(c, lo, hi);
                let td = translate(d, lo, hi);
                let any = _mm512_ternarylogic_epi64::<0xFE>(
                    _mm512_or_si512(a, b),
                    _mm512_or_si512(c, d),
                    _mm512_ternarylogic_epi64::<0xFE>(ta, tb, _mm512_or_si512(tc, td)),
                );
                if _mm512_movepi8_mask(any) != 0
                    || !eol_ok(sp.add(i + 76))
                    || !eol_ok(sp.add(l2 + 76))
                {
                    break;
                }
                _mm512_storeu_si512(dst.add(o).cast(), dec_pack(ta, pack));
                _mm512_storeu_si512(dst.add(o + 9).cast(), dec_pack(tb, pack));
                _mm512_storeu_si512(dst.add(o + 57).cast(), dec_pack(tc, pack));
                _mm512_storeu_si512(dst.add(o + 66).cast(), dec_pack(td, pack));
                i += 2 * line_len;
                o += 114;
            }
        }
        while i + line_len <= n {
            let s = sp.add(i);
            if !eol_ok(s.add(cols)) {
                break;
            }
            let full = o + out_line + 16 <= dlen;
            if cols >= 64 {
                // Validate the whole line first, then decode it.
                let mut bad = 0u64;
                let mut c = 0;
                while c + 64 <= cols {
                    let v = _mm512_loadu_si512(s.add(c).cast());
                    bad |= bad_lanes(v, translate(v, lo, hi));
                    c += 64;
                }
                if c < cols {
                    let v = _mm512_loadu_si512(s.add(cols - 64).cast());
                    bad |= bad_lanes(v, translate(v, lo, hi));
                }
                if bad != 0 {
                    break;
                }
                let mut c = 0;
                while c + 64 <= cols {
                    let v = _mm512_loadu_si512(s.add(c).cast());
                    store_n(
                        dst.add(o + c / 4 * 3),
                        dec_pack(translate(v, lo, hi), pack),
                        48,
                        full,
                    );
                    c += 64;
                }
                if c < cols {
                    let v = _mm512_loadu_si512(s.add(cols - 64).cast());
                    let p = dst.add(o + out_line - 48);
                    store_n(p, dec_pack(translate(v, lo, hi), pack), 48, full);
                }
            } else {
                let v = load_upto(s, cols);
                let t = translate(v, lo, hi);
                if bad_lanes(v, t) & low_mask(cols) != 0 {
                    break;
                }
                store_n(dst.add(o), dec_pack(t, pack), out_line, false);
            }
            i += line_len;
            o += out_line;
        }
    }
    (i, o)
}
