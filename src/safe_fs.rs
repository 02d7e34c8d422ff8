//! Creating files where an attacker may have been first.
//!
//! Every file and folder mimeflow creates goes through this module. Mail is
//! often converted in folders other people can write to (a shared spool, a
//! Downloads folder, an archive someone handed over), so the output path
//! itself is hostile ground: a symlink planted at a temp name would redirect
//! a write to any file the user can write, and a folder swapped for a link
//! in the middle of a run would move the rest of the output elsewhere.
//!
//! The rules, each enforced here once:
//!
//! * **Relative to an open folder.** A [`Dir`] holds a descriptor opened
//!   with `O_DIRECTORY`, and every operation is an `*at` call on it
//!   (`openat`, `mkdirat`, `linkat`, `renameat2`, `unlinkat`). Renaming or
//!   replacing the folder's *path* after it was opened does not move our
//!   writes: they keep going to the folder we checked.
//! * **Below the folder, no link is followed.** Sub-folders are opened with
//!   `O_NOFOLLOW` (a planted `new -> /etc` fails with "is a symbolic link")
//!   and files are created with `O_CREAT|O_EXCL|O_NOFOLLOW`: a name that
//!   exists in any form, a dangling link included, is never opened for
//!   writing. The folder the user named may itself be a link (it is their
//!   path); nothing under it may.
//! * **Temp then rename, with short random names.** [`Dir::temp`] makes
//!   `.mimeflow-PID-SEQ-RANDOM.tmp`: at most 60 bytes whatever the final
//!   name (a 250-byte attachment name still gets a temp file), hard to
//!   guess, and created exclusively, so a planted file or link with that
//!   name only makes us pick another. [`TempFile::persist_noclobber`] links
//!   it into place without replacing anything; [`TempFile::persist_replace`]
//!   renames over a name, for files that are ours to replace (a resume
//!   state, an `-o` target). A temp file not persisted is removed on drop.
//!   [`AtomicFile`] is the one temp-then-rename scheme built on them (the
//!   CLI's `-o` file, Python's `write_to`, the resume state), committed
//!   with [`Commit::Replace`] or [`Commit::NoClobber`].
//! * **One numbering rule.** A taken name becomes `name-1`, `name-2`, ...
//!   before its short extension ([`numbered`]), for extracted attachments,
//!   converted messages, the attachment store and its index alike
//!   ([`Dir::create_numbered`], [`TempFile::persist_numbered`],
//!   [`first_free`]).
//! * **One vocabulary of errors.** Failures are `io::Error`s of the usual
//!   kinds (`AlreadyExists` for a taken name), and a link where a folder or
//!   file was expected is reported as such rather than as the kernel's
//!   `ELOOP`.
//!
//! Unix only: the `*at` calls come from the `rustix` crate, which wraps
//! them in safe functions.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, CWD};
use rustix::io::Errno;

/// Mode of the files we create (before the umask), as `open(2)` callers do.
const FILE_MODE: u32 = 0o644;
/// Mode of the folders we create (before the umask).
const DIR_MODE: u32 = 0o755;
/// Prefix and suffix of every temp file name.
const TEMP_PREFIX: &str = ".mimeflow-";
const TEMP_SUFFIX: &str = ".tmp";

/// An open folder that files are created in (see the module docs).
///
/// Cloning is cheap: clones share the descriptor.
#[derive(Clone, Debug)]
pub struct Dir {
    inner: Arc<DirInner>,
}

#[derive(Debug)]
struct DirInner {
    fd: OwnedFd,
    /// The path it was opened as, for messages only: never reopened.
    path: PathBuf,
}

/// What a name in a folder is, without following a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (whatever it points at).
    Symlink,
    /// A device, FIFO or socket.
    Other,
}

/// One entry of [`Dir::entries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the folder.
    pub name: OsString,
    /// What it is (links not followed).
    pub kind: Kind,
}

fn errno(e: Errno) -> io::Error {
    e.into()
}

fn is_link_error(e: Errno) -> bool {
    // O_NOFOLLOW on a link gives ELOOP; O_DIRECTORY|O_NOFOLLOW on a link
    // gives ENOTDIR on some kernels.
    e == Errno::LOOP || e == Errno::NOTDIR
}

fn kind_of(st: &rustix::fs::Stat) -> Kind {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// Checks that `name` is one plain component: no `/`, not empty, not `.`
/// or `..`. Names come from mail (attachments) or from our own formats;
/// this is the last line of defence, not the sanitiser.
fn check_name(name: &OsStr) -> io::Result<()> {
    let b = name.as_bytes();
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{:?}: not a plain file name", name),
        ));
    }
    Ok(())
}

