//! `--to sqlite`: the schema of `docs/schema.md` as SQLite tables, with an
//! FTS5 index that Datasette finds by itself.
//!
//! # Tables
//!
//! - `messages`: one row per message, `id INTEGER PRIMARY KEY` (the rowid
//!   the full-text index points at) then the schema's fields in order.
//!   SQLite has no list or struct type: lists (`references`, `to`, `cc`,
//!   `bcc`, `reply_to`, `gmail_labels`, `defects`, `headers`) are JSON
//!   text, so `json_each` reads them in SQL and Datasette shows them as
//!   JSON; the address lists are also normalised into `addresses`, which is
//!   what a facet or a join wants. Dates (`date`, `received`) are integers,
//!   UTC seconds since the epoch: the value Parquet and Arrow hold, sortable
//!   and comparable without parsing, and one `datetime(date, 'unixepoch')`
//!   away from text.
//! - `addresses(message, role, position, name, address)`, `message`
//!   referring to `messages.id`, role one of from/to/cc/bcc/reply_to.
//! - `attachments(message, source, offset, section, filename,
//!   content_type, size, sha256, path)`.
//! - `threads(message, source, offset, thread_id)`, and
//!   `messages.thread_id`: each row gets the id the thread rule gives on
//!   the messages inserted before it ([`ThreadIndex::provisional`]), and
//!   at the end of the run, before the indexes and the full-text index are
//!   built, the rows whose thread turned out otherwise are rewritten (in an
//!   archive in date order, almost none: rewriting every row cost as much
//!   as a third of the load).
//! - `messages_fts`: FTS5, `content="messages"`, `content_rowid="id"`,
//!   over subject, from_name, from_address, to, cc, bcc and body_text.
//!   A fresh database's index is built on a second thread while the rows
//!   are loaded and copied in at the end ([`SideFts`]); a resumed run
//!   builds it after the load (one `rebuild`, in one transaction);
//!   `--update` indexes its new rows in each window's transaction, so a
//!   killed update resumed later leaves none of them out of the index.
//!
//! `PRAGMA user_version` holds [`SCHEMA_VERSION`] and `application_id`
//! [`APPLICATION_ID`]; `--update` refuses any other database.
//!
//! # Durability and resume
//!
//! A rollback journal (`journal_mode=DELETE`) with `synchronous=OFF`
//! ([`PRAGMAS`]; never journal mode OFF): each window is one transaction,
//! so a kill loses at most the window being written and never corrupts
//! what was committed (a power cut may: that is what `synchronous=OFF`
//! gives up, as the issue allows). A fresh database is built as
//! `DEST.partial` (created exclusively by the run, never through a link;
//! SQLite opens it with `SQLITE_OPEN_NOFOLLOW`, and its `-wal`/`-shm`/
//! `-journal` files may not exist before a fresh run: SQLite would take
//! them for part of the database), checkpointed, closed and renamed.
//! `--resume` and `--update` open a database whose side files may exist
//! (a kill leaves them), but only as plain files, never through a link;
//! `--update` checks the application id and schema version before it
//! writes anything, the switch of journal mode included. The
//! run's state records the last committed `messages.id`; `--resume`
//! deletes the rows after it (a window committed to the database but not
//! yet to the state) and carries on.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::{params, Connection, OpenFlags};
use serde_json::json;

use super::table::{Rows, TableSink};
use crate::batch::BatchError;
use crate::rows::threads::ThreadIndex;
use crate::rows::{MessageRow, NameAddr, SCHEMA_VERSION};
use crate::safe_fs::{Dir, Kind};

/// `PRAGMA application_id` of a mimeflow database ("mimf").
pub const APPLICATION_ID: i32 = 0x6d69_6d66;

/// The full-text tokenizer (`--fts-tokenizer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tokenizer {
    /// Words of any script separated by blanks and punctuation; cannot
    /// segment Chinese or Japanese.
    #[default]
    Unicode61,
    /// Every 3-character sequence: finds substrings in any script (queries
    /// need at least 3 characters), at about 3x the index size.
    Trigram,
}

