//! The batch conversion pipeline behind `mimeflow convert`, `split` and
//! `count`: archives and folders of mail in, Maildir, `.eml` files, mbox or
//! a JSON-lines index out.
//!
//! Work moves in *windows*: a handful of units (byte ranges of a mapped
//! archive, batches of streamed entries, or chunks of a folder's files) are
//! read and prepared in parallel with rayon, then numbered and committed in
//! archive order on the calling thread. A range of a mapped archive is
//! scanned by the worker that owns it (found with
//! [`crate::mbox::plan_splits`], never by one serial iterator handing work
//! to the pool), and the window bounds memory: messages borrow from the map
//! and a window holds a few MiB of prepared output. Numbering happens after
//! the parallel step, so names, order and bytes never depend on the number
//! of threads.
//!
//! Every output appears atomically: a fresh output folder is built as
//! `DEST.partial/` (files written in place there: no one reads it before
//! it is renamed to DEST at the end), single-file outputs go to
//! `DEST.partial`, and files added to an existing folder (`--force`) go to
//! a temp file that is linked into place without clobbering (Maildir:
//! `tmp/` then `new/` or `cur/`). After each
//! window a small state file (`.DEST.mimeflow-state` beside DEST) is
//! replaced atomically; `--resume` reads it, cuts `DEST.partial` back to the
//! length it records and carries on from the message after the last
//! committed window. Names of per-message files are deterministic (archive
//! index and content hash) and an existing file with the same bytes counts
//! as written, so a window redone after a kill yields no duplicates.
#![cfg(feature = "parallel")]

#[cfg(feature = "arrow")]
pub mod arrow;
mod attachments;
mod fingerprint;
mod flags;
mod format;
mod html;
pub(crate) mod ordered;
#[cfg(feature = "python")]
pub(crate) mod prefetch;
mod prepare;
mod publish;
pub(crate) mod readahead;
mod run;
pub(crate) mod source;
mod state;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub use flags::{maildir_flags, MailFlags};
#[cfg(feature = "parquet")]
pub use format::parquet::{MIN_ROW_GROUP_BYTES, PART_BYTES, ROW_GROUP_BYTES};
/// The SQL of `--to sqlite`, for tools and benches that write the same
/// tables (`benches/sqlite_floor.rs`): the DDL is written once.
#[cfg(feature = "sqlite")]
pub use format::sqlite::{
    json_columns as sqlite_json_columns, FTS_COLUMNS as SQLITE_FTS_COLUMNS,
    FTS_HASHSIZE as SQLITE_FTS_HASHSIZE, INDEXES as SQLITE_INDEXES,
    INSERT_ADDRESS as SQLITE_INSERT_ADDRESS, INSERT_ATTACHMENT as SQLITE_INSERT_ATTACHMENT,
    INSERT_MESSAGE as SQLITE_INSERT_MESSAGE, INSERT_THREAD as SQLITE_INSERT_THREAD,
    PRAGMAS as SQLITE_PRAGMAS, SCHEMA as SQLITE_SCHEMA,
};
#[cfg(feature = "sqlite")]
pub use format::sqlite::{Tokenizer, APPLICATION_ID};
pub use html::html_to_text;
pub use source::{count, CountSummary};

use crate::mbox::{MboxError, Variant, DEFAULT_SPOOL_THRESHOLD};
pub(crate) use crate::message::hex;

