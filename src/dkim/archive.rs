//! Verifying whole archives: every signature of every message of anything
//! `convert` reads (mbox plain or compressed, Maildir, `.eml` folder), or
//! one message file, in parallel windows on rayon's pool, reported in
//! source order.
//!
//! Next to our verdicts each report carries the message's own
//! Authentication-Results and ARC-Authentication-Results fields: the
//! receiving server's verdict at arrival, which readers of old archives use
//! as corroboration.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::verify::{verify_parsed, Parsed};
use super::{KeySource, SigResult, Verdict, VerifyOptions};
use crate::batch::ordered::{map_in_order, After};
use crate::batch::source::{first_line, Cursor, Item, Source};
use crate::batch::BatchError;
use crate::header::{self, date};
use crate::mbox::{self, Variant};

/// Largest single message read from standard input.
const MAX_STDIN_MESSAGE: u64 = 256 << 20;

/// The time expiry is judged at, per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// The time of the run.
    Now,
    /// When the message arrived: the rule of `docs/schema.md`
    /// ([`crate::rows::received_time_of`]).
    Received,
    /// The message's Date field.
    Date,
    /// A fixed time, seconds since the epoch.
    At(i64),
}

impl AsOf {
    /// Reads `now`, `received`, `date`, or seconds since the epoch.
    pub fn parse(s: &str) -> Option<AsOf> {
        match s {
            "now" => Some(AsOf::Now),
            "received" => Some(AsOf::Received),
            "date" => Some(AsOf::Date),
            _ => s.parse().ok().map(AsOf::At),
        }
    }
}

/// How to verify an archive.
#[derive(Clone, Debug)]
pub struct ArchiveOptions {
    /// Expiry time rule.
    pub as_of: AsOf,
    /// Verify rsa-sha1 instead of answering `policy`.
    pub allow_sha1: bool,
    /// The mbox variant, when not sniffed.
    pub variant: Option<Variant>,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            as_of: AsOf::Now,
            allow_sha1: false,
            variant: None,
        }
    }
}

/// The results of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageReport {
    /// Byte offset of its From_ line in an mbox (0 for files).
    pub offset: u64,
    /// The file it came from, for folder sources.
    pub origin: Option<PathBuf>,
    /// Its Message-ID, bare.
    pub message_id: Option<String>,
    /// The time expiry was judged at (`None`: the rule found no time, and
    /// expiry was judged at the time of the run).
    pub as_of: Option<i64>,
    /// One result per DKIM-Signature field, top to bottom; empty for
    /// unsigned mail (RFC 8601 `none`).
    pub signatures: Vec<SigResult>,
    /// The message's Authentication-Results fields, unfolded, top first.
    pub authentication_results: Vec<String>,
    /// Its ARC-Authentication-Results fields, unfolded, top first.
    pub arc_authentication_results: Vec<String>,
    /// Why it could not be read (too large to stream), if so.
    pub refused: Option<String>,
}

impl MessageReport {
    /// The JSON line of `dkim verify --jsonl`.
    pub fn to_json(&self) -> serde_json::Value {
        // One object per signature, as `convert --dkim` writes its column.
        let sigs: Vec<serde_json::Value> = self
            .signatures
            .iter()
            .map(|s| crate::rows::DkimRow::from(s).to_json())
            .collect();
        let mut v = serde_json::json!({
            "offset": self.offset,
            "message_id": self.message_id,
            "as_of": self.as_of,
            "result": self.result().name(),
            "signatures": sigs,
            "authentication_results": self.authentication_results,
            "arc_authentication_results": self.arc_authentication_results,
        });
        if let Some(o) = &self.origin {
            v["file"] = o.display().to_string().into();
        }
        if let Some(r) = &self.refused {
            v["refused"] = r.clone().into();
        }
        v
    }

    /// The message's overall result: `pass` if any signature passed, else
    /// the first signature's, `none` when unsigned.
    pub fn result(&self) -> Verdict {
        if self.signatures.iter().any(|s| s.result == Verdict::Pass) {
            return Verdict::Pass;
        }
        self.signatures.first().map_or(Verdict::None, |s| s.result)
    }
}

