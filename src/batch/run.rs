//! A conversion run: where its output goes, the destination rules, the
//! resume policy, and the in-order commit of prepared windows.
//!
//! The rules: a non-empty folder is written into only with
//! [`ConvertOptions::force`] or [`ConvertOptions::resume`], an existing
//! file never, and nothing is ever deleted or overwritten outside our own
//! `DEST.partial` (files are linked into an existing folder, not renamed
//! over).
//!
//! Every file and folder is made through [`crate::safe_fs`], relative to
//! the destination's parent folder opened once: a trailing slash on DEST,
//! a planted link at any name we create (`DEST.partial`, the state file,
//! Maildir's `tmp/`, `new/` and `cur/`, a message or attachment file) or a
//! folder swapped during the run cannot send a write elsewhere.
//!
//! [`Run::open`] goes in named steps: [`Names::resolve`] (where DEST,
//! `DEST.partial` and the state file are), [`Run::resume_state`] or
//! [`Run::fresh_state`] (the state to continue from, after the checks of
//! each policy), then [`open_folders`], [`open_sink`] and the attachment
//! store. [`Run::commit`] prepares a window in parallel
//! ([`super::prepare`]), then [`Run::record`]s each message in order and
//! [`Run::checkpoint`]s the state.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::attachments::Index;
use super::fingerprint::{self, Chain};
use super::format::mbox::write_mbox;
use super::format::table::TableSink;
use super::ordered;
use super::prepare::{prepare, Context, Prepared};
use super::publish::Place;
use super::source::{Cursor, Item, Source, Window};
use super::state::State;
use super::{hex, BatchError, ConvertOptions, Folder, Format, Hooks, Summary};
use crate::rows::threads::ThreadIndex;
use crate::safe_fs::{self, Dir, MAX_NAME_BYTES};

/// A conversion in progress.
pub(crate) struct Run {
    opts: ConvertOptions,
    names: Names,
    state: State,
    /// The running chain of a stream source's messages ([`Chain`]).
    chain: Option<Chain>,
    /// A resumed stream's skipped messages matched the saved chain (or
    /// nothing needed checking).
    chain_checked: bool,
    /// Where the output is built, for messages.
    work_shown: PathBuf,
    /// Folder outputs: the folders messages go to.
    folders: Option<Folders>,
    /// This run created the work file or folder (so may remove it on bad input).
    fresh: bool,
    /// Messages committed by the run this one resumes.
    resumed_from: u64,
    /// Windows committed by this process.
    windows: u64,
    sink: Option<BufWriter<File>>,
    /// sqlite and parquet: where the rows go.
    table: Option<Box<dyn TableSink>>,
    /// jsonl and parquet: the thread index, written at the end (sqlite
    /// threads its whole database from the database itself).
    threads: ThreadIndex,
    /// jsonl: the threads file's (partial, final) names beside DEST.
    threads_file: Option<(OsString, OsString)>,
    attach: Option<Index>,
}

/// Where a run's output, work copy and state live.
struct Names {
    /// DEST as given, for messages.
    dest: PathBuf,
    /// The folder that holds DEST, `DEST.partial` and the state file.
    parent: Dir,
    /// DEST's name in `parent`.
    dest_name: OsString,
    /// `DEST.partial`'s name in `parent`.
    partial_name: OsString,
    /// The state file's name in `parent`.
    state_name: OsString,
}

/// The open folders of a Maildir or `.eml` output.
#[derive(Clone)]
pub(crate) struct Folders {
    /// Where temp files are made (Maildir `tmp/`, else the folder itself).
    pub tmp: Dir,
    /// `.eml` files, or Maildir `new/`.
    pub new: Dir,
    /// Maildir `cur/` (the folder itself for `.eml`).
    pub cur: Dir,
}

/// Messages the workers hand to the commit at a time: a handful per
/// batch, so the committing thread wakes once per batch rather than once
/// per message (at `-j1`, a futex wake and a context switch per message
/// were a third of a `--to maildir` run's wall time), and enough batches
/// per thread (eight) that the threads still share a window evenly.
fn send_batch(items: usize, threads: usize) -> usize {
    (items / (threads.max(1) * 8)).clamp(1, 64)
}

