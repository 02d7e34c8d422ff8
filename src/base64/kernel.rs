//! The kernel interface every backend implements, and the token that proves
//! the CPU can run it.
//!
//! Kernels process the "easy" middle of the input (whole blocks of valid
//! characters, regularly wrapped lines) and report how far they got; the
//! encode/decode drivers handle tails, padding and errors in scalar code. A
//! kernel may always do less than it could (returning zero is correct), but
//! what it reports must be exact. The precise contracts are on the functions
//! of `scalar.rs` and of each x86_64 backend.

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU8, Ordering};

use super::dispatch::Backend;
use super::{portable, scalar, Alphabet};

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
/// The flag says the call writes one piece of an output larger than the
/// caches (a chunk of a parallel encode): the encoders then use streaming
/// stores as they would for one call writing all of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Engine(Backend, bool);

impl Engine {
    pub(crate) fn new(backend: Backend) -> Option<Engine> {
        backend.is_available().then_some(Engine(backend, false))
    }

    /// The engine of the process default backend
    /// ([`Backend::default_for_process`]). The codec constants resolve it on
    /// every call, so it is cached in one atomic byte: a relaxed load instead
    /// of two `OnceLock` look-ups and a search of the detected list.
    #[inline]
    pub(crate) fn process_default() -> Engine {
        // Index into `Backend::ALL`, stored only after `Engine::new` accepted
        // that backend; `u8::MAX` until then.
        static DEFAULT: AtomicU8 = AtomicU8::new(u8::MAX);
        match Backend::ALL.get(DEFAULT.load(Ordering::Relaxed) as usize) {
            Some(&backend) => Engine(backend, false),
            None => Self::resolve_default(&DEFAULT),
        }
    }

    #[cold]
    fn resolve_default(cache: &AtomicU8) -> Engine {
        let engine =
            Engine::new(Backend::default_for_process()).expect("the default backend is available");
        let index = Backend::ALL
            .iter()
            .position(|&b| b == engine.0)
            .expect("every backend is in Backend::ALL");
        cache.store(index as u8, Ordering::Relaxed);
        engine
    }

    pub(crate) fn backend(self) -> Backend {
        self.0
    }

    /// This engine, for pieces of an output of `total` bytes: large totals
    /// stream past the caches however small each piece is.
    #[cfg(feature = "parallel")]
    pub(crate) fn for_output_of(self, total: usize) -> Engine {
        #[cfg(target_arch = "x86_64")]
        let large = total >= super::x86_64::avx512vbmi::NT_THRESHOLD;
        #[cfg(not(target_arch = "x86_64"))]
        let large = false;
        Engine(self.0, large)
    }

    /// Whether `decode_lines` does anything on this backend for `cols`.
    pub(crate) fn has_line_kernel(self) -> bool {
        self.0 != Backend::Scalar
    }

    /// Encodes a prefix of whole 3-byte groups; returns the bytes read.
    /// `dst` must hold `src.len() / 3 * 4` bytes.
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn encode(self, a: Alphabet, src: &[u8], dst: &mut [MaybeUninit<u8>]) -> usize {
        debug_assert!(dst.len() >= src.len() / 3 * 4);
        let read = match self.0 {
            Backend::Scalar => scalar::encode(a, src, dst),
            Backend::Base64Simd => portable::encode(a, src, dst),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2.
            Backend::Avx2 => unsafe { super::x86_64::avx2::encode(a, src, dst) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::encode(a, src, dst, self.1)
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("x86_64 backends are never detected elsewhere"),
        };
        debug_assert!(read % 3 == 0 && read <= src.len());
        read
    }

    /// Encodes whole lines of `cols` characters (cols % 4 == 0) each followed
    /// by an EOL; returns the bytes read.
    #[inline]
    #[allow(unsafe_code)]
    pub(crate) fn encode_lines(
        self,
        a: Alphabet,
        src: &[u8],
        dst: &mut [MaybeUninit<u8>],
        cols: usize,
        crlf: bool,
    ) -> usize {
        debug_assert!(cols.is_multiple_of(4) && cols >= 4);
        let read = match self.0 {
            Backend::Scalar | Backend::Base64Simd => {
                portable_or_scalar_lines(self.0, a, src, dst, cols, crlf)
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2.
            Backend::Avx2 => unsafe { super::x86_64::avx2::encode_lines(a, src, dst, cols, crlf) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::encode_lines(a, src, dst, cols, crlf, self.1)
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
        dst: &mut [MaybeUninit<u8>],
    ) -> (usize, usize) {
        debug_assert!(dst.len() >= src.len() / 4 * 3);
        match self.0 {
            Backend::Scalar => scalar::decode(a, skip, src, dst),
            Backend::Base64Simd => portable::decode(a, skip, src, dst),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2.
            Backend::Avx2 => unsafe { super::x86_64::avx2::decode(a, skip, src, dst) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
            Backend::Avx512Vbmi => unsafe { super::x86_64::avx512vbmi::decode(a, skip, src, dst) },
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
        dst: &mut [MaybeUninit<u8>],
        cols: usize,
        crlf: bool,
    ) -> (usize, usize) {
        debug_assert!(dst.len() >= src.len() / 4 * 3);
        match self.0 {
            Backend::Scalar => (0, 0),
            Backend::Base64Simd => portable::decode_lines(a, src, dst, cols, crlf),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx2 exists only where detection found AVX2.
            Backend::Avx2 => unsafe { super::x86_64::avx2::decode_lines(a, src, dst, cols, crlf) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an Engine holding Avx512Vbmi exists only where detection found it.
            Backend::Avx512Vbmi => unsafe {
                super::x86_64::avx512vbmi::decode_lines(a, src, dst, cols, crlf)
            },
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("x86_64 backends are never detected elsewhere"),
        }
    }
}

fn portable_or_scalar_lines(
    backend: Backend,
    a: Alphabet,
    src: &[u8],
    dst: &mut [MaybeUninit<u8>],
    cols: usize,
    crlf: bool,
) -> usize {
    if backend == Backend::Base64Simd {
        portable::encode_lines(a, src, dst, cols, crlf)
    } else {
        scalar::encode_lines(a, src, dst, cols, crlf)
    }
}