/// Counts over a run: per verdict, overall and per signing domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Messages read.
    pub messages: u64,
    /// Messages without a DKIM-Signature.
    pub unsigned: u64,
    /// Messages that could not be read (too large to stream).
    pub refused: u64,
    /// Signatures per verdict.
    pub signatures: BTreeMap<Verdict, u64>,
    /// Signatures per `d=` and verdict.
    pub domains: BTreeMap<String, BTreeMap<Verdict, u64>>,
}

impl ArchiveSummary {
    /// Adds the counts of another run (several sources).
    pub fn merge(&mut self, other: &ArchiveSummary) {
        self.messages += other.messages;
        self.unsigned += other.unsigned;
        self.refused += other.refused;
        for (v, n) in &other.signatures {
            *self.signatures.entry(*v).or_default() += n;
        }
        for (d, counts) in &other.domains {
            let mine = self.domains.entry(d.clone()).or_default();
            for (v, n) in counts {
                *mine.entry(*v).or_default() += n;
            }
        }
    }

    /// Counts one message's report.
    pub fn add(&mut self, r: &MessageReport) {
        self.messages += 1;
        if r.refused.is_some() {
            self.refused += 1;
        } else if r.signatures.is_empty() {
            self.unsigned += 1;
        }
        for s in &r.signatures {
            *self.signatures.entry(s.result).or_default() += 1;
            let d = if s.domain.is_empty() {
                "(unreadable)"
            } else {
                &s.domain
            };
            *self
                .domains
                .entry(d.to_ascii_lowercase())
                .or_default()
                .entry(s.result)
                .or_default() += 1;
        }
    }
}

/// Verifies one message as read from a source: `envelope` is its From_
/// line's rest, for the `received` rule.
pub fn verify_raw(
    msg: &[u8],
    envelope: Option<&[u8]>,
    keys: &dyn KeySource,
    opts: &ArchiveOptions,
    now: i64,
) -> MessageReport {
    // One read of the header, for the verifier and for the fields reported.
    let parsed = Parsed::new(msg);
    let all = |name: &'static str| parsed.values(name.as_bytes());
    let text = |v: &[u8]| {
        String::from_utf8_lossy(&header::unfold(v))
            .trim()
            .to_string()
    };
    let as_of = match opts.as_of {
        AsOf::Now => Some(now),
        AsOf::At(t) => Some(t),
        AsOf::Received => crate::rows::received_time_of(all("received").next(), envelope),
        AsOf::Date => all("date")
            .next()
            .and_then(|v| date::parse_date(&header::unfold(v)).map(|d| d.timestamp)),
    };
    let vopts = VerifyOptions {
        as_of: Some(as_of.unwrap_or(now)),
        allow_sha1: opts.allow_sha1,
    };
    let report = MessageReport {
        offset: 0,
        origin: None,
        message_id: all("message-id")
            .next()
            .and_then(|v| crate::rows::msg_ids(&header::unfold(v)).into_iter().next()),
        as_of,
        signatures: verify_parsed(&parsed, keys, &vopts),
        authentication_results: all("authentication-results").map(text).collect(),
        arc_authentication_results: all("arc-authentication-results").map(text).collect(),
        refused: None,
    };
    report
}