/// Output formats of [`convert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A Maildir (`cur/`, `new/`, `tmp/`), flags in the file names.
    Maildir,
    /// One `NNNNNNNN.eml` file per message, named by archive index.
    Eml,
    /// One mboxrd archive.
    Mbox,
    /// One JSON object per line: the `parse --json` object plus position,
    /// hash and threading fields, and the schema's fields (`docs/schema.md`).
    Jsonl,
    /// A SQLite database with an FTS5 index (`docs/schema.md`).
    #[cfg(feature = "sqlite")]
    Sqlite,
    /// Parquet: one file (DEST ends in `.parquet`) or a folder of parts.
    #[cfg(feature = "parquet")]
    Parquet,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Maildir => "maildir",
            Format::Eml => "eml",
            Format::Mbox => "mbox",
            Format::Jsonl => "jsonl",
            #[cfg(feature = "sqlite")]
            Format::Sqlite => "sqlite",
            #[cfg(feature = "parquet")]
            Format::Parquet => "parquet",
        }
    }

    /// Every format this build has.
    pub fn all() -> &'static [Format] {
        &[
            Format::Maildir,
            Format::Eml,
            Format::Mbox,
            Format::Jsonl,
            #[cfg(feature = "sqlite")]
            Format::Sqlite,
            #[cfg(feature = "parquet")]
            Format::Parquet,
        ]
    }

    /// The format called `name`.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::all().iter().copied().find(|f| f.name() == name)
    }

    /// Whether the output at `dest` is one file (else a folder): Parquet
    /// is a file when `dest` ends in `.parquet`, a folder of parts else.
    pub fn is_single_file(self, dest: &Path) -> bool {
        let _ = dest; // read by Parquet only
        match self {
            Format::Mbox | Format::Jsonl => true,
            Format::Maildir | Format::Eml => false,
            #[cfg(feature = "sqlite")]
            Format::Sqlite => true,
            #[cfg(feature = "parquet")]
            Format::Parquet => format::parquet::is_file_form(dest),
        }
    }

    /// Whether the output holds rows of `crate::rows` (sqlite, parquet).
    pub fn is_table(self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            Format::Sqlite => true,
            #[cfg(feature = "parquet")]
            Format::Parquet => true,
            _ => false,
        }
    }
}

/// What [`convert`] does.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// The output format.
    pub format: Format,
    /// Leave out messages marked deleted (else kept, with Maildir flag `T`).
    pub skip_deleted: bool,
    /// jsonl: add the decoded plain-text body (`text`), HTML-only mail as text.
    pub text: bool,
    /// Write every attachment once (by content hash) into this folder, with
    /// an `attachments.jsonl` index linking each to its message.
    pub attachments: Option<PathBuf>,
    /// Continue an interrupted run.
    pub resume: bool,
    /// Write into a non-empty output folder (never deleting anything).
    pub force: bool,
    /// sqlite: add to an existing database only the messages whose sha256
    /// it does not hold yet.
    pub update: bool,
    /// sqlite, parquet: keep the raw message bytes (a BLOB; a binary column).
    pub raw: bool,
    /// sqlite: the full-text tokenizer.
    #[cfg(feature = "sqlite")]
    pub fts_tokenizer: format::sqlite::Tokenizer,
    /// The mbox variant; `None` sniffs it.
    pub variant: Option<Variant>,
    /// Compressed or piped archives: messages larger than this many bytes
    /// are spooled to an unnamed temporary file and memory-mapped instead of
    /// held in memory ([`crate::mbox::Stream::spool_threshold`]).
    pub spool_threshold: usize,
    /// jsonl, sqlite, parquet: verify every message's DKIM signatures into
    /// the `dkim` column (`None`: the column stays null).
    #[cfg(feature = "dkim")]
    pub dkim: Option<DkimCheck>,
}

/// How `convert --dkim` verifies: the keys and rules of `dkim verify`
/// ([`crate::dkim::archive::verify_raw`]), for
/// every message, on the worker that prepares it.
#[cfg(feature = "dkim")]
#[derive(Clone, Debug)]
pub struct DkimCheck {
    /// The key sources, loaded once and shared by every worker.
    pub keys: std::sync::Arc<crate::dkim::KeyStore>,
    /// The time rule and rsa-sha1 switch; its `variant` is not read (the
    /// run's own [`ConvertOptions::variant`] reads the source).
    pub options: crate::dkim::ArchiveOptions,
    /// The time of the run (`--as-of now`, and the fallback when the rule
    /// finds no time), seconds since the epoch.
    pub now: i64,
}

#[cfg(feature = "dkim")]
impl DkimCheck {
    /// Verification with `keys` and `options`, `now` being this moment.
    pub fn new(keys: crate::dkim::KeyStore, options: crate::dkim::ArchiveOptions) -> DkimCheck {
        DkimCheck {
            keys: std::sync::Arc::new(keys),
            options,
            now: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        }
    }

    /// The `dkim` column of one message: `raw` as the source gave it
    /// (mbox quoting undone), `envelope` its From_ line's rest.
    pub fn column(&self, raw: &[u8], envelope: Option<&[u8]>) -> Vec<crate::rows::DkimRow> {
        crate::dkim::archive::verify_raw(raw, envelope, &*self.keys, &self.options, self.now)
            .signatures
            .iter()
            .map(crate::rows::DkimRow::from)
            .collect()
    }
}

