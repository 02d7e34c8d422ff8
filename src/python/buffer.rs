//! Getting bytes in and out of Python objects: the only `unsafe` of the
//! Python layer.
//!
//! Inputs: a `bytes` object is read in place (it is immutable, and the
//! caller's reference keeps it alive for the whole call, attached or not);
//! everything else that exports a buffer (`bytearray`, `memoryview`,
//! `array.array`, ...) is copied while we are still attached, because its
//! owner may change or resize it as soon as we detach. Two flavours of
//! acceptance mirror the stdlib: [`contiguous`] is `binascii`'s (`y*`: a
//! C-contiguous buffer, with the exporter's own error otherwise), and
//! [`decodable`] is `base64._bytes_from_decode_data`'s (ASCII `str`, or any
//! buffer, strided ones too, like `memoryview(s).tobytes()`).
//!
//! Outputs: [`OutBytes`] hands out the uninitialised storage of a new `bytes`
//! object (through the `PyBytesWriter` API, a compat shim before 3.15), so
//! the codec writes its result exactly once and no zeroing pass or copy
//! follows; `finish` trims it to the length written. A large one asks for
//! huge pages first ([`Out::prefer_huge_pages`]).
#![allow(unsafe_code)]

use core::mem::MaybeUninit;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;

use crate::uninit::Out;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

/// Input bytes: borrowed from an immutable object, or our own copy.
pub(crate) enum Input<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl Input<'_> {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Input::Borrowed(s) => s,
            Input::Owned(v) => v,
        }
    }
}

/// A C-contiguous buffer, as `binascii.b2a_base64` takes it (`y*`). Errors
/// are those of `PyObject_GetBuffer`, so they match the stdlib's word for
/// word (`TypeError: a bytes-like object is required, not 'str'`, the
/// exporter's `BufferError` for strided views).
pub(crate) fn contiguous<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Input<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Input::Borrowed(b.as_bytes()));
    }
    copy_buffer(obj, ffi::PyBUF_SIMPLE).map(Input::Owned)
}

/// What `base64.b64decode` accepts: `bytes`, `bytearray`, ASCII `str`, or
/// any buffer (copied in logical order, strided or not).
pub(crate) fn decodable<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Input<'a>> {
    if let Some(input) = bytes_or_ascii_str(obj) {
        return input;
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Input::Owned(b.to_vec()));
    }
    copy_buffer(obj, ffi::PyBUF_FULL_RO)
        .map(Input::Owned)
        .map_err(|err| {
            // Only "not a buffer" becomes the stdlib's TypeError; a released
            // memoryview's ValueError, say, goes through as it is.
            if !err.is_instance_of::<PyTypeError>(obj.py()) {
                return err;
            }
            let name = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into());
            PyTypeError::new_err(format!(
                "argument should be a bytes-like object or ASCII string, not '{name}'"
            ))
        })
}

/// What `binascii`'s `a2b_*` functions accept (its `ascii_buffer_converter`):
/// `bytes`, an ASCII `str` (any other `str` is a `ValueError`), or a
/// C-contiguous buffer; anything else, strided views included, is the
/// stdlib's `TypeError`.
pub(crate) fn ascii_buffer<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Input<'a>> {
    if let Some(input) = bytes_or_ascii_str(obj) {
        return input;
    }
    copy_buffer(obj, ffi::PyBUF_SIMPLE)
        .map(Input::Owned)
        .map_err(|_| {
            let name = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "?".into());
            PyTypeError::new_err(format!(
                "argument should be bytes, buffer or ASCII string, not '{name}'"
            ))
        })
}

/// The two inputs that both [`decodable`] and [`ascii_buffer`] read in
/// place: `bytes`, and a `str` that must be ASCII (the stdlib's
/// `s.encode('ascii')`, so lone surrogates fail too, with its ValueError).
/// `None` for anything else.
fn bytes_or_ascii_str<'a>(obj: &'a Bound<'_, PyAny>) -> Option<PyResult<Input<'a>>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Some(Ok(Input::Borrowed(b.as_bytes())));
    }
    let s = obj.cast::<PyString>().ok()?;
    Some(match s.to_str() {
        Ok(s) if s.is_ascii() => Ok(Input::Borrowed(s.as_bytes())),
        _ => Err(PyValueError::new_err(
            "string argument should contain only ASCII characters",
        )),
    })
}

