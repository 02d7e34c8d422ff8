//! The stdlib `base64` module's `b64encode`, `b64decode`, `encodebytes` and
//! `decodebytes`, with its signatures, as native functions: `mimeflow`
//! re-exports them as they are, so a common call is one call into the
//! extension. (A Python function in front cost about 60 ns a call, as much
//! as a whole pybase64 call at 256 bytes.)
//!
//! Only the common arguments run here: no `altchars`, `validate` exactly
//! `True` or `False`, and for `encodebytes`/`decodebytes` an exact `bytes`
//! (any other buffer needs the stdlib's type checks first). Every other call
//! goes, unchanged, to the function of the same name in `mimeflow._base64`,
//! the stdlib's argument handling in Python, so types, results and
//! exceptions are the stdlib's whatever the arguments. So does a strict
//! decode error before Python 3.13, whose `binascii` treated excess padding
//! differently (that module knows how).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict};

use super::binascii::{has_strict_mode, minor};
use super::{decode_buffer, encode_buffer};

/// The Python function `name` of `mimeflow._base64` (cached in `cell`),
/// called with `args` and `kwargs`: the general case of each function here.
fn general<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyAny>>,
    name: &str,
    args: impl pyo3::call::PyCallArgs<'py>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let f = cell.get_or_try_init(py, || {
        py.import("mimeflow._base64")?
            .getattr(name)
            .map(Bound::unbind)
    })?;
    f.bind(py).call(args, kwargs)
}

/// `validate` as given: the two booleans, which run here, or anything else,
/// which the stdlib converts (or rejects) in its own way. Its own type, not
/// `bool` (PyO3 would refuse `1`) nor `Option` (an explicit `None` differs
/// from no argument).
enum Validate<'py> {
    False,
    True,
    Other(Bound<'py, PyAny>),
}

impl<'py> FromPyObject<'_, 'py> for Validate<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Validate<'py>> {
        Ok(match obj.cast::<PyBool>() {
            Ok(b) if b.is_true() => Validate::True,
            Ok(_) => Validate::False,
            Err(_) => Validate::Other(obj.to_owned()),
        })
    }
}

/// Encode the bytes-like object s using Base64 and return a bytes object.
///
/// Optional altchars should be a byte string of length 2 which specifies an
/// alternative alphabet for the '+' and '/' characters. A non-zero wrapcol
/// splits the output into lines of that many characters, separated by
/// b'\n' (b'\r\n' when crlf is true), with no newline after the last.
#[pyfunction]
#[pyo3(
    name = "b64encode",
    signature = (s, altchars = None, *, wrapcol = 0, crlf = false),
    text_signature = "(s, altchars=None, *, wrapcol=0, crlf=False)"
)]
fn b64encode<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    altchars: Option<&Bound<'py, PyAny>>,
    wrapcol: usize,
    crlf: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(altchars) = altchars else {
        return encode_buffer(py, s, wrapcol, crlf, false, false).map(Bound::into_any);
    };
    static GENERAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item("wrapcol", wrapcol)?;
    kwargs.set_item("crlf", crlf)?;
    general(py, &GENERAL, "b64encode", (s, altchars), Some(&kwargs))
}

/// Decode the Base64 encoded bytes-like object or ASCII string s.
///
/// Optional altchars must be a bytes-like object or ASCII string of length 2
/// which specifies the alternative alphabet used instead of the '+' and '/'
/// characters (both alphabets then decode).
///
/// If validate is False (the default), characters that are neither in the
/// normal base-64 alphabet nor the alternative alphabet are discarded prior
/// to the padding check. If validate is True, these non-alphabet characters
/// in the input result in an error. Errors raise DecodeError, a
/// binascii.Error.
#[pyfunction]
#[pyo3(
    name = "b64decode",
    signature = (s, altchars = None, validate = Validate::False),
    text_signature = "(s, altchars=None, validate=False)"
)]
fn b64decode<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    altchars: Option<&Bound<'py, PyAny>>,
    validate: Validate<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    static GENERAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let validate = match (altchars, validate) {
        (None, Validate::False) => return decode_buffer(py, s, false, None).map(Bound::into_any),
        (None, Validate::True) if has_strict_mode(py) => {
            match decode_buffer(py, s, true, None) {
                Ok(out) => return Ok(out.into_any()),
                // 3.13's strict rules are the core's; before, excess
                // padding was not always an error: the general case
                // re-decodes and knows.
                Err(e) if minor(py) >= 13 => return Err(e),
                Err(_) => PyBool::new(py, true).to_owned().into_any(),
            }
        }
        (_, Validate::False) => PyBool::new(py, false).to_owned().into_any(),
        (_, Validate::True) => PyBool::new(py, true).to_owned().into_any(),
        (_, Validate::Other(v)) => v,
    };
    general(py, &GENERAL, "b64decode", (s, altchars, validate), None)
}

/// Encode a bytes-like object into lines of Base64 (76 characters by
/// default), each line, the last included, ended by b'\n' (b'\r\n' when
/// crlf is true). Empty input gives b''.
#[pyfunction]
#[pyo3(
    name = "encodebytes",
    signature = (s, *, wrapcol = 76, crlf = false),
    text_signature = "(s, *, wrapcol=76, crlf=False)"
)]
fn encodebytes<'py>(
    py: Python<'py>,
    s: &Bound<'py, PyAny>,
    wrapcol: usize,
    crlf: bool,
) -> PyResult<Bound<'py, PyAny>> {
    if s.is_exact_instance_of::<PyBytes>() {
        return encode_buffer(py, s, wrapcol, crlf, true, false).map(Bound::into_any);
    }
    static GENERAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item("wrapcol", wrapcol)?;
    kwargs.set_item("crlf", crlf)?;
    general(py, &GENERAL, "encodebytes", (s,), Some(&kwargs))
}

/// Decode a bytes-like object of Base64 lines (MIME body text).
#[pyfunction]
#[pyo3(name = "decodebytes", signature = (s), text_signature = "(s)")]
fn decodebytes<'py>(py: Python<'py>, s: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if s.is_exact_instance_of::<PyBytes>() {
        return decode_buffer(py, s, false, None).map(Bound::into_any);
    }
    static GENERAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    general(py, &GENERAL, "decodebytes", (s,), None)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(b64encode, m)?)?;
    m.add_function(wrap_pyfunction!(b64decode, m)?)?;
    m.add_function(wrap_pyfunction!(encodebytes, m)?)?;
    m.add_function(wrap_pyfunction!(decodebytes, m)?)?;
    Ok(())
}
