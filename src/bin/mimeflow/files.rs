//! Where commands read and write: stdin or a file in, stdout or a file out.
//!
//! A file given with `-o` is never half-written: output goes to a hidden
//! temp file in the same folder (a [`safe_fs::AtomicFile`], created
//! exclusively, so the final `rename` stays on one file system and is
//! atomic) that replaces the target only once everything was written. On
//! an error the temp file is removed when the [`Pending`] file drops; on Ctrl-C a handler removes it before the
//! process exits with status 130, since the default SIGINT kill runs no
//! destructors. The file is not `fsync`ed before the rename: readers never
//! see a partial file, but after a power cut the new content may be lost
//! (as with `tempfile::persist`); big outputs would otherwise stall on it.
//!
//! Only a regular file (or a new name) is replaced that way. A device, FIFO
//! or socket (`-o /dev/null`, `-o /dev/stdout`, a named pipe) is written in
//! place: renaming over it would swap the device for a plain file, which as
//! root silently breaks `/dev/null` for the whole machine. A symbolic link
//! the user names is followed, so the file it points to is replaced and the
//! link kept; a dangling one is refused (no file is created through a link).
//!
//! [`Input`] and [`Output`] put the file's name on their I/O errors
//! ("reading x.b64: ..."), since the library's stream functions cannot say
//! which side failed. The error keeps its `io::ErrorKind`, which is how
//! `main` recognises a broken pipe.

use mimeflow::safe_fs::{self, AtomicFile, Commit, Dir};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once, PoisonError};

use anyhow::{bail, Context as _};

/// Output buffer; the codec streams write larger blocks, which bypass it.
const OUT_BUFFER: usize = 128 * 1024;

/// Whether a path argument means stdin/stdout.
fn is_dash(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

/// An input stream: stdin (`-` or no argument) or a file.
pub struct Input {
    source: Source,
    name: String,
}

enum Source {
    Stdin(io::StdinLock<'static>),
    File(File),
}

impl Input {
    /// Opens `path`, or stdin when it is `None` or `-`.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Input> {
        match path {
            _ if is_dash(path) => Ok(Input {
                source: Source::Stdin(io::stdin().lock()),
                name: "standard input".into(),
            }),
            Some(path) => {
                let name = path.display().to_string();
                let file = File::open(path).with_context(|| name.clone())?;
                Ok(Input {
                    source: Source::File(file),
                    name,
                })
            }
            None => unreachable!("handled by is_dash"),
        }
    }

    /// `None` for stdin, else the file's name, to prefix bad-input errors.
    pub fn file_name(&self) -> Option<&str> {
        match self.source {
            Source::Stdin(_) => None,
            Source::File(_) => Some(&self.name),
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = match &mut self.source {
            Source::Stdin(s) => s.read(buf),
            Source::File(f) => f.read(buf),
        };
        r.map_err(|e| with_context(e, || format!("reading {}", self.name)))
    }
}

/// An output stream: stdout, or a file replaced atomically by [`Output::finish`].
pub struct Output {
    sink: Sink,
    name: String,
}

enum Sink {
    Stdout(BufWriter<RawStdout>),
    File(Pending),
    /// A device, FIFO or socket, opened and written where it is.
    Special(BufWriter<File>),
}

/// How `-o PATH` is written.
enum Target {
    /// A new name or a regular file: temp file, then rename onto this path.
    Replace(PathBuf),
    /// Something that is not a regular file: written in place.
    InPlace,
}

fn target_of(path: &Path) -> anyhow::Result<Target> {
    let shown = path.display();
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Target::Replace(path.into())),
        Err(e) => return Err(e).with_context(|| shown.to_string()),
    };
    if meta.file_type().is_symlink() {
        return match fs::canonicalize(path) {
            Ok(real) => match fs::metadata(&real) {
                Ok(m) if m.is_dir() => bail!("{shown}: is a directory"),
                Ok(m) if m.is_file() => Ok(Target::Replace(real)),
                Ok(_) => Ok(Target::InPlace),
                Err(e) => Err(e).with_context(|| shown.to_string()),
            },
            // A dangling link: we create no file through a link.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                bail!("{shown}: is a dangling symbolic link; refusing to create a file through it")
            }
            Err(e) => Err(e).with_context(|| shown.to_string()),
        };
    }
    if meta.is_dir() {
        bail!("{shown}: is a directory");
    }
    Ok(if meta.is_file() {
        Target::Replace(path.into())
    } else {
        Target::InPlace
    })
}

impl Output {
    /// Stdout when `path` is `None` or `-`, else a temp file beside `path`.
    pub fn create(path: Option<&Path>) -> anyhow::Result<Output> {
        match path {
            _ if is_dash(path) => Ok(Output {
                sink: Sink::Stdout(BufWriter::with_capacity(OUT_BUFFER, raw_stdout()?)),
                name: "standard output".into(),
            }),
            Some(path) => {
                let sink = match target_of(path)? {
                    Target::Replace(real) => Sink::File(Pending::create(&real)?),
                    Target::InPlace => {
                        // No truncate: meaningless for devices and FIFOs; a
                        // dangling link's new target starts empty anyway.
                        let file = OpenOptions::new()
                            .write(true)
                            .create(true)
                            .truncate(false)
                            .open(path)
                            .with_context(|| path.display().to_string())?;
                        Sink::Special(BufWriter::with_capacity(OUT_BUFFER, file))
                    }
                };
                Ok(Output {
                    sink,
                    name: path.display().to_string(),
                })
            }
            None => unreachable!("handled by is_dash"),
        }
    }