impl Tokenizer {
    /// The name on the command line (and in FTS5's `tokenize=`).
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::Unicode61 => "unicode61",
            Tokenizer::Trigram => "trigram",
        }
    }

    /// The tokenizer called `name`.
    pub fn from_name(name: &str) -> Option<Tokenizer> {
        [Tokenizer::Unicode61, Tokenizer::Trigram]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// The settings of a connection that loads a database (see the module
/// docs on durability). A rollback journal rather than WAL: pages a
/// transaction appends to the file are not journaled at all, where WAL
/// wrote every page twice (to the log, then to the database), and
/// `synchronous = OFF` skips the fsyncs, which only a power cut needs (a
/// killed process leaves the journal in the page cache, and SQLite rolls
/// the transaction back from it on the next open). The page cache is
/// 16 MiB: at 64 MiB it held a 2 GB mixed archive's whole 48 MB database
/// (peak heap 24 -> 91 MiB from 200 MB to 2 GB, see `scripts/bench_outputs.sh`).
/// Reads map the file (`mmap_size`, up to SQLite's 2 GiB cap; pwrite
/// still does the writes): the index builds and the thread-id rewrite at
/// the end read every row, and pread copied each page out of the OS cache
/// (a third of those steps; -0.1 s of 1.87 s on the 100 MB text archive).
/// The mapping is page cache, not heap. A file truncated under it by
/// another program would raise SIGBUS; the file is this run's own (or,
/// with `--update`, one it holds the write lock of while it writes).
pub const PRAGMAS: &str = "PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF; \
     PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = 2147418112;";

/// FTS5's `hashsize` while an index is built: the terms it gathers in
/// memory before writing them out as a segment (its default is 1 MiB).
/// Fewer, larger first-level segments leave less to merge: the side build
/// of the 100 MB text archive took 1.60 -> 1.38-1.44 s. Memory: the
/// pending terms of 8 MiB of index data, once. The setting is taken out of
/// `messages_fts_config` after the build, so the finished table is
/// declared and configured as a default one (later `--update` inserts use
/// FTS5's default).
pub const FTS_HASHSIZE: u32 = 8 << 20;

/// The columns of `messages_fts`.
pub const FTS_COLUMNS: &str = "subject, from_name, from_address, \"to\", cc, bcc, body_text";

/// The tables (without indexes: [`INDEXES`]).
pub const SCHEMA: &str = r#"
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    length INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    "row" INTEGER,
    message_id TEXT,
    in_reply_to TEXT,
    "references" TEXT NOT NULL,
    date INTEGER,
    date_offset INTEGER,
    date_raw TEXT,
    received INTEGER,
    subject TEXT,
    from_name TEXT,
    from_address TEXT,
    "to" TEXT NOT NULL,
    cc TEXT NOT NULL,
    bcc TEXT NOT NULL,
    reply_to TEXT NOT NULL,
    list_id TEXT,
    gmail_labels TEXT NOT NULL,
    gmail_thread_id TEXT,
    flags TEXT NOT NULL,
    size INTEGER NOT NULL,
    attachment_count INTEGER NOT NULL,
    body_text TEXT,
    body_html TEXT,
    defects TEXT NOT NULL,
    unparseable INTEGER NOT NULL,
    headers TEXT NOT NULL,
    dkim TEXT,
    thread_id TEXT,
    raw BLOB
);
CREATE TABLE addresses (
    message INTEGER NOT NULL REFERENCES messages(id),
    role TEXT NOT NULL,
    position INTEGER NOT NULL,
    name TEXT,
    address TEXT NOT NULL
);
CREATE TABLE attachments (
    message INTEGER NOT NULL REFERENCES messages(id),
    source TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    section TEXT NOT NULL,
    filename TEXT,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT
);
CREATE TABLE threads (
    message INTEGER PRIMARY KEY REFERENCES messages(id),
    source TEXT NOT NULL,
    "offset" INTEGER NOT NULL,
    thread_id TEXT NOT NULL
);
"#;

/// Indexes, made after the bulk load (cheaper than keeping them up to date
/// row by row); `IF NOT EXISTS` so `--update` and a resumed run can run it
/// again.
pub const INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS messages_message_id ON messages(message_id);
CREATE INDEX IF NOT EXISTS messages_date ON messages(date);
CREATE INDEX IF NOT EXISTS messages_from_address ON messages(from_address);
CREATE INDEX IF NOT EXISTS messages_thread_id ON messages(thread_id);
CREATE INDEX IF NOT EXISTS messages_sha256 ON messages(sha256);
CREATE INDEX IF NOT EXISTS messages_key ON messages(source, "offset");
CREATE INDEX IF NOT EXISTS addresses_message ON addresses(message);
CREATE INDEX IF NOT EXISTS addresses_address ON addresses(address);
CREATE INDEX IF NOT EXISTS attachments_message ON attachments(message);
CREATE INDEX IF NOT EXISTS threads_thread_id ON threads(thread_id);
"#;

/// How a [`SqliteSink`] starts.
pub(crate) enum Start {
    /// A database this run created empty (`DEST.partial`).
    Fresh,
    /// `DEST.partial` of an interrupted run: rows after message id `last`
    /// were committed after its last saved state and are removed.
    Resume { last: i64 },
    /// An existing database to add new messages to (`--update`).
    Update,
}