/// `NAME` + `suffix` (with a leading dot when `hidden`), cut so that it
/// stays a valid name however long NAME is: a long NAME keeps its first
/// 150 bytes and gains a hash of the whole, so two long names stay apart.
fn sibling_name(name: &OsStr, suffix: &str, hidden: bool) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let bytes = name.as_bytes();
    let dot = usize::from(hidden);
    let mut out = Vec::with_capacity(bytes.len() + suffix.len() + 1);
    if hidden {
        out.push(b'.');
    }
    if dot + bytes.len() + suffix.len() <= MAX_NAME_BYTES {
        out.extend_from_slice(bytes);
    } else {
        out.extend_from_slice(&bytes[..150]);
        out.push(b'-');
        out.extend_from_slice(&hex(&Sha256::digest(bytes)).as_bytes()[..16]);
    }
    out.extend_from_slice(suffix.as_bytes());
    OsString::from_vec(out)
}

fn dest_error(path: &Path, why: impl Into<String>) -> BatchError {
    BatchError::Destination {
        path: path.into(),
        why: why.into(),
    }
}

impl Names {
    /// Opens (creating) DEST's parent folder and names DEST's siblings.
    fn resolve(dest: &Path, format: Format) -> Result<Names, BatchError> {
        if format.is_single_file(dest) && dest.as_os_str().as_encoded_bytes().ends_with(b"/") {
            return Err(dest_error(
                dest,
                format!("ends in '/', but {} outputs are files", format.name()),
            ));
        }
        let (parent_path, dest_name) = safe_fs::split_dest(dest).map_err(BatchError::io(dest))?;
        let parent = Dir::create_all(&parent_path).map_err(BatchError::io(&parent_path))?;
        Ok(Names {
            dest: dest.into(),
            partial_name: sibling_name(&dest_name, ".partial", false),
            state_name: sibling_name(&dest_name, ".mimeflow-state", true),
            parent,
            dest_name,
        })
    }

    fn shown(&self, name: &OsStr) -> PathBuf {
        self.parent.display_path(name)
    }

    /// The name the output is built under: `DEST.partial` or DEST.
    fn work_name(&self, partial: bool) -> &OsStr {
        if partial {
            &self.partial_name
        } else {
            &self.dest_name
        }
    }

    /// The error for a `DEST.partial` that could not be created: one left
    /// by another run is named as such, anything else is an I/O error.
    fn partial_taken(&self) -> impl Fn(io::Error) -> BatchError + '_ {
        move |e| {
            let partial = self.shown(&self.partial_name);
            if e.kind() == io::ErrorKind::AlreadyExists {
                dest_error(
                    &partial,
                    "exists (left by another run?); remove it to start over",
                )
            } else {
                BatchError::io(&partial)(e)
            }
        }
    }
}

impl Run {
    /// Opens the output of a run of `src` to `dest` (see the module docs
    /// for the steps) and saves its first state.
    pub fn open(dest: &Path, opts: &ConvertOptions, src: &Source) -> Result<Run, BatchError> {
        let names = Names::resolve(dest, opts.format)?;
        let fp = fingerprint::of(src)?;
        let saved = if opts.resume {
            State::load(&names.parent, &names.state_name)?
        } else {
            None
        };
        let (state, fresh) = match saved {
            Some(st) => (Run::resume_state(&names, st, opts.format, fp, src)?, false),
            None => Run::fresh_state(&names, opts, fp, src)?,
        };
        // What this run created, removed again if the rest of the opening
        // fails (a planted file, an attachments folder that is not empty):
        // a failed start leaves nothing that blocks the next one.
        let created = (fresh && state.partial).then(|| {
            (
                names.parent.clone(),
                names.partial_name.clone(),
                names.state_name.clone(),
                opts.format.is_single_file(dest),
            )
        });
        let opened = Run::assemble(names, state, fresh, opts);
        if let (Err(_), Some((parent, partial, state_name, file))) = (&opened, created) {
            let _ = if file {
                parent.remove_file(&partial)
            } else {
                parent.remove_dir_all(&partial)
            };
            let _ = parent.remove_file(&state_name);
        }
        opened
    }

