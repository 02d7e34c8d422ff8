//! `--to parquet`: the schema of `docs/schema.md` in Parquet, typed
//! (timestamps with zone, lists, structs; see [`crate::rows::arrow`]),
//! zstd-compressed, in row groups sized in bytes.
//!
//! # Two forms
//!
//! - **A file** (DEST ends in `.parquet`): the `messages` rows in DEST;
//!   `NAME.attachments.parquet` and `NAME.threads.parquet` beside it
//!   (NAME is DEST without `.parquet`). Built as `.partial` files and
//!   renamed at the end; cannot `--resume` (a Parquet file is only
//!   readable once its footer is written).
//! - **A folder** (any other DEST): `messages/part-NNNNN.parquet`,
//!   `attachments/part-NNNNN.parquet` (part N of both covers the same
//!   messages) and `threads.parquet`. A part is closed once it holds
//!   [`PART_BYTES`]; the run's state is saved only then, so `--resume`
//!   removes any part past the last one closed and redoes its messages.
//!
//! # Memory
//!
//! Rows wait in memory until they weigh [`ROW_GROUP_BYTES`] (by
//! [`crate::rows::arrow::weight`]: the heap they hold, strings and lists
//! by capacity, not a row count, so a run of huge messages cannot hold a
//! million of them), then become row groups. The thread index grows with
//! the archive (see [`crate::rows::threads`]).
//!
//! # In parallel
//!
//! Encoding and zstd are most of the cost of this format, and the sink
//! runs in the run's in-order commit, between windows, while the workers
//! wait: done on that one thread, it was 60% of a `-j2` run's CPU time
//! and the run went at 0.87x `--to jsonl`. So a flush cuts its rows into
//! one row group per rayon thread (none under [`MIN_ROW_GROUP_BYTES`]),
//! builds their Arrow batches in parallel, then encodes every column
//! chunk of every row group in parallel with parquet's
//! [`ArrowColumnWriter`] (its documented interface for this), and only the
//! appends to the file, in order, are serial. The file is the same as one
//! `ArrowWriter` writes, row groups aside; the rows are freed once the
//! batches are built, as before.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use super::table::{Rows, TableSink};
use crate::batch::BatchError;
use crate::rows::arrow::{
    attachment_batch, attachment_schema, attachment_weight, message_batch, message_schema,
    thread_batch, thread_schema, weight, VERSION_KEY,
};
use crate::rows::threads::ThreadIndex;
use crate::rows::{AttachmentRow, MessageRow, SCHEMA_VERSION};
use crate::safe_fs::{self, Dir};

/// Rows held before they become row groups, by weight.
pub const ROW_GROUP_BYTES: usize = 32 << 20;
/// The least weight of a row group that a flush cuts for another thread
/// (the last rows of a run may make a smaller one).
pub const MIN_ROW_GROUP_BYTES: usize = 8 << 20;
/// A part file of the folder form is closed past this weight.
pub const PART_BYTES: usize = 256 << 20;

/// [`PART_BYTES`], or for tests `MIMEFLOW_TEST_PARQUET_PART_BYTES` (read
/// once): a resume test needs parts smaller than its archive.
fn part_bytes() -> usize {
    static AT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *AT.get_or_init(|| {
        std::env::var("MIMEFLOW_TEST_PARQUET_PART_BYTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(PART_BYTES)
    })
}

/// Whether DEST names the one-file form.
pub fn is_file_form(dest: &std::path::Path) -> bool {
    dest.extension().is_some_and(|e| e == "parquet")
        && !dest.as_os_str().as_encoded_bytes().ends_with(b"/")
}

/// zstd level 1: chosen when the row groups were compressed on the one
/// commit thread, where level 3 made `--to parquet` 0.68x the speed of
/// jsonl on text mail (level 1: 0.87x, files 8% larger; Zen 3, 100 MB text
/// archive, -j2). Compression is parallel now (see the module docs).
fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1")))
        .set_max_row_group_row_count(Some(usize::MAX))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            VERSION_KEY.to_string(),
            SCHEMA_VERSION.to_string(),
        )]))
        .build()
}

fn perr(shown: &std::path::Path) -> impl Fn(parquet::errors::ParquetError) -> BatchError + '_ {
    move |e| BatchError::Io {
        path: shown.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

fn aerr(shown: &std::path::Path) -> impl Fn(arrow_schema::ArrowError) -> BatchError + '_ {
    move |e| BatchError::Io {
        path: shown.to_path_buf(),
        source: std::io::Error::other(e),
    }
}

/// An open Parquet file and where it goes: the file writer and the
/// factory of its column writers, as `ArrowWriter` sets them up (the
/// Arrow schema in the key-value metadata, our properties), taken apart so
/// that row groups can be encoded in parallel ([`encode_row_group`]).
struct Writer {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    shown: PathBuf,
}