/// The open database of a `--to sqlite` run.
pub(crate) struct SqliteSink {
    conn: Connection,
    shown: PathBuf,
    tokenizer: Tokenizer,
    raw: bool,
    /// The full-text index is built at the end, over every row (a fresh
    /// or resumed database, or one without an index). Else (`--update` of
    /// a database that has one) each window's rows enter it in the
    /// window's own transaction, so a killed update leaves no row out.
    fresh_fts: bool,
    /// The window's transaction, opened by its first row and committed at
    /// the checkpoint: the largest message id before it. Rows are inserted
    /// as they are pushed, so the inserts run while the workers prepare
    /// the rest of the window (see [`crate::batch::run`]), not after it.
    open: Option<i64>,
    /// Threads of every message in the database, in id order.
    threads: ThreadIndex,
    /// Per message of `threads`: the thread id its rows hold now...
    written: Vec<u64>,
    /// ...except these positions, whose rows hold none (a database of an
    /// interrupted run of an older mimeflow).
    unknown: Vec<usize>,
    /// Message ids by position in `threads`, as runs of consecutive ids:
    /// (first id, first position).
    ids: Vec<(i64, usize)>,
    /// The database's real path (the side build attaches it).
    real: PathBuf,
    /// A fresh database's full-text index, built on another thread while
    /// the rows are loaded ([`SideFts`]); `None` builds it at the end.
    side: Option<SideFts>,
}

/// The full-text columns of one message, as inserted: its id, then
/// [`FTS_COLUMNS`] in order.
type FtsRow = (i64, [Option<String>; 7]);

/// Text bytes (the full-text columns) that may wait for the side build.
/// The build is the longest strand of a load, so a short queue held the
/// loading thread back to its pace, and the end of the run (thread ids,
/// indexes: a third of a second on one core) began only once the index
/// was nearly done, with the second core idle. With room for a few
/// tenths of a second of text, the loading thread finishes first and does
/// the end while the index catches up: 100 MB text archive, -j2, 1.47 ->
/// 1.3 s. Memory: this much text at most, whatever the archive's size.
const FTS_QUEUE_BYTES: usize = 32 << 20;

/// The bytes of [`FTS_QUEUE_BYTES`] a row takes.
fn queued_bytes(row: &FtsRow) -> usize {
    64 + row.1.iter().flatten().map(String::len).sum::<usize>()
}

/// The queue's byte count, shared by the loading thread and the build.
#[derive(Default)]
struct Queued {
    /// Bytes queued, and whether the build has stopped (done or failed:
    /// nobody will free any more).
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Queued {
    /// Waits until `bytes` more fit (or the queue is empty, or the build
    /// stopped), then counts them.
    fn take(&self, bytes: usize) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while s.0 > 0 && s.0 + bytes > FTS_QUEUE_BYTES && !s.1 {
            s = self.freed.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.0 += bytes;
    }

    fn free(&self, bytes: usize) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 -= bytes;
        self.freed.notify_one();
    }

    fn stop(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.freed.notify_one();
    }
}