    /// [`Run::open`] once the state is known: the output's folders and
    /// sinks, the attachment store, the first saved state.
    fn assemble(
        names: Names,
        mut state: State,
        fresh: bool,
        opts: &ConvertOptions,
    ) -> Result<Run, BatchError> {
        let work_shown = names.shown(names.work_name(state.partial));
        let folders = open_folders(&names, &state, opts, &work_shown)?;
        let sink = open_sink(&names, &state, opts, &work_shown)?;
        let mut threads = ThreadIndex::new();
        let table = open_table(&names, &state, opts, fresh, &mut threads, &work_shown)?;
        let threads_file = jsonl_threads_file(&names, &state, opts, &work_shown, &mut threads)?;
        let attach = match &opts.attachments {
            Some(dir) => Some(Index::open(dir, opts.force, opts.resume, &mut state)?),
            None => None,
        };
        let chain = fingerprint::needs_chain(&state.fingerprint).then(|| {
            Chain::from_hex(
                state
                    .fingerprint
                    .get("chain_sha256")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )
        });
        let resumed_from = state.messages;
        let run = Run {
            opts: opts.clone(),
            names,
            state,
            chain_checked: chain.is_none() || resumed_from == 0,
            chain,
            work_shown,
            folders,
            fresh,
            resumed_from,
            windows: 0,
            sink,
            table,
            threads,
            threads_file,
            attach,
        };
        run.state.save(&run.names.parent, &run.names.state_name)?;
        Ok(run)
    }

    /// The saved state of an interrupted run, once it is known to be a run
    /// of this format from this source.
    fn resume_state(
        names: &Names,
        st: State,
        format: Format,
        fp: Value,
        src: &Source,
    ) -> Result<State, BatchError> {
        if st.format != format.name() {
            return Err(BatchError::Resume(format!(
                "{} belongs to a run of {} to {}, not to {}",
                names.shown(&names.state_name).display(),
                st.source,
                st.format,
                format.name()
            )));
        }
        let mut now = fp;
        // A run killed before its first window was saved recorded no
        // bytes before its (zero) resume point.
        if st.fingerprint.get("before_sha256").is_some() {
            if let Some(b) = fingerprint::before(src, st.offset) {
                now["before_sha256"] = b.into();
            }
        }
        fingerprint::check(&st.fingerprint, &now, &src.identity().0)?;
        Ok(st)
    }

    /// The state of a run that continues nothing, after the destination
    /// rules: no state file left by another run (unless resuming, where
    /// none means "start"), no existing single-file DEST, an existing
    /// folder only when empty or allowed. Creates `DEST.partial` when the
    /// output is built there; the flag says this run made it.
    fn fresh_state(
        names: &Names,
        opts: &ConvertOptions,
        fp: Value,
        src: &Source,
    ) -> Result<(State, bool), BatchError> {
        let dest = &names.dest;
        let parent = &names.parent;
        let state_shown = names.shown(&names.state_name);
        if !opts.resume
            && parent
                .kind(&names.state_name)
                .map_err(BatchError::io(&state_shown))?
                .is_some()
        {
            return Err(BatchError::Unfinished {
                dest: dest.clone(),
                state: state_shown,
            });
        }
        let existing = parent
            .kind(&names.dest_name)
            .map_err(BatchError::io(dest))?;
        let update = opts.update && existing.is_some();
        #[cfg(feature = "parquet")]
        if opts.format == super::Format::Parquet && existing.is_some() {
            return Err(dest_error(
                dest,
                "exists; parquet outputs are never written over or into",
            ));
        }
        let partial = if update {
            false
        } else if opts.format.is_single_file(dest) {
            if existing.is_some() {
                return Err(dest_error(
                    dest,
                    format!(
                        "exists; {} outputs are never overwritten",
                        opts.format.name()
                    ),
                ));
            }
            parent
                .create_new(&names.partial_name)
                .map_err(names.partial_taken())?;
            true
        } else if existing.is_some() {
            // DEST is the user's path: a link to a folder is theirs to
            // give; nothing below it is followed.
            let d =
                Dir::open(&names.shown(&names.dest_name)).map_err(|e| match e.raw_os_error() {
                    Some(libc::ENOTDIR) => dest_error(dest, "exists and is not a folder"),
                    _ => BatchError::io(dest)(e),
                })?;
            if !d.is_empty().map_err(BatchError::io(dest))? && !opts.force && !opts.resume {
                return Err(BatchError::NotEmpty {
                    path: dest.clone(),
                    folder: Folder::Output,
                });
            }
            false
        } else {
            parent
                .create_dir(&names.partial_name)
                .map_err(names.partial_taken())?;
            true
        };
        let state = State {
            format: opts.format.name().into(),
            source: src.identity().0,
            fingerprint: fp,
            partial,
            ..State::default()
        };
        Ok((state, partial))
    }
}

