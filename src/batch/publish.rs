//! Putting one message file of a folder output (Maildir, `.eml`) into
//! place, with the modification time of its Date.

use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use super::BatchError;
use crate::safe_fs::{Dir, TempFile};

/// How a finished message file goes into place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// Created under its final name: only in our own DEST.partial, which
    /// no one reads before it is renamed to DEST. A killed run may leave a
    /// short file there; the resumed run redoes that window, removes the
    /// file and creates it anew under the same name (it depends on the
    /// archive index and the message's bytes only).
    InPlace,
    /// A temp file, then linked into place without ever replacing a file
    /// (a folder that existed before the run).
    LinkNoClobber,
}

/// Writes `data` as `name` in `dir` (see [`Place`]), temp files in
/// `tmp_dir`. With [`Place::LinkNoClobber`] nothing is ever replaced: an
/// existing file with the same bytes counts as this one (a redone window
/// after a kill); another file, or anything that is not a plain file (a
/// planted symlink), moves us to the next name of
/// [`crate::safe_fs::numbered`] (`name-1`, `name-2`, ...). Returns the
/// final file name.
///
/// Syscalls per file: openat, write, futimens (when there is a date), close
/// -- plus renameat2 for [`Place::LinkNoClobber`]. No fsync: a conversion
/// is redone or resumed after a crash, and one fsync per message would
/// cost more than everything else together.
pub(crate) fn publish(
    tmp_dir: &Dir,
    dir: &Dir,
    name: &str,
    data: &[u8],
    mtime: Option<i64>,
    place: Place,
) -> Result<String, BatchError> {
    match place {
        Place::InPlace => in_place(dir, name, data, mtime),
        Place::LinkNoClobber => link_noclobber(tmp_dir, dir, name, data, mtime),
    }
}

fn in_place(dir: &Dir, name: &str, data: &[u8], mtime: Option<i64>) -> Result<String, BatchError> {
    // The path is built for an error only: this runs once per message.
    let err = |e| BatchError::io(&dir.display_path(name))(e);
    let mut f = match dir.create_new(name) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // Left by the interrupted run's unfinished window.
            dir.remove_file(name).map_err(err)?;
            dir.create_new(name)
        }
        r => r,
    }
    .map_err(err)?;
    if let Err(e) = f.write_all(data).and_then(|()| set_time(&f, mtime)) {
        drop(f);
        let _ = dir.remove_file(name);
        return Err(err(e));
    }
    Ok(name.to_string())
}

fn link_noclobber(
    tmp_dir: &Dir,
    dir: &Dir,
    name: &str,
    data: &[u8],
    mtime: Option<i64>,
) -> Result<String, BatchError> {
    let mut tmp = tmp_dir.temp().map_err(BatchError::io(tmp_dir.path()))?;
    let tmp_shown = tmp_dir.display_path(tmp.name());
    tmp.write_all(data)
        .and_then(|()| tmp.file().and_then(|f| set_time(f, mtime)))
        .map_err(BatchError::io(&tmp_shown))?;
    let same = |dir: &Dir, taken: &str, tmp: &mut TempFile| dir.same_content(taken, tmp.file()?);
    tmp.persist_numbered(dir, name, same)
        .map_err(BatchError::io(&dir.display_path(name)))
}

/// Sets the file's modification time to `mtime` (Unix seconds), if any.
fn set_time(f: &File, mtime: Option<i64>) -> io::Result<()> {
    match mtime {
        Some(t) if t >= 0 => f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)),
        Some(t) => {
            match SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(t.unsigned_abs())) {
                Some(when) => f.set_modified(when),
                None => Ok(()),
            }
        }
        None => Ok(()),
    }
}
