//! Peak memory of a child process, for the tests that bound it.
//!
//! Anonymous memory (`RssAnon`) is what a streaming bound is about: the
//! total RSS (`VmHWM`, `ru_maxrss`) also counts the file-backed pages of
//! the binary and of mapped archives, whose number depends on what the page
//! cache already holds (the kernel maps cached neighbours of each faulting
//! page), so it moves with the machine's load rather than with the code.

use std::process::{Child, ExitStatus};
use std::time::Duration;

/// Reaps `child`, sampling `/proc/PID/status` every millisecond: peak
/// `RssAnon` and peak `VmHWM`, in bytes (0 where /proc is absent).
#[allow(dead_code)] // each test binary uses what it needs
pub fn peak_memory(mut child: Child) -> (u64, u64, ExitStatus) {
    let status_path = format!("/proc/{}/status", child.id());
    let field = |s: &str, name: &str| -> u64 {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let (mut anon, mut hwm) = (0, 0);
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            anon = anon.max(field(&s, "RssAnon:"));
            hwm = hwm.max(field(&s, "VmHWM:"));
        }
        if let Some(st) = child.try_wait().expect("try_wait") {
            return (anon << 10, hwm << 10, st);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
