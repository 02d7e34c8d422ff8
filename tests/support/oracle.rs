//! The one rule for tests whose oracle (python3, GNU `base64`, the shared
//! corpora, `/proc`) may be missing: locally the check is skipped with a
//! visible message; under CI, where `.ci/run` exports
//! `MIMEFLOW_REQUIRE_ORACLES=1`, a missing oracle fails the test, so a broken
//! runner cannot turn a differential test into a silent pass.
//!
//! Included with `#[path = "support/oracle.rs"] mod oracle;` by each
//! integration test that needs it (each test file is a crate of its own).

// Not every including test calls every function.
#![allow(dead_code)]

/// Whether missing oracles fail instead of skipping.
pub fn required() -> bool {
    std::env::var_os("MIMEFLOW_REQUIRE_ORACLES").is_some_and(|v| v == "1")
}

/// Reports that `what` is missing: panics when oracles are required, else
/// prints a skip message. Callers return right after it.
#[track_caller]
pub fn missing(what: &str) {
    if required() {
        panic!("{what} (MIMEFLOW_REQUIRE_ORACLES=1: a missing oracle is a failure)");
    }
    eprintln!("skipped: {what}");
}