/// Marks the build stopped however its thread ends (an error, a panic),
/// so a loading thread waiting for room wakes up.
struct StopOnDrop(Arc<Queued>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The full-text index of a fresh database, built while its rows are
/// loaded rather than by one `rebuild` after them, which left the second
/// core idle for a third of a run.
///
/// SQLite lets one connection at a time write a database, so the index is
/// built on its own thread in a private temporary database (`""`: a file
/// SQLite unlinks as soon as it is open, so a kill leaves nothing; pages
/// spill to it beyond a small cache, so memory stays bounded). It holds a
/// `messages_fts` declared exactly as the real one, fed each message's
/// full-text columns, as inserted, with its id; FTS5 does not read the
/// content table on insert, so none is needed there. At the end the real
/// `messages_fts` is created (empty) and the side build's connection
/// attaches the database and copies FTS5's shadow tables (`_data`, `_idx`,
/// `_docsize`, `_config`) over its empty ones in one transaction. The
/// result is the table a `rebuild` makes (with the same `hashsize`, by the
/// same SQLite): the same declaration, the same rows and terms, the same
/// segments but for the structure record's write counter
/// (`integrity-check` passes; python/tests/test_outputs.py; checked by hand
/// on the 100 MB text archive, 8,786 `_data` rows).
///
/// A resumed run, or one that adds to a database, still uses the
/// `rebuild` (or per-window inserts): rows of an earlier process are not
/// in a side build.
struct SideFts {
    /// `None` once closed (at the end).
    rows: Option<mpsc::Sender<FtsRow>>,
    queued: Arc<Queued>,
    worker: Option<JoinHandle<rusqlite::Result<Connection>>>,
}

/// The `CREATE VIRTUAL TABLE` of `messages_fts` in `schema`.
fn fts_ddl(schema: &str, tokenizer: Tokenizer) -> String {
    format!(
        "CREATE VIRTUAL TABLE {schema}messages_fts USING fts5({FTS_COLUMNS}, \
         content=\"messages\", content_rowid=\"id\", tokenize=\"{}\");",
        tokenizer.name()
    )
}

/// Sets [`FTS_HASHSIZE`] on `messages_fts` before a build.
fn fts_build_config() -> String {
    format!("INSERT INTO messages_fts(messages_fts, rank) VALUES('hashsize', {FTS_HASHSIZE});")
}

/// Takes [`FTS_HASHSIZE`] out of `messages_fts` in `schema` after a build.
fn fts_build_config_end(schema: &str) -> String {
    format!("DELETE FROM {schema}messages_fts_config WHERE k = 'hashsize';")
}

/// FTS5's shadow tables of an external-content table (no `_content`).
const FTS_SHADOWS: [&str; 4] = [
    "messages_fts_data",
    "messages_fts_idx",
    "messages_fts_docsize",
    "messages_fts_config",
];

impl SideFts {
    fn start(tokenizer: Tokenizer) -> SideFts {
        let (tx, rx) = mpsc::channel::<FtsRow>();
        let queued = Arc::new(Queued::default());
        let stop = StopOnDrop(queued.clone());
        let worker = std::thread::spawn(move || -> rusqlite::Result<Connection> {
            let queued = &stop.0;
            let conn = Connection::open_with_flags(
                "",
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NOFOLLOW
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            // A scratch file nobody continues: a kill or failure discards
            // it whole, so it needs no journal.
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; \
                 PRAGMA cache_size = -8192; BEGIN; {} {}",
                fts_ddl("", tokenizer),
                fts_build_config()
            ))?;
            {
                let mut insert = conn.prepare(&format!(
                    "INSERT INTO messages_fts(rowid, {FTS_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))?;
                for row in rx {
                    let bytes = queued_bytes(&row);
                    let (id, [a, b, c, d, e, f, g]) = row;
                    insert.execute(params![id, a, b, c, d, e, f, g])?;
                    queued.free(bytes);
                }
            }
            conn.execute_batch("COMMIT")?;
            Ok(conn)
        });
        SideFts {
            rows: Some(tx),
            queued,
            worker: Some(worker),
        }
    }

    /// Hands one message's columns to the build; an error when the build
    /// failed (its own).
    fn send(&mut self, row: FtsRow) -> rusqlite::Result<()> {
        self.queued.take(queued_bytes(&row));
        let sent = self.rows.as_ref().map(|tx| tx.send(row).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        self.rows = None;
        self.join().map(drop)
    }

    fn join(&mut self) -> rusqlite::Result<Connection> {
        self.rows = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(rusqlite::Error::InvalidQuery),
        }
    }

    /// Ends the build and moves its index into `messages_fts` of the
    /// database at `real`, which `main` (the loading connection) has just
    /// created empty and committed.
    fn finish(mut self, real: &Path) -> rusqlite::Result<()> {
        let conn = self.join()?;
        let real = real.to_str().ok_or(rusqlite::Error::InvalidQuery)?;
        conn.execute("ATTACH DATABASE ?1 AS dest", [real])?;
        // An attached database starts with `synchronous = FULL`: two
        // fsyncs at the commit, 0.13 s of a 1.7 s run. The loading
        // connection runs with OFF (`PRAGMAS`), and so does this copy.
        let mut sql = String::from("PRAGMA dest.synchronous = OFF; BEGIN;");
        for t in FTS_SHADOWS {
            sql.push_str(&format!(
                "DELETE FROM dest.{t}; INSERT INTO dest.{t} SELECT * FROM main.{t};"
            ));
        }
        sql.push_str(&fts_build_config_end("dest."));
        sql.push_str("COMMIT; DETACH DATABASE dest;");
        conn.execute_batch(&sql)?;
        conn.close().map_err(|(_, e)| e)
    }
}

/// The statement that inserts a `messages` row; its parameters are the
/// columns it names, in order.
pub const INSERT_MESSAGE: &str = r#"INSERT INTO messages (source, "offset", length, sha256,
    "row", message_id, in_reply_to, "references", date, date_offset, date_raw, received,
    subject, from_name, from_address, "to", cc, bcc, reply_to, list_id, gmail_labels,
    gmail_thread_id, flags, size, attachment_count, body_text, body_html, defects,
    unparseable, headers, dkim, thread_id, raw)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
    ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)"#;