/// The folders of a Maildir or `.eml` output (`None` for single-file
/// outputs); a resumed run sweeps the temp files a killed one left.
fn open_folders(
    names: &Names,
    state: &State,
    opts: &ConvertOptions,
    work_shown: &Path,
) -> Result<Option<Folders>, BatchError> {
    if opts.format.is_single_file(&names.dest) || opts.format.is_table() {
        return Ok(None);
    }
    let root = if state.partial {
        names.parent.open_dir(&names.partial_name)
    } else {
        Dir::open(&names.shown(&names.dest_name))
    }
    .map_err(BatchError::io(work_shown))?;
    let sweep = |d: &Dir| -> Result<(), BatchError> {
        if opts.resume {
            d.sweep_temps(&[]).map_err(BatchError::io(d.path()))?;
        }
        Ok(())
    };
    if opts.format != Format::Maildir {
        sweep(&root)?;
        return Ok(Some(Folders {
            tmp: root.clone(),
            new: root.clone(),
            cur: root,
        }));
    }
    let sub = |name: &str| {
        root.ensure_dir(name)
            .map_err(BatchError::io(&root.display_path(name)))
    };
    let tmp = sub("tmp")?;
    sweep(&tmp)?;
    Ok(Some(Folders {
        tmp,
        new: sub("new")?,
        cur: sub("cur")?,
    }))
}

/// The open `DEST.partial` of a single-file output of bytes (mbox, jsonl),
/// cut back to the length the state records (a killed run may have
/// appended part of a window).
fn open_sink(
    names: &Names,
    state: &State,
    opts: &ConvertOptions,
    work_shown: &Path,
) -> Result<Option<BufWriter<File>>, BatchError> {
    if !opts.format.is_single_file(&names.dest) || opts.format.is_table() {
        return Ok(None);
    }
    let mut f = names
        .parent
        .open_file_rw(&names.partial_name)
        .map_err(BatchError::io(work_shown))?;
    safe_fs::set_len_if_needed(&f, state.out_bytes).map_err(BatchError::io(work_shown))?;
    f.seek(SeekFrom::End(0))
        .map_err(BatchError::io(work_shown))?;
    Ok(Some(BufWriter::with_capacity(1 << 20, f)))
}

/// The sink of a table output (sqlite, parquet); `None` for the others.
/// For Parquet parts, `threads` gains the messages of the parts a resumed
/// run closed.
#[allow(unused_variables)]
fn open_table(
    names: &Names,
    state: &State,
    opts: &ConvertOptions,
    fresh: bool,
    threads: &mut ThreadIndex,
    work_shown: &Path,
) -> Result<Option<Box<dyn TableSink>>, BatchError> {
    let work = names.work_name(state.partial);
    match opts.format {
        #[cfg(feature = "sqlite")]
        Format::Sqlite => {
            use super::format::sqlite::{check_side_files, SqliteSink, Start};
            if state.partial {
                // DEST.partial becomes DEST at the end: side files already
                // beside DEST would then be read as part of it.
                check_side_files(&names.parent, &names.dest_name, true)?;
            }
            let start = if !state.partial {
                Start::Update
            } else if opts.resume && !fresh {
                Start::Resume {
                    last: state.out_bytes as i64,
                }
            } else {
                Start::Fresh
            };
            let sink = SqliteSink::open(&names.parent, work, start, opts.fts_tokenizer, opts.raw)?;
            Ok(Some(Box::new(sink)))
        }
        #[cfg(feature = "parquet")]
        Format::Parquet => {
            use super::format::parquet::ParquetSink;
            if opts.format.is_single_file(&names.dest) {
                if !fresh {
                    return Err(BatchError::Resume(format!(
                        "{} is a one-file Parquet output, which cannot be resumed (a folder of parts can); remove it and {} to start over",
                        work_shown.display(),
                        names.shown(&names.state_name).display()
                    )));
                }
                let sink = ParquetSink::open_file(&names.parent, work, &names.dest_name, opts.raw)?;
                Ok(Some(Box::new(sink)))
            } else {
                let root = names
                    .parent
                    .open_dir(work)
                    .map_err(BatchError::io(work_shown))?;
                let sink = ParquetSink::open_parts(&root, state.out_bytes, opts.raw, threads)?;
                Ok(Some(Box::new(sink)))
            }
        }
        _ => Ok(None),
    }
}

