//! Placeholder until the avx512vbmi kernels land: reports unavailable.
#![allow(unsafe_code, clippy::missing_safety_doc)]
use crate::base64::{kernel::Skip, Alphabet};
use core::mem::MaybeUninit;
pub(crate) fn is_available() -> bool {
    false
}
pub(crate) unsafe fn encode(_: Alphabet, _: &[u8], _: &mut [MaybeUninit<u8>]) -> usize {
    0
}
pub(crate) unsafe fn encode_lines(
    _: Alphabet,
    _: &[u8],
    _: &mut [MaybeUninit<u8>],
    _: usize,
    _: bool,
) -> usize {
    0
}
pub(crate) unsafe fn decode(
    _: Alphabet,
    _: Skip,
    _: &[u8],
    _: &mut [MaybeUninit<u8>],
) -> (usize, usize) {
    (0, 0)
}
pub(crate) unsafe fn decode_lines(
    _: Alphabet,
    _: &[u8],
    _: &mut [MaybeUninit<u8>],
    _: usize,
    _: bool,
) -> (usize, usize) {
    (0, 0)
}