impl ConvertOptions {
    /// Options for `format` with every switch off.
    pub fn new(format: Format) -> ConvertOptions {
        ConvertOptions {
            format,
            skip_deleted: false,
            text: false,
            attachments: None,
            resume: false,
            force: false,
            update: false,
            raw: false,
            #[cfg(feature = "sqlite")]
            fts_tokenizer: format::sqlite::Tokenizer::Unicode61,
            variant: None,
            spool_threshold: DEFAULT_SPOOL_THRESHOLD,
            #[cfg(feature = "dkim")]
            dkim: None,
        }
    }
}

/// Where a run is, for a progress display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Source bytes consumed (of a compressed archive: uncompressed bytes).
    pub bytes: u64,
    /// Source size when known (mapped archives, folders).
    pub total_bytes: Option<u64>,
    /// Messages committed.
    pub messages: u64,
}

/// Callbacks and the cancel flag of a run.
pub struct Hooks<'h> {
    /// Set (from a signal handler) to stop after the current window.
    pub cancel: &'h AtomicBool,
    /// Called after every committed window.
    pub progress: &'h (dyn Fn(Progress) + Sync),
    /// Called with one line per reported message (unparseable, odd source).
    pub report: &'h (dyn Fn(&str) + Sync),
}

/// The outcome of [`convert`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Messages read from the source (this run and any resumed ones).
    pub messages_in: u64,
    /// Messages written.
    pub written: u64,
    /// Messages left out (`--skip-deleted`).
    pub skipped: u64,
    /// Messages with at least one parse defect (written all the same).
    pub defective: u64,
    /// Messages without a readable header, written as they are.
    pub unparseable: u64,
    /// Messages already committed by the run that was resumed.
    pub resumed_from: u64,
    /// Attachment files written (duplicates by content not counted).
    pub attachments_written: u64,
    /// Attachments whose content was already written.
    pub attachments_duplicate: u64,
    /// Source bytes read.
    pub bytes_in: u64,
    /// The source's kind: "mboxrd", "maildir", "eml folder", ...
    pub source_kind: String,
    /// How the mbox variant was chosen, when the source is an mbox.
    pub variant_reason: Option<String>,
    /// Seconds taken by this run.
    pub seconds: f64,
}

/// Errors of the batch layer; one message never fails a run.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// An I/O error, with the path it happened on.
    #[error("{}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Reading the archive failed.
    #[error(transparent)]
    Mbox(#[from] MboxError),
    /// The source is neither an mbox, a Maildir nor a folder of `.eml` files.
    #[error("{}: {why}", path.display())]
    BadSource {
        /// The source.
        path: PathBuf,
        /// What was found instead.
        why: String,
    },
    /// The destination exists and holds something.
    #[error("{}: {why}", path.display())]
    Destination {
        /// The destination.
        path: PathBuf,
        /// Why it cannot be used.
        why: String,
    },
    /// An interrupted run left its state file beside the destination:
    /// continue it with [`ConvertOptions::resume`], or remove the state
    /// file. The text names no switch of any front end; the CLI and Python
    /// say how to resume in their own words.
    #[error("{}: an interrupted run left {}; resume it to continue", dest.display(), state.display())]
    Unfinished {
        /// The destination.
        dest: PathBuf,
        /// The state file the interrupted run left.
        state: PathBuf,
    },
    /// A folder the run would add to is not empty: that takes
    /// [`ConvertOptions::force`] (nothing is deleted) or
    /// [`ConvertOptions::resume`].
    #[error("{}: is not empty; adding to it takes force (nothing is deleted) or resume", path.display())]
    NotEmpty {
        /// The folder.
        path: PathBuf,
        /// Which folder it is.
        folder: Folder,
    },
    /// The state of an interrupted run does not fit this run.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// The cancel flag was set. What was committed can be resumed
    /// ([`ConvertOptions::resume`]) when `resumable`; an output that cannot
    /// be resumed (one Parquet file) was removed.
    #[error("interrupted after {committed} messages{}", if *resumable { "; the run can be resumed" } else { "; nothing was kept (this output cannot be resumed)" })]
    Interrupted {
        /// Messages committed before stopping.
        committed: u64,
        /// Whether the run's output and state were kept for a resume.
        resumable: bool,
    },
    /// messages in != written + skipped (a bug: reported, never hidden).
    #[error(
        "message counts do not add up: {messages_in} in, {written} written, {skipped} skipped"
    )]
    CountMismatch {
        /// Messages read.
        messages_in: u64,
        /// Messages written.
        written: u64,
        /// Messages skipped.
        skipped: u64,
    },
}

