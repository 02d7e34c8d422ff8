//! `mimeflow.MessageBuilder`, `mimeflow.normalize` and the conversion entry
//! point `mimeflow.convert`: thin layers over [`crate::compose`] and
//! [`crate::batch`].
//!
//! The Rust builder is a by-value builder; the Python one is a mutable
//! object whose methods return it, for chaining. Each method applies the
//! Rust method to a copy of the state and keeps the result only on success,
//! so a rejected address leaves the builder as it was (attachment contents
//! are `bytes::Bytes`: copying the state copies no attachment data).
//! Writing (`build`, `write_to`) runs detached from the interpreter: files
//! are read, encoded and written there, a block at a time for big ones.

use crate::io_util::Counting;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

use crate::batch::{self, ConvertOptions, Format, Hooks, Progress};
use crate::compose::{self, Attachment, ComposeError, MessageBuilder as RsBuilder, Transport};
use crate::mbox::Variant;

/// Output of a file-object writer is handed to Python this many bytes at a
/// time (one interpreter round trip per MiB).
const PY_WRITE_CHUNK: usize = 1 << 20;

/// Most threads `convert(jobs=...)` starts.
pub(super) const MAX_JOBS: usize = 1024;

/// Bytes-like content without a copy for `bytes` (the object owns the
/// buffer), with one copy, made while attached, for other buffers.
fn content(obj: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(Bytes::from_owner(PyBackedBytes::from(b.clone()))));
    }
    if obj.is_instance_of::<PyString>() {
        return Ok(None);
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Some(Bytes::from(b.to_vec())));
    }
    match super::buffer::contiguous(obj) {
        Ok(input) => Ok(Some(Bytes::copy_from_slice(input.as_slice()))),
        Err(e) if e.is_instance_of::<PyTypeError>(obj.py()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// An attachment from bytes-like content or a path (`str`, `os.PathLike`).
fn attachment(
    data: &Bound<'_, PyAny>,
    filename: Option<&str>,
    content_type: Option<&str>,
) -> PyResult<Attachment> {
    let mut a = match content(data)? {
        Some(bytes) => Attachment::bytes(filename.unwrap_or(""), bytes),
        None => {
            let path: PathBuf = data.extract().map_err(|_| {
                PyTypeError::new_err(format!(
                    "attachment content must be bytes-like or a path, not {}",
                    data.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            let a = Attachment::file(path);
            match filename {
                Some(f) => a.filename(f),
                None => a,
            }
        }
    };
    if let Some(ct) = content_type {
        // Refused now rather than at build(): the error points at the call.
        compose::check_mime_type(&ct.to_ascii_lowercase())?;
        a = a.content_type(ct);
    }
    Ok(a)
}

/// Address lists: one `str` (`"Ann <a@x>, b@y"`) or an iterable of them.
fn address_lists(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![s.to_str()?.to_string()]);
    }
    obj.try_iter()?
        .map(|x| x.and_then(|x| x.extract::<String>()))
        .collect()
}

/// A `datetime` (naive ones are local time, as `datetime.timestamp` says)
/// or seconds since the epoch, checked to be a date RFC 5322 can carry
/// (1900 to 9999): `ComposeError` otherwise, never a panic, whatever the
/// number (`1e300`, `2**64`, `nan`).
fn system_time(obj: &Bound<'_, PyAny>) -> PyResult<SystemTime> {
    let value = if obj.hasattr("timestamp")? {
        obj.call_method0("timestamp")?
    } else {
        obj.clone()
    };
    // An int too big for a float is out of range, not an OverflowError.
    let secs: f64 = match value.extract() {
        Ok(s) => s,
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(obj.py()) => {
            let desc = "an int beyond the float range".to_string();
            return Err(ComposeError::DateOutOfRange(desc).into());
        }
        Err(e) => return Err(e),
    };
    let out_of_range = || ComposeError::DateOutOfRange(format!("{secs} s from the epoch"));
    let d = Duration::try_from_secs_f64(secs.abs()).map_err(|_| out_of_range())?;
    let t = if secs >= 0.0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .ok_or_else(out_of_range)?;
    compose::rfc5322_date(t)?;
    Ok(t)
}

/// `mimeflow.MessageBuilder` (see the stub).
#[pyclass(frozen, module = "mimeflow._native", name = "MessageBuilder")]
pub(crate) struct MessageBuilder {
    inner: Mutex<RsBuilder>,
}

impl MessageBuilder {
    fn snapshot(&self) -> RsBuilder {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Applies `f` to a copy of the state; keeps the result on success.
    fn update(&self, f: impl FnOnce(RsBuilder) -> Result<RsBuilder, ComposeError>) -> PyResult<()> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *g = f(g.clone())?;
        Ok(())
    }

    fn set(&self, f: impl FnOnce(RsBuilder) -> RsBuilder) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *g = f(std::mem::take(&mut *g));
    }

    fn addresses<'py>(
        slf: Bound<'py, Self>,
        lists: &Bound<'py, PyAny>,
        add: fn(RsBuilder, &str) -> Result<RsBuilder, ComposeError>,
    ) -> PyResult<Bound<'py, Self>> {
        let lists = address_lists(lists)?;
        slf.get().update(|mut b| {
            for l in &lists {
                b = add(b, l)?;
            }
            Ok(b)
        })?;
        Ok(slf)
    }
}

#[pymethods]
impl MessageBuilder {
    #[new]
    fn new() -> Self {
        MessageBuilder {
            inner: Mutex::new(RsBuilder::new()),
        }
    }

    fn from_<'py>(
        slf: Bound<'py, Self>,
        addresses: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::addresses(slf, addresses, RsBuilder::from)
    }

    fn to<'py>(slf: Bound<'py, Self>, addresses: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        Self::addresses(slf, addresses, RsBuilder::to)
    }

    fn cc<'py>(slf: Bound<'py, Self>, addresses: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        Self::addresses(slf, addresses, RsBuilder::cc)
    }

    fn bcc<'py>(
        slf: Bound<'py, Self>,
        addresses: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::addresses(slf, addresses, RsBuilder::bcc)
    }

    fn reply_to<'py>(
        slf: Bound<'py, Self>,
        addresses: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::addresses(slf, addresses, RsBuilder::reply_to)
    }

    fn subject<'py>(slf: Bound<'py, Self>, subject: &str) -> Bound<'py, Self> {
        slf.get().set(|b| b.subject(subject));
        slf
    }

    fn date<'py>(slf: Bound<'py, Self>, date: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Self>> {
        let t = system_time(date)?;
        slf.get().set(|b| b.date(t));
        Ok(slf)
    }

    fn message_id<'py>(slf: Bound<'py, Self>, message_id: &str) -> PyResult<Bound<'py, Self>> {
        // Checked now (the Rust builder checks again at build()).
        compose::check_id("Message-ID", message_id)?;
        slf.get().set(|b| b.message_id(message_id));
        Ok(slf)
    }

    fn header<'py>(slf: Bound<'py, Self>, name: &str, value: &str) -> PyResult<Bound<'py, Self>> {
        slf.get().update(|b| b.header(name, value))?;
        Ok(slf)
    }

    fn text<'py>(slf: Bound<'py, Self>, text: &str) -> Bound<'py, Self> {
        slf.get().set(|b| b.text(text));
        slf
    }

    fn html<'py>(slf: Bound<'py, Self>, html: &str) -> Bound<'py, Self> {
        slf.get().set(|b| b.html(html));
        slf
    }

    #[pyo3(signature = (data, filename = None, content_type = None))]
    fn attach<'py>(
        slf: Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
        filename: Option<&str>,
        content_type: Option<&str>,
    ) -> PyResult<Bound<'py, Self>> {
        let a = attachment(data, filename, content_type)?;
        slf.get().set(|b| b.attach(a));
        Ok(slf)
    }

    #[pyo3(signature = (data, cid, filename = None, content_type = None))]
    fn inline<'py>(
        slf: Bound<'py, Self>,
        data: &Bound<'py, PyAny>,
        cid: &str,
        filename: Option<&str>,
        content_type: Option<&str>,
    ) -> PyResult<Bound<'py, Self>> {
        compose::check_id("Content-ID", cid)?;
        let a = attachment(data, filename, content_type)?;
        slf.get().set(|b| b.inline(a, cid));
        Ok(slf)
    }

    #[pyo3(signature = (message, filename = None))]
    fn attach_message<'py>(
        slf: Bound<'py, Self>,
        message: &Bound<'py, PyAny>,
        filename: Option<&str>,
    ) -> PyResult<Bound<'py, Self>> {
        if let Ok(m) = message.cast::<MessageBuilder>() {
            let inner = m.get().snapshot();
            slf.get().set(|b| b.attach_message(inner, filename));
        } else if let Ok(m) = message.cast::<super::message::Message>() {
            let raw = m.get().source();
            slf.get().set(|b| b.attach_message_bytes(raw, filename));
        } else if let Some(raw) = content(message)? {
            slf.get().set(|b| b.attach_message_bytes(raw, filename));
        } else {
            return Err(PyTypeError::new_err(
                "attach_message() takes a MessageBuilder, a Message or bytes",
            ));
        }
        Ok(slf)
    }

    fn transport<'py>(slf: Bound<'py, Self>, transport: &str) -> PyResult<Bound<'py, Self>> {
        let t = match transport.to_ascii_lowercase().as_str() {
            "7bit" => Transport::SevenBit,
            "8bit" | "8bitmime" => Transport::EightBit,
            "binary" | "binarymime" => Transport::Binary,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "unknown transport {transport:?} (7bit, 8bit, binary)"
                )))
            }
        };
        slf.get().set(|b| b.transport(t));
        Ok(slf)
    }

    /// DKIM-signs the message as the last step of `build()`/`write_to()`.
    fn dkim_sign<'py>(
        slf: Bound<'py, Self>,
        domain: &str,
        selector: &str,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, Self>> {
        let key = std::sync::Arc::new(super::dkim::signing_key(key)?);
        for (what, v) in [("domain", domain), ("selector", selector)] {
            let ok = !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !ok {
                return Err(PyValueError::new_err(format!("bad {what} {v:?}")));
            }
        }
        slf.get().set(|b| b.dkim_sign(domain, selector, key));
        Ok(slf)
    }

    #[pyo3(signature = (yes = true))]
    fn write_bcc<'py>(slf: Bound<'py, Self>, yes: bool) -> Bound<'py, Self> {
        slf.get().set(|b| b.write_bcc(yes));
        slf
    }

    fn recipients(&self) -> Vec<String> {
        let b = self.snapshot();
        b.recipients().into_iter().map(str::to_string).collect()
    }

    fn copy(&self) -> MessageBuilder {
        MessageBuilder {
            inner: Mutex::new(self.snapshot()),
        }
    }

    fn build<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = self.snapshot();
        let out = super::run(py, usize::MAX, move || b.to_vec())?;
        Ok(PyBytes::new(py, &out))
    }

    #[pyo3(signature = (dest, *, overwrite = false))]
    fn write_to(&self, py: Python<'_>, dest: &Bound<'_, PyAny>, overwrite: bool) -> PyResult<u64> {
        let b = self.snapshot();
        if dest.hasattr("write")? {
            let mut w = PyWriter {
                file: dest.clone().unbind(),
                error: None,
            };
            let result = py.detach(|| {
                let mut out = Counting::new(BufWriter::with_capacity(PY_WRITE_CHUNK, &mut w));
                b.write_to(&mut out).map(|()| out.n)
            });
            if let Some(e) = w.error.take() {
                return Err(e);
            }
            py.check_signals()?;
            return result.map_err(Into::into);
        }
        let path: PathBuf = dest
            .extract()
            .map_err(|_| PyTypeError::new_err("write_to() takes a path or a binary file object"))?;
        super::run(py, usize::MAX, move || {
            // A temp file beside the target (created exclusively, through
            // no link), renamed into place only once complete: a failure
            // leaves nothing behind and never a truncated file of the user's.
            let os = |e: std::io::Error| super::errors::os_error(e, Some(&path));
            let (dir, name) = crate::safe_fs::split_dest(&path).map_err(os)?;
            let dir = crate::safe_fs::Dir::open(&dir).map_err(os)?;
            if !overwrite && dir.kind(&name).map_err(os)?.is_some() {
                return Err(os(std::io::Error::from_raw_os_error(libc::EEXIST)));
            }
            let mode = if overwrite {
                crate::safe_fs::Commit::Replace
            } else {
                crate::safe_fs::Commit::NoClobber
            };
            let mut tmp = crate::safe_fs::AtomicFile::create(&dir, &name, mode).map_err(os)?;
            let mut out = Counting::new(BufWriter::with_capacity(1 << 16, tmp.file().map_err(os)?));
            b.write_to(&mut out).map_err(PyErr::from)?;
            let n = out.n;
            out.inner.flush().map_err(os)?;
            drop(out);
            tmp.commit().map_err(os)?;
            Ok(n)
        })
    }

    fn __repr__(&self) -> String {
        let b = self.snapshot();
        format!(
            "<mimeflow.MessageBuilder recipients={}>",
            b.recipients().len()
        )
    }
}