/// The statement that inserts an `addresses` row.
pub const INSERT_ADDRESS: &str =
    "INSERT INTO addresses (message, role, position, name, address) VALUES (?1, ?2, ?3, ?4, ?5)";
/// The statement that inserts an `attachments` row.
pub const INSERT_ATTACHMENT: &str = r#"INSERT INTO attachments (message, source, "offset",
    section, filename, content_type, size, sha256, path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"#;
/// The statement that inserts (or replaces) a `threads` row.
pub const INSERT_THREAD: &str = r#"INSERT OR REPLACE INTO threads (message, source, "offset",
    thread_id) VALUES (?1, ?2, ?3, ?4)"#;

/// The JSON text columns of a message row, in [`INSERT_MESSAGE`]'s order:
/// references, to, cc, bcc, reply_to, gmail_labels, defects, headers, and
/// dkim (`None`, SQL NULL, when the run did not verify).
pub fn json_columns(m: &MessageRow) -> ([String; 8], Option<String>) {
    let headers = serde_json::Value::Array(
        m.headers
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect(),
    )
    .to_string();
    let texts = [
        texts_json(&m.references),
        people_json(&m.to),
        people_json(&m.cc),
        people_json(&m.bcc),
        people_json(&m.reply_to),
        texts_json(&m.gmail_labels),
        texts_json(&m.defects),
        headers,
    ];
    let dkim = m
        .dkim
        .as_deref()
        .map(|d| crate::rows::dkim_json(Some(d)).to_string());
    (texts, dkim)
}

/// A thread id (16 hex digits) as a number.
fn thread_number(id: &str) -> Option<u64> {
    u64::from_str_radix(id, 16).ok()
}

fn sql_err(shown: &Path) -> impl Fn(rusqlite::Error) -> BatchError + '_ {
    move |e| BatchError::Io {
        path: shown.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

fn people_json(list: &[NameAddr]) -> String {
    serde_json::Value::Array(
        list.iter()
            .map(|a| json!({"name": a.name, "address": a.address}))
            .collect(),
    )
    .to_string()
}

fn texts_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("strings serialise")
}

/// The files SQLite keeps beside a database `NAME`: `NAME-wal`,
/// `NAME-shm` (WAL mode) and `NAME-journal` (rollback journal).
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Checks the side files of database `name` in `dir` before SQLite opens
/// them by path. A fresh database may have none (SQLite would take them
/// for part of it). An existing one (`--resume`, `--update`) may have
/// them, as a kill leaves them, but only as plain files: a link (SQLite
/// opens with `O_NOFOLLOW` and would fail with a less clear error), a
/// folder, FIFO or device is refused, links not followed.
pub(crate) fn check_side_files(dir: &Dir, name: &OsStr, fresh: bool) -> Result<(), BatchError> {
    for suffix in SIDE_FILES {
        let mut side = name.to_os_string();
        side.push(suffix);
        let shown = dir.display_path(&side);
        let why = match dir.kind(&side).map_err(BatchError::io(&shown))? {
            None => continue,
            Some(_) if fresh => "exists; SQLite would read it as part of the new database",
            Some(Kind::File) => continue,
            Some(Kind::Symlink) => "is a symbolic link; SQLite's side files are never followed",
            Some(_) => "is not a plain file; SQLite would read it as part of the database",
        };
        return Err(BatchError::Destination {
            path: shown,
            why: why.into(),
        });
    }
    Ok(())
}