/// Splits a user-given path into the folder that holds it and its last
/// component: `out/` and `out` both name `out` in `.`; `a/b/..` is refused
/// (there is no last name to create).
pub fn split_dest(path: &Path) -> io::Result<(PathBuf, OsString)> {
    let invalid = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: does not end in a file or folder name", path.display()),
        )
    };
    let mut comps = path.components();
    let last = match comps.next_back() {
        Some(Component::Normal(n)) => n.to_owned(),
        _ => return Err(invalid()),
    };
    let parent = comps.as_path();
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    };
    Ok((parent, last))
}

/// Cuts (or extends) the open file `f` to `len` bytes, and leaves it alone
/// when it is that long already: a fresh output is not truncated.
///
/// Truncating costs even when nothing changes. ext4 runs its truncate for
/// any `ftruncate` that does not grow the file, and one that leaves it
/// empty marks it for `auto_da_alloc` (a heuristic for programs that
/// rewrite a file in place): its whole content is then written back by the
/// `close` at the end of the run, on the thread that closes it. A fresh
/// 70 MB JSON Lines output "cut" to its zero bytes at the start spent
/// 28 ms in that `close` (strace -T; Zen 4 guest, `discard` mount), a
/// serial 6% of a 0.5 s two-thread run.
pub fn set_len_if_needed(f: &File, len: u64) -> io::Result<()> {
    if f.metadata()?.len() != len {
        f.set_len(len)?;
    }
    Ok(())
}

