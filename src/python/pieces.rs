//! Rows from pieces of archives held in memory: what a distributed task
//! (`mimeflow.dask`, or a Spark or Ray reader) calls after fetching its
//! exact byte range, or its files, from storage the engine cannot map
//! (S3, GCS, `memory://`). The planner beside them reads only a window
//! around each nominal cut and finds the From_ boundary with the engine's
//! own rule ([`crate::mbox::find_cut`]).
//!
//! Each call runs off the interpreter (the GIL released) on a rayon pool
//! of `threads` threads, so that worker processes sharing a machine do not
//! each spread over every core.

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::RecordBatch;
use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyCapsule;

use super::arrow::{parse_variant, rows_error, stream, ArrowStream};
use crate::batch::arrow::{self as rows_arrow, MessageFile, RowsError};
use crate::mbox::{self, Cut, LineEnding};

/// Runs `work` on a pool of `threads` rayon threads, the GIL released.
fn on_pool<T: Send>(
    py: Python<'_>,
    threads: usize,
    work: impl FnOnce() -> Result<T, RowsError> + Send,
) -> PyResult<T> {
    // As `convert`'s jobs: a pool of 2**31 threads would never start.
    if !(1..=super::compose::MAX_JOBS).contains(&threads) {
        return Err(PyValueError::new_err(format!(
            "threads must be 1 to {}, not {threads}",
            super::compose::MAX_JOBS
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("mimeflow-task-{i}"))
        .build()
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    super::run(py, usize::MAX, move || {
        pool.install(work).map_err(rows_error)
    })
}

fn one(batch: RecordBatch) -> ArrowStream {
    let schema = batch.schema();
    stream(schema, std::iter::once(Ok(batch)))
}

fn line_ending_name(e: LineEnding) -> &'static str {
    match e {
        LineEnding::Lf => "lf",
        LineEnding::Crlf => "crlf",
        LineEnding::Cr => "cr",
    }
}

/// `mimeflow.mbox.sniff(head, *, complete=False)`: see the stub.
#[pyfunction]
#[pyo3(signature = (head, *, complete = false))]
pub(crate) fn sniff(head: &[u8], complete: bool) -> PyResult<(&'static str, &'static str)> {
    let s = mbox::sniff_head(head, complete);
    s.check()?;
    Ok((s.variant.name(), line_ending_name(s.line_ending)))
}

/// `mimeflow.mbox.find_cut(window, at, line_ending, *, archive_start,
/// eof)`: see the stub.
#[pyfunction]
#[pyo3(signature = (window, at, line_ending, *, archive_start = false, eof = false))]
pub(crate) fn find_cut(
    window: &[u8],
    at: usize,
    line_ending: &str,
    archive_start: bool,
    eof: bool,
) -> PyResult<Option<usize>> {
    let eol = match line_ending {
        "lf" => LineEnding::Lf,
        "crlf" => LineEnding::Crlf,
        "cr" => LineEnding::Cr,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown line ending {other:?} (lf, crlf, cr)"
            )))
        }
    };
    if at == 0 || at > window.len() || (!archive_start && at < mbox::CUT_LOOKBEHIND) {
        return Err(PyValueError::new_err(format!(
            "at must be in 1..={} and, unless the window starts the archive, at least {}",
            window.len(),
            mbox::CUT_LOOKBEHIND
        )));
    }
    Ok(match mbox::find_cut(window, at, eol, archive_start, eof) {
        Cut::At(q) => Some(q),
        Cut::End | Cut::NeedMore => None,
    })
}

/// `mimeflow.mbox.piece_table(piece, base, source, variant, columns=None,
/// *, raw=False, threads=1)`: see the stub.
#[pyfunction]
#[pyo3(signature = (piece, base, source, variant, columns = None, *, raw = false, threads = 1))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn piece_table(
    py: Python<'_>,
    piece: PyBackedBytes,
    base: u64,
    source: String,
    variant: &str,
    columns: Option<Vec<String>>,
    raw: bool,
    threads: usize,
) -> PyResult<ArrowStream> {
    let variant = parse_variant(Some(variant))?.ok_or_else(|| {
        PyValueError::new_err("piece_table needs the archive's variant (sniff), not \"auto\"")
    })?;
    if variant == mbox::Variant::Mboxcl2 && base != 0 {
        return Err(mbox::MboxError::Refused {
            reason: "mboxcl2 cannot be cut into byte ranges (Content-Length delimits its \
                     messages): pass the whole archive"
                .into(),
        }
        .into());
    }
    let piece = Bytes::from_owner(piece);
    let batch = on_pool(py, threads, move || {
        rows_arrow::piece_batch(&piece, base, &source, variant, raw, columns.as_deref())
    })?;
    Ok(one(batch))
}

/// `mimeflow.files_table(files, *, maildir, columns=None, raw=False,
/// threads=1)`: see the stub.
#[pyfunction]
#[pyo3(signature = (files, *, maildir, columns = None, raw = false, threads = 1))]
pub(crate) fn files_table(
    py: Python<'_>,
    files: Vec<(String, PyBackedBytes)>,
    maildir: bool,
    columns: Option<Vec<String>>,
    raw: bool,
    threads: usize,
) -> PyResult<ArrowStream> {
    let files: Vec<MessageFile> = files
        .into_iter()
        .map(|(path, data)| MessageFile {
            path,
            data: Bytes::from_owner(data),
        })
        .collect();
    let batch = on_pool(py, threads, move || {
        rows_arrow::files_batch(&files, maildir, raw, columns.as_deref())
    })?;
    Ok(one(batch))
}

/// `mimeflow.thread_table(keys)`: see the stub.
#[pyfunction]
#[allow(unsafe_code)]
pub(crate) fn thread_table(py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<ArrowStream> {
    if !keys.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(
            "thread_table takes an Arrow stream or table (an object with __arrow_c_stream__)",
        ));
    }
    let capsule = keys.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let ptr = capsule
        .pointer_checked(Some(c"arrow_array_stream"))?
        .cast::<FFI_ArrowArrayStream>()
        .as_ptr();
    // SAFETY: the capsule named "arrow_array_stream" holds an
    // `ArrowArrayStream` (the PyCapsule interface's contract); `from_raw`
    // moves it out and marks the capsule's copy released, so the
    // capsule's destructor will not release it twice.
    let ffi = unsafe { FFI_ArrowArrayStream::from_raw(ptr) };
    let reader =
        RecordBatchStreamReader::try_new(ffi).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let batch = super::run(py, usize::MAX, move || {
        rows_arrow::thread_batch_of(reader).map_err(rows_error)
    })?;
    Ok(one(batch))
}
