//! `mimeflow.binascii`: the stdlib's `binascii.a2b_base64`, `b2a_base64`,
//! `a2b_qp` and `b2a_qp`, registered as they are (no Python wrapper in
//! between). Quoted-printable runs `qp::binascii_*`, CPython's own rules.
//!
//! They follow the running interpreter, whose `binascii` changed between
//! versions: `strict_mode` exists from 3.11 (before, `a2b_base64` takes one
//! positional argument); in strict mode, `=` at a quantum boundary past the
//! first byte is "Excess padding" from 3.13 (before, it only started the
//! padding); and flags (`newline`, `strict_mode`) are integers before 3.12
//! (`TypeError` for anything else) and any object's truth value from 3.12.
//! Inputs are taken as `binascii` takes them ([`buffer::ascii_buffer`] and
//! [`buffer::contiguous`]), and decode errors are
//! [`DecodeError`](crate::error::DecodeError)s raised as
//! `mimeflow.DecodeError`, a `binascii.Error`, with binascii's messages word
//! for word.

use std::sync::OnceLock;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::{buffer, failure, run};
use crate::base64::{Rules, Wrap, STANDARD};
use crate::qp;

/// The running interpreter's minor version (3.x), read once.
pub(crate) fn minor(py: Python<'_>) -> u8 {
    static MINOR: OnceLock<u8> = OnceLock::new();
    *MINOR.get_or_init(|| py.version_info().minor)
}

/// Whether the running interpreter's `binascii` has `strict_mode` (3.11+).
pub(crate) fn has_strict_mode(py: Python<'_>) -> bool {
    minor(py) >= 11
}

/// A flag argument converted as the running interpreter's `binascii` does:
/// an `int` (through `__index__`) before 3.12, any object's truth value
/// from 3.12 (Argument Clinic's `bool` converter changed there). Its own
/// type, not `Option`, so that an explicit `None` is told from no argument.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flag(bool);

impl FromPyObject<'_, '_> for Flag {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Flag> {
        if minor(obj.py()) >= 12 {
            return obj.is_truthy().map(Flag);
        }
        Ok(Flag(obj.extract::<i32>()? != 0))
    }
}

/// `binascii.b2a_base64(data, *, newline=True)`: one line of Base64, ended
/// by `\n` unless `newline` is false (so empty input gives `b'\n'`).
#[pyfunction]
#[pyo3(
    signature = (data, /, *, newline = Flag(true)),
    text_signature = "(data, /, *, newline=True)"
)]
#[allow(unsafe_code)]
pub(crate) fn b2a_base64<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    newline: Flag,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::contiguous(data)?;
    let Flag(newline) = newline;
    let src = input.as_slice();
    let body = STANDARD.encoded_length(src.len());
    let len = body + newline as usize;
    let mut out = buffer::OutBytes::new(py, len)?;
    let (mut dst, fault) = out.spare_whole();
    run(py, src.len(), || {
        fault.run();
        let n = STANDARD.par_encode_wrapped_into(src, Wrap::NONE, dst.reborrow());
        debug_assert_eq!(n, body);
        if newline {
            dst.copy_from(body, b"\n");
        }
        Ok::<_, PyErr>(())
    })?;
    // SAFETY: the encoder wrote the `body` bytes of an unwrapped encoding
    // (its contract, and `encoded_length`'s), and the line feed after them
    // where `len` counts it.
    unsafe { out.finish(py, len) }
}

/// `binascii.a2b_base64(data, *, strict_mode=False)` of Python 3.11 and
/// newer.
#[pyfunction]
#[pyo3(
    name = "a2b_base64",
    signature = (data, /, *, strict_mode = Flag(false)),
    text_signature = "(data, /, *, strict_mode=False)"
)]
pub(crate) fn a2b_base64<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    strict_mode: Flag,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::ascii_buffer(data)?;
    decode(py, input.as_slice(), strict_mode.0)
}

/// `binascii.a2b_base64(data)` of Python 3.9 and 3.10 (no `strict_mode`).
#[pyfunction]
#[pyo3(name = "a2b_base64", signature = (data, /))]
pub(crate) fn a2b_base64_before_3_11<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::ascii_buffer(data)?;
    decode(py, input.as_slice(), false)
}

