//! `mimeflow.parse` and the `Message` / `Part` classes over
//! [`crate::message::Message`].
//!
//! The source is taken without a copy when it is a `bytes` object: the
//! object itself (through [`PyBackedBytes`], which keeps a reference to it)
//! becomes the owner of the `bytes::Bytes` the parser reads, so every part
//! is a byte range into the caller's own buffer for as long as the message
//! lives. Other buffers (`bytearray`, `memoryview`, ...) are copied once,
//! while attached, because their owner may change them after we detach.
//!
//! Parsing and decoding run detached from the interpreter (through
//! [`super::run`]) when the input is large enough to make it worth it.
//! `Message` and `Part` are frozen and hold an `Arc` of the parsed message,
//! so parts stay valid after the message object is gone and any thread may
//! read them.

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use serde_json::Value;

use crate::message::{EntityRef, Limits, Message as RsMessage, ParseOptions};

/// `parse(data, /, *, strict=False, max_depth=None, ...)`: see the stub.
#[pyfunction]
#[pyo3(signature = (
    data, /, *, strict = false, max_depth = None, max_parts = None,
    max_header_fields = None, max_header_bytes = None, max_line_length = None,
    max_decoded_bytes = None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn parse(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    strict: bool,
    max_depth: Option<usize>,
    max_parts: Option<usize>,
    max_header_fields: Option<usize>,
    max_header_bytes: Option<usize>,
    max_line_length: Option<usize>,
    max_decoded_bytes: Option<usize>,
) -> PyResult<Message> {
    let mut limits = Limits::default();
    let set = |slot: &mut usize, v: Option<usize>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut limits.max_depth, max_depth);
    set(&mut limits.max_parts, max_parts);
    set(&mut limits.max_header_fields, max_header_fields);
    set(&mut limits.max_header_bytes, max_header_bytes);
    set(&mut limits.max_line_length, max_line_length);
    set(&mut limits.max_decoded_bytes, max_decoded_bytes);
    let options = ParseOptions { limits, strict };

    let (source, origin) = if let Ok(b) = data.cast::<PyBytes>() {
        // Zero-copy: the `bytes` object owns the buffer the parts point into.
        let backed = PyBackedBytes::from(b.clone());
        (Bytes::from_owner(backed), Some(b.clone().unbind()))
    } else if data.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "parse() needs bytes, bytearray or memoryview, not str",
        ));
    } else {
        // One copy, made while attached (the owner may mutate it later).
        let copy = match data.cast::<PyByteArray>() {
            Ok(b) => b.to_vec(),
            Err(_) => match super::buffer::contiguous(data)? {
                super::buffer::Input::Owned(v) => v,
                super::buffer::Input::Borrowed(s) => s.to_vec(),
            },
        };
        (Bytes::from(copy), None)
    };
    let len = source.len();
    let msg = super::run(py, len, move || RsMessage::parse_with(source, &options))?;
    Ok(Message {
        msg: Arc::new(msg),
        origin,
    })
}

/// A parsed message (see the stub for the documentation of each member).
#[pyclass(frozen, module = "mimeflow._native")]
pub(crate) struct Message {
    msg: Arc<RsMessage>,
    /// The `bytes` object parsed, when it was one: `to_bytes()` returns it.
    origin: Option<Py<PyBytes>>,
}

impl Message {
    /// A message parsed elsewhere (the mbox readers): `to_bytes()` copies
    /// its source out.
    pub(crate) fn from_parsed(msg: RsMessage) -> Message {
        Message {
            msg: Arc::new(msg),
            origin: None,
        }
    }

    /// The source bytes (shared, no copy).
    pub(crate) fn source(&self) -> Bytes {
        self.msg.source().clone()
    }

    fn part(&self, idx: usize) -> Part {
        Part {
            msg: self.msg.clone(),
            idx,
        }
    }
}

#[pymethods]
impl Message {
    /// The root entity.
    #[getter]
    fn root(&self) -> Part {
        self.part(0)
    }

