//! The resume state of a run: one small JSON file beside the destination
//! (`.DEST.mimeflow-state`), replaced atomically (a [`safe_fs::AtomicFile`]
//! committed with [`Commit::Replace`]) after every committed window and removed when the run
//! completes.
//!
//! It records whether the output is being built in `DEST.partial` or in
//! DEST itself (`--force`), what the source was (see
//! [`super::fingerprint`]), how far it was read (offset of the next
//! message, messages consumed), the counters, and how long `DEST.partial`
//! and the attachment index were at that point: a run killed in the middle
//! of a window may have appended more, which resuming cuts off.
//!
//! The file is read and written only relative to the destination's parent
//! folder, never through a link ([`safe_fs::Dir`]).

use std::ffi::OsStr;
use std::io::{self, Read, Write};

use serde_json::{json, Value};

use super::BatchError;
use crate::safe_fs::{AtomicFile, Commit, Dir};

/// Version of the state file's format, and of what a resumed run writes
/// beside the files of the run it resumes; another version is refused.
/// 3: Maildir names tag the header block with XXH3 (a resumed run must name
/// the files of the interrupted run's unfinished window as it did, to
/// replace them rather than add a second copy).
const VERSION: u64 = 3;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub format: String,
    /// What the source was, shown in messages.
    pub source: String,
    /// The source's fingerprint (see [`super::fingerprint`]).
    pub fingerprint: Value,
    /// The output is built in `DEST.partial` (else in DEST itself).
    pub partial: bool,
    pub offset: u64,
    pub messages: u64,
    pub written: u64,
    pub skipped: u64,
    pub defective: u64,
    pub unparseable: u64,
    pub bytes_in: u64,
    /// Length of DEST.partial (single-file outputs).
    pub out_bytes: u64,
    /// Temp name of the attachment index in the attachments folder.
    pub attach_index: String,
    /// Length of the attachment index.
    pub attach_bytes: u64,
    pub attachments_written: u64,
    pub attachments_duplicate: u64,
}

impl State {
    /// The state saved as `name` in `dir`, if there is one.
    pub fn load(dir: &Dir, name: &OsStr) -> Result<Option<State>, BatchError> {
        let shown = dir.display_path(name);
        let mut text = String::new();
        match dir.open_file(name) {
            Ok(mut f) => f
                .read_to_string(&mut text)
                .map_err(BatchError::io(&shown))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(BatchError::io(&shown)(e)),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            BatchError::Resume(format!("{}: unreadable state ({e})", shown.display()))
        })?;
        let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if n("version") != VERSION {
            return Err(BatchError::Resume(format!(
                "{} was written by another version of mimeflow (state version {}, this one reads {VERSION}); remove it and the partial output to start over",
                shown.display(),
                n("version")
            )));
        }
        Ok(Some(State {
            format: s("format"),
            source: s("source"),
            fingerprint: v.get("fingerprint").cloned().unwrap_or(Value::Null),
            partial: v.get("partial").and_then(Value::as_bool).unwrap_or(true),
            offset: n("offset"),
            messages: n("messages"),
            written: n("written"),
            skipped: n("skipped"),
            defective: n("defective"),
            unparseable: n("unparseable"),
            bytes_in: n("bytes_in"),
            out_bytes: n("out_bytes"),
            attach_index: s("attach_index"),
            attach_bytes: n("attach_bytes"),
            attachments_written: n("attachments_written"),
            attachments_duplicate: n("attachments_duplicate"),
        }))
    }

    /// Saves the state as `name` in `dir`: a temp file renamed over it.
    pub fn save(&self, dir: &Dir, name: &OsStr) -> Result<(), BatchError> {
        let v = json!({
            "version": VERSION,
            "format": self.format,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "partial": self.partial,
            "offset": self.offset,
            "messages": self.messages,
            "written": self.written,
            "skipped": self.skipped,
            "defective": self.defective,
            "unparseable": self.unparseable,
            "bytes_in": self.bytes_in,
            "out_bytes": self.out_bytes,
            "attach_index": self.attach_index,
            "attach_bytes": self.attach_bytes,
            "attachments_written": self.attachments_written,
            "attachments_duplicate": self.attachments_duplicate,
        });
        let shown = dir.display_path(name);
        let mut file =
            AtomicFile::create(dir, name, Commit::Replace).map_err(BatchError::io(dir.path()))?;
        file.write_all(format!("{v}\n").as_bytes())
            .and_then(|()| file.commit())
            .map_err(BatchError::io(&shown))
    }
}
