//! Writing into uninitialised memory: the codec writes through [`Out`], so
//! output vectors never pay for zeroing and a caller's initialised buffer is
//! never exposed as `&mut [MaybeUninit<u8>]` to safe code.
//!
//! [`Out`] is a write-only view (base64-simd's `Out` is the model): bytes
//! can be written, never read back, and never made uninitialised. It can be
//! built from initialised bytes (`&mut [u8]`) or from uninitialised space
//! (a `Vec`'s spare capacity), and the same drivers serve both. Only an
//! `unsafe` call ([`Out::as_uninit`]) turns it into the `&mut
//! [MaybeUninit<u8>]` the kernels fill, under the duty to write initialised
//! bytes only. Reading back what was written is [`written`], `unsafe` too:
//! the caller vouches that the prefix was written.
#![allow(unsafe_code)]

use core::mem::MaybeUninit;
use core::ops::Range;

/// Write-only output space.
#[derive(Debug)]
pub(crate) struct Out<'a>(&'a mut [MaybeUninit<u8>]);

impl<'a> Out<'a> {
    /// A view of initialised bytes: `Out` writes only initialised bytes, so
    /// `buf` stays initialised.
    #[inline]
    pub(crate) fn from_init(buf: &'a mut [u8]) -> Out<'a> {
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the view is
        // private to `Out`, whose safe methods write only initialised bytes;
        // `as_uninit`'s callers promise the same.
        Out(unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) })
    }

    /// A view of uninitialised space.
    #[inline]
    pub(crate) fn from_uninit(buf: &'a mut [MaybeUninit<u8>]) -> Out<'a> {
        Out(buf)
    }

    /// The bytes of room.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Writes `b` at `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    #[inline(always)]
    pub(crate) fn write(&mut self, i: usize, b: u8) {
        self.0[i].write(b);
    }

    /// Copies `src` to `at..at + src.len()`.
    ///
    /// # Panics
    /// When the range does not fit.
    #[inline]
    pub(crate) fn copy_from(&mut self, at: usize, src: &[u8]) {
        let dst = &mut self.0[at..at + src.len()];
        // SAFETY: `dst` is `src.len()` elements of `MaybeUninit<u8>` (the
        // layout of `u8`), borrowed uniquely, so it cannot overlap `src`;
        // writing initialises them, which a write-only view may do. (A
        // `memcpy`: the loop of `write`s it replaces was not made one.)
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_mut_ptr().cast::<u8>(), src.len());
        }
    }

    /// The view of `range`, for a shorter time.
    #[inline]
    pub(crate) fn slice(&mut self, range: Range<usize>) -> Out<'_> {
        Out(&mut self.0[range])
    }

    /// The view from `from` to the end, for a shorter time.
    #[inline]
    pub(crate) fn tail(&mut self, from: usize) -> Out<'_> {
        Out(&mut self.0[from..])
    }

    /// The same view, for a shorter time.
    #[inline]
    pub(crate) fn reborrow(&mut self) -> Out<'_> {
        Out(self.0)
    }

    /// The view cut in two at `mid`.
    #[cfg(feature = "parallel")]
    #[inline]
    pub(crate) fn split_at(self, mid: usize) -> (Out<'a>, Out<'a>) {
        let (a, b) = self.0.split_at_mut(mid);
        (Out(a), Out(b))
    }

    /// The view as the uninitialised slice the kernels fill.
    ///
    /// # Safety
    /// Write only initialised bytes through the slice (never
    /// `MaybeUninit::uninit()`): the view may cover initialised memory the
    /// caller will read.
    #[inline(always)]
    pub(crate) unsafe fn as_uninit(&mut self) -> &mut [MaybeUninit<u8>] {
        self.0
    }

    /// Asks the kernel to back this output with 2 MiB pages when it is at
    /// least [`HUGE_PAGE_OUTPUT`] long; a no-op otherwise, and off Linux.
    /// See [`HUGE_PAGE_OUTPUT`] for why. Python's outputs call it; the
    /// library's own `Vec` outputs do not (not measured there yet).
    #[cfg(feature = "python")]
    pub(crate) fn prefer_huge_pages(&mut self) {
        #[cfg(target_os = "linux")]
        if self.0.len() >= HUGE_PAGE_OUTPUT {
            const HUGE: usize = 2 << 20;
            let start = self.0.as_mut_ptr() as usize;
            let first = start.next_multiple_of(HUGE);
            let end = (start + self.0.len()) / HUGE * HUGE;
            if first < end {
                // SAFETY: [first, end) lies inside this view, memory we
                // hold uniquely; MADV_HUGEPAGE only changes how the kernel
                // backs the pages (their contents and mapping stay), so no
                // one's memory changes. A failure (a kernel without THP)
                // leaves the ordinary pages, so the result is ignored.
                unsafe {
                    libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
                }
            }
        }
    }

    /// The whole view as the uninitialised slice, for as long as the view
    /// lives (to split it over threads).
    ///
    /// # Safety
    /// As for [`Out::as_uninit`].
    #[cfg(feature = "parallel")]
    #[inline]
    pub(crate) unsafe fn into_uninit(self) -> &'a mut [MaybeUninit<u8>] {
        self.0
    }
}

