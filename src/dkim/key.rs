//! Keys: the public key record published at `selector._domainkey.domain`
//! (RFC 6376 §3.6.1), and the private keys the signer reads.
//!
//! `p=` is, for RSA, usually a DER SubjectPublicKeyInfo and sometimes a bare
//! PKCS#1 RSAPublicKey; we verify with the latter, so [`spki_inner`] unwraps
//! the former (a three-element DER walk, which is all SPKI is). For Ed25519
//! (RFC 8463) `p=` is the raw 32-byte key; an SPKI-wrapped one is taken
//! too. An empty `p=` is a revoked key.
//!
//! Private keys: PEM, PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE
//! KEY`, RSA or Ed25519), or dkimpy's raw base64 Ed25519 seed (32 bytes).
//! Every operation is aws-lc-rs's.

use aws_lc_rs::signature::{self, KeyPair};

use super::tags::{strip_fws, TagList};
use crate::base64::{DecodeMode, STANDARD};

/// The key types of `k=` and of the signature's `a=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// `rsa`.
    Rsa,
    /// `ed25519` (RFC 8463).
    Ed25519,
}

impl KeyType {
    /// `rsa` / `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// A parsed key record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// `k=` (default `rsa`).
    pub key_type: KeyType,
    /// What is verified with: a PKCS#1 RSAPublicKey, or the raw Ed25519
    /// key. Empty: revoked (`p=` empty).
    pub der: Vec<u8>,
    /// `h=`: acceptable hashes (`None`: all).
    pub hashes: Option<Vec<String>>,
    /// `t=s`: the `i=` domain must equal `d=` exactly.
    pub strict: bool,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
}

impl PublicKey {
    /// Whether `p=` was empty.
    pub fn is_revoked(&self) -> bool {
        self.der.is_empty()
    }

    /// The RSA modulus size in bits (0 for other keys).
    pub fn rsa_bits(&self) -> usize {
        if self.key_type != KeyType::Rsa {
            return 0;
        }
        let Some((seq, _)) = der_read(&self.der, 0x30) else {
            return 0;
        };
        match der_read(seq, 0x02) {
            Some((n, _)) => {
                let n = n.strip_prefix(&[0]).unwrap_or(n);
                match n.first() {
                    Some(b) => n.len() * 8 - b.leading_zeros() as usize,
                    None => 0,
                }
            }
            None => 0,
        }
    }
}

/// Parses a key record (the TXT value, multi-strings already joined), or
/// says why it is not one.
pub fn parse_key_record(txt: &[u8]) -> Result<PublicKey, String> {
    let tags = TagList::parse(txt).map_err(|e| format!("key record: {e}"))?;
    if let Some(v) = tags.get("v") {
        if v != b"DKIM1" {
            return Err(format!("key record: v={}", String::from_utf8_lossy(v)));
        }
    }
    let key_type = match tags.get("k").unwrap_or(b"rsa") {
        b"rsa" => KeyType::Rsa,
        b"ed25519" => KeyType::Ed25519,
        other => {
            return Err(format!(
                "unsupported key type k={}",
                String::from_utf8_lossy(&other[..other.len().min(40)])
            ))
        }
    };
    let p = tags.get("p").ok_or("key record without p=")?;
    let p = strip_fws(p);
    let hashes = tags.get("h").map(|h| {
        strip_fws(h)
            .split(|&b| b == b':')
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    });
    let flags: Vec<Vec<u8>> = tags
        .get("t")
        .map(|t| {
            strip_fws(t)
                .split(|&b| b == b':')
                .map(<[u8]>::to_vec)
                .collect()
        })
        .unwrap_or_default();
    if let Some(s) = tags.get("s") {
        let s = strip_fws(s);
        if !s.split(|&b| b == b':').any(|x| x == b"*" || x == b"email") {
            return Err("key record not for email (s=)".into());
        }
    }
    let mut key = PublicKey {
        key_type,
        der: Vec::new(),
        hashes,
        strict: flags.iter().any(|f| f == b"s"),
        testing: flags.iter().any(|f| f == b"y"),
    };
    if p.is_empty() {
        return Ok(key);
    }
    let raw = STANDARD
        .decode_to_vec(&p, DecodeMode::Strict)
        .map_err(|e| format!("key p= is not base64 ({e})"))?;
    key.der = match key_type {
        KeyType::Rsa => match spki_inner(&raw) {
            Some(inner) => inner.to_vec(),
            None if der_read(&raw, 0x30).is_some() => raw,
            None => return Err("key p= is not an RSA key".into()),
        },
        KeyType::Ed25519 => match raw.len() {
            32 => raw,
            _ => match spki_inner(&raw) {
                Some(inner) if inner.len() == 32 => inner.to_vec(),
                _ => return Err(format!("ed25519 key of {} bytes", raw.len())),
            },
        },
    };
    Ok(key)
}

