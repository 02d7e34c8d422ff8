//! The kernel interface every backend implements, and the token that proves
//! the CPU can run it.
//!
//! Kernels process the "easy" middle of the input (whole blocks of valid
//! characters, regularly wrapped lines) and report how far they got; the
//! encode/decode drivers handle tails, padding and errors in scalar code. A
//! kernel may always do less than it could (returning zero is correct), but
//! what it reports must be exact. The precise contracts are on the functions
//! of `scalar.rs` and of each x86_64 backend.

use core::sync::atomic::{AtomicU8, Ordering};

use super::dispatch::Backend;
use super::{portable, scalar, Alphabet, LineEnding, Wrap};
use crate::uninit::Out;

/// Which bytes a decode kernel may drop instead of stopping at them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Only alphabet characters may appear; stop before anything else.
    None,
    /// Additionally drop `\r`, `\n`, space and tab wherever they stand (MIME mode).
    Whitespace,
    /// Drop every byte outside the alphabet except `=`, which always stops (lenient mode).
    NonAlphabet,
}

/// A backend the running CPU has been checked to support. Only
/// [`Engine::new`] builds one (and [`Engine::process_default`], from a
/// backend `Engine::new` accepted), so holding an `Engine` is the proof the
/// `unsafe` kernel calls below rely on.
///
/// `vbmi2` records, once at construction, that the CPU also has AVX-512
/// VBMI2 (the AVX-512 decoder's whitespace compaction), so no call probes
/// for it; [`Engine::without_vbmi2`] clears it so that tests run the
/// fallback on machines that have the instructions. `stores` says how the
/// encoders write ([`Stores`]): `Auto` lets them choose by size and CPU;
/// a piece of an output larger than the caches (a chunk of a parallel
/// encode) gets `Streaming`, as one call writing all of it would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Engine {
    backend: Backend,
    vbmi2: bool,
    stores: Stores,
}

/// How the AVX-512 encoders write their output; other backends have one way.
///
/// `Auto`, the default, chooses by output size and CPU: ordinary stores,
/// aligned 64-byte lines for line-wrapped output of a CPU and size where
/// unaligned 512-bit stores cost (Intel, from about 1 MiB), non-temporal
/// ("streaming") stores for outputs larger than a quarter of the L3 (at
/// least 8 MiB, at most 32 MiB). Forcing one serves callers who know their
/// output will not be read soon (`Streaming`), and the tests, which run
/// every way on any machine that has the instructions. Results never depend
/// on the choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Stores {
    /// Chosen per call from the output size and the CPU.
    #[default]
    Auto,
    /// Line-wrapped output through 64-byte-aligned ordinary stores.
    Aligned,
    /// Non-temporal stores of aligned 64-byte lines, past the caches.
    Streaming,
}

/// The process default engine ([`Engine::process_default`]): the index into
/// `Backend::ALL` plus 1, with bit 7 for VBMI2, stored only after
/// `Engine::new` accepted that backend; 0 until then.
static DEFAULT_ENGINE: AtomicU8 = AtomicU8::new(0);

impl Engine {
    pub(crate) fn new(backend: Backend) -> Option<Engine> {
        backend.is_available().then(|| Engine::checked(backend))
    }

    /// `backend` is available: record the optional features it uses.
    fn checked(backend: Backend) -> Engine {
        #[cfg(target_arch = "x86_64")]
        let vbmi2 = backend == Backend::Avx512Vbmi && super::x86_64::avx512vbmi::has_vbmi2();
        #[cfg(not(target_arch = "x86_64"))]
        let vbmi2 = false;
        Engine {
            backend,
            vbmi2,
            stores: Stores::Auto,
        }
    }

    /// This engine without AVX-512 VBMI2, as on a CPU that lacks it.
    pub(crate) fn without_vbmi2(self) -> Engine {
        Engine {
            vbmi2: false,
            ..self
        }
    }

    /// The engine of the process default backend
    /// ([`Backend::default_for_process`]). The codec constants resolve it on
    /// every call, so it is cached in one atomic byte: a relaxed load instead
    /// of two `OnceLock` look-ups and a search of the detected list.
    #[inline]
    pub(crate) fn process_default() -> Engine {
        Self::cached_default().unwrap_or_else(|| Self::resolve_default(&DEFAULT_ENGINE))
    }

    /// The process default's engine once resolved, `None` before: for a
    /// caller that takes the first call out of line, so that its usual path
    /// keeps no registers across a call.
    #[inline]
    pub(crate) fn cached_default() -> Option<Engine> {
        let cached = DEFAULT_ENGINE.load(Ordering::Relaxed);
        Backend::ALL
            .get(((cached & 0x7F) as usize).wrapping_sub(1))
            .map(|&backend| Engine {
                backend,
                vbmi2: cached & 0x80 != 0,
                stores: Stores::Auto,
            })
    }

