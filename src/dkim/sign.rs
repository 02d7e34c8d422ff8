//! Signing (RFC 6376 §5): relaxed/relaxed, rsa-sha256 or ed25519-sha256,
//! the new DKIM-Signature field put on top of the message.
//!
//! The header hash is computed by the verifier's own code
//! ([`super::verify`]) over the message with the new field in place and
//! `b=` empty, so signer and verifier cannot disagree on what is signed.

use aws_lc_rs::digest;

use super::canon::{BodyStream, Canon};
use super::key::{KeyType, SigningKey};
use super::signature::{Hash, Signature};
use super::verify::{body_hash, first_field_header_data};
use crate::base64::STANDARD;
use crate::header::{parse_block, split_header};

/// The fields signed when present (From always, present or not).
pub const DEFAULT_HEADERS: &[&str] = &[
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "reply-to",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

/// What to sign with.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `t=` (seconds since the epoch), if any.
    pub timestamp: Option<i64>,
    /// `x=`, if any.
    pub expiration: Option<i64>,
    /// Fields to sign when present; `None`: [`DEFAULT_HEADERS`].
    pub headers: Option<Vec<String>>,
    /// Write `l=` (the canonical body length): later text appended to the
    /// body then still verifies, which is what `l=` is for and why it is
    /// off by default.
    pub body_length: bool,
}

fn check_token(what: &str, v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(format!("bad {what} {v:?}"))
    }
}

/// Signs `msg` (CRLF or LF line ends; the new field uses the message's
/// own) and returns the signed message: the DKIM-Signature field followed
/// by `msg` unchanged.
pub fn sign_message(msg: &[u8], key: &SigningKey, opts: &SignOptions) -> Result<Vec<u8>, String> {
    let split = split_header(msg);
    let (bh, body_len) = body_hash(
        &digest::SHA256,
        Canon::Relaxed,
        &msg[split.body_start..],
        None,
    )?;
    let mut out = signature_field(&msg[..split.header_len], bh.as_ref(), body_len, key, opts)?;
    out.extend_from_slice(msg);
    Ok(out)
}

/// Hashes a message as it is written (the header block kept, the body
/// canonicalized and hashed a piece at a time), for signers that write a
/// message twice rather than hold it: [`BodyHasher::signature_field`]
/// then gives the field to write before the second pass.
pub struct BodyHasher {
    header: Vec<u8>,
    in_body: bool,
    stream: Option<BodyStream>,
    ctx: digest::Context,
    len: u64,
}

impl Default for BodyHasher {
    fn default() -> Self {
        BodyHasher {
            header: Vec::new(),
            in_body: false,
            stream: Some(BodyStream::new(Canon::Relaxed)),
            ctx: digest::Context::new(&digest::SHA256),
            len: 0,
        }
    }
}

impl BodyHasher {
    fn feed(&mut self, body: &[u8]) {
        let (ctx, len) = (&mut self.ctx, &mut self.len);
        if let Some(st) = self.stream.as_mut() {
            st.update(body, |p| {
                ctx.update(p);
                *len += p.len() as u64;
            });
        }
    }

    /// The DKIM-Signature field (with its line end) for what was written.
    pub fn signature_field(
        mut self,
        key: &SigningKey,
        opts: &SignOptions,
    ) -> Result<Vec<u8>, String> {
        if !self.in_body {
            // No body: the header block may still end without its blank line.
            self.in_body = true;
        }
        let (ctx, len) = (&mut self.ctx, &mut self.len);
        if let Some(st) = self.stream.take() {
            st.finish(|p| {
                ctx.update(p);
                *len += p.len() as u64;
            });
        }
        let bh = self.ctx.finish();
        let header_len = split_header(&self.header).header_len;
        signature_field(&self.header[..header_len], bh.as_ref(), self.len, key, opts)
    }
}