/// Copies the buffer `obj` exports under `flags` into a new `Vec`, in C
/// (logical) order.
fn copy_buffer(obj: &Bound<'_, PyAny>, flags: core::ffi::c_int) -> PyResult<Vec<u8>> {
    let py = obj.py();
    let mut view = MaybeUninit::<ffi::Py_buffer>::uninit();
    // SAFETY: `obj` is a live object and we are attached; on success the
    // view is initialised and released below, on failure an exception is set.
    if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), view.as_mut_ptr(), flags) } != 0 {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `PyObject_GetBuffer` succeeded, so it filled the view.
    let mut view = unsafe { view.assume_init() };
    let len = view.len.max(0) as usize;
    let mut out = Vec::<u8>::with_capacity(len);
    // SAFETY: `out` has room for `len` bytes, the logical size of the view;
    // `PyBuffer_ToContiguous` writes exactly that many and handles strides.
    // The view stays valid (and the exporter cannot resize) until released.
    // `&raw mut`: the view is `*const` from 3.11, `*mut` in 3.9's and
    // 3.10's headers; a `*mut` serves both.
    let rc = unsafe {
        ffi::PyBuffer_ToContiguous(
            out.as_mut_ptr().cast(),
            &raw mut view,
            len as ffi::Py_ssize_t,
            b'C' as _,
        )
    };
    // SAFETY: the view came from a successful `PyObject_GetBuffer`.
    unsafe { ffi::PyBuffer_Release(&mut view) };
    if rc != 0 {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `PyBuffer_ToContiguous` initialised all `len` bytes.
    unsafe { out.set_len(len) };
    Ok(out)
}

/// A `bytes` object under construction: `spare` is its storage, which may
/// be written while detached (nothing else can see the object yet).
pub(crate) struct OutBytes {
    writer: *mut ffi::compat::PyBytesWriter,
    cap: usize,
}

impl OutBytes {
    /// Room for `cap` bytes.
    pub(crate) fn new(py: Python<'_>, cap: usize) -> PyResult<OutBytes> {
        let size = ffi::Py_ssize_t::try_from(cap)
            .map_err(|_| pyo3::exceptions::PyMemoryError::new_err(()))?;
        // SAFETY: attached; a null return means an exception is set.
        let writer = unsafe { ffi::compat::PyBytesWriter_Create(size) };
        if writer.is_null() {
            return Err(PyErr::fetch(py));
        }
        let mut out = OutBytes { writer, cap };
        // A large output is fresh memory whose page faults dominate the call.
        out.spare().prefer_huge_pages();
        Ok(out)
    }

    /// The `cap` bytes of storage, uninitialised, as a write-only view.
    pub(crate) fn spare(&mut self) -> Out<'_> {
        // SAFETY: the writer holds at least `cap` bytes at its data pointer
        // (`PyBytesWriter_Create(cap)`), owned by it and by nothing else
        // until `finish`; the `&mut self` borrow keeps this slice unique.
        unsafe {
            let data = ffi::compat::PyBytesWriter_GetData(self.writer).cast::<MaybeUninit<u8>>();
            Out::from_uninit(core::slice::from_raw_parts_mut(data, self.cap))
        }
    }

    /// The `bytes` object made of the first `len` bytes.
    ///
    /// # Safety
    /// The first `len` bytes must have been written through [`Self::spare`].
    ///
    /// # Panics
    /// When `len` exceeds the room asked for.
    pub(crate) unsafe fn finish(self, py: Python<'_>, len: usize) -> PyResult<Bound<'_, PyBytes>> {
        assert!(len <= self.cap, "wrote past the output buffer");
        let writer = self.writer;
        core::mem::forget(self);
        // SAFETY: attached; `writer` is live and consumed here (the call
        // frees it on success and on failure). The caller initialised
        // `len` bytes (the contract above).
        let obj =
            unsafe { ffi::compat::PyBytesWriter_FinishWithSize(writer, len as ffi::Py_ssize_t) };
        // SAFETY: a new reference to a `bytes`, or null with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(py, obj).map(|b| b.cast_into_unchecked()) }
    }
}

impl Drop for OutBytes {
    fn drop(&mut self) {
        // Only reached on error paths, which are always attached (the output
        // lives outside the detached closure).
        // SAFETY: `writer` is live (not finished, `finish` forgets `self`).
        unsafe { ffi::compat::PyBytesWriter_Discard(self.writer) };
    }
}
