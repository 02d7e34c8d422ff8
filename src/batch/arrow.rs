//! The rows of a whole source, or of one byte range of an archive, as
//! Arrow record batches: what Python's `mimeflow.mbox.read_arrow` and
//! `range_table` hand to pyarrow, polars and DuckDB.
//!
//! [`batches`] reads any source `convert` reads (mbox plain or compressed,
//! Maildir, `.eml` folder) through the same [`Source`] and windows as a
//! conversion, so it parses in parallel with read-ahead and holds one window
//! at a time: an archive larger than memory streams. A producer thread
//! (named [`PRODUCER_THREAD`]) owns the source and stays at most one batch
//! ahead of the consumer: one batch waits in a channel of one while the next
//! is built, so at most three batches live (the consumer's, the queued one,
//! the one being built), plus the source's own bounded read-ahead. Dropping
//! the iterator, read or not, stops the producer at its next send: it
//! finishes the window in hand, finds the channel closed, and returns,
//! dropping the source.

use std::ops::Range;
use std::path::Path;
use std::sync::mpsc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use bytes::Bytes;
use rayon::prelude::*;

use super::prepare::{item_rows, parse_item};
use super::source::{Cursor, Item, Raw, Source};
use super::BatchError;
use crate::mbox::{self, ReadOptions, Variant};
use crate::rows::arrow::{message_batch, message_schema};
use crate::rows::RowOptions;

/// The name of the thread that reads the source for [`batches`] (tests
/// count them to see that a dropped stream stopped its producer).
pub const PRODUCER_THREAD: &str = "mimeflow-arrow";

/// Which columns, by name, in the order given (`None`: all; `[]`: none,
/// the batches keep their row counts). A name the schema lacks, or one
/// named twice (clients such as polars refuse duplicate names), is an
/// error.
fn projection(
    schema: &SchemaRef,
    columns: Option<&[String]>,
) -> Result<Option<Vec<usize>>, String> {
    let Some(cols) = columns else {
        return Ok(None);
    };
    let mut idx = Vec::with_capacity(cols.len());
    for c in cols {
        let i = schema.index_of(c).map_err(|_| {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            format!("unknown column {c:?} (columns: {})", names.join(", "))
        })?;
        if idx.contains(&i) {
            return Err(format!("column {c:?} is named twice"));
        }
        idx.push(i);
    }
    Ok(Some(idx))
}

/// The schema of [`batches`] with these options.
pub fn schema(raw: bool, columns: Option<&[String]>) -> Result<SchemaRef, String> {
    let schema = message_schema(raw);
    match projection(&schema, columns)? {
        None => Ok(schema),
        Some(idx) => Ok(std::sync::Arc::new(
            schema.project(&idx).expect("indices of this schema"),
        )),
    }
}

fn project(batch: RecordBatch, idx: &Option<Vec<usize>>) -> Result<RecordBatch, ArrowError> {
    match idx {
        None => Ok(batch),
        Some(i) => batch.project(i),
    }
}

