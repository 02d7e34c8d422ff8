//! The PyO3 extension module `mimeflow._native`, behind feature `python`.
//!
//! The functions here are the engine room of the Python package. The
//! stdlib's Base64 functions are native ([`base64_stdlib`]: one call into
//! the extension per common call); `encode` and `decode` here are the
//! primitives every Python-level Base64 function calls. Each one takes its input through
//! [`buffer`], writes its output straight into a new `bytes` object
//! ([`buffer::OutBytes`]), and runs the codec through [`run`], the one place
//! that detaches from the interpreter and converts codec errors
//! ([`errors`]).
//!
//! Decoding uses the crate's `Binascii` rules, which reproduce CPython's
//! `binascii.a2b_base64` (see `base64/decode.rs`); alternative characters
//! (`altchars`, the URL-safe alphabet) are translated to `+/` first, as the
//! stdlib does, so `+` and `/` keep decoding too.

mod arrow;
mod base64_stdlib;
mod binascii;
mod buffer;
mod compose;
mod dkim;
mod errors;
mod mbox;
mod message;
mod pieces;
mod quoprimime;

use pyo3::exceptions::PyValueError;
use pyo3::marker::Ungil;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::base64::{LineEnding, Rules, Wrap, PARALLEL_THRESHOLD, STANDARD, URL_SAFE};
use crate::error::DecodeError;
use crate::uninit::Out;
use errors::DecodeFailure;

/// Inputs at least this long run detached. Detaching and re-attaching costs
/// a few hundred nanoseconds, about what encoding 4 KiB takes.
const DETACH_THRESHOLD: usize = 4096;

/// Input bytes translated per step when decoding with `altchars`: small
/// enough to stay in L2 between the translation and the decoder.
const TRANSLATE_STEP: usize = 64 * 1024;

/// Runs `work`, the codec part of a call over `len` input bytes: detached
/// from the interpreter when `len` makes it worth it (other threads run
/// meanwhile, and the work may use rayon's threads), then checks for
/// Ctrl-C and converts the error.
fn run<T, E>(py: Python<'_>, len: usize, work: impl FnOnce() -> Result<T, E> + Ungil) -> PyResult<T>
where
    T: Send,
    E: Send + Into<PyErr>,
{
    if len < DETACH_THRESHOLD {
        return work().map_err(Into::into);
    }
    let result = py.detach(work);
    py.check_signals()?;
    result.map_err(Into::into)
}

/// `binascii.b2a_base64` with line wrapping: `wrapcol` characters per line
/// (0: one line), lines ended by `\n` or `\r\n`; `newline` ends the last
/// line too (without it, line endings only separate lines). Empty input
/// gives empty output either way.
#[pyfunction]
#[pyo3(signature = (data, /, wrapcol = 0, crlf = false, newline = false, urlsafe = false))]
fn encode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    wrapcol: usize,
    crlf: bool,
    newline: bool,
    urlsafe: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    encode_buffer(py, data, wrapcol, crlf, newline, urlsafe)
}

/// [`encode`]'s work, which `base64_stdlib` calls too.
#[allow(unsafe_code)]
fn encode_buffer<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    wrapcol: usize,
    crlf: bool,
    newline: bool,
    urlsafe: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::contiguous(data)?;
    let src = input.as_slice();
    let codec = if urlsafe { URL_SAFE } else { STANDARD };
    let wrap = Wrap::new(
        wrapcol,
        if crlf {
            LineEnding::Crlf
        } else {
            LineEnding::Lf
        },
    );
    let eol = wrap.line_ending.as_bytes();
    let body = codec.encoded_length_wrapped(src.len(), wrap);
    // With wrapping the codec ends every line, the last included; without
    // it, it writes no line ending at all.
    let (cap, keep) = match (wrapcol, newline) {
        (0, false) => (body, body),
        (0, true) if body > 0 => (body + eol.len(), body + eol.len()),
        (0, true) => (0, 0),
        (_, true) => (body, body),
        (_, false) => (body, body.saturating_sub(eol.len())),
    };
    let mut out = buffer::OutBytes::new(py, cap)?;
    let (mut dst, fault) = out.spare_whole();
    run(py, src.len(), || {
        fault.run();
        let n = codec.par_encode_wrapped_into(src, wrap, dst.reborrow());
        if wrapcol == 0 && newline && n > 0 {
            dst.copy_from(n, eol);
        }
        Ok::<_, PyErr>(())
    })?;
    // SAFETY: the encoder wrote all `body` bytes it reported (its contract)
    // and the line ending after them where `keep` counts it; `keep` is at
    // most that.
    unsafe { out.finish(py, keep) }
}

/// `binascii.a2b_base64(data, strict_mode=strict)` after the stdlib's
/// `altchars` translation; `data` as `base64.b64decode` takes it.
#[pyfunction]
#[pyo3(signature = (data, /, strict = false, altchars = None))]
fn decode<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    strict: bool,
    altchars: Option<&Bound<'py, PyBytes>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let pair = match altchars.map(|a| a.as_bytes()) {
        None | Some(b"+/") => None,
        Some(&[a, b]) => Some([a, b]),
        Some(_) => return Err(PyValueError::new_err("altchars must be 2 bytes")),
    };
    decode_buffer(py, data, strict, pair)
}

