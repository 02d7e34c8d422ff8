//! Verifying every DKIM-Signature of one message (RFC 6376 §6).
//!
//! Order of the checks, each ending the signature's verification with the
//! first result that applies:
//! 1. the field parses and is usable ([`parse_signature`]): permerror;
//! 2. `rsa-sha1` without `allow_sha1`: policy;
//! 3. time, as of [`VerifyOptions::as_of`]: `x=` passed, or `t=` in the
//!    future beyond [`FUTURE_SLACK`]: permerror;
//! 4. the key ([`KeySource`]): missing or unreachable (temperror, or
//!    permerror for NXDOMAIN), unusable, revoked, or not for this `a=`;
//! 5. the body hash (`bh=`, `l=`): fail, or permerror for `l=` past the end;
//! 6. a From field `h=` does not cover (RFC 6376 §8.15): fail;
//! 7. the header hash and the signature: fail.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use aws_lc_rs::{digest, signature as crypto};

use super::canon::{self, Canon};
use super::key::{parse_key_record, KeyType, PublicKey};
use super::signature::{parse_signature, Hash, Signature};
use super::tags::blank_b_tag;
use super::{KeySource, Lookup, SigResult, Verdict, VerifyOptions};
use crate::header::{parse_block, split_header, Field};

/// How far `t=` may lie after the as-of time: signers' clocks drift, and a
/// Received date is written by another machine than the signer.
pub const FUTURE_SLACK: i64 = 15 * 60;

/// Most header fields read from one message.
const MAX_FIELDS: usize = 10_000;

/// Most signatures verified in one message; later ones are a permerror.
/// Each costs a body hash and a public-key operation, so a message made of
/// thousands of DKIM-Signature fields must not cost thousands of them.
pub const MAX_SIGNATURES: usize = 32;

/// A message as the verifier sees it: its header fields read once, for
/// the verifier and for a caller that reports other fields beside it.
pub(crate) struct Parsed<'m> {
    header: &'m [u8],
    body: &'m [u8],
    fields: Vec<Field>,
    /// (name, field index) sorted by name ([`cmp_name`]), top to bottom
    /// within a name: the instances of one name are a run found by binary
    /// search, and `h=` takes them from the run's end, in time
    /// O(h= x log fields) whatever the field count. One allocation, where a
    /// map of names to lists made two per distinct name on every message;
    /// the name beside the index spares the search two lookups a step.
    by_name: Vec<(&'m [u8], u32)>,
}

/// Orders header names so that names equal but for case sit together:
/// shorter first, then as their lower-case forms order. Any total order
/// that groups them would do (the sort and the searches share this one);
/// comparing lengths first settles most pairs without reading a byte.
fn cmp_name(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        a.iter()
            .map(u8::to_ascii_lowercase)
            .cmp(b.iter().map(u8::to_ascii_lowercase))
    })
}

impl<'m> Parsed<'m> {
    pub(crate) fn new(msg: &'m [u8]) -> Parsed<'m> {
        let split = split_header(msg);
        let header = &msg[..split.header_len];
        let fields = parse_block(header, 0, MAX_FIELDS, &mut Vec::new());
        // MAX_FIELDS keeps the indices within u32.
        let mut by_name: Vec<(&[u8], u32)> = (fields.iter().zip(0..))
            .map(|(f, i)| (&header[f.name.clone()], i))
            .collect();
        // Stable: equal names stay top to bottom.
        by_name.sort_by(|a, b| cmp_name(a.0, b.0));
        Parsed {
            header,
            body: &msg[split.body_start..],
            fields,
            by_name,
        }
    }

    fn name(&self, f: &Field) -> &[u8] {
        &self.header[f.name.clone()]
    }

    /// The raw values of the fields named `name` (lower case), top to
    /// bottom.
    pub(crate) fn values<'p>(&'p self, name: &[u8]) -> impl Iterator<Item = &'m [u8]> + 'p {
        self.named(name)
            .iter()
            .map(|&(_, i)| &self.header[self.fields[i as usize].value.clone()])
    }