/// The rows of `items` (in parallel) as one batch.
fn items_batch(
    items: &[Item<'_>],
    first_row: Option<u64>,
    shared: Option<&Bytes>,
    source: &str,
    raw: bool,
) -> Result<RecordBatch, ArrowError> {
    let opts = RowOptions {
        raw,
        hash_attachments: false,
    };
    let rows: Vec<_> = items
        .par_iter()
        .enumerate()
        .map(|(i, item)| {
            let parsed = parse_item(item, shared);
            let row = first_row.map(|r| r + i as u64);
            item_rows(item, row, &parsed, source, opts).0
        })
        .collect();
    message_batch(&rows, raw)
}

/// Errors of [`batches`]: the source's, or a projection naming no column.
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    /// Reading the source failed.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A column name that the schema does not have.
    #[error("{0}")]
    Column(String),
    /// Building a batch failed (a bug: reported, never hidden).
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Every message of `path` as record batches (one per window of the
/// source), `row` counted in source order. Opening errors come now; read
/// errors end the iteration with an `Err`. `streamed` reads a plain
/// archive with `read(2)` instead of mapping it ([`Source::open_streamed`]).
pub fn batches(
    path: &Path,
    variant: Option<Variant>,
    raw: bool,
    columns: Option<&[String]>,
    streamed: bool,
) -> Result<
    (
        SchemaRef,
        impl Iterator<Item = Result<RecordBatch, RowsError>>,
    ),
    RowsError,
> {
    let full = message_schema(raw);
    let idx = projection(&full, columns).map_err(RowsError::Column)?;
    let out_schema = schema(raw, columns).map_err(RowsError::Column)?;
    let src = if streamed {
        Source::open_streamed(path, variant, mbox::DEFAULT_SPOOL_THRESHOLD)?
    } else {
        Source::open(path, variant, mbox::DEFAULT_SPOOL_THRESHOLD)?
    };
    let source = src.identity().0;
    // A read error of the archive names it, as an opening error does.
    let named = path.to_path_buf();
    let read_error = move |e: BatchError| match e {
        BatchError::Mbox(mbox::MboxError::Io(source)) => BatchError::Io {
            path: named.clone(),
            source,
        },
        e => e,
    };
    // One batch queued: the read-ahead bound of the module docs.
    let (tx, rx) = mpsc::sync_channel::<Result<RecordBatch, RowsError>>(1);
    let producer = std::thread::Builder::new().name(PRODUCER_THREAD.into());
    let spawned = producer.spawn(move || {
        let jobs = rayon::current_num_threads().max(1);
        let mut feed = match src.feed(Cursor::default()) {
            Ok(f) => f,
            Err(e) => {
                let _ = tx.send(Err(read_error(e).into()));
                return;
            }
        };
        let mut row = 0u64;
        loop {
            let window = match feed.next_window(jobs) {
                Ok(Some(w)) => w,
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(read_error(e).into()));
                    return;
                }
            };
            // Messages the source refused (too large to stream) have no row.
            let items: Vec<Item<'_>> = window
                .items
                .into_iter()
                .filter(|i| i.refused.is_none())
                .collect();
            let batch = items_batch(&items, Some(row), window.shared.as_ref(), &source, raw)
                .and_then(|b| project(b, &idx))
                .map_err(RowsError::from);
            row += items.len() as u64;
            if tx.send(batch).is_err() {
                return; // the consumer has gone
            }
        }
    });
    spawned.map_err(BatchError::io(path))?;
    Ok((out_schema, rx.into_iter()))
}

/// The messages whose From_ line starts in `range` of the plain archive
/// `data` (named `source`), as one batch; `row` is null (a range cannot know
/// how many messages come before it). The ranges of
/// [`crate::mbox::plan_splits`] together give exactly the rows of the
/// whole archive.
pub fn range_batch(
    data: &Bytes,
    source: &str,
    range: Range<u64>,
    variant: Variant,
    raw: bool,
    columns: Option<&[String]>,
) -> Result<RecordBatch, RowsError> {
    mbox_batch(data, range, 0, source, variant, raw, columns)
}

/// The messages of `piece`: a piece of the plain archive named `source`
/// that starts at one of its From_ boundaries, `base` bytes into it, and
/// ends at another or at the archive's end: the exact byte range a task
/// fetched from remote storage. The rows (offsets included) equal those
/// [`range_batch`] gives for that range of the whole archive.
pub fn piece_batch(
    piece: &Bytes,
    base: u64,
    source: &str,
    variant: Variant,
    raw: bool,
    columns: Option<&[String]>,
) -> Result<RecordBatch, RowsError> {
    mbox_batch(
        piece,
        0..piece.len() as u64,
        base,
        source,
        variant,
        raw,
        columns,
    )
}