impl Dir {
    /// Opens the existing folder `path`. `path` is the user's: a link in it,
    /// the last component included, is followed.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        Ok(Dir::from_fd(fd, path.to_path_buf()))
    }

    /// Opens `path`, creating it and any missing parents first (`mkdir -p`).
    pub fn create_all(path: &Path) -> io::Result<Dir> {
        match Dir::open(path) {
            Ok(d) => return Ok(d),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir_all(path)?;
        Dir::open(path)
    }

    fn from_fd(fd: OwnedFd, path: PathBuf) -> Dir {
        Dir {
            inner: Arc::new(DirInner { fd, path }),
        }
    }

    /// The path the folder was opened as (for messages).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// `path()/name`, for messages.
    pub fn display_path(&self, name: impl AsRef<OsStr>) -> PathBuf {
        self.inner.path.join(name.as_ref())
    }

    fn fd(&self) -> impl AsFd + '_ {
        &self.inner.fd
    }

    /// The error for a link found where we refuse to follow one.
    fn link_refused(&self, name: &OsStr) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: is a symbolic link; refusing to write through it",
                self.display_path(name).display()
            ),
        )
    }

    /// Opens the existing sub-folder `name`; a link there is refused.
    pub fn open_dir(&self, name: impl AsRef<OsStr>) -> io::Result<Dir> {
        let name = name.as_ref();
        check_name(name)?;
        match rustix::fs::openat(
            self.fd(),
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => Ok(Dir::from_fd(fd, self.display_path(name))),
            Err(e) if is_link_error(e) && self.kind(name)? == Some(Kind::Symlink) => {
                Err(self.link_refused(name))
            }
            Err(e) => Err(errno(e)),
        }
    }

    /// Creates the sub-folder `name`, which must not exist, and opens it.
    pub fn create_dir(&self, name: impl AsRef<OsStr>) -> io::Result<Dir> {
        let name = name.as_ref();
        check_name(name)?;
        rustix::fs::mkdirat(self.fd(), name, Mode::from_raw_mode(DIR_MODE)).map_err(errno)?;
        self.open_dir(name)
    }

    /// Opens the sub-folder `name`, creating it if it is missing; a link
    /// there is refused.
    pub fn ensure_dir(&self, name: impl AsRef<OsStr>) -> io::Result<Dir> {
        let name = name.as_ref();
        check_name(name)?;
        match rustix::fs::mkdirat(self.fd(), name, Mode::from_raw_mode(DIR_MODE)) {
            Ok(()) | Err(Errno::EXIST) => self.open_dir(name),
            Err(e) => Err(errno(e)),
        }
    }

    /// Creates the file `name` exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`):
    /// `AlreadyExists` if anything, a link included, has that name.
    pub fn create_new(&self, name: impl AsRef<OsStr>) -> io::Result<File> {
        self.create_exclusive(name.as_ref(), OFlags::WRONLY)
    }

    fn create_exclusive(&self, name: &OsStr, access: OFlags) -> io::Result<File> {
        check_name(name)?;
        let fd = rustix::fs::openat(
            self.fd(),
            name,
            access | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(FILE_MODE),
        )
        .map_err(errno)?;
        Ok(File::from(fd))
    }

    /// Opens the existing regular file `name` for reading and writing (a
    /// run being resumed reopens its own partial output); a link or a
    /// non-regular file is refused.
    pub fn open_file_rw(&self, name: impl AsRef<OsStr>) -> io::Result<File> {
        self.open_regular(name.as_ref(), OFlags::RDWR)
    }

    /// Opens the existing regular file `name` for reading; a link or a
    /// non-regular file is refused.
    pub fn open_file(&self, name: impl AsRef<OsStr>) -> io::Result<File> {
        self.open_regular(name.as_ref(), OFlags::RDONLY)
    }

    fn open_regular(&self, name: &OsStr, mode: OFlags) -> io::Result<File> {
        check_name(name)?;
        let fd = match rustix::fs::openat(
            self.fd(),
            name,
            // NONBLOCK: opening a FIFO planted under the name must not hang.
            mode | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) if e == Errno::LOOP => return Err(self.link_refused(name)),
            Err(e) => return Err(errno(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(errno)?;
        if kind_of(&st) != Kind::File {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a regular file", self.display_path(name).display()),
            ));
        }
        // Back to blocking I/O for a regular file (NONBLOCK has no effect on
        // them, but leave no surprise for later users of the descriptor).
        rustix::fs::fcntl_setfl(
            &fd,
            rustix::fs::fcntl_getfl(&fd).map_err(errno)? - OFlags::NONBLOCK,
        )
        .map_err(errno)?;
        Ok(File::from(fd))
    }

    /// What `name` is, without following a link; `None` when it is absent.
    pub fn kind(&self, name: impl AsRef<OsStr>) -> io::Result<Option<Kind>> {
        let name = name.as_ref();
        check_name(name)?;
        match rustix::fs::statat(self.fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(kind_of(&st))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    /// The size of the regular file `name` (links not followed), or `None`
    /// when it is absent or something else.
    pub fn file_len(&self, name: impl AsRef<OsStr>) -> io::Result<Option<u64>> {
        let name = name.as_ref();
        check_name(name)?;
        match rustix::fs::statat(self.fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if kind_of(&st) == Kind::File => Ok(Some(st.st_size as u64)),
            Ok(_) | Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(errno(e)),
        }
    }

    /// The folder's entries (without `.` and `..`), in no order.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut dir = rustix::fs::Dir::read_from(self.fd()).map_err(errno)?;
        let mut out = Vec::new();
        while let Some(e) = dir.read() {
            let e = e.map_err(errno)?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name).to_owned();
            let kind = match e.file_type() {
                FileType::RegularFile => Kind::File,
                FileType::Directory => Kind::Dir,
                FileType::Symlink => Kind::Symlink,
                FileType::Unknown => self.kind(&name)?.unwrap_or(Kind::Other),
                _ => Kind::Other,
            };
            out.push(Entry { name, kind });
        }
        Ok(out)
    }

    /// Whether the folder has no entries.
    pub fn is_empty(&self) -> io::Result<bool> {
        let mut dir = rustix::fs::Dir::read_from(self.fd()).map_err(errno)?;
        while let Some(e) = dir.read() {
            let e = e.map_err(errno)?;
            let name = e.file_name().to_bytes();
            if name != b"." && name != b".." {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes the file (or link) `name`; a folder is refused.
    pub fn remove_file(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        check_name(name)?;
        rustix::fs::unlinkat(self.fd(), name, AtFlags::empty()).map_err(errno)
    }

    /// Hard-links `from` (in this folder) as `to` in `to_dir`; never
    /// replaces anything (`AlreadyExists`). Links are not followed.
    pub fn link_noclobber(
        &self,
        from: impl AsRef<OsStr>,
        to_dir: &Dir,
        to: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        check_name(from)?;
        check_name(to)?;
        rustix::fs::linkat(self.fd(), from, to_dir.fd(), to, AtFlags::empty()).map_err(errno)
    }

    /// Renames `from` (in this folder) to `to` in `to_dir`, failing with
    /// `AlreadyExists` when `to` exists (`renameat2(RENAME_NOREPLACE)`; on
    /// file systems without it, a hard link for files and a checked rename
    /// for folders).
    pub fn rename_noreplace(
        &self,
        from: impl AsRef<OsStr>,
        to_dir: &Dir,
        to: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        check_name(from)?;
        check_name(to)?;
        match rustix::fs::renameat_with(self.fd(), from, to_dir.fd(), to, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            Err(e) if e == Errno::INVAL || e == Errno::NOSYS || e == Errno::NOTSUP => {
                if self.kind(from)? == Some(Kind::Dir) {
                    if to_dir.kind(to)?.is_some() {
                        return Err(io::ErrorKind::AlreadyExists.into());
                    }
                    rustix::fs::renameat(self.fd(), from, to_dir.fd(), to).map_err(errno)
                } else {
                    self.link_noclobber(from, to_dir, to)?;
                    self.remove_file(from)
                }
            }
            Err(e) => Err(errno(e)),
        }
    }

    /// Renames `from` (in this folder) over `to` in `to_dir`: only for
    /// names that are ours to replace.
    pub fn rename_replace(
        &self,
        from: impl AsRef<OsStr>,
        to_dir: &Dir,
        to: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (from, to) = (from.as_ref(), to.as_ref());
        check_name(from)?;
        check_name(to)?;
        rustix::fs::renameat(self.fd(), from, to_dir.fd(), to).map_err(errno)
    }

    /// Removes the folder `name` and everything in it, links not followed
    /// (std's `remove_dir_all` walks with `openat`/`unlinkat` and
    /// `O_NOFOLLOW`). Only for folders we made.
    pub fn remove_dir_all(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        check_name(name)?;
        if self.kind(name)? != Some(Kind::Dir) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a folder", self.display_path(name).display()),
            ));
        }
        // std takes a path; the folder's own descriptor pins nothing here,
        // but the walk below it follows no link.
        std::fs::remove_dir_all(self.fd_path().join(name))
    }

    /// A path that reaches this folder through its descriptor
    /// (`/proc/self/fd/N` where `/proc` is mounted, else the path it was
    /// opened as).
    fn fd_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        let proc = PathBuf::from(format!("/proc/self/fd/{}", self.inner.fd.as_raw_fd()));
        if rustix::fs::statat(CWD, &proc, AtFlags::empty()).is_ok() {
            proc
        } else {
            self.inner.path.clone()
        }
    }

    /// Creates a temp file in this folder (see the module docs), removed
    /// when dropped unless persisted.
    pub fn temp(&self) -> io::Result<TempFile> {
        loop {
            let name = temp_name();
            // Read-write: a temp file may be compared with a file it would
            // replace before it is persisted.
            match self.create_exclusive(OsStr::new(&name), OFlags::RDWR) {
                Ok(file) => {
                    return Ok(TempFile {
                        dir: self.clone(),
                        name: Some(name),
                        file: Some(file),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reopens the temp file `name` left by an earlier run of ours (a
    /// resumed run's index), for reading and writing.
    pub fn reopen_temp(&self, name: &str) -> io::Result<TempFile> {
        if !is_temp_name(OsStr::new(name)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?}: not one of our temp files"),
            ));
        }
        let file = self.open_file_rw(name)?;
        Ok(TempFile {
            dir: self.clone(),
            name: Some(name.into()),
            file: Some(file),
        })
    }

    /// Removes the temp files that earlier runs of ours left here (killed
    /// before they could clean up), except `keep`. Only names of the exact
    /// form [`Dir::temp`] makes are touched, and only regular files.
    pub fn sweep_temps(&self, keep: &[&str]) -> io::Result<usize> {
        let mut removed = 0;
        for e in self.entries()? {
            if e.kind == Kind::File
                && is_temp_name(&e.name)
                && !keep.iter().any(|k| OsStr::new(k) == e.name)
                && self.remove_file(&e.name).is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// `.mimeflow-PID-SEQ-RANDOM.tmp`: at most 10 + 10 + 1 + 20 + 1 + 16 + 4
/// = 62 bytes.
fn temp_name() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    // RandomState is seeded from the OS; a fresh one per name, mixed with
    // the sequence number, is unpredictable enough for a name that is
    // created exclusively anyway (a guess only costs us a retry).
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(seq);
    format!(
        "{TEMP_PREFIX}{}-{seq}-{:016x}{TEMP_SUFFIX}",
        std::process::id(),
        h.finish()
    )
}

/// Whether `name` has the exact form [`temp_name`] makes.
pub fn is_temp_name(name: &OsStr) -> bool {
    let Some(mid) = name
        .to_str()
        .and_then(|n| n.strip_prefix(TEMP_PREFIX))
        .and_then(|n| n.strip_suffix(TEMP_SUFFIX))
    else {
        return false;
    };
    let parts: Vec<&str> = mid.split('-').collect();
    matches!(parts.as_slice(), [pid, seq, rand]
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit())
            && !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit())
            && rand.len() == 16 && rand.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A file being written under a temp name (see [`Dir::temp`]); removed
/// when dropped unless persisted or kept.
#[derive(Debug)]
pub struct TempFile {
    dir: Dir,
    /// `None` once persisted or kept.
    name: Option<String>,
    /// `None` only while being handed out.
    file: Option<File>,
}

impl TempFile {
    /// The open file (reopened by its name in its folder after
    /// [`TempFile::close_fd`]).
    pub fn file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let name = self
                .name
                .as_deref()
                .expect("a temp file has a name until persisted");
            self.file = Some(self.dir.open_file_rw(name)?);
        }
        Ok(self.file.as_mut().expect("just opened"))
    }

    /// Closes the descriptor but keeps the file under its temp name: for
    /// callers that hold many finished temp files at once (one message
    /// with 100,000 attachments must not hold 100,000 descriptors).
    pub fn close_fd(&mut self) {
        self.file = None;
    }

    /// Its temp name in its folder.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The folder it is in.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Gives the file the name `to` in `to_dir` without replacing anything:
    /// on `AlreadyExists` the temp file is handed back, still temp, with
    /// the error.
    pub fn persist_noclobber(
        mut self,
        to_dir: &Dir,
        to: impl AsRef<OsStr>,
    ) -> Result<(), (io::Error, TempFile)> {
        let name = self
            .name
            .take()
            .expect("a temp file has a name until persisted");
        match self.dir.rename_noreplace(&name, to_dir, to) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.name = Some(name);
                Err((e, self))
            }
        }
    }

    /// Renames the file over `to` in `to_dir` (a name that is ours to
    /// replace).
    pub fn persist_replace(mut self, to_dir: &Dir, to: impl AsRef<OsStr>) -> io::Result<()> {
        let name = self
            .name
            .take()
            .expect("a temp file has a name until persisted");
        match self.dir.rename_replace(&name, to_dir, to) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.name = Some(name); // removed on drop
                Err(e)
            }
        }
    }

    /// Keeps the file under its temp name (a resumable run's index, whose
    /// name the run's state records); returns it open, and the name.
    pub fn keep(mut self) -> io::Result<(File, String)> {
        self.file()?;
        let file = self.file.take().expect("just opened");
        let name = self.name.take().expect("a temp file has a name until kept");
        Ok((file, name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = self.dir.remove_file(name);
        }
    }
}

