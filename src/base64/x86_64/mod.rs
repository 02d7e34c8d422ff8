//! Hand-written x86-64 kernels, one file per instruction set. Each file's
//! `is_available` is the runtime check that `dispatch.rs` caches.

pub(crate) mod avx2;
pub(crate) mod avx512vbmi;