fn mbox_batch(
    data: &Bytes,
    range: Range<u64>,
    base: u64,
    source: &str,
    variant: Variant,
    raw: bool,
    columns: Option<&[String]>,
) -> Result<RecordBatch, RowsError> {
    let idx = projection(&message_schema(raw), columns).map_err(RowsError::Column)?;
    let opts = ReadOptions {
        variant: Some(variant),
        unquote_mboxo: false,
    };
    let items: Vec<Item<'_>> = mbox::read_range(data, range, &opts)
        .map(|e| Item {
            offset: base + e.offset,
            length: e.length,
            envelope: Some(e.envelope.into()),
            message: Raw::Cow(e.message),
            maildir: None,
            origin: None,
            refused: None,
        })
        .collect();
    let batch = items_batch(&items, None, Some(data), source, raw)?;
    Ok(project(batch, &idx)?)
}

/// One message a file, as a Maildir or `.eml` folder holds them: its path
/// (the row's source; a Maildir file's folder, `cur` or `new`, and name
/// give its flags, by the rule a folder source reads them with) and its
/// bytes.
pub struct MessageFile {
    /// The file's path or URL.
    pub path: String,
    /// Its contents.
    pub data: Bytes,
}

/// The rows of `files` (each one message, offset 0), in order: what a task
/// holding some files of a Maildir or `.eml` folder turns into rows.
/// `maildir` reads flags from the files' names.
pub fn files_batch(
    files: &[MessageFile],
    maildir: bool,
    raw: bool,
    columns: Option<&[String]>,
) -> Result<RecordBatch, RowsError> {
    let idx = projection(&message_schema(raw), columns).map_err(RowsError::Column)?;
    let items: Vec<Item<'_>> = files
        .iter()
        .map(|f| {
            let (dir, name) = match f.path.trim_end_matches('/').rsplit_once('/') {
                Some((dir, name)) => (dir, name),
                None => ("", f.path.as_str()),
            };
            let cur = dir.rsplit('/').next() == Some("cur");
            Item {
                offset: 0,
                length: f.data.len() as u64,
                envelope: None,
                message: Raw::Shared(f.data.clone()),
                maildir: maildir.then(|| (cur, super::source::maildir_info(name))),
                origin: Some(f.path.clone().into()),
                refused: None,
            }
        })
        .collect();
    let batch = items_batch(&items, None, None, "", raw)?;
    Ok(project(batch, &idx)?)
}

/// The thread of every message of `keys` (batches with the columns
/// `source`, `offset`, `message_id`, `in_reply_to` and `references` of the
/// messages schema, in any order and from any number of runs), by the rule
/// of [`crate::rows::threads`]: one batch of the threads schema, in the
/// order of the input. The ids equal a one-machine run's over the same
/// messages.
pub fn thread_batch_of(
    keys: impl Iterator<Item = Result<RecordBatch, ArrowError>>,
) -> Result<RecordBatch, RowsError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt64Type;
    use arrow_array::Array;

    let mut index = crate::rows::threads::ThreadIndex::new();
    for batch in keys {
        let batch = batch?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| RowsError::Column(format!("threads need the column {name:?}")))
        };
        let typed = |name: &str| {
            RowsError::Column(format!(
                "column {name:?} has another type than the messages schema's"
            ))
        };
        let source = col("source")?
            .as_string_opt::<i32>()
            .ok_or_else(|| typed("source"))?;
        let offset = col("offset")?
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| typed("offset"))?;
        let message_id = col("message_id")?
            .as_string_opt::<i32>()
            .ok_or_else(|| typed("message_id"))?;
        let in_reply_to = col("in_reply_to")?
            .as_string_opt::<i32>()
            .ok_or_else(|| typed("in_reply_to"))?;
        let references = col("references")?
            .as_list_opt::<i32>()
            .ok_or_else(|| typed("references"))?;
        let mut refs = Vec::new();
        for i in 0..batch.num_rows() {
            refs.clear();
            if references.is_valid(i) {
                let list = references.value(i);
                let list = list
                    .as_string_opt::<i32>()
                    .ok_or_else(|| typed("references"))?;
                refs.extend(list.iter().flatten().map(str::to_string));
            }
            index.push(
                source.value(i),
                offset.value(i),
                message_id.is_valid(i).then(|| message_id.value(i)),
                in_reply_to.is_valid(i).then(|| in_reply_to.value(i)),
                &refs,
            );
        }
    }
    Ok(crate::rows::arrow::thread_batch(&index.finish())?)
}
