//! The DKIM-Signature field (RFC 6376 §3.5): its tags read and checked,
//! or the reason it cannot be used (a permerror).

use super::canon::Canon;
use super::key::KeyType;
use super::tags::{strip_fws, TagList};
use crate::base64::{DecodeMode, STANDARD};

/// Longest `h=` accepted (bytes, FWS removed): a real list is a few hundred
/// bytes; a 100 KB one is an attack on the verifier's time.
const MAX_H_BYTES: usize = 4096;

/// The hash of `a=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hash {
    /// sha256.
    Sha256,
    /// sha1 (historic; `policy` unless allowed).
    Sha1,
}

/// A usable signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// `a=`'s key type.
    pub key_type: KeyType,
    /// `a=`'s hash.
    pub hash: Hash,
    /// `b=`, decoded.
    pub b: Vec<u8>,
    /// `bh=`, decoded.
    pub bh: Vec<u8>,
    /// `c=` header half.
    pub header_canon: Canon,
    /// `c=` body half.
    pub body_canon: Canon,
    /// `d=`, lower case.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `h=`, FWS removed and lower case: names joined by `:`, in order,
    /// repeats kept, none empty ([`Signature::header_names`]). One string,
    /// where a vector of names cost an allocation per name on every
    /// message.
    pub headers: String,
    /// `i=`, the agent or user identifier.
    pub identity: Option<String>,
    /// `l=`, body length hashed.
    pub length: Option<u64>,
    /// `t=`, signing time.
    pub timestamp: Option<i64>,
    /// `x=`, expiry.
    pub expiration: Option<i64>,
}

impl Signature {
    /// The names of `h=`, in order.
    pub fn header_names(&self) -> std::str::Split<'_, char> {
        self.headers.split(':')
    }

    /// [`Signature::header_names`] as bytes, split a byte at a time: the
    /// verifier's two passes over them (the fields to hash, the count of
    /// From) cost 1,400 instructions a verification with `str::split`,
    /// which searches with a call per name.
    pub(crate) fn header_name_bytes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.headers.as_bytes().split(|&b| b == b':')
    }
}

/// What can be read of a signature even when it is unusable, for the
/// report: `d=`, `s=`, `a=` as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ids {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `a=`.
    pub algorithm: String,
}

fn text(v: &[u8]) -> String {
    super::tags::shown(v)
}

fn number(tags: &TagList<'_>, name: &str) -> Result<Option<u64>, String> {
    let Some(v) = tags.get(name) else {
        return Ok(None);
    };
    // At most 76 bits allowed by the RFC; 18 digits fit u64 comfortably.
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(format!("{name}= is not a number"));
    }
    Ok(Some(
        std::str::from_utf8(v)
            .expect("digits")
            .parse()
            .expect("18 digits fit"),
    ))
}

fn base64_tag(tags: &TagList<'_>, name: &str) -> Result<Vec<u8>, String> {
    let v = tags.get(name).ok_or_else(|| format!("missing {name}="))?;
    let v = strip_fws(v);
    let out = STANDARD
        .decode_to_vec(&v, DecodeMode::Strict)
        .map_err(|e| format!("{name}= is not base64 ({e})"))?;
    if out.is_empty() {
        return Err(format!("{name}= is empty"));
    }
    Ok(out)
}

/// Reads the value of a DKIM-Signature field. The `Ids` are filled in as
/// far as the tags could be read, whether or not it succeeds.
pub fn parse_signature(value: &[u8]) -> (Ids, Result<Signature, String>) {
    let tags = match TagList::parse(value) {
        Ok(t) => t,
        Err(e) => {
            return (
                Ids::default(),
                Err(format!("signature does not parse: {e}")),
            )
        }
    };
    let ids = Ids {
        domain: tags.get("d").map(text).unwrap_or_default(),
        selector: tags.get("s").map(text).unwrap_or_default(),
        algorithm: tags.get("a").map(text).unwrap_or_default(),
    };
    let sig = parse_tags(&tags, &ids);
    (ids, sig)
}

