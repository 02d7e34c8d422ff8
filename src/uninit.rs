//! Writing into uninitialised memory: the codec kernels fill
//! `&mut [MaybeUninit<u8>]`, so output vectors never pay for zeroing.
#![allow(unsafe_code)]

use core::mem::MaybeUninit;

/// Views an initialised byte slice as write-only uninitialised space.
pub(crate) fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`; the kernels only ever
    // write initialised bytes through this view, so `buf` stays initialised.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Appends at most `max` bytes to `vec`, produced by `fill`, which returns how
/// many bytes of the spare capacity it initialised (a prefix).
pub(crate) fn append_with<E>(
    vec: &mut Vec<u8>,
    max: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<usize, E>,
) -> Result<usize, E> {
    vec.reserve(max);
    let len = vec.len();
    let spare = &mut vec.spare_capacity_mut()[..max];
    let n = fill(spare)?;
    assert!(n <= max, "kernel reported more output than it had room for");
    // SAFETY: `fill` initialised `spare[..n]` (its contract), and n <= max <= spare capacity.
    unsafe { vec.set_len(len + n) };
    Ok(n)
}

/// Reads back the first `n` bytes written through an uninitialised view.
pub(crate) fn written(buf: &[MaybeUninit<u8>], n: usize) -> &[u8] {
    assert!(n <= buf.len());
    // SAFETY: the caller's kernel initialised buf[..n].
    unsafe { &*(&buf[..n] as *const [MaybeUninit<u8>] as *const [u8]) }
}