/// A Python binary file object as a `Write`: each write attaches and calls
/// `file.write(bytes)`; the first Python exception is kept to be raised as
/// it is.
struct PyWriter {
    file: Py<PyAny>,
    error: Option<PyErr>,
}

impl Write for PyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.error.is_some() {
            return Err(io::Error::other("an earlier write failed"));
        }
        Python::attach(|py| {
            let r = self
                .file
                .call_method1(py, "write", (PyBytes::new(py, buf),))
                .and_then(|_| py.check_signals());
            match r {
                Ok(()) => Ok(buf.len()),
                Err(e) => {
                    self.error = Some(e);
                    Err(io::Error::other("file.write() raised"))
                }
            }
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `mimeflow.normalize(data)`: see the stub.
#[pyfunction]
#[pyo3(signature = (data, /))]
pub(crate) fn normalize<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    if data.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "normalize() needs bytes, bytearray or memoryview, not str",
        ));
    }
    let input = super::buffer::contiguous(data)?;
    let src = input.as_slice();
    let out = super::run(py, src.len(), || Ok::<_, PyErr>(compose::normalize(src)))?;
    Ok(PyBytes::new(py, &out))
}

/// `mimeflow.convert(src, dst, *, to, ...)`: `mimeflow convert` from
/// Python (see the stub). Runs detached; the progress callback and the
/// Ctrl-C check run after every committed window, attached for a moment.
#[pyfunction]
#[pyo3(signature = (
    src, dst, *, to, jobs = None, progress = None, variant = None,
    skip_deleted = false, text = false, attachments = None, resume = false, force = false,
    update = false, raw = false, fts_tokenizer = "unicode61",
    dkim = false, dkim_keys = None, dkim_as_of = None, dkim_allow_sha1 = false,
    dkim_dns_server = None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert<'py>(
    py: Python<'py>,
    src: PathBuf,
    dst: PathBuf,
    to: &str,
    jobs: Option<usize>,
    progress: Option<Py<PyAny>>,
    variant: Option<&str>,
    skip_deleted: bool,
    text: bool,
    attachments: Option<PathBuf>,
    resume: bool,
    force: bool,
    update: bool,
    raw: bool,
    fts_tokenizer: &str,
    dkim: bool,
    dkim_keys: Option<&Bound<'py, PyAny>>,
    dkim_as_of: Option<&Bound<'py, PyAny>>,
    dkim_allow_sha1: bool,
    dkim_dns_server: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let format = Format::from_name(to).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown output format {to:?} (maildir, eml, mbox, jsonl, sqlite, parquet)"
        ))
    })?;
    if update && format != Format::Sqlite {
        return Err(PyValueError::new_err(
            "update=True adds to a SQLite database only (to=\"sqlite\")",
        ));
    }
    if raw && !format.is_table() {
        return Err(PyValueError::new_err(
            "raw=True is for to=\"sqlite\" and to=\"parquet\"",
        ));
    }
    let fts_tokenizer = crate::batch::Tokenizer::from_name(fts_tokenizer).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown fts_tokenizer {fts_tokenizer:?} (unicode61, trigram)"
        ))
    })?;
    let variant = match variant {
        None => None,
        Some(n) => Some(Variant::from_name(n).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown mbox variant {n:?} (mboxo, mboxrd, mboxcl, mboxcl2)"
            ))
        })?),
    };
    let dkim = if dkim {
        if !(format == Format::Jsonl || format.is_table()) {
            return Err(PyValueError::new_err(
                "dkim=True is for to=\"jsonl\", \"sqlite\" and \"parquet\"",
            ));
        }
        // Key files are read once here; every worker shares the store.
        let mut keys = super::dkim::keystore(dkim_keys)?;
        if let Some(addr) = dkim_dns_server {
            super::dkim::add_dns(&mut keys, addr, 2.0)?;
        }
        let as_of = match dkim_as_of {
            Some(v) => super::dkim::as_of(v)?,
            None => crate::dkim::AsOf::Now,
        };
        let options = crate::dkim::ArchiveOptions {
            as_of,
            allow_sha1: dkim_allow_sha1,
            variant: None,
        };
        Some(crate::batch::DkimCheck::new(keys, options))
    } else if dkim_keys.is_some()
        || dkim_as_of.is_some()
        || dkim_allow_sha1
        || dkim_dns_server.is_some()
    {
        return Err(PyValueError::new_err(
            "dkim_keys, dkim_as_of, dkim_allow_sha1 and dkim_dns_server need dkim=True",
        ));
    } else {
        None
    };
    let opts = ConvertOptions {
        skip_deleted,
        text,
        attachments,
        resume,
        force,
        update,
        raw,
        fts_tokenizer,
        variant,
        dkim,
        ..ConvertOptions::new(format)
    };
    let pool = match jobs {
        Some(0) => return Err(PyValueError::new_err("jobs must be at least 1")),
        // Each job is an OS thread, spawned up front: jobs=2**31 would
        // spawn until the machine gives out.
        Some(j) if j > MAX_JOBS => {
            return Err(PyValueError::new_err(format!(
                "jobs must be at most {MAX_JOBS}, not {j}"
            )))
        }
        Some(j) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(j)
                .build()
                .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?,
        ),
        None => None,
    };
    let cancel = AtomicBool::new(false);
    let pending: Mutex<Option<PyErr>> = Mutex::new(None);
    let reports: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let on_progress = |p: Progress| {
        Python::attach(|py| {
            let r = py.check_signals().and_then(|()| match &progress {
                Some(cb) => cb
                    .call1(py, (p.bytes, p.total_bytes, p.messages))
                    .map(|_| ()),
                None => Ok(()),
            });
            if let Err(e) = r {
                // Stop after this window; the run stays resumable.
                pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                cancel.store(true, Ordering::SeqCst);
            }
        });
    };
    let on_report = |line: &str| {
        reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.to_string());
    };
    let hooks = Hooks {
        cancel: &cancel,
        progress: &on_progress,
        report: &on_report,
    };
    let result = py.detach(|| match &pool {
        Some(pool) => pool.install(|| batch::convert(&src, &dst, &opts, &hooks)),
        None => batch::convert(&src, &dst, &opts, &hooks),
    });
    if let Some(e) = pending.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let s = result?;
    let d = PyDict::new(py);
    d.set_item("messages_in", s.messages_in)?;
    d.set_item("written", s.written)?;
    d.set_item("skipped", s.skipped)?;
    d.set_item("defective", s.defective)?;
    d.set_item("unparseable", s.unparseable)?;
    d.set_item("resumed_from", s.resumed_from)?;
    d.set_item("attachments_written", s.attachments_written)?;
    d.set_item("attachments_duplicate", s.attachments_duplicate)?;
    d.set_item("bytes_in", s.bytes_in)?;
    d.set_item("source_kind", &s.source_kind)?;
    d.set_item(
        "variant",
        Variant::from_name(&s.source_kind).map(Variant::name),
    )?;
    d.set_item("variant_reason", &s.variant_reason)?;
    d.set_item("format", format.name())?;
    d.set_item("seconds", s.seconds)?;
    d.set_item(
        "reports",
        reports.into_inner().unwrap_or_else(|p| p.into_inner()),
    )?;
    Ok(d)
}