impl SqliteSink {
    /// Opens `name` in `dir` (see [`Start`]). The file exists: a fresh one
    /// was created exclusively by the run.
    pub fn open(
        dir: &Dir,
        name: &OsStr,
        start: Start,
        tokenizer: Tokenizer,
        raw: bool,
    ) -> Result<SqliteSink, BatchError> {
        let shown = dir.display_path(name);
        // SQLite opens by path: the folder's real path (no links left in
        // it), the name refused if it is a link (SQLITE_OPEN_NOFOLLOW).
        let real = std::fs::canonicalize(dir.path())
            .map_err(BatchError::io(dir.path()))?
            .join(name);
        check_side_files(dir, name, matches!(start, Start::Fresh))?;
        let conn = Connection::open_with_flags(
            &real,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NOFOLLOW
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err(&shown))?;
        let e = sql_err(&shown);
        let mut sink = SqliteSink {
            conn,
            shown: shown.clone(),
            tokenizer,
            raw,
            fresh_fts: true,
            open: None,
            threads: ThreadIndex::tracking(),
            written: Vec::new(),
            unknown: Vec::new(),
            ids: Vec::new(),
            real: real.clone(),
            side: None,
        };
        // Another program's database, or another schema version, is
        // refused before anything is written to it: switching the journal
        // mode below already rewrites the file's header.
        let made = !matches!(start, Start::Fresh) && sink.has_table("messages")?;
        if made || matches!(start, Start::Update) {
            sink.check_ours()?;
        }
        sink.conn.execute_batch(PRAGMAS).map_err(&e)?;
        match start {
            Start::Fresh => {
                sink.conn
                    .execute_batch(&format!(
                        "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; \
                         PRAGMA application_id = {APPLICATION_ID}; COMMIT;"
                    ))
                    .map_err(&e)?;
                // ATTACH takes the path as text: a path that is not
                // UTF-8 keeps the `rebuild` at the end.
                if sink.real.to_str().is_some() {
                    sink.side = Some(SideFts::start(tokenizer));
                }
            }
            // Killed before the schema was made: start it now.
            Start::Resume { .. } if !made => {
                sink.conn
                    .execute_batch(&format!(
                        "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; \
                         PRAGMA application_id = {APPLICATION_ID}; COMMIT;"
                    ))
                    .map_err(&e)?;
            }
            Start::Resume { last } => {
                let tx = sink.conn.transaction().map_err(&e)?;
                for t in ["addresses", "attachments", "threads"] {
                    tx.execute(&format!("DELETE FROM {t} WHERE message > ?1"), [last])
                        .map_err(&e)?;
                }
                tx.execute("DELETE FROM messages WHERE id > ?1", [last])
                    .map_err(&e)?;
                tx.commit().map_err(&e)?;
            }
            Start::Update => {
                sink.fresh_fts = !sink.has_table("messages_fts")?;
                // Deduplication reads sha256 for every message.
                sink.conn
                    .execute_batch(
                        "CREATE INDEX IF NOT EXISTS messages_sha256 ON messages(sha256);",
                    )
                    .map_err(&e)?;
            }
        }
        if matches!(start, Start::Resume { .. } | Start::Update) {
            sink.seed_threads().map_err(&e)?;
        }
        Ok(sink)
    }

    /// Reads the threads of the messages the database holds already (a
    /// resumed or `--update` run), with the thread id their rows hold.
    fn seed_threads(&mut self) -> rusqlite::Result<()> {
        let mut q = self.conn.prepare(
            r#"SELECT m.id, m.source, m."offset", m.message_id, m.in_reply_to,
            m."references", t.thread_id
            FROM messages m LEFT JOIN threads t ON t.message = m.id ORDER BY m.id"#,
        )?;
        let mut rows = q.query([])?;
        while let Some(r) = rows.next()? {
            let refs: String = r.get(5)?;
            let refs: Vec<String> = serde_json::from_str(&refs).unwrap_or_default();
            let source: String = r.get(1)?;
            self.threads.push(
                &source,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, Option<String>>(3)?.as_deref(),
                r.get::<_, Option<String>>(4)?.as_deref(),
                &refs,
            );
            let held = r.get::<_, Option<String>>(6)?;
            Self::note(
                &mut self.ids,
                &mut self.written,
                &mut self.unknown,
                r.get(0)?,
                held.as_deref().and_then(thread_number),
            );
        }
        Ok(())
    }

    /// Records that message `id`, the next in `threads`, holds thread id
    /// `held`.
    fn note(
        ids: &mut Vec<(i64, usize)>,
        written: &mut Vec<u64>,
        unknown: &mut Vec<usize>,
        id: i64,
        held: Option<u64>,
    ) {
        let pos = written.len();
        match ids.last() {
            Some(&(first, at)) if first + (pos - at) as i64 == id => {}
            _ => ids.push((id, pos)),
        }
        if held.is_none() {
            unknown.push(pos);
        }
        written.push(held.unwrap_or(0));
    }

    /// The message id of position `pos` in `threads`.
    fn id_at(ids: &[(i64, usize)], pos: usize) -> i64 {
        let run = ids.partition_point(|&(_, at)| at <= pos) - 1;
        let (first, at) = ids[run];
        first + (pos - at) as i64
    }