    /// The fields named `name` (lower case), top to bottom: (name as
    /// written, index).
    fn named(&self, name: &[u8]) -> &[(&'m [u8], u32)] {
        &self.by_name[self.run(name)]
    }

    /// Where the fields named `name` sit in `by_name`; an empty range at
    /// its place in the order when there are none.
    fn run(&self, name: &[u8]) -> std::ops::Range<usize> {
        let lo = self
            .by_name
            .partition_point(|&(n, _)| cmp_name(n, name).is_lt());
        let len = self.by_name[lo..].partition_point(|&(n, _)| cmp_name(n, name).is_eq());
        lo..lo + len
    }
}

/// Verifies every DKIM-Signature field of `msg` (stored with CRLF or LF
/// line ends; mbox quoting already undone), top to bottom. An unsigned
/// message gives no results (RFC 8601 `none`).
pub fn verify_message(msg: &[u8], keys: &dyn KeySource, opts: &VerifyOptions) -> Vec<SigResult> {
    verify_parsed(&Parsed::new(msg), keys, opts)
}

/// [`verify_message`] for a message whose header is already read.
pub(crate) fn verify_parsed(
    parsed: &Parsed<'_>,
    keys: &dyn KeySource,
    opts: &VerifyOptions,
) -> Vec<SigResult> {
    parsed
        .named(b"dkim-signature")
        .iter()
        .enumerate()
        .map(|(n, &(_, i))| {
            let field = &parsed.fields[i as usize];
            if n < MAX_SIGNATURES {
                return verify_one(parsed, field, keys, opts);
            }
            let (ids, _) = parse_signature(&parsed.header[field.value.clone()]);
            SigResult {
                domain: ids.domain,
                selector: ids.selector,
                algorithm: ids.algorithm,
                result: Verdict::Permerror,
                reason: format!("more than {MAX_SIGNATURES} signatures in one message"),
                key_source: None,
            }
        })
        .collect()
}

fn verify_one(
    msg: &Parsed<'_>,
    field: &Field,
    keys: &dyn KeySource,
    opts: &VerifyOptions,
) -> SigResult {
    let (ids, sig) = parse_signature(&msg.header[field.value.clone()]);
    let mut res = SigResult {
        domain: ids.domain,
        selector: ids.selector,
        algorithm: ids.algorithm,
        result: Verdict::Permerror,
        reason: String::new(),
        key_source: None,
    };
    let sig = match sig {
        Ok(s) => s,
        Err(reason) => {
            res.reason = reason;
            return res;
        }
    };
    let (verdict, reason) = check(msg, field, &sig, keys, opts, &mut res.key_source);
    res.result = verdict;
    res.reason = reason;
    res
}

fn check(
    msg: &Parsed<'_>,
    field: &Field,
    sig: &Signature,
    keys: &dyn KeySource,
    opts: &VerifyOptions,
    key_source: &mut Option<String>,
) -> (Verdict, String) {
    use Verdict::*;
    if sig.hash == Hash::Sha1 && !opts.allow_sha1 {
        return (Policy, "rsa-sha1 is not accepted (--allow-sha1)".into());
    }
    if let Some(now) = opts.as_of {
        if let Some(x) = sig.expiration {
            if x < now {
                return (Permerror, format!("expired as of {now} (x={x})"));
            }
        }
        if let Some(t) = sig.timestamp {
            if t > now.saturating_add(FUTURE_SLACK) {
                return (
                    Permerror,
                    format!("signed in the future as of {now} (t={t})"),
                );
            }
        }
    }
    // Built by hand: `format!` costs three times as much, on every message.
    let mut name = String::with_capacity(sig.selector.len() + sig.domain.len() + 12);
    name.push_str(&sig.selector);
    name.push_str("._domainkey.");
    name.push_str(&sig.domain);
    let record = match keys.lookup(&name) {
        Lookup::Found { record, source } => {
            *key_source = Some(source.to_string());
            record
        }
        Lookup::NotFound { source } => {
            *key_source = Some(source.to_string());
            return (Permerror, format!("key not found ({name})"));
        }
        Lookup::TempFail { reason } => return (Temperror, reason),
    };
    let entry = cached_key(&record, sig.hash);
    let key = match &entry.key {
        Ok(k) => k,
        Err(e) => return (Permerror, format!("bad key: {e}")),
    };
    if key.is_revoked() {
        return (Permerror, "key revoked".into());
    }
    if key.key_type != sig.key_type {
        return (
            Permerror,
            format!(
                "key is {}, signature is {}",
                key.key_type.name(),
                sig.key_type.name()
            ),
        );
    }
    let hash_name = match sig.hash {
        Hash::Sha256 => "sha256",
        Hash::Sha1 => "sha1",
    };
    if let Some(h) = &key.hashes {
        if !h.iter().any(|x| x == hash_name) {
            return (Permerror, format!("key does not allow {hash_name}"));
        }
    }
    if key.strict {
        if let Some(i) = &sig.identity {
            let idom = i.rsplit_once('@').map_or("", |(_, d)| d);
            if !idom.eq_ignore_ascii_case(&sig.domain) {
                return (Permerror, "key is t=s but i= is a subdomain of d=".into());
            }
        }
    }
    if key.key_type == KeyType::Rsa {
        let bits = key.rsa_bits();
        if bits < 1024 {
            return (Permerror, format!("RSA key of {bits} bits (under 1024)"));
        }
    }
    // Body.
    let alg = match sig.hash {
        Hash::Sha256 => &digest::SHA256,
        Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
    };
    match body_hash(alg, sig.body_canon, msg.body, sig.length) {
        Err(reason) => return (Permerror, reason),
        Ok((bh, _)) if bh.as_ref() != sig.bh.as_slice() => {
            return (Fail, "body hash mismatch".into());
        }
        Ok(_) => {}
    }
    // RFC 6376 §8.15: a From field more than `h=` names is one the signer
    // never saw, added to show a reader another author over a valid
    // signature. It fails, as dkimpy (which hashes one From more than
    // `h=` names) and receivers that count From fields fail it; a signer
    // that over-signs From (as ours does) covers the case itself.
    let from_fields = msg.named(b"from").len();
    if from_fields > sig.header_name_bytes().filter(|&h| h == b"from").count() {
        return (
            Fail,
            "signature mismatch: a From field it does not cover (RFC 6376 §8.15)".into(),
        );
    }
    // Header.
    let data = header_data(msg, field, sig);
    // Key bytes the cryptography refuses verify nothing.
    let ok = entry.verifier.as_ref().is_some_and(|v| {
        match sig.key_type {
            // RFC 8463 §3: Ed25519 signs the SHA-256 of the header data.
            KeyType::Ed25519 => {
                v.verify_sig(digest::digest(&digest::SHA256, &data).as_ref(), &sig.b)
            }
            // Hashed here, then verified as a digest: the same check
            // (aws-lc-rs refuses a digest of another algorithm than the
            // key's parameters name) without the digest context and its
            // allocations that `verify_sig` sets up on every call.
            KeyType::Rsa => v.verify_digest_sig(&digest::digest(alg, &data), &sig.b),
        }
        .is_ok()
    });
    if ok {
        (Pass, String::new())
    } else {
        (Fail, "signature mismatch".into())
    }
}

/// A key record read once: the record's tags, and the key parsed for one
/// algorithm, ready to verify with (`None` when revoked or refused).
struct CachedKey {
    record: Arc<[u8]>,
    hash: Hash,
    key: Result<PublicKey, String>,
    verifier: Option<crypto::ParsedPublicKey>,
}

/// Keys most recently used on this thread.
const KEY_CACHE_LEN: usize = 16;

thread_local! {
    static KEY_CACHE: RefCell<VecDeque<Rc<CachedKey>>> = const { RefCell::new(VecDeque::new()) };
}

/// The key of `record` for signatures hashed with `hash`, from this
/// thread's cache or read now. An archive is verified with a handful of
/// keys, and setting an RSA key up for verification (its Montgomery
/// constants) costs a fifth to a third of a verification, so each thread
/// keeps its last few. The entry is found by the record's bytes, which
/// alone decide what is parsed from it, so an entry is never stale
/// whichever source the record came from; the oldest is dropped first.
fn cached_key(record: &Arc<[u8]>, hash: Hash) -> Rc<CachedKey> {
    KEY_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(i) = cache
            .iter()
            .position(|e| e.hash == hash && (Arc::ptr_eq(&e.record, record) || e.record == *record))
        {
            let hit = cache.remove(i).expect("position is in range");
            cache.push_front(Rc::clone(&hit));
            return hit;
        }
        let key = parse_key_record(record);
        let verifier = key.as_ref().ok().and_then(|k| {
            let alg: &'static dyn crypto::VerificationAlgorithm = match (k.key_type, hash) {
                (KeyType::Rsa, Hash::Sha256) => {
                    &crypto::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
                }
                (KeyType::Rsa, Hash::Sha1) => &crypto::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
                (KeyType::Ed25519, _) => &crypto::ED25519,
            };
            (!k.is_revoked())
                .then(|| crypto::ParsedPublicKey::new(alg, &k.der).ok())
                .flatten()
        });
        let entry = Rc::new(CachedKey {
            record: Arc::clone(record),
            hash,
            key,
            verifier,
        });
        cache.truncate(KEY_CACHE_LEN - 1);
        cache.push_front(Rc::clone(&entry));
        entry
    })
}