impl Writer {
    fn new(f: File, schema: arrow_schema::SchemaRef, shown: PathBuf) -> Result<Writer, BatchError> {
        let (file, factory) = ArrowWriter::try_new(f, schema, Some(props()))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(perr(&shown))?;
        Ok(Writer {
            file,
            factory,
            shown,
        })
    }

    fn create(
        dir: &Dir,
        name: &OsStr,
        schema: arrow_schema::SchemaRef,
    ) -> Result<Writer, BatchError> {
        let shown = dir.display_path(name);
        let f = dir.create_new(name).map_err(BatchError::io(&shown))?;
        Writer::new(f, schema, shown)
    }

    /// The index the next row group gets.
    fn next_index(&self) -> usize {
        self.file.flushed_row_groups().len()
    }

    /// Encodes `batch` as the row group at `index` (see [`encode_row_group`]).
    fn encode(
        &self,
        index: usize,
        batch: &RecordBatch,
    ) -> Result<Vec<ArrowColumnChunk>, BatchError> {
        encode_row_group(&self.factory, index, batch).map_err(perr(&self.shown))
    }

    /// Appends encoded row groups, in order.
    fn append(&mut self, groups: Vec<Vec<ArrowColumnChunk>>) -> Result<(), BatchError> {
        for chunks in groups {
            let mut group = self.file.next_row_group().map_err(perr(&self.shown))?;
            for chunk in chunks {
                chunk
                    .append_to_row_group(&mut group)
                    .map_err(perr(&self.shown))?;
            }
            group.close().map_err(perr(&self.shown))?;
        }
        Ok(())
    }

    /// Writes `batch` as one row group (its columns encoded in parallel).
    fn write(&mut self, batch: &RecordBatch) -> Result<(), BatchError> {
        let chunks = self.encode(self.next_index(), batch)?;
        self.append(vec![chunks])
    }

    fn close(self) -> Result<(), BatchError> {
        self.file.close().map(|_| ()).map_err(perr(&self.shown))
    }
}

/// The column chunks of `batch` as the row group at `index`: every leaf
/// column encoded and compressed by its own [`ArrowColumnWriter`], in
/// parallel on the rayon pool.
///
/// [`ArrowColumnWriter`]: parquet::arrow::arrow_writer::ArrowColumnWriter
fn encode_row_group(
    factory: &ArrowRowGroupWriterFactory,
    index: usize,
    batch: &RecordBatch,
) -> parquet::errors::Result<Vec<ArrowColumnChunk>> {
    let writers = factory.create_column_writers(index)?;
    let mut leaves = Vec::with_capacity(writers.len());
    for (field, column) in batch.schema_ref().fields().iter().zip(batch.columns()) {
        leaves.extend(compute_leaves(field, column)?);
    }
    debug_assert_eq!(leaves.len(), writers.len());
    writers
        .into_par_iter()
        .zip(leaves)
        .map(|(mut w, leaf)| {
            w.write(&leaf)?;
            w.close()
        })
        .collect()
}

/// How many row groups a flush of `rows` rows weighing `pending` makes:
/// one per rayon thread, but none under [`MIN_ROW_GROUP_BYTES`].
fn row_groups(pending: usize, rows: usize) -> usize {
    let by_weight = (pending / MIN_ROW_GROUP_BYTES).max(1);
    rayon::current_num_threads().min(by_weight).min(rows).max(1)
}

/// Where the rows go.
enum Form {
    /// The one-file form: DEST.partial (messages) and its siblings.
    File {
        parent: Dir,
        messages: Writer,
        attachments: Writer,
        /// (partial name, final name) of the siblings, renamed at the end.
        siblings: Vec<(OsString, OsString)>,
        threads_name: OsString,
    },
    /// The folder form.
    Parts {
        root: Dir,
        messages_dir: Dir,
        attachments_dir: Dir,
        open: Option<(Writer, Writer)>,
        /// Weight written into the open part.
        part_weight: usize,
        /// Parts closed.
        done: u64,
    },
}

/// The open output of a `--to parquet` run.
pub(crate) struct ParquetSink {
    form: Form,
    raw: bool,
    messages: Vec<MessageRow>,
    attachments: Vec<AttachmentRow>,
    pending: usize,
}

fn part_name(n: u64) -> String {
    format!("part-{n:05}.parquet")
}

