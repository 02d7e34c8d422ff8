//! The conversions from codec and parse errors to Python exceptions.
//!
//! The exception classes live in Python (`mimeflow._errors`), because
//! `DecodeError` must subclass both `MimeflowError` and `binascii.Error`,
//! which `create_exception!` (one base) cannot express. The class is looked
//! up on first use and cached.
//!
//! Messages use `binascii`'s wording, so code that matches on the stdlib's
//! text keeps working, followed by the byte offset the codec reports.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::{DecodeError, DecodeErrorKind};

static DECODE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static PARSE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A decode error with what its message needs beyond the codec's error.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DecodeFailure {
    pub(crate) error: DecodeError,
    /// Alphabet characters in the input, for the `InvalidLength` message.
    pub(crate) data_chars: Option<u64>,
    /// Whether the message ends with the offset; `mimeflow.binascii` leaves
    /// it out, so its messages are the stdlib's word for word.
    pub(crate) with_offset: bool,
}

impl From<DecodeError> for DecodeFailure {
    fn from(error: DecodeError) -> Self {
        DecodeFailure {
            error,
            data_chars: None,
            with_offset: true,
        }
    }
}

impl DecodeFailure {
    /// The message, in `binascii.a2b_base64`'s words plus the offset.
    pub(crate) fn message(&self) -> String {
        let at = self.error.offset();
        let what: std::borrow::Cow<'static, str> = match self.error.kind() {
            DecodeErrorKind::InvalidByte(_) => "Only base64 data is allowed".into(),
            DecodeErrorKind::UnexpectedPadding if at == 0 => "Leading padding not allowed".into(),
            DecodeErrorKind::UnexpectedPadding => "Excess padding not allowed".into(),
            DecodeErrorKind::DataAfterPadding => "Excess data after padding".into(),
            DecodeErrorKind::DiscontinuousPadding => "Discontinuous padding not allowed".into(),
            DecodeErrorKind::MissingPadding | DecodeErrorKind::IncompletePadding => {
                "Incorrect padding".into()
            }
            DecodeErrorKind::InvalidLength => match self.data_chars {
                Some(n) => format!(
                    "Invalid base64-encoded string: number of data characters ({n}) \
                     cannot be 1 more than a multiple of 4"
                )
                .into(),
                None => "Invalid base64-encoded string: number of data characters \
                         cannot be 1 more than a multiple of 4"
                    .into(),
            },
            // Not produced by the binascii rules; kept readable all the same.
            DecodeErrorKind::TrailingBits => "Non-zero trailing bits".into(),
        };
        if self.with_offset {
            format!("{what} (at byte {at})")
        } else {
            what.into_owned()
        }
    }
}

impl From<DecodeFailure> for PyErr {
    fn from(failure: DecodeFailure) -> PyErr {
        Python::attach(|py| {
            match DECODE_ERROR.import(py, "mimeflow._errors", "DecodeError") {
                Ok(cls) => PyErr::from_type(cls.clone(), failure.message()),
                // The package is broken (e.g. `_native` imported on its own
                // without `mimeflow` on the path): say so instead.
                Err(e) => e,
            }
        })
    }
}

/// Strict parsing's first defect: `mimeflow.ParseError` (a `ValueError`)
/// with the defect's `code` and `offset` as attributes.
impl From<crate::message::ParseError> for PyErr {
    fn from(e: crate::message::ParseError) -> PyErr {
        Python::attach(|py| {
            let cls = match PARSE_ERROR.import(py, "mimeflow._errors", "ParseError") {
                Ok(cls) => cls,
                Err(e) => return e,
            };
            let err = PyErr::from_type(cls.clone(), e.to_string());
            let value = err.value(py);
            let set = value
                .setattr("code", e.0.code.as_str())
                .and_then(|()| value.setattr("offset", e.0.offset));
            match set {
                Ok(()) => err,
                Err(e) => e,
            }
        })
    }
}