impl std::io::Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file()?.flush()
    }
}

/// Longest file name most file systems take, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// The `n`th name to try for `name` when it is taken: `name` itself for 0,
/// else `name` with `-n` before its extension (the text after the last
/// `.`, when that is at most 16 bytes and not the whole name):
/// `report.pdf`, `report-1.pdf`, `report-2.pdf`; `README-1`;
/// `00000007.eml` -> `00000007-1.eml`; a Maildir name
/// `00000007.0123456789ab.mimeflow:2,S` -> `00000007.0123456789ab-1.mimeflow:2,S`
/// (its unique part, before the `:`, stays unique). The stem is cut so the
/// whole stays within [`MAX_NAME_BYTES`] without ever cutting the number
/// off (which would give back a taken name forever).
///
/// This is the one numbering rule of the crate: extracted attachments,
/// converted messages, the attachment store and its index all use it.
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let suffix = format!("-{n}");
    let mut cut = stem
        .len()
        .min(MAX_NAME_BYTES.saturating_sub(suffix.len() + ext.len()));
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{suffix}{ext}", &stem[..cut])
}

/// Tries [`numbered`]`(name, n)` for `n = *next, *next + 1, ...` until
/// `attempt` takes one: `Ok(Some(t))` ends the search with that name,
/// `Ok(None)` means the name is taken (try the next), an error ends it.
/// `*next` is left at the number after the one taken, so a caller that
/// creates many files of one name keeps a counter per name and pays n
/// attempts for n files, not n²/2.
pub fn first_free<T>(
    name: &str,
    next: &mut u32,
    mut attempt: impl FnMut(&str) -> io::Result<Option<T>>,
) -> io::Result<(String, T)> {
    loop {
        let n = *next;
        *next = n.checked_add(1).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{name}: no free name left"),
            )
        })?;
        let candidate = numbered(name, n);
        if let Some(t) = attempt(&candidate)? {
            return Ok((candidate, t));
        }
    }
}

