//! `mimeflow.mbox`: reading archives from Python, and the range API for
//! callers that spread one archive over several processes.
//!
//! [`open`] returns an [`MboxReader`], an iterator that hands out parsed
//! [`Message`] objects from a queue. The scheduling is the library's
//! read-ahead engine ([`Prefetch`]): byte ranges of the mapped archive, or
//! batches of streamed entries (compressed archives and mboxcl2), parsed in
//! parallel on rayon's pool ahead of the reader, detached from the
//! interpreter. This file maps types: paths and options in,
//! `Message` and `EntryInfo` objects and Python exceptions out.
//!
//! [`plan_splits`] and [`process_range`] expose the same cuts: the ranges
//! of one plan, read one by one (in any process), give exactly the entries
//! of the whole archive.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, TryLockError};

use bytes::{Buf, Bytes};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use super::message::Message;
use crate::batch::prefetch::{parse_ranges, Parsed, Prefetch};
use crate::mbox::{self, Archive, MboxError, ReadOptions, Variant};

/// Where one archive entry came from (the `info` of `open(with_info=True)`
/// and of `process_range`).
#[pyclass(frozen, module = "mimeflow._native")]
pub(crate) struct EntryInfo {
    /// Position among the entries yielded (by `open`: in the archive; by
    /// `process_range`: in the range).
    #[pyo3(get)]
    index: u64,
    /// Byte offset of the From_ line (in the decompressed archive).
    #[pyo3(get)]
    offset: u64,
    /// Bytes from the From_ line to the end of the blank separator line.
    #[pyo3(get)]
    length: u64,
    envelope: Bytes,
}

#[pymethods]
impl EntryInfo {
    /// The From_ line after `From `, without its line end.
    #[getter]
    fn envelope<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.envelope)
    }

    fn __repr__(&self) -> String {
        format!(
            "<mimeflow.mbox.EntryInfo index={} offset={} length={} envelope={:?}>",
            self.index,
            self.offset,
            self.length,
            String::from_utf8_lossy(&self.envelope)
        )
    }
}

/// A parsed entry as Python sees it: the `Message`, or with `with_info`
/// an `(EntryInfo, Message)` pair.
fn into_python(p: Parsed, py: Python<'_>, index: u64, with_info: bool) -> PyResult<Py<PyAny>> {
    let msg = Bound::new(py, Message::from_parsed(p.msg))?.into_any();
    if !with_info {
        return Ok(msg.unbind());
    }
    let info = Bound::new(
        py,
        EntryInfo {
            index,
            offset: p.offset,
            length: p.length,
            envelope: p.envelope,
        },
    )?
    .into_any();
    Ok(PyTuple::new(py, [info, msg])?.into_any().unbind())
}

struct State {
    work: Prefetch,
    ready: VecDeque<Parsed>,
    error: Option<MboxError>,
    finished: bool,
    index: u64,
    variant: Variant,
    skipped: Vec<(u64, String)>,
}

impl State {
    /// Waits (detached) for the batch in flight, which starts the next
    /// one, and queues the messages.
    fn refill(&mut self, py: Python<'_>) -> PyResult<()> {
        let work = &mut self.work;
        let batch = py
            .detach(move || work.next_batch())
            .ok_or_else(|| PyRuntimeError::new_err("mbox reader worker panicked"))?;
        self.finished = batch.done;
        self.error = batch.error;
        self.skipped.extend(batch.skipped);
        if let Some(v) = batch.variant {
            self.variant = v;
        }
        self.ready.extend(batch.items);
        py.check_signals()
    }
}

/// The iterator of `mimeflow.mbox.open` (see the stub).
#[pyclass(frozen, module = "mimeflow._native")]
pub(crate) struct MboxReader {
    state: Mutex<State>,
    with_info: bool,
}

impl MboxReader {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, State>> {
        // One caller at a time: a second thread (or a re-entrant call) gets
        // an error, as a running generator does, rather than a deadlock
        // between this lock and the interpreter.
        match self.state.try_lock() {
            Ok(g) => Ok(g),
            Err(TryLockError::WouldBlock) => {
                Err(PyValueError::new_err("mbox reader already executing"))
            }
            Err(TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        }
    }
}

#[pymethods]
impl MboxReader {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut st = self.lock()?;
        loop {
            if let Some(p) = st.ready.pop_front() {
                let index = st.index;
                st.index += 1;
                return into_python(p, py, index, self.with_info).map(Some);
            }
            if let Some(e) = st.error.take() {
                return Err(e.into());
            }
            if st.finished {
                return Ok(None);
            }
            st.refill(py)?;
        }
    }