/// The body hash of `body` under `canon`, limited to `length` canonical
/// bytes when given; an `l=` past the end of the canonical body is an
/// error (a signer cannot have hashed bytes that are not there). Also
/// returns the length of the whole canonical body.
pub(crate) fn body_hash(
    alg: &'static digest::Algorithm,
    canon: Canon,
    body: &[u8],
    length: Option<u64>,
) -> Result<(digest::Digest, u64), String> {
    let mut ctx = digest::Context::new(alg);
    let mut left = length.unwrap_or(u64::MAX);
    let mut total = 0u64;
    // Canonicalization hands over blocks of lines, or the body whole.
    canon::body(canon, body, |piece| {
        total += piece.len() as u64;
        let take = (piece.len() as u64).min(left) as usize;
        if take > 0 {
            left -= take as u64;
            ctx.update(&piece[..take]);
        }
    });
    if let Some(l) = length {
        if l > total {
            return Err(format!(
                "l={l} is past the end of the body ({total} canonical bytes)"
            ));
        }
    }
    Ok((ctx.finish(), total))
}

/// The bytes the signature covers (§3.7): the `h=` fields, each name
/// taking the last instance not yet used (bottom up, so repeated names
/// sign successive instances and names with none left sign nothing:
/// over-signing), then the signature field itself with `b=` blanked and
/// no final CRLF.
fn header_data(msg: &Parsed<'_>, field: &Field, sig: &Signature) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    // Instances used so far of each name, kept at the start of the name's
    // run in `by_name` (a name with no fields has an empty run: nothing
    // is taken from it whatever its count).
    // On the stack for the usual header of a few dozen fields.
    let mut few = [0u16; 64];
    let mut many = Vec::new();
    let used: &mut [u16] = if msg.by_name.len() < few.len() {
        &mut few
    } else {
        many.resize(msg.by_name.len() + 1, 0);
        &mut many
    };
    for name in sig.header_name_bytes() {
        let run = msg.run(name);
        let n = &mut used[run.start];
        let found =
            (run.len() > usize::from(*n)).then(|| msg.by_name[run.end - 1 - usize::from(*n)].1);
        // Saturating is exact: a run is at most MAX_FIELDS long.
        *n = n.saturating_add(1);
        if let Some(i) = found {
            let f = &msg.fields[i as usize];
            canon::header_field(
                sig.header_canon,
                msg.name(f),
                &msg.header[f.line.clone()],
                true,
                &mut out,
            );
        }
    }
    let mut own = Vec::with_capacity(field.line.len());
    own.extend_from_slice(&msg.header[field.line.start..field.value.start]);
    blank_b_tag(&msg.header[field.value.clone()], &mut own);
    canon::header_field(sig.header_canon, msg.name(field), &own, false, &mut out);
    out
}

/// For the signer: the header bytes to sign of `msg`, whose first field is
/// the new DKIM-Signature (with `b=` empty) described by `sig`.
pub(crate) fn first_field_header_data(msg: &[u8], sig: &Signature) -> Vec<u8> {
    let parsed = Parsed::new(msg);
    header_data(&parsed, &parsed.fields[0], sig)
}