impl ParquetSink {
    /// The one-file form: `partial` (created by the run) in `parent`
    /// becomes `dest_name`; the siblings are named after `dest_name`.
    pub fn open_file(
        parent: &Dir,
        partial: &OsStr,
        dest_name: &OsStr,
        raw: bool,
    ) -> Result<ParquetSink, BatchError> {
        let shown = parent.display_path(partial);
        let f = parent
            .open_file_rw(partial)
            .map_err(BatchError::io(&shown))?;
        safe_fs::set_len_if_needed(&f, 0).map_err(BatchError::io(&shown))?;
        let messages = Writer::new(f, message_schema(raw), shown)?;
        let stem = dest_name
            .to_string_lossy()
            .strip_suffix(".parquet")
            .unwrap_or(&dest_name.to_string_lossy())
            .to_string();
        let mut siblings = Vec::new();
        for what in ["attachments", "threads"] {
            let fin = OsString::from(format!("{stem}.{what}.parquet"));
            let part = OsString::from(format!("{stem}.{what}.parquet.partial"));
            for n in [&fin, &part] {
                if parent
                    .kind(n)
                    .map_err(BatchError::io(&parent.display_path(n)))?
                    .is_some()
                {
                    return Err(BatchError::Destination {
                        path: parent.display_path(n),
                        why: "exists; Parquet outputs are never overwritten".into(),
                    });
                }
            }
            siblings.push((part, fin));
        }
        let attachments = Writer::create(parent, &siblings[0].0, attachment_schema())?;
        let threads_name = siblings[1].0.clone();
        Ok(ParquetSink {
            form: Form::File {
                parent: parent.clone(),
                messages,
                attachments,
                siblings,
                threads_name,
            },
            raw,
            messages: Vec::new(),
            attachments: Vec::new(),
            pending: 0,
        })
    }

    /// The folder form in `root` (our own `DEST.partial/`), `done` parts
    /// closed by the run this one resumes (later ones are removed, and the
    /// closed ones' messages go into `threads`).
    pub fn open_parts(
        root: &Dir,
        done: u64,
        raw: bool,
        threads: &mut ThreadIndex,
    ) -> Result<ParquetSink, BatchError> {
        let sub = |name: &str| {
            root.ensure_dir(name)
                .map_err(BatchError::io(&root.display_path(name)))
        };
        let messages_dir = sub("messages")?;
        let attachments_dir = sub("attachments")?;
        for d in [&messages_dir, &attachments_dir] {
            let mut n = done;
            loop {
                let name = part_name(n);
                match d.remove_file(&name) {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) => return Err(BatchError::io(&d.display_path(&name))(e)),
                }
            }
        }
        for n in 0..done {
            seed_threads(&messages_dir, &part_name(n), threads)?;
        }
        Ok(ParquetSink {
            form: Form::Parts {
                root: root.clone(),
                messages_dir,
                attachments_dir,
                open: None,
                part_weight: 0,
                done,
            },
            raw,
            messages: Vec::new(),
            attachments: Vec::new(),
            pending: 0,
        })
    }

    /// Writes the rows held as one row group.
    fn flush_rows(&mut self) -> Result<(), BatchError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let (mw, aw) = match &mut self.form {
            Form::File {
                messages,
                attachments,
                ..
            } => (messages, attachments),
            Form::Parts {
                messages_dir,
                attachments_dir,
                open,
                part_weight,
                done,
                ..
            } => {
                if open.is_none() {
                    let name = part_name(*done);
                    *open = Some((
                        Writer::create(messages_dir, name.as_ref(), message_schema(self.raw))?,
                        Writer::create(attachments_dir, name.as_ref(), attachment_schema())?,
                    ));
                }
                *part_weight += self.pending;
                let (m, a) = open.as_mut().expect("opened");
                (m, a)
            }
        };
        // Batches first, in parallel (one per row group, and the
        // attachments'), then the rows are freed: a flush costs the rows
        // and their batches, then the batches and their pages, never all
        // three.
        let per = self
            .messages
            .len()
            .div_ceil(row_groups(self.pending, self.messages.len()));
        let raw = self.raw;
        let (batches, attachments) = rayon::join(
            || {
                self.messages
                    .par_chunks(per)
                    .map(|rows| message_batch(rows, raw).map_err(aerr(&mw.shown)))
                    .collect::<Result<Vec<_>, _>>()
            },
            || {
                (!self.attachments.is_empty())
                    .then(|| attachment_batch(&self.attachments).map_err(aerr(&aw.shown)))
                    .transpose()
            },
        );
        let (batches, attachments) = (batches?, attachments?);
        self.messages.clear();
        self.attachments.clear();
        self.pending = 0;
        let first = mw.next_index();
        let (groups, attachments) = rayon::join(
            || {
                batches
                    .par_iter()
                    .enumerate()
                    .map(|(i, batch)| mw.encode(first + i, batch))
                    .collect::<Result<Vec<_>, _>>()
            },
            || {
                attachments
                    .map(|batch| aw.encode(aw.next_index(), &batch))
                    .transpose()
            },
        );
        drop(batches);
        mw.append(groups?)?;
        if let Some(chunks) = attachments? {
            aw.append(vec![chunks])?;
        }
        Ok(())
    }
}

