//! Multipart boundaries and other unique tokens (Message-ID, Content-ID).
//!
//! A boundary must not occur in what it encloses (RFC 2046 §5.1.1). Ours
//! are safe by construction against encoded content: they contain `=_`,
//! which neither base64 (no `=` before the end, never followed by `_`) nor
//! quoted-printable (`=` is always followed by two hex digits or a line
//! end) can produce. Content carried as is (7bit, 8bit, binary, a carried
//! message) is checked with `memmem`, and a new boundary drawn on a hit.
//!
//! Randomness comes from std's `RandomState` (randomly keyed SipHash) over
//! the time, the process id and a counter: unpredictable enough for
//! uniqueness, no extra crate.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 unpredictable bits.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(now);
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A fresh boundary: `=_mf_` and 32 hex digits (37 characters; RFC 2046
/// allows 70).
pub fn generate() -> String {
    format!("=_mf_{:016x}{:016x}", random_u64(), random_u64())
}

/// Whether `boundary` could be confused with a delimiter line inside
/// `content` (any occurrence of `--boundary` counts; being conservative
/// costs only a redraw).
pub fn collides(boundary: &str, content: &[u8]) -> bool {
    let mut needle = Vec::with_capacity(boundary.len() + 2);
    needle.extend_from_slice(b"--");
    needle.extend_from_slice(boundary.as_bytes());
    memchr::memmem::find(content, &needle).is_some()
}

/// A boundary that occurs in none of `contents`.
pub fn generate_for<'a>(contents: impl Iterator<Item = &'a [u8]> + Clone) -> String {
    loop {
        let b = generate();
        if !contents.clone().any(|c| collides(&b, c)) {
            return b;
        }
    }
}

/// The domain part of generated ids: the host name if known, else
/// `mimeflow.invalid`.
pub fn id_domain() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        });
    host.unwrap_or_else(|| "mimeflow.invalid".to_string())
}

/// A unique id `<hex.hex@domain>` for Message-ID or Content-ID.
pub fn unique_id(domain: &str) -> String {
    format!(
        "<{:016x}.{:08x}@{domain}>",
        random_u64(),
        random_u64() as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_and_safe() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.contains("=_"));
        assert!(collides(&a, format!("x\r\n--{a}\r\n").as_bytes()));
        let c = generate_for([b"abc".as_slice()].into_iter());
        assert!(c.starts_with("=_mf_"));
    }
}