/// Reads one DER element of tag `tag` at the start of `src`: (contents,
/// rest). `None` when it is not there or its length is bad.
fn der_read(src: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *src.first()? != tag {
        return None;
    }
    let first = *src.get(1)?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 3 {
            return None;
        }
        let mut len = 0usize;
        for &b in src.get(2..2 + n)? {
            len = (len << 8) | b as usize;
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    Some((src.get(head..end)?, &src[end..]))
}

/// The key inside a SubjectPublicKeyInfo: `SEQUENCE { SEQUENCE { algorithm
/// ... }, BIT STRING { 0 unused bits, key } }`.
fn spki_inner(der: &[u8]) -> Option<&[u8]> {
    let (spki, rest) = der_read(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (_alg, rest) = der_read(spki, 0x30)?;
    let (bits, rest) = der_read(rest, 0x03)?;
    if !rest.is_empty() {
        return None;
    }
    bits.strip_prefix(&[0])
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

fn der_wrap(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    der_len(content.len(), &mut out);
    out.extend_from_slice(content);
    out
}

/// The `p=` value to publish for an RSA PKCS#1 public key: its
/// SubjectPublicKeyInfo (rsaEncryption, NULL parameters), base64.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1, NULL }
    const ALG: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0];
    bits.extend_from_slice(pkcs1);
    let mut inner = ALG.to_vec();
    inner.extend(der_wrap(0x03, &bits));
    der_wrap(0x30, &inner)
}

/// Why aws-lc-rs refused an RSA private key, in the signer's terms.
fn rsa_rejected(e: aws_lc_rs::error::KeyRejected) -> String {
    match e.to_string().as_str() {
        "TooSmall" | "TooLarge" => "RSA keys for signing must be 2048 to 4096 bits".into(),
        other => format!("bad RSA key: {other}"),
    }
}

/// A private key to sign with.
pub struct SigningKey {
    inner: Inner,
}

enum Inner {
    Rsa(signature::RsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_type().name())
    }
}

