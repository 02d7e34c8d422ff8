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
//! huge pages first ([`advise_huge_pages`]), and one that the codec fills
//! whole is faulted in before the codec's threads write it ([`Prefault`]).
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

/// Fresh outputs of at least this many bytes ask for transparent huge pages
/// ([`advise_huge_pages`]).
pub(crate) const HUGE_OUTPUT: usize = 8 << 20;

/// Asks the kernel (Linux; elsewhere nothing) to back the whole 2 MiB pages
/// inside `ptr..ptr + len`, a fresh output of at least [`HUGE_OUTPUT`]
/// bytes that the caller owns, with transparent huge pages
/// (`MADV_HUGEPAGE`, for systems whose THP mode is `madvise`).
///
/// Why: a large output is new memory, and faulting it in a 4 KiB page at
/// a time (a fault, a page clear and the bookkeeping for each) cost more
/// than encoding into it: `perf` on 16 MiB of Cyrillic through `b2a_qp`
/// (48 MiB out) put half the time in the kernel's fault path and
/// `clear_page`; Python's `b64encode` of 64 MiB took 21.5k faults and ~75%
/// system time a call, 0.87 GB/s against pybase64's 0.91 (`perf stat -e
/// page-faults,task-clock`, Zen 4 EPYC, Firecracker guest, THP `madvise`).
/// With huge pages that is one fault per 2 MiB: 246k faults became 7k for
/// `b2a_qp`, and `b64encode(64 MiB)` ran at 3.2-4.0 GB/s. Outputs of 32 MiB
/// or more are always fresh (glibc maps each allocation over its
/// `DEFAULT_MMAP_THRESHOLD_MAX` on its own); smaller ones may be reused
/// heap memory, where base64's 16 MiB outputs showed no gain and no loss,
/// and QP's 16 MiB English output went from 5.6x to 10x the stdlib, hence
/// 8 MiB. Advising part of the heap leaves the flag on what is allocated
/// there later, which only changes how those pages are backed. The advice
/// changes neither the contents nor the mapping, only how the pages not
/// yet touched will be backed, so a kernel that refuses it (THP `never`)
/// costs one failed system call.
pub(crate) fn advise_huge_pages(ptr: *const u8, len: usize) {
    if let Some((start, end)) = huge_pages(ptr, len) {
        // SAFETY: `start..end` lies inside the caller's live allocation
        // (rounded inwards to whole huge pages), and MADV_HUGEPAGE only
        // changes how its pages are backed, never what they hold; a failure
        // (EINVAL where THP is off) changes nothing, so the result is
        // ignored.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (start, end);
    }
}

/// The whole 2 MiB pages inside `ptr..ptr + len`, as addresses, when `len`
/// is at least [`HUGE_OUTPUT`] and there is one; `None` off Linux.
fn huge_pages(ptr: *const u8, len: usize) -> Option<(usize, usize)> {
    const HUGE: usize = 2 << 20;
    if !cfg!(target_os = "linux") || len < HUGE_OUTPUT {
        return None;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) & !(HUGE - 1);
    (end > start).then_some((start, end))
}

/// The huge pages of a fresh output, to fault in on one thread before the
/// codec writes them ([`Prefault::run`]); made by [`OutBytes::spare_whole`].
/// Plain addresses, so that it crosses into the detached closure.
#[derive(Clone, Copy)]
pub(crate) struct Prefault(Option<(usize, usize)>);