/// Adds the messages of one finished part file to `threads`.
fn seed_threads(dir: &Dir, name: &str, threads: &mut ThreadIndex) -> Result<(), BatchError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt64Type;
    use arrow_array::Array;
    let shown = dir.display_path(name);
    let f = dir.open_file(name).map_err(BatchError::io(&shown))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr(&shown))?;
    // source, offset, message_id, in_reply_to, references
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0, 1, 5, 6, 7]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(perr(&shown))?;
    for batch in reader {
        let b = batch.map_err(aerr(&shown))?;
        let source = b.column(0).as_string::<i32>();
        let offset = b.column(1).as_primitive::<UInt64Type>();
        let mid = b.column(2).as_string::<i32>();
        let irt = b.column(3).as_string::<i32>();
        let refs = b.column(4).as_list::<i32>();
        for i in 0..b.num_rows() {
            let r = refs.value(i);
            let r: Vec<String> = r
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect();
            fn opt(a: &arrow_array::StringArray, i: usize) -> Option<&str> {
                (!a.is_null(i)).then(|| a.value(i))
            }
            threads.push(
                source.value(i),
                offset.value(i),
                opt(mid, i),
                opt(irt, i),
                &r,
            );
        }
    }
    Ok(())
}

fn write_threads(dir: &Dir, name: &OsStr, threads: &mut ThreadIndex) -> Result<(), BatchError> {
    let mut w = Writer::create(dir, name, thread_schema())?;
    let rows = threads.finish();
    for chunk in rows.chunks(1 << 20) {
        let batch = thread_batch(chunk).map_err(aerr(&w.shown))?;
        w.write(&batch)?;
    }
    w.close()
}

impl TableSink for ParquetSink {
    fn abandon(self: Box<Self>) -> bool {
        match self.form {
            // A Parquet file is readable only once its footer is written:
            // the one-file form cannot resume, so nothing of it is kept.
            Form::File {
                parent,
                messages,
                attachments,
                siblings,
                ..
            } => {
                drop((messages, attachments));
                for (partial, _) in &siblings {
                    let _ = parent.remove_file(partial);
                }
                false
            }
            Form::Parts { .. } => true,
        }
    }

    fn push(&mut self, rows: Rows) -> Result<(), BatchError> {
        self.pending += weight(&rows.message)
            + rows
                .attachments
                .iter()
                .map(attachment_weight)
                .sum::<usize>();
        self.messages.push(rows.message);
        self.attachments.extend(rows.attachments);
        // Bounded whatever the window: a window of a wide run (-j16) holds
        // hundreds of MiB of archive.
        if self.pending >= ROW_GROUP_BYTES {
            self.flush_rows()?;
        }
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<Option<u64>, BatchError> {
        let closing = match &self.form {
            Form::File { .. } => false,
            Form::Parts { part_weight, .. } => part_weight + self.pending >= part_bytes(),
        };
        if self.pending >= ROW_GROUP_BYTES || closing {
            self.flush_rows()?;
        }
        match &mut self.form {
            Form::Parts {
                open,
                part_weight,
                done,
                ..
            } if closing => {
                if let Some((m, a)) = open.take() {
                    m.close()?;
                    a.close()?;
                    *done += 1;
                }
                *part_weight = 0;
                Ok(Some(*done))
            }
            _ => Ok(None),
        }
    }

    fn finish(mut self: Box<Self>, threads: &mut ThreadIndex) -> Result<(), BatchError> {
        self.flush_rows()?;
        match self.form {
            Form::File {
                parent,
                messages,
                attachments,
                siblings,
                threads_name,
            } => {
                messages.close()?;
                attachments.close()?;
                write_threads(&parent, &threads_name, threads)?;
                for (part, fin) in &siblings {
                    parent
                        .rename_noreplace(part, &parent, fin)
                        .map_err(BatchError::io(&parent.display_path(fin)))?;
                }
                Ok(())
            }
            Form::Parts {
                root,
                open,
                done,
                messages_dir,
                attachments_dir,
                ..
            } => {
                // An archive without messages still gets a part each, so
                // readers that glob `messages/*.parquet` find the schema.
                let open = match open {
                    None if done == 0 => Some((
                        Writer::create(
                            &messages_dir,
                            part_name(0).as_ref(),
                            message_schema(self.raw),
                        )?,
                        Writer::create(
                            &attachments_dir,
                            part_name(0).as_ref(),
                            attachment_schema(),
                        )?,
                    )),
                    open => open,
                };
                if let Some((m, a)) = open {
                    m.close()?;
                    a.close()?;
                }
                write_threads(&root, OsStr::new("threads.parquet"), threads)
            }
        }
    }
}