impl SigningKey {
    /// Reads a PEM key (PKCS#1 RSA, PKCS#8 RSA or Ed25519) or a raw base64
    /// Ed25519 seed. RSA keys must be 2048 to 4096 bits.
    pub fn from_pem(text: &[u8]) -> Result<SigningKey, String> {
        let text = text.trim_ascii();
        let label_of = |line: &[u8]| {
            line.strip_prefix(b"-----BEGIN ")
                .and_then(|l| l.strip_suffix(b"-----"))
                .map(<[u8]>::to_vec)
        };
        let mut lines = text.split(|&b| b == b'\n').map(|l| l.trim_ascii());
        let Some(label) = lines.clone().next().and_then(label_of) else {
            // dkimpy's Ed25519 private key: the base64 of the 32-byte seed.
            let seed = STANDARD
                .decode_to_vec(text, DecodeMode::Mime)
                .map_err(|_| "key is neither PEM nor a base64 Ed25519 seed")?;
            if seed.len() != 32 {
                return Err(format!(
                    "a raw key must be a 32-byte Ed25519 seed, not {} bytes",
                    seed.len()
                ));
            }
            let pair = signature::Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|e| format!("bad Ed25519 seed: {e}"))?;
            return Ok(SigningKey {
                inner: Inner::Ed25519(pair),
            });
        };
        lines.next();
        let mut b64 = Vec::new();
        for line in lines.by_ref() {
            if line.starts_with(b"-----END ") {
                break;
            }
            if line.contains(&b':') {
                return Err("encrypted PEM keys are not supported".into());
            }
            b64.extend_from_slice(line);
        }
        let der = STANDARD
            .decode_to_vec(&b64, DecodeMode::Mime)
            .map_err(|e| format!("PEM body is not base64 ({e})"))?;
        let inner = match &label[..] {
            b"RSA PRIVATE KEY" => {
                Inner::Rsa(signature::RsaKeyPair::from_der(&der).map_err(rsa_rejected)?)
            }
            b"PRIVATE KEY" => match signature::RsaKeyPair::from_pkcs8(&der) {
                Ok(k) => Inner::Rsa(k),
                Err(rsa_err) => match signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                    Ok(k) => Inner::Ed25519(k),
                    Err(_) => return Err(rsa_rejected(rsa_err)),
                },
            },
            other => {
                return Err(format!(
                    "unsupported PEM block {:?}",
                    String::from_utf8_lossy(other)
                ))
            }
        };
        if let Inner::Rsa(k) = &inner {
            let bits = k.public_modulus_len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(format!(
                    "RSA keys for signing must be 2048 to 4096 bits, not {bits}"
                ));
            }
        }
        Ok(SigningKey { inner })
    }

    /// Wraps an Ed25519 key pair made elsewhere (tests, key generation).
    pub fn ed25519_from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, String> {
        signature::Ed25519KeyPair::from_pkcs8(pkcs8)
            .map(|k| SigningKey {
                inner: Inner::Ed25519(k),
            })
            .map_err(|e| format!("bad Ed25519 key: {e}"))
    }

    /// `rsa` or `ed25519`.
    pub fn key_type(&self) -> KeyType {
        match self.inner {
            Inner::Rsa(_) => KeyType::Rsa,
            Inner::Ed25519(_) => KeyType::Ed25519,
        }
    }

    /// The key record to publish: `v=DKIM1; k=...; p=...`.
    pub fn key_record(&self) -> String {
        let (k, p) = match &self.inner {
            Inner::Rsa(r) => ("rsa", rsa_spki(r.public_key().as_ref())),
            Inner::Ed25519(e) => ("ed25519", e.public_key().as_ref().to_vec()),
        };
        let p = String::from_utf8(STANDARD.encode_to_vec(&p)).expect("base64 is ASCII");
        format!("v=DKIM1; k={k}; p={p}")
    }

    /// Signs the canonical header bytes `data` (RSA) or their SHA-256
    /// (Ed25519, RFC 8463 §3: the hash is what is signed).
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        match &self.inner {
            Inner::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            Inner::Ed25519(k) => {
                let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
                Ok(k.sign(digest.as_ref()).as_ref().to_vec())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8463 appendix A.2.
    const RFC8463_ED_RECORD: &[u8] =
        b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    #[test]
    fn parses_records() {
        let k = parse_key_record(RFC8463_ED_RECORD).unwrap();
        assert_eq!((k.key_type, k.der.len()), (KeyType::Ed25519, 32));
        let revoked = parse_key_record(b"v=DKIM1; p=").unwrap();
        assert!(revoked.is_revoked());
        for bad in [
            &b"v=DKIM1; k=rsa; p=!!!"[..],
            b"v=DKIM2; p=",
            b"k=dsa; p=",
            b"v=DKIM1",
            b"p=AAAA",
            b"k=ed25519; p=AAAA",
            b"v=DKIM1; s=tlsrpt; p=",
            b"garbage",
        ] {
            assert!(
                parse_key_record(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn rsa_bits_of_odd_keys() {
        let key = |der: &[u8]| PublicKey {
            key_type: KeyType::Rsa,
            der: der.to_vec(),
            hashes: None,
            strict: false,
            testing: false,
        };
        assert_eq!(key(&[0x30, 0x02, 0x02, 0x00]).rsa_bits(), 0);
        assert_eq!(key(&[0x30, 0x03, 0x02, 0x01, 0x00]).rsa_bits(), 0);
        assert_eq!(key(&[0x30, 0x04, 0x02, 0x02, 0x00, 0x81]).rsa_bits(), 8);
        assert_eq!(key(&[0x30]).rsa_bits(), 0);
    }

    #[test]
    fn der_reader_refuses_bad_lengths() {
        assert!(der_read(&[0x30, 0x85, 1, 1, 1, 1, 1], 0x30).is_none());
        assert!(der_read(&[0x30, 0x05, 1], 0x30).is_none());
        assert!(der_read(&[], 0x30).is_none());
        assert!(spki_inner(&[0x30, 0x00]).is_none());
    }
}