    #[cold]
    fn resolve_default(cache: &AtomicU8) -> Engine {
        let engine =
            Engine::new(Backend::default_for_process()).expect("the default backend is available");
        let index = Backend::ALL
            .iter()
            .position(|&b| b == engine.backend)
            .expect("every backend is in Backend::ALL");
        cache.store(
            (index as u8 + 1) | ((engine.vbmi2 as u8) << 7),
            Ordering::Relaxed,
        );
        engine
    }

    pub(crate) fn backend(self) -> Backend {
        self.backend
    }

    /// This engine writing its output the way `stores` says.
    pub(crate) fn with_stores(self, stores: Stores) -> Engine {
        Engine { stores, ..self }
    }

    /// This engine, for pieces of an output of `total` bytes: large totals
    /// stream past the caches however small each piece is.
    #[cfg(feature = "parallel")]
    pub(crate) fn for_output_of(self, total: usize) -> Engine {
        #[cfg(target_arch = "x86_64")]
        let large = total >= super::x86_64::avx512vbmi::nt_threshold();
        #[cfg(not(target_arch = "x86_64"))]
        let large = false;
        if large && self.stores == Stores::Auto {
            self.with_stores(Stores::Streaming)
        } else {
            self
        }
    }

    /// Whether `decode_lines` does anything on this backend for `cols`.
    pub(crate) fn has_line_kernel(self) -> bool {
        self.backend != Backend::Scalar
    }