    /// The variant being read: `mboxo`, `mboxrd`, `mboxcl` or `mboxcl2`.
    #[getter]
    fn variant(&self) -> PyResult<&'static str> {
        Ok(self.lock()?.variant.name())
    }

    /// Messages skipped so far for being over `max_message` (compressed
    /// archives only): `(offset, reason)` pairs.
    #[getter]
    fn skipped(&self) -> PyResult<Vec<(u64, String)>> {
        Ok(self.lock()?.skipped.clone())
    }

    fn __repr__(&self) -> String {
        match self.state.try_lock() {
            Ok(st) => format!(
                "<mimeflow.mbox.MboxReader {} yielded={}>",
                st.variant.name(),
                st.index
            ),
            Err(_) => "<mimeflow.mbox.MboxReader (busy)>".into(),
        }
    }
}

fn parse_variant(name: Option<&str>) -> PyResult<Option<Variant>> {
    name.map(|n| {
        Variant::from_name(n).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown mbox variant {n:?} (mboxo, mboxrd, mboxcl, mboxcl2)"
            ))
        })
    })
    .transpose()
}

/// `mimeflow.mbox.open(path, *, variant=None, unquote_mboxo=False,
/// with_info=False, max_message=None, copy=False)`: see the stub. With
/// `copy` the archive is never mapped: it is streamed with `read(2)` (see
/// [`mbox::open_path_streamed`]), so a truncation by another program
/// cannot raise SIGBUS in the interpreter.
#[pyfunction]
#[pyo3(signature = (path, *, variant = None, unquote_mboxo = false, with_info = false, max_message = None, copy = false))]
pub(crate) fn open(
    py: Python<'_>,
    path: PathBuf,
    variant: Option<&str>,
    unquote_mboxo: bool,
    with_info: bool,
    max_message: Option<usize>,
    copy: bool,
) -> PyResult<MboxReader> {
    let opts = ReadOptions {
        variant: parse_variant(variant)?,
        unquote_mboxo,
    };
    let named = path.clone();
    let open = move || -> Result<State, PyErr> {
        let archive = if copy {
            mbox::open_path_streamed(&path).map(Archive::Stream)
        } else {
            mbox::open_path(&path)
        }
        .map_err(|e| with_path(e, &path))?;
        let stream_of = |input: Box<dyn Read + Send>, opts: &ReadOptions| {
            Prefetch::stream(mbox::stream(input, opts).max_message(max_message))
        };
        let (work, variant) = match archive {
            Archive::Mapped(map) => {
                let data = Bytes::from_owner(map);
                let sniffed = mbox::sniff(&data);
                sniffed.check()?;
                let variant = opts.variant.unwrap_or(sniffed.variant);
                let opts = ReadOptions {
                    variant: Some(variant),
                    ..opts
                };
                if variant == Variant::Mboxcl2 {
                    // Content-Length walks are serial: stream it (from the
                    // map, so "reading" is a copy per message).
                    let input: Box<dyn Read + Send> = Box::new(data.reader());
                    (stream_of(input, &opts), variant)
                } else {
                    (Prefetch::mapped(data, opts)?, variant)
                }
            }
            Archive::Stream(input) => (
                stream_of(input, &opts),
                opts.variant.unwrap_or(Variant::Mboxrd),
            ),
        };
        Ok(State {
            work,
            ready: VecDeque::new(),
            error: None,
            finished: false,
            index: 0,
            variant,
            skipped: Vec::new(),
        })
    };
    let mut state = super::run(py, usize::MAX, open)?;
    if state.work.is_stream() {
        // The first batch now, so that a stream that is not an mbox fails
        // here, as a mapped one does, and `variant` is the sniffed one.
        // An error before the first message (not an mbox, a damaged
        // compressed stream) is raised here too; `take` only when raising,
        // since an error after some messages is raised after them.
        state.refill(py)?;
        if state.ready.is_empty() {
            if let Some(e) = state.error.take() {
                return Err(with_path(e, &named));
            }
        }
    }
    Ok(MboxReader {
        state: Mutex::new(state),
        with_info,
    })
}