#[allow(unsafe_code)]
fn decode<'py>(py: Python<'py>, src: &[u8], strict: bool) -> PyResult<Bound<'py, PyBytes>> {
    let rules = Rules::Binascii {
        strict,
        require_padding: true,
        excess_padding: minor(py) >= 13,
    };
    let mut out = buffer::OutBytes::new(py, STANDARD.estimated_decoded_length(src.len()))?;
    let (dst, fault) = out.spare_whole();
    let n = run(py, src.len(), || {
        fault.run();
        STANDARD.par_decode_into(rules, src, dst).map_err(|e| {
            let mut f = failure(e, src, None);
            f.with_offset = false;
            f
        })
    })?;
    // SAFETY: the decoder wrote the `n` bytes it reports (its contract).
    unsafe { out.finish(py, n) }
}

/// `binascii.a2b_qp(data, header=False)`.
#[pyfunction]
#[pyo3(
    signature = (data, header = Flag(false)),
    text_signature = "(data, header=False)"
)]
pub(crate) fn a2b_qp<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    header: Flag,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::ascii_buffer(data)?;
    let src = input.as_slice();
    let out = run(py, src.len(), || {
        let mut out = Vec::new();
        qp::binascii_decode_append(src, header.0, &mut out);
        Ok::<_, PyErr>(out)
    })?;
    Ok(PyBytes::new(py, &out))
}

/// Inputs up to this size are encoded into a `Vec` and copied into the
/// `bytes` returned; larger ones go piece by piece into the `bytes` itself.
/// Measured (benches/python_dropins.py, Zen 4): at 64 KiB the piecewise
/// path's room for the longest output (4n) and its scratch cost page
/// faults that made it 2-3x slower than the copy; at 16 MiB the copy of
/// the output (and the faults of a second buffer) cost more.
const DIRECT: usize = 1 << 20;

/// `binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)`.
#[pyfunction]
#[allow(unsafe_code)]
#[pyo3(
    signature = (data, quotetabs = Flag(false), istext = Flag(true), header = Flag(false)),
    text_signature = "(data, quotetabs=False, istext=True, header=False)"
)]
pub(crate) fn b2a_qp<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    quotetabs: Flag,
    istext: Flag,
    header: Flag,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::contiguous(data)?;
    let src = input.as_slice();
    let opts = qp::BinasciiQp {
        quotetabs: quotetabs.0,
        istext: istext.0,
        header: header.0,
    };
    if src.len() <= DIRECT {
        let out = run(py, src.len(), || {
            let mut out = Vec::new();
            qp::binascii_encode_append(src, opts, &mut out);
            Ok::<_, PyErr>(out)
        })?;
        return Ok(PyBytes::new(py, &out));
    }
    // The pieces go straight into the `bytes` returned (made with room for
    // the longest output, trimmed at the end): no second copy of a large
    // output, whose page faults cost more than encoding it.
    let cap = qp::binascii_encoded_bound(src.len());
    let mut out = buffer::OutBytes::new(py, cap)?;
    let mut dst = out.spare();
    let len = run(py, src.len(), || {
        let mut len = 0;
        qp::binascii_encode_pieces(src, opts, |piece| {
            dst.copy_from(len, piece);
            len += piece.len();
        });
        Ok::<_, PyErr>(len)
    })?;
    // SAFETY: the pieces were written, in order, over the first `len` bytes
    // (`copy_from` panics rather than write past `cap`).
    unsafe { out.finish(py, len) }
}

/// Adds the functions to `_native`, `a2b_base64` in the running
/// interpreter's form.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(b2a_base64, m)?)?;
    m.add_function(wrap_pyfunction!(a2b_qp, m)?)?;
    m.add_function(wrap_pyfunction!(b2a_qp, m)?)?;
    if has_strict_mode(m.py()) {
        m.add_function(wrap_pyfunction!(a2b_base64, m)?)?;
    } else {
        m.add_function(wrap_pyfunction!(a2b_base64_before_3_11, m)?)?;
    }
    Ok(())
}
