//! The native half of `mimeflow.email.quoprimime`: `email.quoprimime`'s
//! functions over latin-1 bytes (`qp::quoprimime_*`). The Python module
//! turns the stdlib's `str` into those bytes and back (`body_encode`
//! returns the `str` itself), and checks the arguments as the stdlib does
//! before calling these.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::{buffer, run};
use crate::qp;

/// `body_encode(body, maxlinelen, eol)` over latin-1 bytes (non-empty
/// body), as the `str` the stdlib returns: made from the output at once,
/// with no `bytes` in between (a large body's output is several times its
/// size, and each copy of it costs page faults as well as the copy).
#[pyfunction]
#[pyo3(signature = (body, maxlinelen, eol, /))]
pub(crate) fn quoprimime_body_encode<'py>(
    py: Python<'py>,
    body: &[u8],
    maxlinelen: usize,
    eol: &[u8],
) -> PyResult<Bound<'py, PyString>> {
    if maxlinelen < 4 {
        return Err(PyValueError::new_err("maxlinelen must be at least 4"));
    }
    let out = run(py, body.len(), || {
        // Room for the usual worst case (every byte escaped, a soft break
        // a line), so that a large output is one fresh allocation advised
        // for huge pages rather than a growing one; longer line ends may
        // still grow it.
        let soft_breaks = body.len().saturating_mul(3) / (maxlinelen - 1) + 1;
        let mut out = Vec::with_capacity(
            body.len()
                .saturating_mul(3)
                .saturating_add(soft_breaks.saturating_mul(1 + eol.len())),
        );
        buffer::advise_huge_pages(out.as_ptr(), out.capacity());
        qp::quoprimime_body_encode(body, maxlinelen, eol, &mut out);
        Ok::<_, PyErr>(out)
    })?;
    latin1_str(py, &out)
}

/// The `str` whose characters are the bytes of `b` (latin-1): the output is
/// ASCII unless `eol` is not, so that path ([`buffer::ascii_str`]) comes
/// first.
fn latin1_str<'py>(py: Python<'py>, b: &[u8]) -> PyResult<Bound<'py, PyString>> {
    if let Some(s) = buffer::ascii_str(py, b)? {
        return Ok(s);
    }
    Ok(PyString::new(
        py,
        &b.iter().map(|&c| char::from(c)).collect::<String>(),
    ))
}

/// `decode(encoded, eol)` of ASCII bytes (non-empty), as latin-1 bytes.
#[pyfunction]
#[pyo3(signature = (encoded, eol, /))]
pub(crate) fn quoprimime_decode<'py>(
    py: Python<'py>,
    encoded: &[u8],
    eol: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let out = run(py, encoded.len(), || {
        let mut out = Vec::new();
        qp::quoprimime_decode(encoded, eol, &mut out);
        Ok::<_, PyErr>(out)
    })?;
    Ok(PyBytes::new(py, &out))
}

/// `header_encode`'s encoded text (without the `=?charset?q?...?=`).
#[pyfunction]
#[pyo3(signature = (data, /))]
pub(crate) fn quoprimime_header_encode<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    let mut out = Vec::new();
    qp::quoprimime_header_encode(data, &mut out);
    PyBytes::new(py, &out)
}

/// `header_decode(s)` of ASCII bytes, as latin-1 bytes.
#[pyfunction]
#[pyo3(signature = (data, /))]
pub(crate) fn quoprimime_header_decode<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    let mut out = Vec::new();
    qp::quoprimime_header_decode(data, &mut out);
    PyBytes::new(py, &out)
}

/// Adds the functions to `_native`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(quoprimime_body_encode, m)?)?;
    m.add_function(wrap_pyfunction!(quoprimime_decode, m)?)?;
    m.add_function(wrap_pyfunction!(quoprimime_header_encode, m)?)?;
    m.add_function(wrap_pyfunction!(quoprimime_header_decode, m)?)?;
    Ok(())
}