    /// The root's header fields, decoded.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        headers(py, &self.msg.root())
    }

    /// The root's header fields, raw.
    #[getter]
    fn raw_headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        raw_headers(py, &self.msg.root())
    }

    /// The first root field named `name`, decoded.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, name: &str, default: Option<String>) -> Option<String> {
        self.msg.root().header_text(name).or(default)
    }

    /// Every entity, pre-order, root first.
    fn walk(&self) -> Vec<Part> {
        (0..self.msg.len()).map(|i| self.part(i)).collect()
    }

    /// Same as `walk()`, as a property (the `parts` of `structure()`).
    #[getter]
    fn parts(&self) -> Vec<Part> {
        self.walk()
    }

    fn __len__(&self) -> usize {
        self.msg.len()
    }

    /// The entity with IMAP section number `section`, or `None`.
    fn section(&self, section: &str) -> Option<Part> {
        self.msg.section(section).map(|e| self.part(e.index()))
    }

    /// Leaves that are attachments.
    fn attachments(&self) -> Vec<Part> {
        self.msg
            .attachments()
            .map(|e| self.part(e.index()))
            .collect()
    }

    /// `Message::to_json()` as Python objects.
    fn structure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let msg = self.msg.clone();
        let len = msg.source().len();
        let value = super::run(py, len, move || Ok::<_, PyErr>(msg.to_json()))?;
        to_python(py, &value)
    }

    /// Every defect of every entity (structure and headers; decoding
    /// defects come with `Part.decode_defects()`).
    #[getter]
    fn defects(&self) -> Vec<(&'static str, u64)> {
        self.msg
            .defects()
            .map(|d| (d.code.as_str(), d.offset))
            .collect()
    }

    /// The source, byte for byte (the very object parsed when it was `bytes`).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        match &self.origin {
            Some(b) => b.bind(py).clone(),
            None => PyBytes::new(py, self.msg.source()),
        }
    }

    /// The stdlib's reading: `email.message_from_bytes(self.to_bytes(),
    /// policy=email.policy.default)`.
    fn to_email<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_email(py, self.to_bytes(py).into_any())
    }

    fn __repr__(&self) -> String {
        let root = self.msg.root();
        format!(
            "<mimeflow.Message {} parts={} bytes={}>",
            root.mime_type(),
            self.msg.len(),
            self.msg.source().len()
        )
    }
}

/// One entity of a message (see the stub).
#[pyclass(frozen, module = "mimeflow._native")]
pub(crate) struct Part {
    msg: Arc<RsMessage>,
    idx: usize,
}

impl Part {
    fn e(&self) -> EntityRef<'_> {
        self.msg.get(self.idx).expect("part index in range")
    }

    fn other(&self, idx: usize) -> Part {
        Part {
            msg: self.msg.clone(),
            idx,
        }
    }
}

#[pymethods]
impl Part {
    #[getter]
    fn index(&self) -> usize {
        self.idx
    }

    #[getter]
    fn depth(&self) -> usize {
        self.e().depth()
    }

    #[getter]
    fn section(&self) -> String {
        self.e().section()
    }

