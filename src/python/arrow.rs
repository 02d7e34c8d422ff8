//! Arrow tables for Python through the Arrow PyCapsule interface: objects
//! with `__arrow_c_schema__` and `__arrow_c_stream__`, which pyarrow
//! (`pa.table`, `pa.RecordBatchReader.from_stream`), polars and DuckDB
//! import without a copy. The capsules hold arrow-rs's C data interface
//! structs (`FFI_ArrowSchema`, `FFI_ArrowArrayStream`); a consumer moves
//! the struct out and marks it released, and a capsule nobody consumed
//! releases it when Python frees the capsule (the structs' `Drop`).
//!
//! No pyarrow on our side: arrow's own `pyarrow` feature needs another pyo3
//! than ours, and the interface needs none.
//!
//! A consumer pulls batches through the C stream's `get_next`, which waits
//! for the producer thread of [`rows_arrow::batches`]. pyarrow calls it
//! with the GIL released; other consumers (polars) call it holding the GIL,
//! so [`Detached`] gives the GIL up for the wait. Errors cross the C
//! interface as an errno and a message: I/O errors as `EIO` (pyarrow raises
//! `OSError`), the rest as `EINVAL` (`pyarrow.ArrowInvalid`, a `ValueError`).

use std::ffi::CStr;
use std::path::PathBuf;
use std::sync::Mutex;

use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::ffi::FFI_ArrowSchema;
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::batch::arrow::{self as rows_arrow, RowsError};
use crate::mbox::{self, Variant};

/// An FFI struct in a capsule. The structs own what they point to (boxed
/// private data, a `Send` batch reader) and are moved, never shared, so
/// handing one to another thread is sound; `repr(transparent)` keeps the
/// capsule's pointer a pointer to the struct, as the interface requires.
#[repr(transparent)]
struct Owned<T>(T);

// SAFETY: see the type's docs: the wrapped FFI structs own their data.
#[allow(unsafe_code)]
unsafe impl<T> Send for Owned<T> {}

fn capsule<'py, T: 'static>(
    py: Python<'py>,
    value: T,
    name: &'static CStr,
) -> PyResult<Bound<'py, PyCapsule>> {
    PyCapsule::new_with_value(py, Owned(value), name)
}

fn arrow_err(e: ArrowError) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

fn schema_capsule<'py>(py: Python<'py>, schema: &SchemaRef) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema.as_ref()).map_err(arrow_err)?;
    capsule(py, ffi, c"arrow_schema")
}

/// `mimeflow.schema()`: the messages schema of `docs/schema.md`.
#[pyclass(frozen, module = "mimeflow._native")]
pub(crate) struct Schema {
    schema: SchemaRef,
}

#[pymethods]
impl Schema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    /// The column names, in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The schema version (`mimeflow.schema_version` in the metadata).
    #[getter]
    fn version(&self) -> u32 {
        crate::rows::SCHEMA_VERSION
    }

    fn __repr__(&self) -> String {
        format!(
            "<mimeflow.Schema version {} with {} columns>",
            crate::rows::SCHEMA_VERSION,
            self.schema.fields().len()
        )
    }
}

/// `mimeflow.schema(raw=False, columns=None)`.
#[pyfunction]
#[pyo3(signature = (*, raw = false, columns = None))]
pub(crate) fn schema(raw: bool, columns: Option<Vec<String>>) -> PyResult<Schema> {
    let schema = rows_arrow::schema(raw, columns.as_deref()).map_err(PyValueError::new_err)?;
    Ok(Schema { schema })
}

/// A stream of record batches, read once: `__arrow_c_stream__` hands the
/// whole stream to its consumer.
#[pyclass(frozen, module = "mimeflow._native")]
pub(crate) struct ArrowStream {
    schema: SchemaRef,
    reader: Mutex<Option<Box<dyn RecordBatchReader + Send>>>,
}

#[pymethods]
impl ArrowStream {
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        // The schema is ours; a request for another one is not honoured
        // (the protocol allows that: the consumer casts if it wants).
        let _ = requested_schema;
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this Arrow stream was already consumed"))?;
        capsule(py, FFI_ArrowArrayStream::new(reader), c"arrow_array_stream")
    }

    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    fn __repr__(&self) -> String {
        let state = if self.reader.lock().map(|r| r.is_some()).unwrap_or(false) {
            "unread"
        } else {
            "consumed"
        };
        format!(
            "<mimeflow.ArrowStream of {} columns, {state}>",
            self.schema.fields().len()
        )
    }
}

pub(super) fn rows_error(e: RowsError) -> PyErr {
    match e {
        RowsError::Column(c) => PyValueError::new_err(c),
        // What is neither an mbox nor a folder of mail: the MboxError of
        // mimeflow.mbox.open (kind "not_mbox"), not convert()'s error.
        RowsError::Batch(crate::batch::BatchError::BadSource { path, why }) => {
            mbox::MboxError::NotMbox {
                reason: format!("{}: {why}", path.display()),
            }
            .into()
        }
        RowsError::Batch(b) => b.into(),
        RowsError::Arrow(a) => arrow_err(a),
    }
}

