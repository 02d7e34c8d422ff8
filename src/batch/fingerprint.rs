//! What the source of a run was, so that `--resume` refuses another one.
//!
//! A resumed run skips what the interrupted run committed, so resuming with
//! a different archive would silently mix or drop messages. The check must
//! stay cheap on a 40 GB archive, so it reads a few MiB, never the whole:
//!
//! * a file (mapped, or a compressed archive streamed from a file): its
//!   canonical path, size, modification time, device and inode, and the
//!   sha256 of its first MiB; for a mapped archive also, refreshed at every
//!   save, the sha256 of the MiB before the resume offset (the last bytes
//!   the interrupted run read, which an edit in place would change);
//! * a folder (Maildir, `.eml`): the sha256 of its sorted (name, size) list;
//! * a stream that is not a file (standard input, a pipe), which is read
//!   again from its start anyway: the sha256 chain of the messages
//!   committed, compared when the resumed run has skipped them
//!   ([`Chain`]).

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::source::Source;
use super::{hex, BatchError};

/// Bytes hashed at the head of a file and before the resume offset.
const WINDOW: u64 = 1 << 20;

/// The fingerprint of `src` (without the part that depends on the offset).
pub(crate) fn of(src: &Source) -> Result<Value, BatchError> {
    match src {
        Source::Mapped { path, map, .. } => {
            let data = map.bytes();
            let head = &data[..data.len().min(WINDOW as usize)];
            file(path, Some(head))
        }
        Source::Stream { path, .. } => match fs::metadata(path) {
            Ok(m) if m.is_file() => file(path, None),
            _ => Ok(json!({"kind": "stream", "path": path.display().to_string()})),
        },
        Source::Files { path, files, .. } => {
            let mut list: Vec<(Vec<u8>, u64)> = Vec::with_capacity(files.len());
            for (f, _) in files {
                let size = fs::symlink_metadata(f).map_err(BatchError::io(f))?.len();
                let rel = f.strip_prefix(path).unwrap_or(f);
                list.push((rel.as_os_str().as_encoded_bytes().to_vec(), size));
            }
            list.sort();
            let mut h = Sha256::new();
            for (name, size) in &list {
                h.update((name.len() as u64).to_le_bytes());
                h.update(name);
                h.update(size.to_le_bytes());
            }
            Ok(json!({
                "kind": "folder",
                "path": canonical(path),
                "entries": list.len(),
                "list_sha256": hex(&h.finalize()),
            }))
        }
    }
}

fn canonical(path: &Path) -> String {
    fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn file(path: &Path, head: Option<&[u8]>) -> Result<Value, BatchError> {
    let m = fs::metadata(path).map_err(BatchError::io(path))?;
    let head = match head {
        Some(h) => Sha256::digest(h),
        None => {
            let mut buf = Vec::new();
            fs::File::open(path)
                .and_then(|f| f.take(WINDOW).read_to_end(&mut buf))
                .map_err(BatchError::io(path))?;
            Sha256::digest(&buf)
        }
    };
    Ok(json!({
        "kind": "file",
        "path": canonical(path),
        "size": m.len(),
        "mtime_ns": m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        "dev": m.dev(),
        "inode": m.ino(),
        "head_sha256": hex(&head),
    }))
}

/// The sha256 of the MiB before `offset` of a mapped source (`None` for
/// other sources).
pub(crate) fn before(src: &Source, offset: u64) -> Option<String> {
    match src {
        Source::Mapped { map, .. } => {
            let data = map.bytes();
            let end = offset.min(data.len() as u64) as usize;
            let start = end.saturating_sub(WINDOW as usize);
            Some(hex(&Sha256::digest(&data[start..end])))
        }
        _ => None,
    }
}

/// Whether `src` is a stream that must be fingerprinted by its content.
pub(crate) fn needs_chain(fp: &Value) -> bool {
    fp.get("kind").and_then(Value::as_str) == Some("stream")
}

/// A running sha256 over the messages committed from a stream: each
/// message's offset, length and sha256 in turn.
#[derive(Clone, Debug, Default)]
pub(crate) struct Chain {
    digest: [u8; 32],
}

impl Chain {
    /// The chain saved as hex (empty: nothing committed yet).
    pub fn from_hex(s: &str) -> Chain {
        let mut digest = [0u8; 32];
        if s.len() == 64 {
            for (i, d) in digest.iter_mut().enumerate() {
                *d = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0);
            }
        }
        Chain { digest }
    }

    /// The chain as hex.
    pub fn to_hex(&self) -> String {
        hex(&self.digest)
    }

    /// One message's link: computed by the worker that prepares it (the
    /// expensive part, in parallel), then added in order by [`Chain::push_digest`].
    pub fn link(offset: u64, envelope: Option<&[u8]>, message: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(offset.to_le_bytes());
        h.update((envelope.map_or(0, <[u8]>::len) as u64).to_le_bytes());
        h.update(envelope.unwrap_or_default());
        h.update(message);
        h.finalize().into()
    }

    /// Adds one message's link.
    pub fn push_digest(&mut self, link: &[u8; 32]) {
        let mut h = Sha256::new();
        h.update(self.digest);
        h.update(link);
        self.digest = h.finalize().into();
    }
}

/// Compares the saved fingerprint with the current one; the error says
/// what differs.
pub(crate) fn check(saved: &Value, now: &Value, shown: &str) -> Result<(), BatchError> {
    // The chain of a stream is checked once its messages were read again.
    let mut saved = saved.clone();
    if let Some(o) = saved.as_object_mut() {
        o.remove("chain_sha256");
    }
    if &saved == now {
        return Ok(());
    }
    let what = [
        "kind",
        "path",
        "size",
        "mtime_ns",
        "inode",
        "dev",
        "head_sha256",
        "before_sha256",
        "entries",
        "list_sha256",
    ]
    .iter()
    .find(|k| saved.get(**k) != now.get(**k))
    .copied()
    .unwrap_or("fingerprint");
    let why = match what {
        "kind" | "path" => format!(
            "the interrupted run read {}",
            saved
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or("another source")
        ),
        "size" | "mtime_ns" => {
            "the source changed since the interrupted run (size or modification time)".to_string()
        }
        "inode" | "dev" => {
            "the source was replaced by another file since the interrupted run".to_string()
        }
        "head_sha256" => "the source's first MiB differs from the interrupted run's".to_string(),
        "before_sha256" => {
            "the source's bytes before the resume point differ from the interrupted run's"
                .to_string()
        }
        _ => "the folder's list of files or their sizes changed since the interrupted run"
            .to_string(),
    };
    Err(BatchError::Resume(format!(
        "{shown} is not the source of the interrupted run: {why}"
    )))
}
