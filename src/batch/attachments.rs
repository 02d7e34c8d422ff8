//! `convert --attachments DIR`: every attachment written once, by content,
//! with an `attachments.jsonl` index linking each to its message.
//!
//! Workers decode each attachment straight into a [`TempFile`] in DIR
//! while they prepare a window (hashing it on the way), so a window holds
//! file descriptors, not attachment bytes, and no attachment is ever whole
//! in memory. The in-order commit ([`Index::add`])
//! then decides, by the sha256 of the content:
//!
//! * the first occurrence in this run is linked into place as
//!   `HASH16-NAME` (no-clobber: a taken name that holds other bytes moves
//!   it to `HASH16-NAME-1`, ...; one that holds the same bytes, a file left
//!   by an interrupted window or an earlier run, is used as it is);
//! * a later occurrence is an index line with `"duplicate": true` that
//!   points at the first one's file, and its temp file is dropped.
//!
//! "Duplicate" is defined by the index alone (an earlier line of this
//! run's index has the same content), so a resumed run rebuilds exactly
//! what it knew from the committed part of the index and ends with the
//! same index and counts as an uninterrupted run. The index itself is a
//! temp file whose name the resume state records; it is linked into place
//! as `attachments.jsonl` (or `attachments-N.jsonl`) when the run
//! completes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use serde_json::{json, Value};

use super::state::State;
use super::BatchError;
use crate::extract::safe_file_name;
use crate::safe_fs::{self, Dir, Kind, TempFile};

/// Bytes of the content hash that start an attachment's file name.
pub(crate) const HASH_PREFIX: usize = 16;

/// One attachment of a prepared message.
pub(crate) struct Attachment {
    pub sha: String,
    /// Its safe file name (without the hash prefix).
    pub name: String,
    pub section: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
    /// The decoded bytes, on disk under a temp name (removed unless
    /// [`Index::add`] files them: a duplicate's goes).
    pub file: TempFile,
}

/// A temp file in `dir` for one attachment.
pub(crate) fn temp(dir: &Dir) -> Result<TempFile, BatchError> {
    dir.temp().map_err(BatchError::io(dir.path()))
}

/// The attachments folder and its index, during a run.
pub(crate) struct Index {
    dir: Dir,
    /// Temp name of the index (recorded in the resume state).
    index_name: String,
    index: BufWriter<File>,
    /// sha256 prefix -> file name, of the contents this run's index has.
    known: HashMap<String, String>,
    /// sha256 prefix -> file name, of `HASH16-*` files that were in the
    /// folder when the run started (reused instead of written again).
    existing: HashMap<String, String>,
}