/// A batch iterator whose `next` runs detached from the interpreter when
/// the calling thread is attached (a consumer calling the C stream's
/// `get_next` with the GIL held), so other Python threads run while the
/// producer works. A thread that is not attached (pyarrow's read loop, a
/// DuckDB worker) calls straight through: attaching it first could wait
/// for a GIL that the thread waiting on it holds.
struct Detached<I>(I);

impl<I> Iterator for Detached<I>
where
    I: Iterator + Send,
    I::Item: Send,
{
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        // PyO3 only knows of the attachments it made itself; the caller is
        // C code that may hold the GIL, which only CPython can tell.
        // SAFETY: `PyGILState_Check` reads the calling thread's state and
        // may be called from any thread once the interpreter is running,
        // which it is while this extension is loaded.
        #[allow(unsafe_code)]
        let attached = unsafe { pyo3::ffi::PyGILState_Check() } == 1;
        if attached {
            Python::attach(|py| py.detach(|| self.0.next()))
        } else {
            self.0.next()
        }
    }
}

/// How an error in the middle of a stream crosses the C interface: an
/// I/O error as [`ArrowError::IoError`] (errno `EIO`, `OSError` in
/// pyarrow), with its path; anything else as itself.
fn stream_error(e: RowsError) -> ArrowError {
    use crate::batch::BatchError;
    match e {
        RowsError::Arrow(a) => a,
        RowsError::Batch(BatchError::Io { path, source }) => {
            ArrowError::IoError(format!("{}: {source}", path.display()), source)
        }
        RowsError::Batch(BatchError::Mbox(mbox::MboxError::Io(io))) => {
            ArrowError::IoError(io.to_string(), io)
        }
        e => ArrowError::ExternalError(Box::new(e)),
    }
}

pub(super) fn stream(
    schema: SchemaRef,
    batches: impl Iterator<Item = Result<RecordBatch, RowsError>> + Send + 'static,
) -> ArrowStream {
    let iter = Detached(batches).map(|b| b.map_err(stream_error));
    ArrowStream {
        reader: Mutex::new(Some(Box::new(RecordBatchIterator::new(
            iter,
            schema.clone(),
        )))),
        schema,
    }
}

pub(super) fn parse_variant(name: Option<&str>) -> PyResult<Option<Variant>> {
    match name {
        None | Some("auto") => Ok(None),
        Some(n) => Variant::from_name(n).map(Some).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown mbox variant {n:?} (auto, mboxo, mboxrd, mboxcl, mboxcl2)"
            ))
        }),
    }
}

/// `mimeflow.mbox.read_arrow(path, columns=None, *, raw=False,
/// variant=None, copy=False)`: see the stub. With `copy` a plain archive is
/// read with `read(2)`, never mapped, as `mimeflow.mbox.open(copy=True)`
/// does: a truncation by another program is then an `OSError` in the
/// consumer, not SIGBUS.
#[pyfunction]
#[pyo3(signature = (path, columns = None, *, raw = false, variant = None, copy = false))]
pub(crate) fn read_arrow(
    py: Python<'_>,
    path: PathBuf,
    columns: Option<Vec<String>>,
    raw: bool,
    variant: Option<&str>,
    copy: bool,
) -> PyResult<ArrowStream> {
    let variant = parse_variant(variant)?;
    let (schema, batches) = super::run(py, usize::MAX, move || {
        rows_arrow::batches(&path, variant, raw, columns.as_deref(), copy).map_err(rows_error)
    })?;
    Ok(stream(schema, batches))
}

/// `mimeflow.mbox.range_table(path, start, end, variant, columns=None, *,
/// raw=False)`: see the stub.
#[pyfunction]
#[pyo3(signature = (path, start, end, variant, columns = None, *, raw = false))]
pub(crate) fn range_table(
    py: Python<'_>,
    path: PathBuf,
    start: u64,
    end: u64,
    variant: &str,
    columns: Option<Vec<String>>,
    raw: bool,
) -> PyResult<ArrowStream> {
    let variant = parse_variant(Some(variant))?.ok_or_else(|| {
        PyValueError::new_err("range_table needs the variant plan_splits returned, not \"auto\"")
    })?;
    if start > end {
        return Err(PyValueError::new_err(format!(
            "range start {start} is past its end {end}"
        )));
    }
    let batch = super::run(py, usize::MAX, move || -> PyResult<RecordBatch> {
        let data = super::mbox::map_plain(&path)?;
        if end > data.len() as u64 {
            return Err(PyValueError::new_err(format!(
                "range end {end} is past the end of {} ({} bytes): take the ranges of \
                 plan_splits() on the file as it is now",
                path.display(),
                data.len()
            )));
        }
        if variant == Variant::Mboxcl2 && !(start == 0 && end >= data.len() as u64) {
            return Err(mbox::MboxError::Refused {
                reason: "mboxcl2 cannot be cut into byte ranges (Content-Length delimits \
                         its messages): read it with mimeflow.mbox.read_arrow()"
                    .into(),
            }
            .into());
        }
        super::mbox::sniff_check(&data)?;
        let source = path.display().to_string();
        rows_arrow::range_batch(&data, &source, start..end, variant, raw, columns.as_deref())
            .map_err(rows_error)
    })?;
    let schema = batch.schema();
    Ok(stream(schema, std::iter::once(Ok(batch))))
}