    /// Encodes a prefix of whole 3-byte groups; returns the bytes read.
    /// `dst` must hold `src.len() / 3 * 4` bytes.
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn encode(self, a: Alphabet, src: &[u8], mut dst: Out<'_>) -> usize {
        // A real check, not a debug one: the kernels' SAFETY rests on it, and
        // one compare per call costs nothing measurable (module docs).
        assert!(dst.len() >= src.len() / 3 * 4, "kernel output too short");
        let read = match self.backend {
            Backend::Scalar => scalar::encode(a, src, dst),
            // SAFETY: base64-simd writes only initialised bytes through its `Out`.
            Backend::Base64Simd => portable::encode(a, src, unsafe { dst.as_uninit() }),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx2 => unsafe { super::x86_64::avx2::encode(a, src, dst.as_uninit()) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::encode(a, src, dst.as_uninit(), self.stores)
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("x86_64 backends are never detected elsewhere"),
        };
        debug_assert!(read % 3 == 0 && read <= src.len());
        read
    }

    /// A whole unwrapped encode ([`super::encode::encode_with`]): the
    /// AVX-512 backend runs it as one `target_feature` function.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn encode_all(self, a: Alphabet, pad: bool, src: &[u8], dst: Out<'_>) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.backend == Backend::Avx512Vbmi {
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
            return unsafe {
                super::x86_64::avx512vbmi::encode_all((a, pad, self.stores), src, dst)
            };
        }
        self.encode_all_dispatched((a, pad), src, dst)
    }

    /// [`Self::encode_all`] through the engine's dispatch, out of line: a
    /// caller that inlines `encode_all` then makes one call (a tail call)
    /// whichever the backend, with no registers to save around it.
    #[inline(never)]
    fn encode_all_dispatched(self, (a, pad): (Alphabet, bool), src: &[u8], dst: Out<'_>) -> usize {
        super::encode::encode_with(&(self, a), a, pad, src, dst)
    }

    /// A whole wrapped encode for a width that is a multiple of 4
    /// ([`super::encode::encode_whole_lines_with`]): the AVX-512 backend
    /// runs it as one `target_feature` function.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn encode_wrapped_lines(
        self,
        a: Alphabet,
        pad: bool,
        src: &[u8],
        cols: usize,
        line_ending: LineEnding,
        mut dst: Out<'_>,
    ) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.backend == Backend::Avx512Vbmi {
            if let Some(w) =
                self.encode_wrapped_whole(a, pad, src, Wrap::new(cols, line_ending), dst.reborrow())
            {
                return w;
            }
            let how = (a, pad, self.stores, line_ending);
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
            return unsafe { super::x86_64::avx512vbmi::encode_wrapped(how, src, cols, dst) };
        }
        self.encode_wrapped_dispatched((a, pad, line_ending), src, cols, dst)
    }

    /// The whole wrapped encode of a small or medium input at the MIME
    /// width, where this engine has a kernel for it (AVX-512: fewer than
    /// [`SMALL_76`](super::x86_64::avx512vbmi::SMALL_76) bytes, or fewer
    /// than [`MEDIUM_76`](super::x86_64::avx512vbmi::MEDIUM_76) when the
    /// stores are left to the kernels); `None` otherwise. The kernel checks
    /// `dst`'s room before it writes and panics as
    /// [`super::Base64::encode_wrapped`] does. These kernels skip the
    /// general wrapped encode's fixed cost, most of a call at these sizes.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn encode_wrapped_whole(
        self,
        a: Alphabet,
        pad: bool,
        src: &[u8],
        wrap: Wrap,
        dst: Out<'_>,
    ) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if self.backend == Backend::Avx512Vbmi && wrap.cols == 76 {
            use super::x86_64::avx512vbmi as k;
            let how = (a, pad, wrap.line_ending);
            if src.len() < k::SMALL_76 {
                // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
                return Some(unsafe { k::encode_wrapped_small_76(how, src, dst) });
            }
            if src.len() < k::MEDIUM_76 && self.stores == Stores::Auto {
                // SAFETY: as above.
                return Some(unsafe { k::encode_wrapped_medium_76(how, src, dst) });
            }
        }
        let _ = (a, pad, src, wrap, dst);
        None
    }

    /// [`Self::encode_wrapped_lines`] through the engine's dispatch, out of
    /// line (as [`Self::encode_all_dispatched`]).
    #[inline(never)]
    fn encode_wrapped_dispatched(
        self,
        (a, pad, line_ending): (Alphabet, bool, LineEnding),
        src: &[u8],
        cols: usize,
        dst: Out<'_>,
    ) -> usize {
        super::encode::encode_whole_lines_with(&(self, a), a, pad, src, cols, line_ending, dst)
    }

    /// Encodes whole lines of `cols` characters (cols % 4 == 0) each followed
    /// by an EOL; returns the bytes read.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn encode_lines(
        self,
        a: Alphabet,
        src: &[u8],
        mut dst: Out<'_>,
        cols: usize,
        crlf: bool,
    ) -> usize {
        debug_assert!(cols.is_multiple_of(4) && cols >= 4);
        // The kernels write every whole line of `src` (their `# Safety`).
        let eol = 1 + crlf as usize;
        assert!(
            (src.len() / (cols / 4 * 3)).saturating_mul(cols + eol) <= dst.len(),
            "kernel output too short"
        );
        let read = match self.backend {
            Backend::Scalar => scalar::encode_lines(a, src, dst, cols, crlf),
            // SAFETY: base64-simd writes only initialised bytes through its `Out`.
            Backend::Base64Simd => {
                portable::encode_lines(a, src, unsafe { dst.as_uninit() }, cols, crlf)
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx2 => unsafe {
                super::x86_64::avx2::encode_lines(a, src, dst.as_uninit(), cols, crlf)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::encode_lines(
                    a,
                    src,
                    dst.as_uninit(),
                    cols,
                    crlf,
                    self.stores,
                )
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("x86_64 backends are never detected elsewhere"),
        };
        debug_assert!(read % (cols / 4 * 3) == 0 && read <= src.len());
        read
    }

    /// Decodes an easy prefix; returns (read, written) at a quantum boundary.
    /// `dst` must hold `src.len() / 4 * 3` bytes.
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn decode(
        self,
        a: Alphabet,
        skip: Skip,
        src: &[u8],
        mut dst: Out<'_>,
    ) -> (usize, usize) {
        assert!(dst.len() >= src.len() / 4 * 3, "kernel output too short");
        match self.backend {
            Backend::Scalar => scalar::decode(a, skip, src, dst),
            // SAFETY: base64-simd writes only initialised bytes through its `Out`.
            Backend::Base64Simd => portable::decode(a, skip, src, unsafe { dst.as_uninit() }),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx2 => unsafe { super::x86_64::avx2::decode(a, skip, src, dst.as_uninit()) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it, and
            // its `vbmi2` flag is set only where detection found VBMI2 too.
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::decode(a, skip, src, dst.as_uninit(), self.vbmi2)
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("x86_64 backends are never detected elsewhere"),
        }
    }

    /// Decodes whole regular lines (`cols` alphabet characters + EOL) from a
    /// line start; returns (read, written) with `read` at a line start.
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn decode_lines(
        self,
        a: Alphabet,
        src: &[u8],
        mut dst: Out<'_>,
        cols: usize,
        crlf: bool,
    ) -> (usize, usize) {
        assert!(dst.len() >= src.len() / 4 * 3, "kernel output too short");
        match self.backend {
            Backend::Scalar => (0, 0),
            // SAFETY: base64-simd writes only initialised bytes through its `Out`.
            Backend::Base64Simd => {
                portable::decode_lines(a, src, unsafe { dst.as_uninit() }, cols, crlf)
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx2 => unsafe {
                super::x86_64::avx2::decode_lines(a, src, dst.as_uninit(), cols, crlf)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it; the
            // kernels write only initialised bytes (encoded or decoded data).
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::decode_lines(a, src, dst.as_uninit(), cols, crlf)
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("x86_64 backends are never detected elsewhere"),
        }
    }
}

/// The engine's kernels, dispatched on its backend, for one alphabet.
impl super::encode::EncodeKernels for (Engine, Alphabet) {
    #[inline(always)]
    fn groups(&self, src: &[u8], dst: Out<'_>) -> usize {
        self.0.encode(self.1, src, dst)
    }

    #[inline(always)]
    fn lines(&self, src: &[u8], dst: Out<'_>, cols: usize, crlf: bool) -> usize {
        self.0.encode_lines(self.1, src, dst, cols, crlf)
    }
}
