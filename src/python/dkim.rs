//! `mimeflow.dkim`'s native half: verify and sign, thin over
//! [`crate::dkim`]. The message is taken as bytes (a parsed `Message`
//! hands over its source without a copy), keys as a mapping or a file;
//! the cryptography runs detached from the interpreter.

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDateTime, PyDict, PyFloat, PyInt, PyString};

use crate::dkim::{self as rs, KeyStore, SignOptions, SigningKey, VerifyOptions};

/// One signature's result.
#[pyclass(frozen, get_all, module = "mimeflow._native", name = "DkimResult")]
pub struct DkimResult {
    /// `d=`.
    domain: String,
    /// `s=`.
    selector: String,
    /// `a=`.
    algorithm: String,
    /// RFC 8601 result: pass, fail, neutral, policy, temperror, permerror.
    result: &'static str,
    /// Why (empty for pass).
    reason: String,
    /// Where the key came from, if one was found.
    key_source: Option<String>,
}

#[pymethods]
impl DkimResult {
    fn __repr__(&self) -> String {
        format!(
            "DkimResult(d={:?}, s={:?}, a={:?}, result={:?}, reason={:?})",
            self.domain, self.selector, self.algorithm, self.result, self.reason
        )
    }
}

/// Keys read once (`mimeflow.dkim.DkimKeys`): a mapping or a key file
/// turned into a store that every `verify` call then uses as it is, where
/// a mapping or a path given to `verify` is read again on each call.
#[pyclass(frozen, module = "mimeflow._native", name = "DkimKeys")]
pub struct DkimKeys {
    store: KeyStore,
}

#[pymethods]
impl DkimKeys {
    #[new]
    fn new(keys: &Bound<'_, PyAny>) -> PyResult<DkimKeys> {
        Ok(DkimKeys {
            store: keystore(Some(keys))?,
        })
    }

    fn __len__(&self) -> usize {
        self.store.len()
    }

    fn __repr__(&self) -> String {
        format!("DkimKeys({} names)", self.store.len())
    }
}

/// The message's bytes: `bytes` without a copy, a parsed `Message`'s
/// source without a copy, other buffers copied.
///
/// A `bytes` object is borrowed for the call (it is immutable, and the
/// caller's reference keeps it alive while the GIL is released), where a
/// `Bytes` owning a new reference to it cost an allocation, and its drop
/// without the GIL a trip through pyo3's pool of deferred decrefs (a mutex
/// on each side of the release): 0.1 us of a 20 us verification.
enum MessageBytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Bytes),
}

impl MessageBytes<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            MessageBytes::Borrowed(b) => b,
            MessageBytes::Owned(b) => b,
        }
    }
}

fn message_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<MessageBytes<'a>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(MessageBytes::Borrowed(b.as_bytes()));
    }
    if let Ok(m) = obj.cast::<super::message::Message>() {
        return Ok(MessageBytes::Owned(m.get().source()));
    }
    let input = super::buffer::contiguous(obj)?;
    Ok(MessageBytes::Owned(Bytes::copy_from_slice(
        input.as_slice(),
    )))
}

/// Keys from a `{name: record or None}` mapping, a zone / JSON file, or a
/// [`DkimKeys`] (its records shared).
pub(super) fn keystore(keys: Option<&Bound<'_, PyAny>>) -> PyResult<KeyStore> {
    let Some(keys) = keys else {
        return Ok(KeyStore::new("keys"));
    };
    if let Ok(k) = keys.cast::<DkimKeys>() {
        return Ok(k.get().store.copy_keys());
    }
    if let Ok(d) = keys.cast::<PyDict>() {
        let mut store = KeyStore::new("keys");
        for (k, v) in d.iter() {
            let name: String = k.extract()?;
            if v.is_none() {
                store.insert_absent(&name);
            } else if let Ok(s) = v.cast::<PyString>() {
                store.insert(&name, s.to_str()?.as_bytes());
            } else {
                store.insert(&name, super::buffer::contiguous(&v)?.as_slice());
            }
        }
        return Ok(store);
    }
    let path: std::path::PathBuf = keys.extract().map_err(|_| {
        PyTypeError::new_err("keys must be a mapping of names to records, or a path")
    })?;
    KeyStore::load(&path).map_err(PyValueError::new_err)
}

/// Verifies every DKIM-Signature of ``message`` (bytes-like, or a parsed
/// :class:`mimeflow.Message`), top to bottom.
///
/// ``keys`` maps ``selector._domainkey.domain`` to its TXT record (strings
/// joined), or to ``None`` for a name that does not exist; or it is the
/// path of a key file; or a :class:`DkimKeys` made from either. A mapping
/// or a path is read again on every call: to verify many messages, read
/// the keys once with ``DkimKeys(keys)``. A name no key source holds is
/// ``temperror``.
/// ``as_of`` (seconds since the epoch or an aware datetime) judges expiry
/// (``x=``) and signatures from the future (``t=``); ``None`` judges
/// neither. ``rsa-sha1`` is ``policy`` unless ``allow_sha1``.
///
/// ``dns_server`` (``"ADDR:PORT"``) looks up the keys that ``keys`` does
/// not hold: NXDOMAIN is ``permerror``, SERVFAIL or no answer within
/// ``dns_timeout`` seconds (twice) ``temperror``.
//
// `mimeflow.dkim.verify` is this function itself: an archive is verified
// a message per call, and a Python wrapper cost 1.5% of each.
#[pyfunction]
#[pyo3(signature = (message, keys = None, as_of = None, allow_sha1 = false, dns_server = None, dns_timeout = 2.0))]
pub fn dkim_verify(
    py: Python<'_>,
    message: &Bound<'_, PyAny>,
    keys: Option<&Bound<'_, PyAny>>,
    as_of: Option<&Bound<'_, PyAny>>,
    allow_sha1: bool,
    dns_server: Option<&str>,
    dns_timeout: f64,
) -> PyResult<Vec<DkimResult>> {
    let as_of = seconds(as_of, "as_of")?;
    let msg = message_bytes(message)?;
    let owned;
    let store = match keys.and_then(|k| k.cast::<DkimKeys>().ok()) {
        // Read once by the caller: used as it is.
        Some(k) if dns_server.is_none() => &k.get().store,
        _ => {
            let mut store = keystore(keys)?;
            if let Some(addr) = dns_server {
                add_dns(&mut store, addr, dns_timeout)?;
            }
            owned = store;
            &owned
        }
    };
    let opts = VerifyOptions { as_of, allow_sha1 };
    let msg = msg.as_slice();
    let results = py.detach(move || rs::verify_message(msg, store, &opts));
    py.check_signals()?;
    Ok(results
        .into_iter()
        .map(|r| DkimResult {
            domain: r.domain,
            selector: r.selector,
            algorithm: r.algorithm,
            result: r.result.name(),
            reason: r.reason,
            key_source: r.key_source,
        })
        .collect())
}