impl Dir {
    /// Creates the first free name of `name`, `name-1`, ... ([`numbered`],
    /// starting at number `*next`) exclusively, and writes `data` to it;
    /// returns the name used. A file that cannot be written whole is removed.
    pub fn create_numbered(&self, name: &str, next: &mut u32, data: &[u8]) -> io::Result<String> {
        let (name, ()) = first_free(name, next, |candidate| match self.create_new(candidate) {
            Ok(mut f) => match f.write_all(data) {
                Ok(()) => Ok(Some(())),
                Err(e) => {
                    drop(f);
                    let _ = self.remove_file(candidate);
                    Err(e)
                }
            },
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        })?;
        Ok(name)
    }
}

impl Dir {
    /// Whether the regular file `name` here holds the same bytes as
    /// `ours` (read from its start; its position is left anywhere): the
    /// test of [`TempFile::persist_numbered`]'s callers for "this file is
    /// already in place". A link or anything but a regular file is never
    /// the same.
    pub fn same_content(&self, name: &str, ours: &mut File) -> io::Result<bool> {
        use crate::io_util::read_full;
        use std::io::{Seek, SeekFrom};
        let len = ours.seek(SeekFrom::End(0))?;
        if self.file_len(name)? != Some(len) {
            return Ok(false);
        }
        let Ok(mut theirs) = self.open_file(name) else {
            return Ok(false);
        };
        ours.seek(SeekFrom::Start(0))?;
        let (mut a, mut b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
        loop {
            let n = read_full(ours, &mut a)?;
            let m = read_full(&mut theirs, &mut b[..n.max(1)])?;
            if n != m || a[..n] != b[..m] {
                return Ok(false);
            }
            if n == 0 {
                return Ok(true);
            }
        }
    }
}

impl TempFile {
    /// Links the file into `to_dir` under the first free name of `name`,
    /// `name-1`, ... ([`numbered`]), never replacing anything. A taken name
    /// for which `same(dir, taken, temp)` says it already holds these bytes
    /// (a file left by an interrupted run) counts as this file: the temp
    /// file goes and that name is returned.
    pub fn persist_numbered(
        self,
        to_dir: &Dir,
        name: &str,
        mut same: impl FnMut(&Dir, &str, &mut TempFile) -> io::Result<bool>,
    ) -> io::Result<String> {
        let mut tmp = Some(self);
        let (name, ()) = first_free(name, &mut 0, |candidate| {
            let t = tmp.take().expect("handed back on every miss");
            match t.persist_noclobber(to_dir, candidate) {
                Ok(()) => Ok(Some(())),
                Err((e, mut back)) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if same(to_dir, candidate, &mut back)? {
                        return Ok(Some(()));
                    }
                    tmp = Some(back);
                    Ok(None)
                }
                Err((e, _)) => Err(e),
            }
        })?;
        Ok(name)
    }
}