/// Which folder of a run [`BatchError::NotEmpty`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folder {
    /// The output folder (Maildir or `.eml`).
    Output,
    /// The attachments folder ([`ConvertOptions::attachments`]).
    Attachments,
}

impl BatchError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BatchError + '_ {
        move |source| BatchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Converts the mbox archive, Maildir or `.eml` folder `source` into `dest`.
pub fn convert(
    source: &Path,
    dest: &Path,
    opts: &ConvertOptions,
    hooks: &Hooks<'_>,
) -> Result<Summary, BatchError> {
    let started = Instant::now();
    let src = source::Source::open(source, opts.variant, opts.spool_threshold)?;
    let mut run = run::Run::open(dest, opts, &src)?;
    let outcome = drive(&src, &mut run, hooks);
    let mut summary = match outcome {
        Ok(()) => run.finish()?,
        Err(e) => {
            let resumable = run.abandon(&e);
            return Err(match e {
                BatchError::Interrupted { committed, .. } => BatchError::Interrupted {
                    committed,
                    resumable,
                },
                e => e,
            });
        }
    };
    summary.seconds = started.elapsed().as_secs_f64();
    summary.source_kind = src.kind();
    summary.variant_reason = src.variant_reason();
    if summary.messages_in != summary.written + summary.skipped {
        return Err(BatchError::CountMismatch {
            messages_in: summary.messages_in,
            written: summary.written,
            skipped: summary.skipped,
        });
    }
    Ok(summary)
}

fn drive(src: &source::Source, run: &mut run::Run, hooks: &Hooks<'_>) -> Result<(), BatchError> {
    let jobs = rayon::current_num_threads().max(1);
    let mut feed = src.feed(run.cursor())?;
    let ahead = feed.reads_ahead();
    let mut next = feed.next_window(jobs)?;
    while let Some(window) = next.take() {
        if hooks.cancel.load(Ordering::Relaxed) {
            return Err(BatchError::Interrupted {
                resumable: true,
                committed: run.committed(),
            });
        }
        for line in &window.reports {
            (hooks.report)(line);
        }
        // The next window is read by a worker once this one's messages are
        // all taken, while the commit records the last of them: the one
        // thread that commits would otherwise wait for the read (at `-j1`,
        // 13-18 ms a window of 32 MiB), and the workers for the commit.
        let mut read = None;
        let meanwhile = || {
            if ahead {
                read = Some(feed.next_window(jobs));
            }
        };
        run.commit(window, src, hooks, meanwhile)?;
        test_pause(
            "MIMEFLOW_TEST_PAUSE_AFTER_WINDOW",
            run.committed_windows(),
            hooks.cancel,
        );
        (hooks.progress)(Progress {
            bytes: run.bytes_in(),
            total_bytes: src.total_bytes(),
            messages: run.committed(),
        });
        next = match read {
            Some(read) => read?,
            None => feed.next_window(jobs)?,
        };
    }
    Ok(())
}

/// Test hooks: with `MIMEFLOW_TEST_PAUSE_AFTER_WINDOW=N` in the
/// environment, the run prints `mimeflow: paused at window N` to stderr
/// once its Nth window is committed (state saved) and sleeps for a minute;
/// with `MIMEFLOW_TEST_PAUSE_BEFORE_SAVE=N` it does so in the middle of
/// committing its Nth window, after the outputs were written and before the
/// state records them (where a kill leaves the most behind). A test kills
/// or interrupts it there (the pause ends early when the cancel flag is
/// set) and exercises `--resume` deterministically. Not for users; each
/// variable is read once.
pub(crate) fn test_pause(var: &'static str, window: u64, cancel: &AtomicBool) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static AT: Mutex<Option<HashMap<&'static str, Option<u64>>>> = Mutex::new(None);
    let at = *AT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .entry(var)
        .or_insert_with(|| std::env::var(var).ok().and_then(|v| v.parse().ok()));
    if at == Some(window) {
        eprintln!("mimeflow: paused at window {window}");
        let until = Instant::now() + std::time::Duration::from_secs(60);
        while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