/// Output size (bytes) from which [`Out::prefer_huge_pages`] asks for
/// 2 MiB pages. An output this large is fresh memory on every call (glibc
/// gives each allocation of 32 MiB or more, its `DEFAULT_MMAP_THRESHOLD_MAX`,
/// a mapping of its own and unmaps it on free; Python's `bytes` come from
/// malloc), so every 4 KiB page of it faults on first write, and in the VMs
/// this project runs on a fault costs microseconds: Python's `b64encode` of
/// 64 MiB took 21.5k faults and ~75% system time a call, 0.87 GB/s against
/// pybase64's 0.91 (`perf stat -e page-faults,task-clock`, Zen 4 EPYC,
/// Firecracker guest, THP `madvise`). With the advice, 43 faults of 2 MiB
/// pages: 3.2-4.0 GB/s. Smaller outputs are usually reused heap memory
/// (glibc raises its mapping threshold to the size of a freed mapping),
/// where 16 MiB showed no gain, and advising part of the heap would leave
/// the flag on whatever is allocated there later.
#[cfg(feature = "python")]
pub(crate) const HUGE_PAGE_OUTPUT: usize = 32 << 20;

/// Appends at most `max` bytes to `vec`, produced by `fill`, which returns how
/// many bytes of the view it wrote (a prefix).
///
/// # Safety
/// `fill` must write every byte of the prefix it reports (the crate's
/// drivers do: each one's contract).
pub(crate) unsafe fn append_with<E>(
    vec: &mut Vec<u8>,
    max: usize,
    fill: impl FnOnce(Out<'_>) -> Result<usize, E>,
) -> Result<usize, E> {
    vec.reserve(max);
    let len = vec.len();
    let spare = &mut vec.spare_capacity_mut()[..max];
    let n = fill(Out::from_uninit(spare))?;
    assert!(n <= max, "kernel reported more output than it had room for");
    // SAFETY: `fill` wrote `spare[..n]` (the drivers' contract: what they
    // report is written), and n <= max <= spare capacity.
    unsafe { vec.set_len(len + n) };
    Ok(n)
}

/// Reads back the first `n` bytes written through an uninitialised view.
///
/// # Safety
/// `buf[..n]` must have been written.
///
/// # Panics
/// When `n > buf.len()`.
pub(crate) unsafe fn written(buf: &[MaybeUninit<u8>], n: usize) -> &[u8] {
    assert!(n <= buf.len());
    // SAFETY: the caller vouches that buf[..n] was written.
    unsafe { &*(&buf[..n] as *const [MaybeUninit<u8>] as *const [u8]) }
}