/// How an [`AtomicFile`] takes its name when committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Renamed over the name (a file that is ours to replace: a resume
    /// state, an `-o` target, `write_to(overwrite=True)`).
    Replace,
    /// Linked to the name without replacing anything: `AlreadyExists` when
    /// it is taken (the temp file is then removed).
    NoClobber,
}

/// A file that appears whole or not at all: written under a [`Dir::temp`]
/// name in the target's folder, then given its name by
/// [`AtomicFile::commit`] (see [`Commit`]); removed when dropped
/// uncommitted. This is the crate's one temp-then-rename scheme.
///
/// No `fsync` before the rename: readers never see a partial file, but
/// after a power cut the new content may be lost (as with
/// `tempfile::NamedTempFile::persist`); big outputs would stall on it.
///
/// Why not `tempfile::NamedTempFile`: it works on paths, so the final
/// rename would go through the target folder's path again (and through any
/// link swapped in for it), not through the folder we opened and checked.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: TempFile,
    dir: Dir,
    name: OsString,
    mode: Commit,
}

impl AtomicFile {
    /// A temp file in `dir` that becomes `dir/name` on commit.
    pub fn create(dir: &Dir, name: impl AsRef<OsStr>, mode: Commit) -> io::Result<AtomicFile> {
        let name = name.as_ref();
        check_name(name)?;
        Ok(AtomicFile {
            tmp: dir.temp()?,
            dir: dir.clone(),
            name: name.to_owned(),
            mode,
        })
    }

    /// A temp file beside the user's path `path` (its folder opened as the
    /// user gave it, see [`Dir::open`]) that becomes `path` on commit.
    pub fn create_at(path: &Path, mode: Commit) -> io::Result<AtomicFile> {
        let (dir, name) = split_dest(path)?;
        AtomicFile::create(&Dir::open(&dir)?, name, mode)
    }

    /// The open temp file.
    pub fn file(&mut self) -> io::Result<&mut File> {
        self.tmp.file()
    }

    /// The folder the file is committed in.
    pub fn dir(&self) -> &Dir {
        &self.dir
    }

    /// Where the temp file is, for messages and for a signal handler that
    /// must remove it.
    pub fn temp_path(&self) -> PathBuf {
        self.dir.display_path(self.tmp.name())
    }