/// jsonl: the names of the threads file beside DEST (`NAME.threads.jsonl`,
/// NAME being DEST without `.jsonl`), refused if taken; a resumed run's
/// committed records go into `threads`.
fn jsonl_threads_file(
    names: &Names,
    state: &State,
    opts: &ConvertOptions,
    work_shown: &Path,
    threads: &mut ThreadIndex,
) -> Result<Option<(OsString, OsString)>, BatchError> {
    if opts.format != Format::Jsonl {
        return Ok(None);
    }
    let dest = names.dest_name.to_string_lossy();
    let stem = dest.strip_suffix(".jsonl").unwrap_or(&dest);
    let fin = sibling_name(OsStr::new(stem), ".threads.jsonl", false);
    let partial = sibling_name(&fin, ".partial", false);
    for n in [&fin, &partial] {
        if names
            .parent
            .kind(n)
            .map_err(BatchError::io(&names.shown(n)))?
            .is_some()
        {
            return Err(dest_error(
                &names.shown(n),
                "exists; jsonl outputs are never overwritten",
            ));
        }
    }
    if state.out_bytes > 0 {
        super::format::jsonl::seed_threads(
            &names.parent,
            names.work_name(state.partial),
            state.out_bytes,
            work_shown,
            threads,
        )?;
    }
    Ok(Some((partial, fin)))
}