impl std::io::Write for BodyHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.in_body {
            self.feed(buf);
            return Ok(buf.len());
        }
        let before = self.header.len();
        self.header.extend_from_slice(buf);
        let split = split_header(&self.header);
        if !split.missing_separator {
            self.in_body = true;
            let body = self.header.split_off(split.body_start);
            self.feed(&body);
        } else if before > 0 && self.header.len() > (64 << 20) {
            return Err(std::io::Error::other("a header block over 64 MiB"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The DKIM-Signature field for a message of header block `header` (each
/// field with its line end) whose relaxed body hash is `bh`, over
/// `body_len` canonical bytes.
fn signature_field(
    header: &[u8],
    bh: &[u8],
    body_len: u64,
    key: &SigningKey,
    opts: &SignOptions,
) -> Result<Vec<u8>, String> {
    check_token("domain", &opts.domain)?;
    check_token("selector", &opts.selector)?;
    let fields = parse_block(header, 0, 10_000, &mut Vec::new());
    let wanted: Vec<String> = match &opts.headers {
        Some(h) => h.iter().map(|s| s.to_ascii_lowercase()).collect(),
        None => DEFAULT_HEADERS.iter().map(|s| s.to_string()).collect(),
    };
    // RFC 6376 §5.4: From must be signed; a message without one (or whose
    // From line is not a field, as with a byte-order mark before it) has
    // no author for a signature to vouch for.
    if !fields
        .iter()
        .any(|f| header[f.name.clone()].eq_ignore_ascii_case(b"from"))
    {
        return Err("the message has no From field, which DKIM must sign (RFC 6376 §5.4)".into());
    }
    let mut h: Vec<String> = Vec::new();
    for name in &wanted {
        check_token("header name", name)?;
        // One entry per instance present, so every instance is signed;
        // From once more (over-signing, RFC 6376 §8.15): the extra entry
        // covers the absence of another From, so a From field added later
        // breaks the signature instead of riding on it.
        let n = fields
            .iter()
            .filter(|f| header[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .count();
        let n = if name == "from" { n + 1 } else { n };
        h.extend(std::iter::repeat_n(name.clone(), n));
    }
    if !h.iter().any(|n| n == "from") {
        h.insert(0, "from".into());
    }
    let eol: &[u8] = if memchr::memmem::find(header, b"\r\n").is_some() || header.is_empty() {
        b"\r\n"
    } else {
        b"\n"
    };
    let eol_s = std::str::from_utf8(eol).expect("ASCII");
    let a = match key.key_type() {
        KeyType::Rsa => "rsa-sha256",
        KeyType::Ed25519 => "ed25519-sha256",
    };
    let mut value = format!(
        " v=1; a={a}; c=relaxed/relaxed; d={}; s={};{eol_s}\t",
        opts.domain, opts.selector
    );
    if let Some(t) = opts.timestamp {
        value += &format!("t={t}; ");
    }
    if let Some(x) = opts.expiration {
        value += &format!("x={x}; ");
    }
    if opts.body_length {
        value += &format!("l={body_len}; ");
    }
    // h= folded at about 70 columns.
    value += "h=";
    let mut col = 3;
    for (i, name) in h.iter().enumerate() {
        if i > 0 {
            value.push(':');
            col += 1;
            if col + name.len() > 70 {
                value += eol_s;
                value.push('\t');
                col = 1;
            }
        }
        value += name;
        col += name.len();
    }
    let bh64 = String::from_utf8(STANDARD.encode_to_vec(bh)).expect("ASCII");
    value += &format!(";{eol_s}\tbh={bh64};{eol_s}\tb=");
    let mut unsigned = format!("DKIM-Signature:{value}").into_bytes();
    unsigned.extend_from_slice(eol);
    let head_len = unsigned.len() - eol.len();
    unsigned.extend_from_slice(header);
    let sig = Signature {
        key_type: key.key_type(),
        hash: Hash::Sha256,
        b: Vec::new(),
        bh: bh.to_vec(),
        header_canon: Canon::Relaxed,
        body_canon: Canon::Relaxed,
        domain: opts.domain.clone(),
        selector: opts.selector.clone(),
        headers: h.join(":"),
        identity: None,
        length: opts.body_length.then_some(body_len),
        timestamp: opts.timestamp,
        expiration: opts.expiration,
    };
    let data = first_field_header_data(&unsigned, &sig);
    let b = STANDARD.encode_to_vec(&key.sign(&data)?);
    // b= folded in 72-column lines; FWS inside b= is not hashed.
    let mut out = Vec::with_capacity(head_len + b.len() + 16);
    out.extend_from_slice(&unsigned[..head_len]);
    for (i, chunk) in b.chunks(72).enumerate() {
        if i > 0 {
            out.extend_from_slice(eol);
            out.push(b'\t');
        }
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(eol);
    Ok(out)
}