    /// Flushes, and for a file renames it into place. Dropping an `Output`
    /// without calling this discards a file output.
    pub fn finish(self) -> anyhow::Result<()> {
        let name = self.name;
        match self.sink {
            Sink::Stdout(mut w) => w.flush().with_context(|| format!("writing {name}")),
            Sink::File(f) => f.commit(),
            Sink::Special(mut w) => w.flush().with_context(|| format!("writing {name}")),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.write(buf),
            Sink::File(f) => f.file.write(buf),
            Sink::Special(w) => w.write(buf),
        };
        r.map_err(|e| with_context(e, || format!("writing {}", self.name)))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // Forwarded whole so BufWriter's large-write bypass applies.
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.write_all(buf),
            Sink::File(f) => f.file.write_all(buf),
            Sink::Special(w) => w.write_all(buf),
        };
        r.map_err(|e| with_context(e, || format!("writing {}", self.name)))
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = match &mut self.sink {
            Sink::Stdout(w) => w.flush(),
            Sink::File(f) => f.file.flush(),
            Sink::Special(w) => w.flush(),
        };
        r.map_err(|e| with_context(e, || format!("writing {}", self.name)))
    }
}

/// Stdout without std's `LineWriter`, which would split our large blocks
/// at newlines: a duplicate of file descriptor 1, written directly.
#[cfg(unix)]
type RawStdout = File;

#[cfg(unix)]
fn raw_stdout() -> anyhow::Result<RawStdout> {
    use std::os::fd::AsFd;
    let fd = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .context("standard output")?;
    Ok(File::from(fd))
}

#[cfg(not(unix))]
type RawStdout = io::Stdout;

#[cfg(not(unix))]
fn raw_stdout() -> anyhow::Result<RawStdout> {
    Ok(io::stdout())
}

/// The `-o` file being written: a [`safe_fs::AtomicFile`] in the target's
/// folder that replaces the target on [`Pending::commit`] and is removed
/// otherwise, plus the Ctrl-C cleanup of its temp name.
struct Pending {
    file: BufWriter<File>,
    /// Owns the temp name until the commit (removed when dropped).
    atomic: Option<safe_fs::AtomicFile>,
    /// The temp file's path, for the Ctrl-C cleanup.
    tmp_path: PathBuf,
    dest: PathBuf,
}

impl Pending {
    fn create(dest: &Path) -> anyhow::Result<Pending> {
        let shown = dest.display();
        let existing = match fs::metadata(dest) {
            Ok(meta) if meta.is_dir() => bail!("{shown}: is a directory"),
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| shown.to_string()),
        };
        let (dir, file_name) = safe_fs::split_dest(dest).with_context(|| shown.to_string())?;
        let dir = Dir::open(&dir).with_context(|| format!("{shown}: opening its folder"))?;
        let mut atomic =
            AtomicFile::create(&dir, &file_name, Commit::Replace).with_context(|| {
                format!(
                    "{shown}: cannot create a temporary file in {}",
                    dir.path().display()
                )
            })?;
        let tmp_path = atomic.temp_path();
        register_cleanup(&tmp_path);
        let file = atomic
            .file()
            .and_then(|f| f.try_clone())
            .context("duplicating a descriptor")?;
        // Replacing a file keeps its mode (an executable stays executable).
        if let Some(meta) = existing {
            file.set_permissions(meta.permissions())
                .with_context(|| format!("{}: setting permissions", tmp_path.display()))?;
        }
        Ok(Pending {
            file: BufWriter::with_capacity(OUT_BUFFER, file),
            atomic: Some(atomic),
            tmp_path,
            dest: dest.to_path_buf(),
        })
    }

    fn commit(mut self) -> anyhow::Result<()> {
        let shown = self.dest.display().to_string();
        self.file
            .flush()
            .with_context(|| format!("writing {shown}"))?;
        let atomic = self.atomic.take().expect("committed once");
        atomic
            .commit()
            .with_context(|| format!("{shown}: cannot replace"))?;
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // An uncommitted temp file is removed by its own drop.
        self.atomic = None;
        unregister_cleanup(&self.tmp_path);
    }
}

/// Temp files to remove if SIGINT arrives.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn register_cleanup(tmp: &Path) {
    static HANDLER: Once = Once::new();
    HANDLER.call_once(|| {
        // The handler runs on ctrlc's own thread, so taking the lock cannot
        // deadlock with the main thread, which only holds it briefly. If it
        // cannot be installed we lose only the cleanup on Ctrl-C.
        let _ = ctrlc::set_handler(|| {
            let pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
            for path in pending.iter() {
                let _ = fs::remove_file(path);
            }
            std::process::exit(crate::EXIT_INTERRUPTED);
        });
    });
    PENDING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(tmp.to_path_buf());
}

fn unregister_cleanup(tmp: &Path) {
    PENDING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|p| p != tmp);
}

/// An I/O error with what we were doing in front of it; same kind.
#[derive(Debug)]
struct IoContext {
    what: String,
    source: io::Error,
}

impl fmt::Display for IoContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for IoContext {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn with_context(e: io::Error, what: impl FnOnce() -> String) -> io::Error {
    match e.kind() {
        // Retried by the caller: no allocation, no wrapping.
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => e,
        kind => io::Error::new(
            kind,
            IoContext {
                what: what(),
                source: e,
            },
        ),
    }
}