    /// Gives the file its name (see [`Commit`]).
    pub fn commit(self) -> io::Result<()> {
        match self.mode {
            Commit::Replace => self.tmp.persist_replace(&self.dir, &self.name),
            Commit::NoClobber => self
                .tmp
                .persist_noclobber(&self.dir, &self.name)
                .map_err(|(e, _)| e),
        }
    }
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.tmp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("mimeflow-safe-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn create_new_never_follows_or_truncates() {
        let root = scratch("create");
        let victim = root.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let out = root.join("out");
        std::fs::create_dir(&out).unwrap();
        symlink(&victim, out.join("planted")).unwrap();
        symlink(root.join("nowhere"), out.join("dangling")).unwrap();
        let d = Dir::open(&out).unwrap();
        for name in ["planted", "dangling"] {
            let e = d.create_new(name).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{name}");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert!(!root.join("nowhere").exists());
        let e = d.open_file_rw("planted").unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn set_len_if_needed_leaves_a_file_of_that_length_alone() {
        let root = scratch("set-len");
        let p = root.join("f");
        std::fs::write(&p, b"0123456789").unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        f.set_modified(old).unwrap();
        // No ftruncate at all: it would set the modification time.
        set_len_if_needed(&f, 10).unwrap();
        assert_eq!(f.metadata().unwrap().modified().unwrap(), old);
        set_len_if_needed(&f, 4).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123");
        assert_ne!(f.metadata().unwrap().modified().unwrap(), old);
        set_len_if_needed(&f, 6).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"0123\0\0");
        drop(f);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn sub_folders_that_are_links_are_refused() {
        let root = scratch("subdir");
        let elsewhere = root.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        let out = root.join("out");
        std::fs::create_dir(&out).unwrap();
        symlink(&elsewhere, out.join("new")).unwrap();
        let d = Dir::open(&out).unwrap();
        for r in [d.ensure_dir("new"), d.open_dir("new")] {
            let e = r.unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        assert!(d.ensure_dir("cur").is_ok());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_with_separators_are_refused() {
        let root = scratch("names");
        let d = Dir::open(&root).unwrap();
        for bad in ["", ".", "..", "a/b", "../x", "a\0b"] {
            assert!(d.create_new(bad).is_err(), "{bad:?}");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn temp_files_have_short_names_and_go_away_unless_persisted() {
        let root = scratch("temp");
        let d = Dir::open(&root).unwrap();
        let long = "x".repeat(255);
        let mut t = d.temp().unwrap();
        assert!(
            t.name().len() <= 62 && is_temp_name(OsStr::new(t.name())),
            "{}",
            t.name()
        );
        t.write_all(b"data").unwrap();
        t.persist_noclobber(&d, &long).unwrap();
        assert_eq!(std::fs::read(root.join(&long)).unwrap(), b"data");
        // A taken name hands the temp file back; dropping it removes it.
        let t = d.temp().unwrap();
        let (e, t) = t.persist_noclobber(&d, &long).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let name = t.name().to_string();
        drop(t);
        assert_eq!(d.kind(&name).unwrap(), None);
        // persist_replace replaces.
        let mut t = d.temp().unwrap();
        t.write_all(b"new").unwrap();
        t.persist_replace(&d, &long).unwrap();
        let mut s = String::new();
        d.open_file(&long).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "new");
        let names: Vec<_> = d.entries().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, [OsString::from(&long)]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_folder_moved_mid_run_keeps_our_writes() {
        let root = scratch("moved");
        let out = root.join("out");
        std::fs::create_dir(&out).unwrap();
        let d = Dir::open(&out).unwrap();
        // Swap the path for a link to somewhere else.
        std::fs::rename(&out, root.join("moved")).unwrap();
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        symlink(root.join("elsewhere"), &out).unwrap();
        d.create_new("f").unwrap().write_all(b"x").unwrap();
        assert!(root.join("moved/f").exists());
        assert!(!root.join("elsewhere/f").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn sweep_removes_only_our_temp_names() {
        let root = scratch("sweep");
        let d = Dir::open(&root).unwrap();
        let a = d.temp().unwrap();
        let (_, a) = a.keep().unwrap();
        let (_, b) = d.temp().unwrap().keep().unwrap();
        std::fs::write(root.join(".mimeflow-notours.tmp"), b"").unwrap();
        std::fs::write(root.join("user.txt"), b"").unwrap();
        assert_eq!(d.sweep_temps(&[&a]).unwrap(), 1);
        assert_eq!(d.kind(&b).unwrap(), None);
        assert_eq!(d.kind(&a).unwrap(), Some(Kind::File));
        assert_eq!(d.kind(".mimeflow-notours.tmp").unwrap(), Some(Kind::File));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn one_numbering_rule() {
        assert_eq!(numbered("report.pdf", 0), "report.pdf");
        assert_eq!(numbered("report.pdf", 3), "report-3.pdf");
        assert_eq!(numbered("README", 2), "README-2");
        assert_eq!(numbered(".hidden", 1), ".hidden-1");
        assert_eq!(numbered("00000007.eml", 1), "00000007-1.eml");
        assert_eq!(
            numbered("00000007.0123456789ab.mimeflow:2,S", 1),
            "00000007.0123456789ab-1.mimeflow:2,S"
        );
        assert_eq!(numbered("attachments.jsonl", 2), "attachments-2.jsonl");
        let long = format!("{}.pdf", "a".repeat(251));
        let n1 = numbered(&long, 1);
        assert!(n1.len() <= 255 && n1.ends_with("-1.pdf"), "{n1}");
        let long_ext = format!("a.{}", "b".repeat(253));
        let n2 = numbered(&long_ext, 12);
        assert!(n2.len() <= 255 && n2.ends_with("-12"), "{n2}");
        let wide = format!("{}.txt", "é".repeat(126));
        let n3 = numbered(&wide, 7);
        assert!(n3.len() <= 255 && n3.ends_with("-7.txt"), "{n3}");
    }

    #[test]
    fn create_numbered_skips_every_taken_name_and_keeps_counting() {
        let root = scratch("numbered");
        let d = Dir::open(&root).unwrap();
        std::fs::write(root.join("a.txt"), b"theirs").unwrap();
        symlink(root.join("nowhere"), root.join("a-1.txt")).unwrap();
        let mut next = 0;
        assert_eq!(
            d.create_numbered("a.txt", &mut next, b"1").unwrap(),
            "a-2.txt"
        );
        assert_eq!(next, 3);
        assert_eq!(
            d.create_numbered("a.txt", &mut next, b"2").unwrap(),
            "a-3.txt"
        );
        assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"theirs");
        assert!(!root.join("nowhere").exists());
        assert_eq!(std::fs::read(root.join("a-3.txt")).unwrap(), b"2");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn persist_numbered_reuses_a_name_with_the_same_bytes() {
        let root = scratch("persist-numbered");
        let d = Dir::open(&root).unwrap();
        std::fs::write(root.join("m.eml"), b"other").unwrap();
        std::fs::write(root.join("m-1.eml"), b"mine").unwrap();
        let same = |dir: &Dir, name: &str, _: &mut TempFile| {
            let mut s = Vec::new();
            dir.open_file(name)?.read_to_end(&mut s)?;
            Ok(s == b"mine")
        };
        let mut t = d.temp().unwrap();
        t.write_all(b"mine").unwrap();
        assert_eq!(t.persist_numbered(&d, "m.eml", same).unwrap(), "m-1.eml");
        let mut t = d.temp().unwrap();
        t.write_all(b"new").unwrap();
        let never = |_: &Dir, _: &str, _: &mut TempFile| Ok(false);
        assert_eq!(t.persist_numbered(&d, "m.eml", never).unwrap(), "m-2.eml");
        let mut names: Vec<_> = d.entries().unwrap().into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["m-1.eml", "m-2.eml", "m.eml"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn atomic_file_commits_replace_or_noclobber() {
        let root = scratch("atomic");
        let d = Dir::open(&root).unwrap();
        std::fs::write(root.join("t"), b"old").unwrap();
        // Uncommitted: nothing appears, the target is untouched.
        let mut a = AtomicFile::create(&d, "t", Commit::Replace).unwrap();
        a.write_all(b"half").unwrap();
        let tmp = a.temp_path();
        assert!(tmp.exists());
        drop(a);
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(root.join("t")).unwrap(), b"old");
        // NoClobber refuses a taken name and leaves no temp file.
        let mut a = AtomicFile::create_at(&root.join("t"), Commit::NoClobber).unwrap();
        a.write_all(b"new").unwrap();
        let e = a.commit().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(root.join("t")).unwrap(), b"old");
        // NoClobber to a free name, Replace over a taken one.
        let mut a = AtomicFile::create(&d, "u", Commit::NoClobber).unwrap();
        a.write_all(b"fresh").unwrap();
        a.commit().unwrap();
        let mut a = AtomicFile::create(&d, "t", Commit::Replace).unwrap();
        a.write_all(b"new").unwrap();
        a.commit().unwrap();
        assert_eq!(std::fs::read(root.join("t")).unwrap(), b"new");
        assert_eq!(std::fs::read(root.join("u")).unwrap(), b"fresh");
        let mut names: Vec<_> = d.entries().unwrap().into_iter().map(|e| e.name).collect();
        names.sort();
        assert_eq!(names, ["t", "u"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn split_dest_ignores_trailing_slashes() {
        assert_eq!(
            split_dest(Path::new("out/")).unwrap(),
            (PathBuf::from("."), "out".into())
        );
        assert_eq!(
            split_dest(Path::new("a/b//")).unwrap(),
            (PathBuf::from("a"), "b".into())
        );
        assert_eq!(
            split_dest(Path::new("/x")).unwrap(),
            (PathBuf::from("/"), "x".into())
        );
        assert!(split_dest(Path::new("a/..")).is_err());
        assert!(split_dest(Path::new("/")).is_err());
    }
}