fn parse_tags(tags: &TagList<'_>, ids: &Ids) -> Result<Signature, String> {
    match tags.get("v") {
        Some(b"1") => {}
        Some(v) => return Err(format!("unsupported version v={}", text(v))),
        None => return Err("missing v=".into()),
    }
    let a = tags.get("a").ok_or("missing a=")?;
    let (key_type, hash) = match a {
        b"rsa-sha256" => (KeyType::Rsa, Hash::Sha256),
        b"rsa-sha1" => (KeyType::Rsa, Hash::Sha1),
        b"ed25519-sha256" => (KeyType::Ed25519, Hash::Sha256),
        other => return Err(format!("unsupported algorithm a={}", text(other))),
    };
    let b = base64_tag(tags, "b")?;
    let bh = base64_tag(tags, "bh")?;
    let want = match hash {
        Hash::Sha256 => 32,
        Hash::Sha1 => 20,
    };
    if bh.len() != want {
        return Err(format!("bh= is {} bytes, not {want}", bh.len()));
    }
    let (header_canon, body_canon) = match tags.get("c") {
        None => (Canon::Simple, Canon::Simple),
        Some(c) => {
            let mut halves = c.splitn(2, |&b| b == b'/');
            let h = halves.next().unwrap_or(b"");
            let bd = halves.next().unwrap_or(b"simple");
            match (Canon::from_name(h), Canon::from_name(bd)) {
                (Some(h), Some(bd)) => (h, bd),
                _ => return Err(format!("unsupported canonicalization c={}", text(c))),
            }
        }
    };
    let domain = tags.get("d").ok_or("missing d=")?;
    if domain.is_empty() || !domain.iter().all(|&b| b.is_ascii_graphic()) {
        return Err("bad d=".into());
    }
    // `ids` holds `text` of d= and s= already.
    let mut domain = ids.domain.clone();
    domain.make_ascii_lowercase();
    let selector = tags.get("s").ok_or("missing s=")?;
    if selector.is_empty() || !selector.iter().all(|&b| b.is_ascii_graphic()) {
        return Err("bad s=".into());
    }
    let selector = ids.selector.clone();
    let h = strip_fws(tags.get("h").ok_or("missing h=")?);
    if h.len() > MAX_H_BYTES {
        return Err(format!("h= of {} bytes (limit {MAX_H_BYTES})", h.len()));
    }
    // Not `text`: it shortens what it quotes to 255 bytes, and h= may be
    // longer.
    let mut headers = super::tags::utf8_or_lossy(&h);
    headers.make_ascii_lowercase();
    let (mut empty, mut from) = (false, false);
    for n in headers.split(':') {
        empty |= n.is_empty();
        from |= n == "from";
    }
    if empty {
        return Err("empty name in h=".into());
    }
    if !from {
        return Err("header not signed: From is not in h=".into());
    }
    if let Some(q) = tags.get("q") {
        if !strip_fws(q).split(|&b| b == b':').any(|m| m == b"dns/txt") {
            return Err(format!("unsupported query method q={}", text(q)));
        }
    }
    let identity = tags.get("i").map(text);
    if let Some(i) = &identity {
        // §3.5: the domain of i= must be d= or a subdomain of it.
        let idom = i
            .rsplit_once('@')
            .map_or("", |(_, d)| d)
            .to_ascii_lowercase();
        if !(idom == domain || idom.ends_with(&format!(".{domain}"))) {
            return Err(format!("i= domain {idom} is not within d={domain}"));
        }
    }
    let length = number(tags, "l")?;
    let timestamp = number(tags, "t")?.map(|t| t.min(i64::MAX as u64) as i64);
    let expiration = number(tags, "x")?.map(|t| t.min(i64::MAX as u64) as i64);
    if let (Some(t), Some(x)) = (timestamp, expiration) {
        if x < t {
            return Err("x= is before t=".into());
        }
    }
    Ok(Signature {
        key_type,
        hash,
        b,
        bh,
        header_canon,
        body_canon,
        domain,
        selector,
        headers,
        identity,
        length,
        timestamp,
        expiration,
    })
}