static MBOX_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CONVERT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static COMPOSE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// An instance of the `mimeflow._errors` class `name` (cached in `cell`)
/// with message `msg`; the import error itself when the package is broken.
fn raise(cell: &'static PyOnceLock<Py<PyType>>, name: &str, msg: String) -> PyErr {
    Python::attach(|py| match cell.import(py, "mimeflow._errors", name) {
        Ok(cls) => PyErr::from_type(cls.clone(), msg),
        Err(e) => e,
    })
}

/// An `OSError` (the errno's subclass: `FileNotFoundError`, ...) carrying
/// `path` as its `filename` when there is an errno; PyO3's own mapping
/// otherwise.
pub(crate) fn os_error(e: std::io::Error, path: Option<&std::path::Path>) -> PyErr {
    match (e.raw_os_error(), path) {
        (Some(errno), Some(path)) => {
            // `OSError(errno, strerror, filename)` picks the subclass itself.
            let strerror = std::io::Error::from_raw_os_error(errno).to_string();
            let strerror = match strerror.find(" (os error") {
                Some(k) => strerror[..k].to_string(),
                None => strerror,
            };
            pyo3::exceptions::PyOSError::new_err((errno, strerror, path.as_os_str().to_os_string()))
        }
        _ => PyErr::from(e),
    }
}

/// `mimeflow.MboxError` (a `ValueError`) with `kind` set, or `OSError`.
impl From<crate::mbox::MboxError> for PyErr {
    fn from(e: crate::mbox::MboxError) -> PyErr {
        use crate::mbox::MboxError as E;
        let e = match e {
            E::Io(io) => return os_error(io, None),
            e => e,
        };
        let kind = match &e {
            E::Io(_) => unreachable!("handled above"),
            E::NotMbox { .. } => "not_mbox",
            E::Refused { .. } => "refused",
            E::TooLarge { .. } => "too_large",
        };
        let err = raise(&MBOX_ERROR, "MboxError", e.to_string());
        Python::attach(|py| match err.value(py).setattr("kind", kind) {
            Ok(()) => err,
            Err(e) => e,
        })
    }
}

/// Batch errors: `OSError` with the path, `MboxError`, `ConvertError`, or
/// `KeyboardInterrupt` for a run stopped by Ctrl-C (the conversion wrapper
/// raises the pending signal's own exception first when there is one).
impl From<crate::batch::BatchError> for PyErr {
    fn from(e: crate::batch::BatchError) -> PyErr {
        use crate::batch::BatchError as E;
        match e {
            E::Io { path, source } => os_error(source, Some(&path)),
            E::Mbox(m) => m.into(),
            // The library's text names no switch; these name convert()'s.
            E::Interrupted { committed, .. } => pyo3::exceptions::PyKeyboardInterrupt::new_err(format!(
                "interrupted after {committed} messages; call convert() again with resume=True to continue"
            )),
            E::Unfinished { dest, state } => raise(
                &CONVERT_ERROR,
                "ConvertError",
                format!(
                    "{}: an interrupted run left {}: call convert() with resume=True to continue it",
                    dest.display(),
                    state.display()
                ),
            ),
            E::NotEmpty { path, .. } => raise(
                &CONVERT_ERROR,
                "ConvertError",
                format!(
                    "{}: is not empty: pass force=True to add to it (nothing is deleted) or resume=True to continue",
                    path.display()
                ),
            ),
            other => raise(&CONVERT_ERROR, "ConvertError", other.to_string()),
        }
    }
}

/// Compose errors: `mimeflow.ComposeError` (a `ValueError`) for bad
/// addresses, header names, ids, MIME types and dates; `OSError` for files
/// and output (`MemoryError` for a message too big to build in memory).
impl From<crate::compose::ComposeError> for PyErr {
    fn from(e: crate::compose::ComposeError) -> PyErr {
        use crate::compose::ComposeError as E;
        match e {
            E::Attachment { path, source } => os_error(source, Some(&path)),
            E::Io(io) => os_error(io, None),
            other => raise(&COMPOSE_ERROR, "ComposeError", other.to_string()),
        }
    }
}