impl Index {
    /// Opens (creating) the folder `dir`; a resumed run reopens its index.
    pub fn open(
        dir: &std::path::Path,
        force: bool,
        resume: bool,
        state: &mut State,
    ) -> Result<Index, BatchError> {
        let folder = Dir::create_all(dir).map_err(BatchError::io(dir))?;
        let reopen = resume && !state.attach_index.is_empty();
        if reopen {
            // Temp files of the interrupted run's unfinished window.
            folder
                .sweep_temps(&[&state.attach_index])
                .map_err(BatchError::io(dir))?;
        }
        let mut existing = HashMap::new();
        let mut other = false;
        for e in folder.entries().map_err(BatchError::io(dir))? {
            let Some(name) = e.name.to_str() else {
                other = true;
                continue;
            };
            if reopen && name == state.attach_index {
                continue;
            }
            other = true;
            let prefix = name
                .get(..HASH_PREFIX)
                .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()));
            if let (Kind::File, Some(p), Some(b'-')) =
                (e.kind, prefix, name.as_bytes().get(HASH_PREFIX))
            {
                existing
                    .entry(p.to_string())
                    .and_modify(|n: &mut String| {
                        // Listing order is arbitrary: keep the smallest
                        // name, so the choice is repeatable.
                        if name < n.as_str() {
                            *n = name.to_string();
                        }
                    })
                    .or_insert_with(|| name.to_string());
            }
        }
        if other && !force && !resume {
            return Err(BatchError::NotEmpty {
                path: dir.into(),
                folder: super::Folder::Attachments,
            });
        }
        let (mut file, index_name) = if reopen {
            let t = folder
                .reopen_temp(&state.attach_index)
                .map_err(BatchError::io(&folder.display_path(&state.attach_index)))?;
            t.keep().map_err(BatchError::io(dir))?
        } else {
            folder
                .temp()
                .and_then(|t| t.keep())
                .map_err(BatchError::io(dir))?
        };
        let shown = folder.display_path(&index_name);
        let keep = if reopen { state.attach_bytes } else { 0 };
        let known = if reopen {
            committed_index(&mut file, keep).map_err(BatchError::io(&shown))?
        } else {
            HashMap::new()
        };
        safe_fs::set_len_if_needed(&file, keep).map_err(BatchError::io(&shown))?;
        file.seek(SeekFrom::End(0))
            .map_err(BatchError::io(&shown))?;
        state.attach_index = index_name.clone();
        state.attach_bytes = keep;
        Ok(Index {
            dir: folder,
            index_name,
            index: BufWriter::new(file),
            known,
            existing,
        })
    }

    /// The folder (workers write temp files into it).
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Files the attachments of one message and writes their index lines;
    /// returns each one's (section, path in the folder).
    pub fn add(
        &mut self,
        message_index: u64,
        message_offset: u64,
        message_id: Option<&str>,
        attachments: Vec<Attachment>,
        state: &mut State,
    ) -> Result<Vec<(String, String)>, BatchError> {
        let mut paths = Vec::with_capacity(attachments.len());
        for a in attachments {
            let key = a.sha[..HASH_PREFIX].to_string();
            let (path, duplicate) = match self.known.get(&key) {
                Some(f) => (f.clone(), true),
                None => {
                    let mut tmp = a.file;
                    // A file of an earlier run (or of the interrupted
                    // window) with this content is used as it is.
                    let reuse = match self.existing.get(&key) {
                        Some(name) => tmp
                            .file()
                            .and_then(|f| self.dir.same_content(name, f))
                            .map_err(BatchError::io(&self.dir.display_path(name)))?
                            .then(|| name.clone()),
                        None => None,
                    };
                    let name = match reuse {
                        Some(name) => name,
                        None => self.publish(tmp, &key, &a.name)?,
                    };
                    self.known.insert(key, name.clone());
                    (name, false)
                }
            };
            if duplicate {
                state.attachments_duplicate += 1;
            } else {
                state.attachments_written += 1;
            }
            let line = json!({
                "message_index": message_index,
                "message_offset": message_offset,
                "message_id": message_id,
                "section": a.section,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha,
                "path": path,
                "duplicate": duplicate,
            });
            writeln!(self.index, "{line}")
                .map_err(BatchError::io(&self.dir.display_path(&self.index_name)))?;
            paths.push((a.section, path));
        }
        Ok(paths)
    }

    /// Links a temp file into place as `KEY-NAME`, `KEY-NAME-1`, ...
    /// ([`crate::safe_fs::numbered`]); a taken name with the same bytes is
    /// used as it is.
    fn publish(&self, tmp: TempFile, key: &str, name: &str) -> Result<String, BatchError> {
        let base = safe_file_name(&format!("{key}-{name}"), &format!("{key}.bin"));
        let same =
            |dir: &Dir, taken: &str, tmp: &mut TempFile| dir.same_content(taken, tmp.file()?);
        tmp.persist_numbered(&self.dir, &base, same)
            .map_err(BatchError::io(&self.dir.display_path(&base)))
    }

    /// Flushes the index and records its length in `state`.
    pub fn flush(&mut self, state: &mut State) -> Result<(), BatchError> {
        let shown = self.dir.display_path(&self.index_name);
        self.index.flush().map_err(BatchError::io(&shown))?;
        state.attach_bytes = self
            .index
            .get_ref()
            .stream_position()
            .map_err(BatchError::io(&shown))?;
        Ok(())
    }

    /// Links the index into place as `attachments.jsonl` (or `-N`).
    pub fn finish(mut self) -> Result<(), BatchError> {
        let shown = self.dir.display_path(&self.index_name);
        self.index.flush().map_err(BatchError::io(&shown))?;
        let taken = |name: &str| match self.dir.link_noclobber(&self.index_name, &self.dir, name) {
            Ok(()) => Ok(Some(())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        };
        safe_fs::first_free("attachments.jsonl", &mut 0, taken)
            .map_err(BatchError::io(&self.dir.display_path("attachments.jsonl")))?;
        self.dir
            .remove_file(&self.index_name)
            .map_err(BatchError::io(&shown))
    }

    /// After a failed fresh run: the index goes (the files stay: they are
    /// complete, and named by content).
    pub fn discard(self) {
        let _ = self.dir.remove_file(&self.index_name);
    }
}

/// The content known from the first `len` bytes of an index: the file of
/// each first occurrence.
fn committed_index(file: &mut File, len: u64) -> io::Result<HashMap<String, String>> {
    file.seek(SeekFrom::Start(0))?;
    let mut known = HashMap::new();
    for line in BufReader::new(file.take(len)).lines() {
        let v: Value = serde_json::from_str(&line?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if v.get("duplicate") == Some(&Value::Bool(false)) {
            if let (Some(sha), Some(path)) = (
                v.get("sha256").and_then(Value::as_str),
                v.get("path").and_then(Value::as_str),
            ) {
                if let Some(key) = sha.get(..HASH_PREFIX) {
                    known.insert(key.to_string(), path.to_string());
                }
            }
        }
    }
    Ok(known)
}