    /// Refuses a database that is not a mimeflow one of this schema version.
    fn check_ours(&self) -> Result<(), BatchError> {
        let e = sql_err(&self.shown);
        let app: i32 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(&e)?;
        let version: u32 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&e)?;
        let why = if app != APPLICATION_ID {
            "is not a database written by mimeflow convert --to sqlite".to_string()
        } else if version != SCHEMA_VERSION {
            format!(
                "has schema version {version}; this mimeflow writes version {SCHEMA_VERSION} (convert into a new database)"
            )
        } else {
            return Ok(());
        };
        Err(BatchError::Destination {
            path: self.shown.clone(),
            why,
        })
    }

    fn has_table(&self, name: &str) -> Result<bool, BatchError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = ?1",
                [name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(sql_err(&self.shown))
    }

    fn last_id(&self) -> Result<i64, BatchError> {
        self.conn
            .query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| {
                r.get(0)
            })
            .map_err(sql_err(&self.shown))
    }

    /// Opens the window's transaction unless it is open; the largest
    /// message id before it. A run that fails before the checkpoint
    /// leaves it uncommitted: closing the connection rolls it back.
    fn begin(conn: &Connection, open: &mut Option<i64>) -> rusqlite::Result<i64> {
        if let Some(before) = *open {
            return Ok(before);
        }
        conn.execute_batch("BEGIN")?;
        let before = conn.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| {
            r.get(0)
        })?;
        *open = Some(before);
        Ok(before)
    }

    /// Inserts one message's rows, with the thread id known so far.
    fn insert(
        tx: &Connection,
        mut rows: Rows,
        raw: bool,
        threads: &mut ThreadIndex,
        side: Option<&mut SideFts>,
    ) -> rusqlite::Result<(i64, Option<u64>)> {
        let m = &rows.message;
        threads.push_keys(&m.source, m.offset, &rows.thread_keys);
        let thread = threads.provisional();
        let mut msg = tx.prepare_cached(INSERT_MESSAGE)?;
        let ([references, to, cc, bcc, reply_to, labels, defects, headers], dkim) =
            rows.sql_json.take().unwrap_or_else(|| json_columns(m));
        msg.execute(params![
            m.source,
            m.offset as i64,
            m.length as i64,
            m.sha256,
            m.row.map(|r| r as i64),
            m.message_id,
            m.in_reply_to,
            references,
            m.date,
            m.date_offset,
            m.date_raw,
            m.received,
            m.subject,
            m.from_name,
            m.from_address,
            to,
            cc,
            bcc,
            reply_to,
            m.list_id,
            labels,
            m.gmail_thread_id,
            m.flags,
            m.size as i64,
            m.attachment_count,
            m.body_text,
            m.body_html,
            defects,
            m.unparseable,
            headers,
            dkim,
            thread,
            if raw { m.raw.as_deref() } else { None },
        ])?;
        let id = tx.last_insert_rowid();
        tx.prepare_cached(INSERT_THREAD)?.execute(params![
            id,
            m.source,
            m.offset as i64,
            thread
        ])?;
        let mut addr = tx.prepare_cached(INSERT_ADDRESS)?;
        if let Some(a) = &m.from_address {
            addr.execute(params![id, "from", 0, m.from_name, a])?;
        }
        for (role, list) in [
            ("to", &m.to),
            ("cc", &m.cc),
            ("bcc", &m.bcc),
            ("reply_to", &m.reply_to),
        ] {
            for (i, a) in list.iter().enumerate() {
                addr.execute(params![id, role, i as i64, a.name, a.address])?;
            }
        }
        let mut att = tx.prepare_cached(INSERT_ATTACHMENT)?;
        for a in &rows.attachments {
            att.execute(params![
                id,
                a.source,
                a.offset as i64,
                a.section,
                a.filename,
                a.content_type,
                a.size as i64,
                a.sha256,
                a.path
            ])?;
        }
        let held = thread.as_deref().and_then(thread_number);
        if let Some(side) = side {
            // The values just inserted, moved rather than copied.
            let m = &mut rows.message;
            side.send((
                id,
                [
                    m.subject.take(),
                    m.from_name.take(),
                    m.from_address.take(),
                    Some(to),
                    Some(cc),
                    Some(bcc),
                    m.body_text.take(),
                ],
            ))?;
        }
        Ok((id, held))
    }

    /// Threads of the whole database (earlier `--update` runs included):
    /// the rows of `threads` and `messages.thread_id` whose id is not the
    /// final one are rewritten, in one transaction. Run before the indexes
    /// are made, so none of them is updated row by row.
    fn write_threads(&mut self) -> rusqlite::Result<()> {
        let rows = self.threads.finish();
        let tx = self.conn.transaction()?;
        {
            let mut thread = tx.prepare(INSERT_THREAD)?;
            let mut message = tx.prepare("UPDATE messages SET thread_id = ?2 WHERE id = ?1")?;
            let mut unknown = self.unknown.iter().peekable();
            for (pos, t) in rows.iter().enumerate() {
                let missing = unknown.next_if_eq(&&pos).is_some();
                if !missing && thread_number(&t.thread_id) == Some(self.written[pos]) {
                    continue;
                }
                let id = Self::id_at(&self.ids, pos);
                thread.execute(params![id, t.source, t.offset as i64, t.thread_id])?;
                message.execute(params![id, t.thread_id])?;
            }
        }
        tx.commit()
    }

    /// The full-text index over every row, built in one transaction: a
    /// run killed while building it leaves none, and one that resumes
    /// after that builds it again (an index left by an older build is
    /// replaced, not added to).
    fn build_fts(&mut self) -> rusqlite::Result<()> {
        if !self.fresh_fts {
            return Ok(()); // indexed window by window (`checkpoint`)
        }
        let ddl = fts_ddl("", self.tokenizer);
        if let Some(side) = self.side.take() {
            // Killed between the two commits, the database holds an
            // empty index, which a resumed run replaces as below.
            self.conn.execute_batch(&format!(
                "BEGIN; DROP TABLE IF EXISTS messages_fts; {ddl} COMMIT;"
            ))?;
            return side.finish(&self.real);
        }
        self.conn.execute_batch(&format!(
            "BEGIN; DROP TABLE IF EXISTS messages_fts; {ddl} {} \
             INSERT INTO messages_fts(messages_fts) VALUES('rebuild'); {} COMMIT;",
            fts_build_config(),
            fts_build_config_end("")
        ))
    }
}