/// A time argument (`as_of`, `timestamp`, `expiration`; `what` names it in
/// errors) as whole seconds since the epoch: `None`, an int, a float
/// (truncated, as `int()` does) or an aware `datetime`; a naive datetime
/// is a `ValueError` (it names no instant), anything else a `TypeError`.
/// The one copy of this rule for verify and sign.
fn seconds(when: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<i64>> {
    let Some(when) = when.filter(|w| !w.is_none()) else {
        return Ok(None);
    };
    let py = when.py();
    let number = if when.is_instance_of::<PyDateTime>() {
        if when.getattr("tzinfo")?.is_none() {
            return Err(PyValueError::new_err(format!(
                "{what}: a naive datetime is ambiguous; give it a tzinfo"
            )));
        }
        when.call_method0("timestamp")?
    } else if !when.is_instance_of::<PyBool>()
        && (when.is_instance_of::<PyInt>() || when.is_instance_of::<PyFloat>())
    {
        when.clone()
    } else {
        let kind = when.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{what} must be None, a number or a datetime, not {kind}"
        )));
    };
    // int() for exactly Python's truncation and errors (NaN, infinity).
    let int = py.get_type::<PyInt>().call1((number,))?;
    Ok(Some(int.extract()?))
}

/// Live lookups at `addr` (`"ADDR:PORT"`) for the names `store` lacks.
pub(super) fn add_dns(store: &mut KeyStore, addr: &str, dns_timeout: f64) -> PyResult<()> {
    let addr: std::net::SocketAddr = addr
        .parse()
        .map_err(|_| PyValueError::new_err(format!("dns_server: {addr:?} is not ADDR:PORT")))?;
    if !(dns_timeout > 0.0 && dns_timeout < 3600.0) {
        return Err(PyValueError::new_err(
            "dns_timeout must be between 0 and 3600 seconds",
        ));
    }
    let timeout = std::time::Duration::from_secs_f64(dns_timeout);
    store.set_live(Box::new(crate::dkim::dns::Resolver::new(addr, timeout)));
    Ok(())
}

/// `convert(dkim=True, dkim_as_of=...)`: `"now"`, `"received"`, `"date"`
/// or seconds since the epoch, as `--as-of` reads them.
pub(super) fn as_of(v: &Bound<'_, PyAny>) -> PyResult<crate::dkim::AsOf> {
    if let Ok(s) = v.cast::<PyString>() {
        let s = s.to_str()?;
        return crate::dkim::AsOf::parse(s).ok_or_else(|| {
            PyValueError::new_err(format!(
                "dkim_as_of: {s:?}: expected \"now\", \"received\", \"date\" or a Unix time"
            ))
        });
    }
    Ok(crate::dkim::AsOf::At(v.extract::<i64>()?))
}

pub(super) fn signing_key(key: &Bound<'_, PyAny>) -> PyResult<SigningKey> {
    let text = if let Ok(s) = key.cast::<PyString>() {
        s.to_str()?.as_bytes().to_vec()
    } else {
        super::buffer::contiguous(key)?.as_slice().to_vec()
    };
    SigningKey::from_pem(&text).map_err(PyValueError::new_err)
}

/// Signs `message`; returns the DKIM-Signature field followed by it.
#[pyfunction]
#[pyo3(signature = (message, /, domain, selector, key, *, timestamp = None, expiration = None, headers = None, body_length = false))]
#[allow(clippy::too_many_arguments)]
pub fn dkim_sign<'py>(
    py: Python<'py>,
    message: &Bound<'py, PyAny>,
    domain: String,
    selector: String,
    key: &Bound<'py, PyAny>,
    timestamp: Option<&Bound<'py, PyAny>>,
    expiration: Option<&Bound<'py, PyAny>>,
    headers: Option<Vec<String>>,
    body_length: bool,
) -> PyResult<Bound<'py, PyBytes>> {
    let timestamp = seconds(timestamp, "timestamp")?;
    let expiration = seconds(expiration, "expiration")?;
    let msg = message_bytes(message)?;
    let key = signing_key(key)?;
    let opts = SignOptions {
        domain,
        selector,
        timestamp,
        expiration,
        headers,
        body_length,
    };
    let msg = msg.as_slice();
    let signed = py
        .detach(move || rs::sign_message(msg, &key, &opts))
        .map_err(PyValueError::new_err)?;
    Ok(PyBytes::new(py, &signed))
}

/// The key record to publish for a private key.
#[pyfunction]
pub fn dkim_key_record(key: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(signing_key(key)?.key_record())
}