/// Opens `path` as `dkim verify` reads it: a folder, an mbox (plain,
/// compressed, or on standard input as `-`), or a single message (a file
/// or standard input that does not start with a From_ line).
fn open(path: &Path, variant: Option<Variant>) -> Result<Opened, BatchError> {
    let io = |e: std::io::Error| BatchError::io(path)(e);
    if path.as_os_str() == "-" {
        let mut reader = mbox::open_stream(Box::new(std::io::stdin())).map_err(BatchError::Mbox)?;
        let mut head = Vec::new();
        while !head.contains(&b'\n') && head.len() < 64 << 10 {
            let mut buf = [0u8; 8192];
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => head.extend_from_slice(&buf[..k]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io(e)),
            }
        }
        let rest = std::io::Cursor::new(head.clone()).chain(reader);
        if head.is_empty() || mbox::is_from_line(first_line(&head)) {
            let src =
                Source::streamed(Box::new(rest), path, variant, mbox::DEFAULT_SPOOL_THRESHOLD)?;
            return Ok(Opened::Source(src));
        }
        let mut msg = Vec::new();
        rest.take(MAX_STDIN_MESSAGE + 1)
            .read_to_end(&mut msg)
            .map_err(io)?;
        if msg.len() as u64 > MAX_STDIN_MESSAGE {
            return Err(BatchError::BadSource {
                path: path.into(),
                why: format!("a single message over {MAX_STDIN_MESSAGE} bytes"),
            });
        }
        return Ok(Opened::Message(msg));
    }
    if std::fs::metadata(path).map_err(io)?.is_file() {
        let mut head = vec![0u8; 4096];
        let mut f = std::fs::File::open(path).map_err(io)?;
        let n = f.read(&mut head).map_err(io)?;
        head.truncate(n);
        let compressed = head.starts_with(&[0x1f, 0x8b])
            || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']);
        if !compressed && !head.is_empty() && !mbox::is_from_line(first_line(&head)) {
            return Ok(Opened::Source(Source::single_file(path)?));
        }
    }
    Ok(Opened::Source(Source::open(
        path,
        variant,
        mbox::DEFAULT_SPOOL_THRESHOLD,
    )?))
}

enum Opened {
    Source(Source),
    Message(Vec<u8>),
}

/// Verifies every message of `path` on rayon's current pool, calling
/// `each` with the reports in source order; `each` may stop the run with
/// an error (a closed pipe). Returns the counts.
pub fn verify_path<E: From<BatchError>>(
    path: &Path,
    keys: &dyn KeySource,
    opts: &ArchiveOptions,
    mut each: impl FnMut(&MessageReport) -> Result<(), E>,
) -> Result<ArchiveSummary, E> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut summary = ArchiveSummary::default();
    let src = match open(path, opts.variant)? {
        Opened::Message(msg) => {
            let r = verify_raw(&msg, None, keys, opts, now);
            summary.add(&r);
            each(&r)?;
            return Ok(summary);
        }
        Opened::Source(s) => s,
    };
    let mut feed = src.feed(Cursor::default())?;
    let jobs = rayon::current_num_threads();
    let ahead = feed.reads_ahead();
    let mut next = feed.next_window(jobs)?;
    while let Some(window) = next.take() {
        // The next window is read on the pool while this one's last
        // batches are verified (see `batch::ordered`).
        let mut read = None;
        let after: Vec<After<'_>> = if ahead {
            let (feed, read) = (&mut feed, &mut read);
            vec![Box::new(move || *read = Some(feed.next_window(jobs)))]
        } else {
            Vec::new()
        };
        let items = &window.items;
        map_in_order(
            items,
            verify_batch(items.len(), jobs),
            |_, item| report_of(item, keys, opts, now),
            after,
            |_, r| {
                summary.add(&r);
                each(&r)
            },
        )?;
        next = match read {
            Some(read) => read?,
            None => feed.next_window(jobs)?,
        };
    }
    Ok(summary)
}

/// Messages a worker verifies at a time. Each batch sent wakes the calling
/// thread when it waits for it, a futex wake that cost about 9 us in this
/// project's 2-core guest (2% of a `-j1` run's samples at 16 messages a
/// batch); a verification is about 20 us (RSA-2048), so 64 of them make a
/// wake per 1.3 ms of work, and keep the window's last batch, which the
/// other workers may wait for, at about 1.3 ms, small against windows of
/// thousands of messages. Small windows take smaller batches, 8 per thread.
fn verify_batch(items: usize, threads: usize) -> usize {
    (items / (threads.max(1) * 8)).clamp(1, 64)
}

/// The report of one message of a window.
fn report_of(
    item: &Item<'_>,
    keys: &dyn KeySource,
    opts: &ArchiveOptions,
    now: i64,
) -> MessageReport {
    if let Some(why) = &item.refused {
        return MessageReport {
            offset: item.offset,
            origin: item.origin.clone(),
            message_id: None,
            as_of: None,
            signatures: Vec::new(),
            authentication_results: Vec::new(),
            arc_authentication_results: Vec::new(),
            refused: Some(why.clone()),
        };
    }
    let mut r = verify_raw(&item.message, item.envelope.as_deref(), keys, opts, now);
    r.offset = item.offset;
    r.origin = item.origin.clone();
    r
}