impl TableSink for SqliteSink {
    fn contains(&mut self, sha256: &str) -> Result<bool, BatchError> {
        // The window's own rows are in the open transaction, so a message
        // twice in one window is seen too.
        self.conn
            .prepare_cached("SELECT 1 FROM messages WHERE sha256 = ?1 LIMIT 1")
            .and_then(|mut q| q.exists([sha256]))
            .map_err(sql_err(&self.shown))
    }

    fn push(&mut self, rows: Rows) -> Result<(), BatchError> {
        let e = sql_err(&self.shown);
        Self::begin(&self.conn, &mut self.open).map_err(&e)?;
        let (id, held) = SqliteSink::insert(
            &self.conn,
            rows,
            self.raw,
            &mut self.threads,
            self.side.as_mut(),
        )
        .map_err(&e)?;
        Self::note(
            &mut self.ids,
            &mut self.written,
            &mut self.unknown,
            id,
            held,
        );
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<Option<u64>, BatchError> {
        let e = sql_err(&self.shown);
        let before = Self::begin(&self.conn, &mut self.open).map_err(&e)?;
        if !self.fresh_fts {
            self.conn
                .execute(
                    &format!(
                        "INSERT INTO messages_fts(rowid, {FTS_COLUMNS}) \
                         SELECT id, {FTS_COLUMNS} FROM messages WHERE id > ?1"
                    ),
                    [before],
                )
                .map_err(&e)?;
        }
        self.conn.execute_batch("COMMIT").map_err(&e)?;
        self.open = None;
        Ok(Some(self.last_id()? as u64))
    }

    fn finish(mut self: Box<Self>, _threads: &mut ThreadIndex) -> Result<(), BatchError> {
        self.checkpoint()?;
        let shown = self.shown.clone();
        let e = sql_err(&shown);
        self.write_threads().map_err(&e)?;
        self.conn.execute_batch(INDEXES).map_err(&e)?;
        self.build_fts().map_err(&e)?;
        self.conn
            .execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(&e)?;
        // Back to a rollback journal so the finished file stands alone
        // (no -wal/-shm beside it) wherever it is copied.
        self.conn
            .execute_batch("PRAGMA journal_mode = DELETE;")
            .map_err(&e)?;
        let conn = self.conn;
        conn.close().map_err(|(_, err)| e(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_side_queue_bounds_bytes_and_never_blocks_on_a_stopped_build() {
        let q = Arc::new(Queued::default());
        // One row larger than the whole budget enters an empty queue.
        q.take(FTS_QUEUE_BYTES * 2);
        q.free(FTS_QUEUE_BYTES * 2);
        // A full queue holds the next row back until the build frees room.
        q.take(FTS_QUEUE_BYTES);
        let (done_tx, done_rx) = mpsc::channel();
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || {
                q.take(1);
                done_tx.send(()).unwrap();
            })
        };
        assert!(done_rx.recv_timeout(Duration::from_millis(50)).is_err());
        q.free(FTS_QUEUE_BYTES);
        done_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        waiter.join().unwrap();
        q.free(1);
        // A build that stopped (failed) frees nothing more: a full queue
        // no longer holds anyone back.
        q.take(FTS_QUEUE_BYTES);
        drop(StopOnDrop(q.clone()));
        q.take(FTS_QUEUE_BYTES);
    }
}