/// [`decode`]'s work, which `base64_stdlib` calls too.
#[allow(unsafe_code)]
fn decode_buffer<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    strict: bool,
    pair: Option<[u8; 2]>,
) -> PyResult<Bound<'py, PyBytes>> {
    let input = buffer::decodable(data)?;
    let src = input.as_slice();
    let rules = Rules::Binascii {
        strict,
        require_padding: true,
        excess_padding: true,
    };
    let mut out = buffer::OutBytes::new(py, STANDARD.estimated_decoded_length(src.len()))?;
    let (dst, fault) = out.spare_whole();
    let n = run(py, src.len(), || {
        fault.run();
        let result = match pair {
            None => STANDARD.par_decode_into(rules, src, dst),
            Some(pair) => decode_translated(rules, src, pair, dst),
        };
        result.map_err(|e| failure(e, src, pair))
    })?;
    // SAFETY: the decoder wrote the `n` bytes it reports (its contract).
    unsafe { out.finish(py, n) }
}

/// The default backend's name, as the CLI and `MIMEFLOW_SIMD` spell it
/// (`avx512vbmi`, `avx2`, `base64-simd`, `scalar`).
#[pyfunction]
fn backend() -> &'static str {
    STANDARD.backend().name()
}

/// `binascii.a2b_base64(src.translate(maketrans(pair, b'+/')))`, translating
/// a step at a time into a scratch buffer the decoder reads while it is hot.
fn decode_translated(
    rules: Rules,
    src: &[u8],
    pair: [u8; 2],
    mut dst: Out<'_>,
) -> Result<usize, DecodeError> {
    let mut state = STANDARD.decode_state(rules);
    let mut scratch = vec![0u8; TRANSLATE_STEP.min(src.len())];
    let mut w = 0;
    for chunk in src.chunks(TRANSLATE_STEP) {
        let t = &mut scratch[..chunk.len()];
        for (d, &c) in t.iter_mut().zip(chunk) {
            *d = translate(c, pair);
        }
        w += state.feed(t, dst.tail(w))?;
    }
    Ok(w + state.finish(dst.tail(w))?)
}

/// `bytes.maketrans(pair, b'+/')`: the second character wins a tie.
#[inline(always)]
fn translate(c: u8, [a, b]: [u8; 2]) -> u8 {
    if c == b {
        b'/'
    } else if c == a {
        b'+'
    } else {
        c
    }
}

/// The Python-facing error for `e`, with the count of data characters that
/// binascii's "1 more than a multiple of 4" message quotes.
#[cold]
fn failure(e: DecodeError, src: &[u8], pair: Option<[u8; 2]>) -> DecodeFailure {
    let mut f = DecodeFailure::from(e);
    if e.kind() == crate::error::DecodeErrorKind::InvalidLength {
        let is_data = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
        let n = match pair {
            None => src.iter().filter(|&&c| is_data(c)).count(),
            Some(p) => src.iter().filter(|&&c| is_data(translate(c, p))).count(),
        };
        f.data_chars = Some(n as u64);
    }
    f
}

/// `mimeflow._native`. Holds no interpreter state of its own and never
/// touches Python objects while detached, so it is safe without the GIL.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    base64_stdlib::register(m)?;
    m.add_function(wrap_pyfunction!(backend, m)?)?;
    binascii::register(m)?;
    quoprimime::register(m)?;
    m.add_function(wrap_pyfunction!(message::parse, m)?)?;
    m.add_class::<message::Message>()?;
    m.add_class::<message::Part>()?;
    m.add_function(wrap_pyfunction!(mbox::open, m)?)?;
    m.add_function(wrap_pyfunction!(mbox::plan_splits, m)?)?;
    m.add_function(wrap_pyfunction!(mbox::process_range, m)?)?;
    m.add_class::<mbox::MboxReader>()?;
    m.add_class::<mbox::EntryInfo>()?;
    m.add_function(wrap_pyfunction!(arrow::schema, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::read_arrow, m)?)?;
    m.add_function(wrap_pyfunction!(arrow::range_table, m)?)?;
    m.add_class::<arrow::Schema>()?;
    m.add_class::<arrow::ArrowStream>()?;
    m.add_function(wrap_pyfunction!(pieces::sniff, m)?)?;
    m.add_function(wrap_pyfunction!(pieces::find_cut, m)?)?;
    m.add_function(wrap_pyfunction!(pieces::piece_table, m)?)?;
    m.add_function(wrap_pyfunction!(pieces::files_table, m)?)?;
    m.add_function(wrap_pyfunction!(pieces::thread_table, m)?)?;
    m.add("SNIFF_BYTES", crate::mbox::SNIFF_SAMPLE)?;
    m.add("CUT_LOOKBEHIND", crate::mbox::CUT_LOOKBEHIND)?;
    m.add_function(wrap_pyfunction!(compose::convert, m)?)?;
    m.add_function(wrap_pyfunction!(compose::normalize, m)?)?;
    m.add_class::<compose::MessageBuilder>()?;
    m.add_function(wrap_pyfunction!(dkim::dkim_verify, m)?)?;
    m.add_function(wrap_pyfunction!(dkim::dkim_sign, m)?)?;
    m.add_function(wrap_pyfunction!(dkim::dkim_key_record, m)?)?;
    m.add_class::<dkim::DkimResult>()?;
    m.add_class::<dkim::DkimKeys>()?;
    m.add("DETACH_THRESHOLD", DETACH_THRESHOLD)?;
    m.add("PARALLEL_THRESHOLD", PARALLEL_THRESHOLD)?;
    Ok(())
}
