//! The resume state of a run: one small JSON file beside the destination
//! (`.DEST.mimeflow-state`), replaced atomically (temp file + rename) after
//! every committed window and removed when the run completes.
//!
//! It records where the output is being built, how far the source was read
//! (offset of the next message, messages consumed), the counters, and how
//! long `DEST.partial` and the attachment index were at that point: a run
//! killed in the middle of a window may have appended more, which resuming
//! cuts off.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::BatchError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub format: String,
    pub source: String,
    pub source_size: u64,
    /// Where the output is built (DEST.partial, or DEST with --force).
    pub work: PathBuf,
    pub offset: u64,
    pub messages: u64,
    pub written: u64,
    pub skipped: u64,
    pub defective: u64,
    pub unparseable: u64,
    pub bytes_in: u64,
    /// Length of DEST.partial (single-file outputs).
    pub out_bytes: u64,
    /// Length of the attachment index's partial file.
    pub attach_bytes: u64,
    pub attachments_written: u64,
    pub attachments_duplicate: u64,
}

/// `.NAME.mimeflow-state` beside `dest`.
pub(crate) fn path_for(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    dir.join(format!(".{name}.mimeflow-state"))
}

impl State {
    pub fn load(path: &Path) -> Result<Option<State>, BatchError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BatchError::io(path)(e)),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            BatchError::Resume(format!("{}: unreadable state ({e})", path.display()))
        })?;
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        Ok(Some(State {
            format: s("format"),
            source: s("source"),
            source_size: n("source_size"),
            work: PathBuf::from(s("work")),
            offset: n("offset"),
            messages: n("messages"),
            written: n("written"),
            skipped: n("skipped"),
            defective: n("defective"),
            unparseable: n("unparseable"),
            bytes_in: n("bytes_in"),
            out_bytes: n("out_bytes"),
            attach_bytes: n("attach_bytes"),
            attachments_written: n("attachments_written"),
            attachments_duplicate: n("attachments_duplicate"),
        }))
    }

    pub fn save(&self, path: &Path) -> Result<(), BatchError> {
        let v = json!({
            "version": 1,
            "format": self.format,
            "source": self.source,
            "source_size": self.source_size,
            "work": self.work.to_string_lossy(),
            "offset": self.offset,
            "messages": self.messages,
            "written": self.written,
            "skipped": self.skipped,
            "defective": self.defective,
            "unparseable": self.unparseable,
            "bytes_in": self.bytes_in,
            "out_bytes": self.out_bytes,
            "attach_bytes": self.attach_bytes,
            "attachments_written": self.attachments_written,
            "attachments_duplicate": self.attachments_duplicate,
        });
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let mut f = fs::File::create(&tmp).map_err(BatchError::io(&tmp))?;
        f.write_all(format!("{v}\n").as_bytes())
            .map_err(BatchError::io(&tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(BatchError::io(path))
    }
}
