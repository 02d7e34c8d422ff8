//! DKIM: verifying message signatures (RFC 6376, Ed25519 from RFC 8463)
//! offline or as of a chosen time, and signing.
//!
//! * [`tags`]: the tag-list syntax shared by signatures and key records.
//! * [`canon`]: simple and relaxed canonicalization, always to the CRLF
//!   wire form, the body streamed without copies.
//! * [`signature`]: the DKIM-Signature field read and checked.
//! * [`key`]: key records (`p=` as SubjectPublicKeyInfo or raw) and
//!   private keys (PEM, dkimpy's raw Ed25519 seeds).
//! * [`keys`]: where keys come from: a zone-style file or the JSON key
//!   cache ([`KeyStore`]), with the keys a run used saved back.
//! * [`dns`]: live key lookups (one TXT query to a named server).
//! * [`verify`]: every signature of one message, with an RFC 8601 result
//!   and a reason.
//! * [`sign`]: relaxed/relaxed signing.
//! * [`archive`]: whole archives in parallel, with a summary.
//!
//! Bad input (a field that does not parse, base64 that does not decode, a
//! garbage key, a 100 KB `h=`, `l=` past the end) is a `permerror` with a
//! reason: never a panic, never a pass. The cryptography is aws-lc-rs's (AWS-LC).
//!
//! ```
//! use mimeflow::dkim::{self, KeyStore, SignOptions, SigningKey, Verdict, VerifyOptions};
//!
//! let pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
//! let key = SigningKey::ed25519_from_pkcs8(pkcs8.as_ref()).unwrap();
//! let opts = SignOptions { domain: "example.org".into(), selector: "s1".into(),
//!                          timestamp: None, expiration: None, headers: None,
//!                          body_length: false };
//! let signed = dkim::sign_message(b"From: a@example.org\n\nhi\n", &key, &opts).unwrap();
//!
//! let mut keys = KeyStore::new("test");
//! keys.insert("s1._domainkey.example.org", key.key_record().into_bytes());
//! let results = dkim::verify_message(&signed, &keys, &VerifyOptions::default());
//! assert_eq!(results[0].result, Verdict::Pass);
//! ```

pub mod archive;
pub mod canon;
pub mod dns;
pub mod key;
pub mod keys;
pub mod sign;
pub mod signature;
pub(crate) mod tags;
pub mod verify;

pub use archive::{verify_path, ArchiveOptions, ArchiveSummary, AsOf, MessageReport};
pub use key::{parse_key_record, KeyType, PublicKey, SigningKey};
pub use keys::KeyStore;
pub use sign::{sign_message, SignOptions};
pub use verify::verify_message;

use std::sync::Arc;

/// An RFC 8601 §2.7.1 DKIM result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// The message is not signed.
    None,
    /// The signature verified.
    Pass,
    /// The signature or the body hash did not verify.
    Fail,
    /// Verified but not meaningful (not produced here).
    Neutral,
    /// Verified-able but not accepted by local policy (rsa-sha1).
    Policy,
    /// A transient failure: the key could not be had now.
    Temperror,
    /// The signature or its key is unusable.
    Permerror,
}

impl Verdict {
    /// The RFC 8601 name.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::None => "none",
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Neutral => "neutral",
            Verdict::Policy => "policy",
            Verdict::Temperror => "temperror",
            Verdict::Permerror => "permerror",
        }
    }

    /// Every verdict, in report order.
    pub fn all() -> [Verdict; 7] {
        use Verdict::*;
        [Pass, Fail, Neutral, Policy, Temperror, Permerror, None]
    }
}

/// The result of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigResult {
    /// `d=` as written (empty when the field did not parse).
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// `a=`.
    pub algorithm: String,
    /// The verdict.
    pub result: Verdict,
    /// Why, for every verdict but pass.
    pub reason: String,
    /// Where the key came from (a file's path, `dns`), when one was found.
    pub key_source: Option<String>,
}

/// The answer of a key source for `selector._domainkey.domain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The TXT record (multi-strings joined).
    Found {
        /// The record (shared: a store answers many lookups with one).
        record: Arc<[u8]>,
        /// Where it came from.
        source: Arc<str>,
    },
    /// The name does not exist (NXDOMAIN): permerror (RFC 6376 §6.1.2).
    NotFound {
        /// Who said so.
        source: Arc<str>,
    },
    /// No answer now (SERVFAIL, timeout, no source holds it): temperror.
    TempFail {
        /// Why.
        reason: String,
    },
}

/// Where keys come from. Shared by the workers of a parallel run.
pub trait KeySource: Sync {
    /// Looks up `name` (`selector._domainkey.domain`, lower case).
    fn lookup(&self, name: &str) -> Lookup;
}

/// How to verify.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The time expiry (`x=`) and signing times (`t=`) are judged at,
    /// seconds since the epoch; `None`: not judged.
    pub as_of: Option<i64>,
    /// Verify rsa-sha1 instead of answering `policy`.
    pub allow_sha1: bool,
}