    #[getter]
    fn kind(&self) -> &'static str {
        self.e().kind().as_str()
    }

    #[getter]
    fn is_multipart(&self) -> bool {
        self.e().kind() == crate::message::Kind::Multipart
    }

    #[getter]
    fn content_type(&self) -> String {
        self.e().mime_type()
    }

    #[getter]
    fn params(&self) -> Vec<(&str, &str)> {
        let params = &self.e().content_type().params;
        params.iter().collect()
    }

    #[getter]
    fn charset(&self) -> Option<String> {
        self.e().charset()
    }

    #[getter]
    fn disposition(&self) -> Option<&str> {
        self.e().disposition().map(|d| &*d.kind)
    }

    #[getter]
    fn filename(&self) -> Option<String> {
        self.e().filename()
    }

    #[getter]
    fn transfer_encoding(&self) -> &str {
        // Borrowed from the Arc'd message, which `self` keeps alive.
        self.msg
            .get(self.idx)
            .expect("part index in range")
            .transfer_encoding()
            .as_str()
    }

    #[getter]
    fn is_attachment(&self) -> bool {
        self.e().is_attachment()
    }

    #[getter]
    fn parent(&self) -> Option<Part> {
        self.e().parent().map(|p| self.other(p.index()))
    }

    #[getter]
    fn children(&self) -> Vec<Part> {
        self.e().children().map(|c| self.other(c.index())).collect()
    }

    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        headers(py, &self.e())
    }

    #[getter]
    fn raw_headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        raw_headers(py, &self.e())
    }

    #[pyo3(signature = (name, default = None))]
    fn get(&self, name: &str, default: Option<String>) -> Option<String> {
        self.e().header_text(name).or(default)
    }

    /// Structure and header defects of this entity.
    #[getter]
    fn defects(&self) -> Vec<(&'static str, u64)> {
        self.e()
            .defects()
            .iter()
            .map(|d| (d.code.as_str(), d.offset))
            .collect()
    }

    /// Defects found undoing the transfer encoding.
    fn decode_defects(&self, py: Python<'_>) -> PyResult<Vec<(&'static str, u64)>> {
        let (msg, idx) = (self.msg.clone(), self.idx);
        let len = self.e().body_bytes().len();
        let d = super::run(py, len, move || {
            Ok::<_, PyErr>(msg.get(idx).expect("in range").decoded_with_defects().1)
        })?;
        Ok(d.iter().map(|d| (d.code.as_str(), d.offset)).collect())
    }

    /// The whole entity (header block and body), raw.
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.e().raw())
    }

    /// The body, still transfer-encoded.
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.e().body_bytes())
    }

    /// The body with its transfer encoding undone.
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let (msg, idx) = (self.msg.clone(), self.idx);
        let len = self.e().body_bytes().len();
        let out = super::run(py, len, move || {
            Ok::<_, PyErr>(msg.get(idx).expect("in range").decoded())
        })?;
        Ok(PyBytes::new(py, &out))
    }

    /// The decoded body as text through its charset.
    fn text(&self, py: Python<'_>) -> PyResult<String> {
        let (msg, idx) = (self.msg.clone(), self.idx);
        let len = self.e().body_bytes().len();
        super::run(py, len, move || {
            Ok::<_, PyErr>(msg.get(idx).expect("in range").text())
        })
    }

    /// This entity's `structure()["parts"]` entry.
    fn structure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let e = self.e();
        let v = self.msg.part_json(&e, &e.section());
        to_python(py, &v)
    }

    /// The stdlib's reading of this entity's bytes.
    fn to_email<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_email(py, self.raw(py).into_any())
    }

    fn __repr__(&self) -> String {
        let e = self.e();
        let mut s = format!("<mimeflow.Part {:?} {}", e.section(), e.mime_type());
        if let Some(f) = e.filename() {
            s.push_str(&format!(" filename={f:?}"));
        }
        s.push('>');
        s
    }
}

fn headers<'py>(py: Python<'py>, e: &EntityRef<'_>) -> PyResult<Bound<'py, PyList>> {
    let items = e.headers().map(|(n, v)| {
        let value = crate::header::decode_text(v, 0, &mut Vec::new());
        (String::from_utf8_lossy(n).into_owned(), value)
    });
    PyList::new(py, items.collect::<Vec<_>>())
}

fn raw_headers<'py>(py: Python<'py>, e: &EntityRef<'_>) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (n, v) in e.headers() {
        list.append((String::from_utf8_lossy(n), PyBytes::new(py, v)))?;
    }
    Ok(list)
}

fn to_email<'py>(py: Python<'py>, data: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let email = py.import("email")?;
    let policy = py.import("email.policy")?.getattr("default")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("policy", policy)?;
    email.call_method("message_from_bytes", (data,), Some(&kwargs))
}

/// JSON values as Python objects (the JSON of `to_json` is shallow: no
/// recursion depth to worry about).
fn to_python<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match n.as_u64() {
            Some(u) => u.into_pyobject(py)?.into_any(),
            None => match n.as_i64() {
                Some(i) => i.into_pyobject(py)?.into_any(),
                None => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
            },
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(to_python(py, x)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, to_python(py, x)?)?;
            }
            d.into_any()
        }
    })
}
