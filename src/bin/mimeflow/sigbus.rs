//! What the user sees when a mapped archive shrinks under a run.
//!
//! `convert`, `split` and `count` memory-map a plain archive. If another
//! program truncates it meanwhile (a mail client compacting the mailbox),
//! the next access past the new end raises SIGBUS, whose default action
//! kills the process with status 135 and no word. [`watch`] installs a
//! handler that writes one line instead:
//!
//! ```text
//! mimeflow: ARCHIVE changed size while being read (truncated by another program?); ...
//! ```
//!
//! and exits with status 1. It runs no destructors, and that is the point:
//! a conversion builds its output unpublished (`DEST.partial`, or temp
//! files linked into place one by one under `--force`) and records after
//! each window what is committed, so what the kill leaves is exactly what a
//! kill -9 leaves: DEST untouched, the partial output resumable with
//! `--resume` once the archive is whole again (a run that resumes with a
//! changed archive is the resume check's business).
//!
//! A system call handed bytes of the shrunken map (an `.eml` or Maildir
//! file written straight from the archive) gets `EFAULT` rather than a
//! SIGBUS; [`exit_if_truncated`] reports that as the same line.
//!
//! The handler only speaks for faults of kind `BUS_ADRERR` (an access to a
//! page with nothing behind it: a mapping past the end of its file). The
//! only file mappings a run holds are the archive and its own unnamed spool
//! files, which no other program can open. Any other SIGBUS (a hardware
//! memory error, a misaligned access) gets the default action back and
//! recurs as the faulting access is retried, as if no handler were there.
#![allow(unsafe_code)]

use std::path::Path;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The line to write, leaked once it is set (it must outlive any signal).
static LINE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static LINE_LEN: AtomicUsize = AtomicUsize::new(0);

/// From now on, a SIGBUS from reading `archive` prints one line naming it,
/// followed by `consequence` (what became of the output), and exits with
/// status 1.
pub fn watch(archive: &Path, consequence: &str) {
    let line = format!(
        "mimeflow: {} changed size while being read (truncated by another program?); {consequence}\n",
        archive.display()
    )
    .into_bytes()
    .into_boxed_slice();
    let len = line.len();
    let ptr = Box::leak(line).as_mut_ptr();
    // Length first: the handler reads the pointer, then the length, so it
    // never pairs a new pointer with a longer old length.
    LINE_LEN.store(len, Ordering::SeqCst);
    LINE.store(ptr, Ordering::SeqCst);
    install();
}

/// The same report for the other face of a truncation: a system call that
/// was handed bytes of the shrunken map (a message written to its file
/// straight from the archive) fails with `EFAULT` instead of raising
/// SIGBUS. When `err` carries that errno and [`watch`] is on, prints the
/// line and exits with status 1 (the output left as the module docs say).
pub fn exit_if_truncated(err: &anyhow::Error) {
    let efault = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            == Some(libc::EFAULT)
    });
    let ptr = LINE.load(Ordering::SeqCst);
    if !efault || ptr.is_null() {
        return;
    }
    let len = LINE_LEN.load(Ordering::SeqCst);
    // SAFETY: `ptr` and `len` describe a leaked, never freed boxed slice
    // (see `watch`).
    let line = unsafe { std::slice::from_raw_parts(ptr, len) };
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line);
    std::process::exit(1);
}

#[cfg(unix)]
fn install() {
    // SAFETY: an all-zero `sigaction` is a valid value (no flags, empty
    // mask) that every field is then set on.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: `action.sa_mask` is a valid, writable signal set.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised and `on_sigbus` has the
    // three-argument signature that SA_SIGINFO requires; it only calls
    // async-signal-safe functions (write, _exit, sigaction).
    let r = unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) };
    // Without the handler the run still works; only the one-line report
    // of a truncation is lost.
    debug_assert_eq!(r, 0, "sigaction(SIGBUS)");
}

#[cfg(not(unix))]
fn install() {}

#[cfg(unix)]
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    if code != libc::BUS_ADRERR {
        // Not a mapping past the end of its file: the default action, as
        // if we had never been here (the fault recurs on return).
        // SAFETY: an all-zero sigaction with SIG_DFL (0) restores the
        // default; sigaction is async-signal-safe.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, std::ptr::null_mut());
        }
        return;
    }
    let ptr = LINE.load(Ordering::SeqCst);
    let len = LINE_LEN.load(Ordering::SeqCst);
    if !ptr.is_null() {
        // SAFETY: `ptr` and `len` describe a leaked, never freed boxed
        // slice (see `watch`); write(2) is async-signal-safe. A failed
        // write leaves nothing better to do.
        unsafe { libc::write(libc::STDERR_FILENO, ptr.cast(), len) };
    }
    // SAFETY: _exit is async-signal-safe and runs no destructors, so no
    // half-finished output gets published on the way out (module docs).
    unsafe { libc::_exit(1) }
}