impl Prefault {
    /// Faults the pages in now (`MADV_POPULATE_WRITE`, Linux 5.14; older
    /// kernels refuse it and the pages fault as the codec writes them).
    /// Call it first thing in the detached work.
    ///
    /// Why: in a guest (Firecracker, Xeon family 6 model 167, THP
    /// `madvise`), two rayon threads faulting in the huge pages of a large
    /// output as they wrote it made 32 and 64 MiB calls bimodal, 0.3 to
    /// 5.4 GB/s between calls of one run: `perf` put 55% of the samples of
    /// a 64 MiB `b64decode(validate=True)` loop in `clear_page_erms` under
    /// `do_huge_pmd_anonymous_page`, nearly all of them on one of the two
    /// threads. Faulting the same pages in first, on the calling thread
    /// and in one system call, is steady. Medians of nine, each call
    /// alternated with the same call without this step and with
    /// pybase64's, two threads (GB/s, without -> with): 64 MiB `b64encode`
    /// 1.57 -> 3.70 and 4.41 -> 3.66 in two runs, `b64decode(validate=True)`
    /// 3.02 -> 3.80 and 5.29 -> 3.79; 32 MiB 1.19 -> 3.28 and 0.98 -> 3.38;
    /// pybase64 1.6-1.8 throughout. So a run without the pathology was
    /// faster lazily (the clearing was split between the threads; here it
    /// is on one), and a run with it 2-3x slower. One thread: 64 MiB
    /// encode 2.37 -> 3.19, 32 MiB 2.31 -> 2.99, decode equal (2.83,
    /// 2.62-2.66). `benches/python_base64.py` at 64 MiB, in its
    /// default-threads run, measures it.
    ///
    /// Only pages that are not there yet: an output that reuses heap
    /// memory (below glibc's 32 MiB mmap threshold, from the second call
    /// on) is already faulted in, and populating it regardless cost 14-23%
    /// at 8 and 16 MiB with one thread; so [`OutBytes::prefault`] looks at the first huge page
    /// (`mincore`) and asks for nothing when it is resident.
    pub(crate) fn run(self) {
        #[cfg(target_os = "linux")]
        if let Some((start, end)) = self.0 {
            // SAFETY: `start..end` lies inside an output that the caller
            // owns and is about to overwrite whole; populating for writing
            // only backs pages with (zeroed) memory, never changes what a
            // resident page holds. A failure (EINVAL before Linux 5.14,
            // ENOMEM) leaves the pages to fault as they are written.
            unsafe {
                libc::madvise(
                    start as *mut libc::c_void,
                    end - start,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        }
    }
}

/// The `str` of the ASCII bytes `b`, or `None` when `b` is not ASCII: a
/// compact ASCII string written with one copy (`PyUnicode_New`), with no
/// UTF-8 decoding pass, its storage advised as a fresh output
/// ([`advise_huge_pages`]).
pub(crate) fn ascii_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Option<Bound<'py, PyString>>> {
    if !b.is_ascii() {
        return Ok(None);
    }
    let len = ffi::Py_ssize_t::try_from(b.len())
        .map_err(|_| pyo3::exceptions::PyMemoryError::new_err(()))?;
    // SAFETY: attached; a null return means an exception is set.
    let obj = unsafe { ffi::PyUnicode_New(len, 127) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `obj` is a new compact ASCII string of `len` characters, one
    // byte each, that nothing else has seen: its data holds `len` bytes we
    // may write, and every byte of `b` is ASCII (checked above), as such a
    // string's data must be. `PyUnicode_New` wrote the terminating NUL.
    unsafe {
        let data = ffi::PyUnicode_DATA(obj).cast::<u8>();
        advise_huge_pages(data, b.len());
        core::ptr::copy_nonoverlapping(b.as_ptr(), data, b.len());
        Ok(Some(Bound::from_owned_ptr(py, obj).cast_into_unchecked()))
    }
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
        // SAFETY: the writer's data holds `cap` bytes, ours until `finish`.
        advise_huge_pages(
            unsafe { ffi::compat::PyBytesWriter_GetData(writer) }.cast(),
            cap,
        );
        Ok(OutBytes { writer, cap })
    }

    /// [`Self::spare`] for a codec that writes it whole, with what
    /// [`Prefault::run`] should fault in first. Not for QP's worst-case
    /// bound, so that nothing is backed in vain.
    pub(crate) fn spare_whole(&mut self) -> (Out<'_>, Prefault) {
        let fault = self.prefault();
        (self.spare(), fault)
    }

    /// This output's huge pages, when it is large and new memory (its
    /// first huge page not resident).
    fn prefault(&self) -> Prefault {
        // SAFETY: the writer's data holds `cap` bytes, ours until `finish`.
        let data = unsafe { ffi::compat::PyBytesWriter_GetData(self.writer) };
        let Some((start, end)) = huge_pages(data.cast(), self.cap) else {
            return Prefault(None);
        };
        #[cfg(target_os = "linux")]
        {
            let mut resident = 0u8;
            // SAFETY: `start` is page aligned and its page lies inside our
            // allocation; `mincore` writes one byte for the one page asked
            // about. On failure `resident` stays 0 and the populate call
            // does the deciding (it fails the same way).
            unsafe { libc::mincore(start as *mut libc::c_void, 4096, &mut resident) };
            if resident & 1 != 0 {
                return Prefault(None);
            }
        }
        Prefault(Some((start, end)))
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