impl Run {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            offset: self.state.offset,
            messages: self.state.messages,
        }
    }

    pub fn committed(&self) -> u64 {
        self.state.messages
    }

    /// Windows committed by this process.
    pub fn committed_windows(&self) -> u64 {
        self.windows
    }

    pub fn bytes_in(&self) -> u64 {
        self.state.bytes_in
    }

    /// Prepares a window in parallel and commits it in order, the two at
    /// once: workers prepare messages on the rayon pool while this thread
    /// records each one as soon as it and every message before it are
    /// ready. The commit's serial work (SQLite inserts, Parquet and jsonl
    /// writes, the thread index) used to wait for the whole window to be
    /// prepared, leaving the workers idle meanwhile: with SQLite, whose
    /// commit is most of a run, that was about a tenth of a `-j2` run.
    /// `meanwhile` runs on the pool after every message is taken (the
    /// caller reads the next window there).
    pub fn commit(
        &mut self,
        window: Window<'_>,
        src: &Source,
        hooks: &Hooks<'_>,
        meanwhile: impl FnOnce() + Send,
    ) -> Result<(), BatchError> {
        self.check_chain(&window)?;
        let base = self.state.messages;
        // The workers' context is its own (cheap clones: the attachment
        // folder is a shared descriptor), since `record` changes the run
        // meanwhile.
        let opts = self.opts.clone();
        let threads = rayon::current_num_threads();
        // With one worker the commit creates the message files (see
        // `prepare::MessageFile`).
        let folders = self.folders.clone().filter(|_| threads > 1);
        let place = self.place();
        let attach = self.attach.as_ref().map(|a| a.dir().clone());
        let source = self.state.source.clone();
        let ctx = Context {
            opts: &opts,
            files: folders.as_ref().map(|f| (f, place)),
            shared: window.shared.as_ref(),
            attach: attach.as_ref(),
            chain: self.chain.is_some(),
            source: &source,
        };
        let items = &window.items;
        let mut before = None;
        let (before_ref, end) = (&mut before, window.end.offset);
        // Once the window's batches are all taken, a worker hashes the
        // archive before the window's end for the state (1 MiB of SHA-256,
        // about 0.5 ms, on the committing thread before), and another runs
        // the caller's job.
        let after: Vec<ordered::After<'_>> = vec![
            Box::new(move || *before_ref = fingerprint::before(src, end)),
            Box::new(meanwhile),
        ];
        let ctx = &ctx;
        ordered::map_in_order(
            items,
            send_batch(items.len(), threads),
            |k, item| prepare(item, base + k as u64, ctx),
            after,
            |k, prepared| self.record(prepared?, &items[k], hooks),
        )?;
        self.checkpoint(&window, before, hooks)
    }

    /// A resumed stream: the messages skipped up to the resume point must
    /// be the ones the interrupted run committed.
    fn check_chain(&mut self, window: &Window<'_>) -> Result<(), BatchError> {
        if let (Some(chain), Some(skipped)) = (&self.chain, &window.skipped_chain) {
            if chain.to_hex() != skipped.to_hex() {
                return Err(BatchError::Resume(format!(
                    "{} is not the stream the interrupted run read: its first {} messages differ",
                    self.state.source, self.resumed_from
                )));
            }
            self.chain_checked = true;
        }
        Ok(())
    }

    /// Commits one prepared message, in archive order: its report, its
    /// counts, its bytes in a single-file output, its file in a folder
    /// output at `-j1`, its attachments.
    fn record(
        &mut self,
        p: Prepared,
        item: &Item<'_>,
        hooks: &Hooks<'_>,
    ) -> Result<(), BatchError> {
        if let Some(line) = &p.report {
            (hooks.report)(line);
        }
        if let (Some(chain), Some(sha)) = (&mut self.chain, &p.chain) {
            chain.push_digest(sha);
        }
        self.state.defective += u64::from(p.defective);
        self.state.unparseable += u64::from(p.unparseable);
        if p.skipped {
            self.state.skipped += 1;
            return Ok(());
        }
        let mut rows = p.rows;
        if let (Some(table), Some(r)) = (&mut self.table, &rows) {
            // --update: a message the database holds already.
            if self.opts.update && table.contains(&r.message.sha256)? {
                self.state.skipped += 1;
                return Ok(());
            }
        }
        self.state.written += 1;
        if let Some(sink) = &mut self.sink {
            if p.mbox_at_commit {
                write_mbox(sink, item).map_err(BatchError::io(&self.work_shown))?;
            } else {
                sink.write_all(&p.out)
                    .map_err(BatchError::io(&self.work_shown))?;
            }
        }
        if let (Some(file), Some(f)) = (&p.file, &self.folders) {
            file.publish(f, &item.message, self.place())?;
        }
        if let Some(att) = &mut self.attach {
            let paths = att.add(
                p.index,
                p.offset,
                p.message_id.as_deref(),
                p.attachments,
                &mut self.state,
            )?;
            if let Some(r) = &mut rows {
                for a in &mut r.attachments {
                    a.path = paths
                        .iter()
                        .find(|(s, _)| *s == a.section)
                        .map(|(_, p)| p.clone());
                }
            }
        }
        if let Some((source, keys)) = &p.thread {
            self.threads.push_keys(source, p.offset, keys);
        }
        if let Some(r) = rows {
            let m = &r.message;
            if !self.sqlite() {
                self.threads.push_keys(&m.source, m.offset, &r.thread_keys);
            }
            if let Some(table) = &mut self.table {
                table.push(*r)?;
            }
        }
        Ok(())
    }

    /// How message files go into place. DEST.partial (created by this run
    /// or the one it resumes) holds nothing but our own files, named by
    /// archive index (and content hash), and nobody reads it before the
    /// final rename: files are written in place there. A folder the run
    /// adds to (an existing DEST) is linked into without clobbering.
    fn place(&self) -> Place {
        if self.state.partial {
            Place::InPlace
        } else {
            Place::LinkNoClobber
        }
    }

    /// sqlite threads its database from the database itself.
    fn sqlite(&self) -> bool {
        #[cfg(feature = "sqlite")]
        if self.opts.format == Format::Sqlite {
            return true;
        }
        false
    }

    /// After a window: flushes the outputs, records how far the run got
    /// and saves the state. `before` is the window end's
    /// [`fingerprint::before`].
    fn checkpoint(
        &mut self,
        window: &Window<'_>,
        before: Option<String>,
        hooks: &Hooks<'_>,
    ) -> Result<(), BatchError> {
        if let Some(sink) = &mut self.sink {
            sink.flush().map_err(BatchError::io(&self.work_shown))?;
            self.state.out_bytes = sink
                .get_ref()
                .stream_position()
                .map_err(BatchError::io(&self.work_shown))?;
        }
        let durable = match &mut self.table {
            Some(t) => t.checkpoint()?,
            None => Some(self.state.out_bytes),
        };
        if let Some(att) = &mut self.attach {
            att.flush(&mut self.state)?;
        }
        self.state.offset = window.end.offset;
        self.state.messages = window.end.messages;
        self.state.bytes_in += window.bytes;
        if let Some(b) = before {
            self.state.fingerprint["before_sha256"] = b.into();
        }
        if let Some(chain) = &self.chain {
            self.state.fingerprint["chain_sha256"] = chain.to_hex().into();
        }
        super::test_pause(
            "MIMEFLOW_TEST_PAUSE_BEFORE_SAVE",
            self.windows + 1,
            hooks.cancel,
        );
        // A table output that kept rows back (a Parquet part still open)
        // leaves the saved state at its last durable point.
        if let Some(out) = durable {
            self.state.out_bytes = out;
            self.state
                .save(&self.names.parent, &self.names.state_name)?;
        }
        self.windows += 1;
        Ok(())
    }

    /// Moves the output into place and removes the state file.
    pub fn finish(mut self) -> Result<Summary, BatchError> {
        if !self.chain_checked {
            return Err(BatchError::Resume(format!(
                "{} ended before the {} messages the interrupted run committed",
                self.state.source, self.resumed_from
            )));
        }
        if let Some(mut sink) = self.sink.take() {
            sink.flush().map_err(BatchError::io(&self.work_shown))?;
        }
        if let Some(table) = self.table.take() {
            table.finish(&mut self.threads)?;
        }
        if let Some((partial, fin)) = self.threads_file.take() {
            super::format::jsonl::write_threads(
                &self.names.parent,
                &partial,
                &fin,
                &mut self.threads,
            )?;
        }
        if self.state.partial {
            match self.names.parent.rename_noreplace(
                &self.names.partial_name,
                &self.names.parent,
                &self.names.dest_name,
            ) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(dest_error(
                        &self.names.dest,
                        format!(
                            "appeared during the run; the output is in {}",
                            self.work_shown.display()
                        ),
                    ));
                }
                Err(e) => return Err(BatchError::io(&self.names.dest)(e)),
            }
        }
        if let Some(att) = self.attach.take() {
            att.finish()?;
        }
        let _ = self.names.parent.remove_file(&self.names.state_name);
        let st = &self.state;
        Ok(Summary {
            messages_in: st.messages,
            written: st.written,
            skipped: st.skipped,
            defective: st.defective,
            unparseable: st.unparseable,
            resumed_from: self.resumed_from,
            attachments_written: st.attachments_written,
            attachments_duplicate: st.attachments_duplicate,
            bytes_in: st.bytes_in,
            ..Summary::default()
        })
    }

    /// After a failure: an interrupted or I/O-failed run stays resumable; a
    /// fresh output of a bad source is removed (it was all ours).
    /// Returns whether the output and state were kept for a resume.
    pub fn abandon(mut self, err: &BatchError) -> bool {
        drop(self.sink.take());
        let resumable = self.table.take().is_none_or(|t| t.abandon());
        drop(self.folders.take());
        let bad_input = matches!(err, BatchError::Mbox(_) | BatchError::BadSource { .. });
        if (bad_input || !resumable) && self.fresh {
            let _ = if self.opts.format.is_single_file(&self.names.dest) {
                self.names.parent.remove_file(&self.names.partial_name)
            } else {
                self.names.parent.remove_dir_all(&self.names.partial_name)
            };
            let _ = self.names.parent.remove_file(&self.names.state_name);
            if let Some(att) = self.attach.take() {
                att.discard();
            }
            return false;
        }
        true
    }
}