/// I/O errors of opening `path` carry its name.
fn with_path(e: MboxError, path: &Path) -> PyErr {
    match e {
        MboxError::Io(io) => super::errors::os_error(io, Some(path)),
        e => e.into(),
    }
}

/// The bytes of a plain archive, mapped; compressed ones are refused
/// (their byte offsets are those of the decompressed data, which cannot be
/// reached without reading everything before them), and so is what is not
/// a regular file (a pipe or a device has no byte ranges to come back to).
pub(crate) fn map_plain(path: &Path) -> PyResult<Bytes> {
    let meta = std::fs::metadata(path).map_err(|e| super::errors::os_error(e, Some(path)))?;
    if !meta.is_file() {
        return Err(MboxError::Refused {
            reason: format!(
                "{} is not a regular file (a pipe or a device) and cannot be cut into byte \
                 ranges: iterate it with mimeflow.mbox.open()",
                path.display()
            ),
        }
        .into());
    }
    if meta.len() == 0 {
        return Ok(Bytes::new());
    }
    match mbox::open_path(path).map_err(|e| with_path(e, path))? {
        Archive::Mapped(map) => Ok(Bytes::from_owner(map)),
        Archive::Stream(_) => Err(MboxError::Refused {
            reason: "a compressed archive cannot be cut into byte ranges: iterate it with \
                     mimeflow.mbox.open(), or decompress it first"
                .into(),
        }
        .into()),
    }
}

/// `mimeflow.mbox.plan_splits(path, n, *, variant=None)`: see the stub.
#[pyfunction]
#[pyo3(signature = (path, n, *, variant = None))]
pub(crate) fn plan_splits(
    py: Python<'_>,
    path: PathBuf,
    n: usize,
    variant: Option<&str>,
) -> PyResult<(Vec<(u64, u64)>, &'static str)> {
    let variant = parse_variant(variant)?;
    super::run(py, usize::MAX, move || {
        let data = map_plain(&path)?;
        let sniffed = mbox::sniff(&data);
        sniffed.check()?;
        let variant = variant.unwrap_or(sniffed.variant);
        let ranges = mbox::plan_splits(&data, n, variant)?;
        Ok::<_, PyErr>((
            ranges.into_iter().map(|r| (r.start, r.end)).collect(),
            variant.name(),
        ))
    })
}

/// `mimeflow.mbox.process_range(path, start, end, variant, *,
/// unquote_mboxo=False, copy=False)`: see the stub. With `copy` the
/// messages are parsed from copies, so none of them keeps the map (which
/// is dropped before returning).
#[pyfunction]
#[pyo3(signature = (path, start, end, variant, *, unquote_mboxo = false, copy = false))]
pub(crate) fn process_range<'py>(
    py: Python<'py>,
    path: PathBuf,
    start: u64,
    end: u64,
    variant: &str,
    unquote_mboxo: bool,
    copy: bool,
) -> PyResult<Bound<'py, PyList>> {
    let variant = parse_variant(Some(variant))?.expect("a name was given");
    let parsed = super::run(py, usize::MAX, move || {
        let data = map_plain(&path)?;
        if variant == Variant::Mboxcl2 && !(start == 0 && end >= data.len() as u64) {
            return Err(MboxError::Refused {
                reason: "mboxcl2 cannot be cut into byte ranges (Content-Length delimits \
                         its messages): read it with mimeflow.mbox.open()"
                    .into(),
            }
            .into());
        }
        sniff_check(&data)?;
        let opts = ReadOptions {
            variant: Some(variant),
            unquote_mboxo,
        };
        Ok::<_, PyErr>(parse_ranges(
            &data,
            std::slice::from_ref(&(start..end)),
            &opts,
            copy,
        ))
    })?;
    // A range may hold a whole archive's messages: Ctrl-C is honoured
    // while they are wrapped too.
    let items = parsed
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 4096 == 4095 {
                py.check_signals()?;
            }
            into_python(p, py, i as u64, true)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// `NotMbox` for data whose first line is not a From_ line (cheap: only
/// the start is looked at).
pub(crate) fn sniff_check(data: &[u8]) -> Result<(), MboxError> {
    mbox::read_range(
        data,
        0..0,
        &ReadOptions {
            variant: Some(Variant::Mboxrd),
            unquote_mboxo: false,
        },
    )
    .check()
}
