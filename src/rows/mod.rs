//! The rows of the query outputs (`--to sqlite`, `--to parquet`, Arrow
//! tables in Python, and the schema fields of `--to jsonl`): one message
//! becomes one [`MessageRow`] and one [`AttachmentRow`] per attachment.
//! `docs/schema.md` is the prose of this module; [`SCHEMA_VERSION`] is the
//! number every output records, and it changes whenever a field does.
//!
//! # The key
//!
//! A row's key is `(source, offset)`: the archive (or file) it came from
//! and the byte offset of its first line there. A distributed run reads
//! byte ranges of many archives on many machines and cannot know a global
//! row number; every machine knows where a message starts. The row number
//! in archive order that a one-machine run also writes (`row`) is a
//! convenience, never a join key.
//!
//! # Rules defined once here
//!
//! - **date**: the first `Date:` field read by [`crate::header::date`];
//!   `date` is UTC seconds, `date_offset` the minutes east of UTC it was
//!   written in, `date_raw` the unfolded text. A date that does not parse
//!   leaves `date` null and keeps `date_raw`.
//! - **received** ([`received_time`]): the date after the last `;` of the
//!   first (topmost, so last added) `Received:` field, that is, when the
//!   message reached the mailbox that holds it; else the From_ line's
//!   date, read as UTC since it carries no zone. The DKIM issue's
//!   `--as-of received` uses this same function.
//! - **body_text** ([`body_text`]): the first inline `text/plain` leaf,
//!   else the first inline `text/html` leaf turned into text; `body_html`
//!   is the first inline `text/html` leaf.
//! - **headers**: every field of the top-level header in order, names
//!   lower-cased, values unfolded and RFC 2047-decoded; bytes that are not
//!   valid in their charset become U+FFFD, so nothing is dropped.
//! - **thread_id**: see [`threads`].
//! - **dkim** ([`DkimRow`]): filled only by `convert --dkim`
//!   ([`crate::batch::ConvertOptions`]'s `dkim`), one result per
//!   signature, `[]` for unsigned mail; `None` (null) when not verified.

pub mod threads;

#[cfg(feature = "arrow")]
pub mod arrow;

use sha2::{Digest, Sha256};

use crate::batch::{html_to_text, maildir_flags, MailFlags};
use crate::header::{self, address, date};
use crate::message::{EntityRef, Kind, Message, Sha256Sink};

/// The version of the schema in `docs/schema.md`, recorded by every output
/// (SQLite `user_version`, Parquet key-value metadata `mimeflow.schema_version`,
/// jsonl field `schema_version`).
pub const SCHEMA_VERSION: u32 = 1;

/// A display name and an address, as the address lists hold them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, decoded; `None` when there is none.
    pub name: Option<String>,
    /// The addr-spec (may be empty when it did not parse).
    pub address: String,
}

/// One row of the `messages` table. Field order is the column order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MessageRow {
    /// The archive or file the message came from, as given.
    pub source: String,
    /// Byte offset of the message's first line (its From_ line in an mbox)
    /// in `source`; 0 for one file per message.
    pub offset: u64,
    /// Bytes the message takes in `source` (From_ line and quoting included).
    pub length: u64,
    /// sha256 of the message's own bytes (From_ line and quoting undone), hex.
    pub sha256: String,
    /// Position in archive order, counted from 0 (one-machine runs only).
    pub row: Option<u64>,
    /// The `<id>` of Message-ID as written, angle brackets included
    /// (comments and blanks around it dropped).
    pub message_id: Option<String>,
    /// The first `<id>` of In-Reply-To.
    pub in_reply_to: Option<String>,
    /// The `<id>`s of References, in order.
    pub references: Vec<String>,
    /// Date, UTC seconds since the epoch.
    pub date: Option<i64>,
    /// The offset the date was written in, minutes east of UTC.
    pub date_offset: Option<i32>,
    /// The Date field's text, unfolded.
    pub date_raw: Option<String>,
    /// See [`received_time`]: UTC seconds.
    pub received: Option<i64>,
    /// The Subject, decoded.
    pub subject: Option<String>,
    /// The first From mailbox's display name.
    pub from_name: Option<String>,
    /// The first From mailbox's address.
    pub from_address: Option<String>,
    /// Every To mailbox.
    pub to: Vec<NameAddr>,
    /// Every Cc mailbox.
    pub cc: Vec<NameAddr>,
    /// Every Bcc mailbox.
    pub bcc: Vec<NameAddr>,
    /// Every Reply-To mailbox.
    pub reply_to: Vec<NameAddr>,
    /// The List-Id proper (between its angle brackets).
    pub list_id: Option<String>,
    /// Gmail's X-Gmail-Labels, split at commas.
    pub gmail_labels: Vec<String>,
    /// Gmail's X-GM-THRID.
    pub gmail_thread_id: Option<String>,
    /// Maildir flag letters, sorted (`DFPRST`).
    pub flags: String,
    /// The message's own size in bytes.
    pub size: u64,
    /// Number of attachments ([`Message::attachments`]).
    pub attachment_count: u32,
    /// The best text body ([`bodies`]).
    pub body_text: Option<String>,
    /// The first inline text/html body.
    pub body_html: Option<String>,
    /// Defect codes with their offsets, `code@offset`.
    pub defects: Vec<String>,
    /// No header field could be read: the row holds the raw fields only.
    pub unparseable: bool,
    /// Every top-level field: (lower-cased name, decoded value), in order.
    pub headers: Vec<(String, String)>,
    /// One result per DKIM-Signature field, top to bottom (`convert
    /// --dkim`); empty for unsigned mail, `None` when not verified.
    pub dkim: Option<Vec<DkimRow>>,
    /// The raw message (`--raw`).
    pub raw: Option<Vec<u8>>,
}

/// One DKIM signature's result in the `dkim` column: the fields of
/// `dkim verify --jsonl`'s signatures, under the same names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DkimRow {
    /// `d=` as written (empty when the field did not parse).
    pub d: String,
    /// `s=`.
    pub s: String,
    /// `a=`.
    pub a: String,
    /// The RFC 8601 result: pass, fail, neutral, policy, temperror, permerror.
    pub result: String,
    /// Why, for every result but pass (empty for pass).
    pub reason: String,
    /// Where the key came from (a key file's path, `dns`), when one was found.
    pub key_source: Option<String>,
}

impl DkimRow {
    /// The JSON object of one result, as jsonl and SQLite write it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "d": self.d, "s": self.s, "a": self.a, "result": self.result,
            "reason": self.reason, "key_source": self.key_source,
        })
    }
}

/// The `dkim` column as JSON: `null` when not verified, else an array of
/// [`DkimRow::to_json`] objects (`[]` for unsigned mail).
pub fn dkim_json(dkim: Option<&[DkimRow]>) -> serde_json::Value {
    dkim.map_or(serde_json::Value::Null, |list| {
        list.iter().map(DkimRow::to_json).collect()
    })
}

#[cfg(feature = "dkim")]
impl From<&crate::dkim::SigResult> for DkimRow {
    fn from(r: &crate::dkim::SigResult) -> DkimRow {
        DkimRow {
            d: r.domain.clone(),
            s: r.selector.clone(),
            a: r.algorithm.clone(),
            result: r.result.name().to_string(),
            reason: r.reason.clone(),
            key_source: r.key_source.clone(),
        }
    }
}

/// One row of the `attachments` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachmentRow {
    /// The message's key: its source...
    pub source: String,
    /// ...and offset.
    pub offset: u64,
    /// The IMAP section number (`2`, `1.2`).
    pub section: String,
    /// The file name (RFC 2231 and 2047 decoded).
    pub filename: Option<String>,
    /// The MIME type, lower-cased.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// sha256 of the decoded content, hex.
    pub sha256: String,
    /// Where `--attachments DIR` put it, relative to DIR.
    pub path: Option<String>,
}

/// Where a message was found, and what the source knows about it.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// The archive or file, as the row will name it.
    pub source: &'a str,
    /// Byte offset of the message's first line there.
    pub offset: u64,
    /// Bytes the message takes there.
    pub length: u64,
    /// The From_ line after `From ` (mbox sources).
    pub envelope: Option<&'a [u8]>,
    /// Maildir sources: the flags of the file name (else read from the
    /// Status headers).
    pub flags: Option<MailFlags>,
    /// Position in archive order, for one-machine runs.
    pub row: Option<u64>,
}

/// What to put in a row beyond the schema's always-present fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowOptions {
    /// Keep the raw message bytes (`--raw`).
    pub raw: bool,
    /// Decode every attachment to hash it (sha256 and size).
    pub hash_attachments: bool,
}

/// The row of one message, and its attachments' rows. `msg` is `None`
/// when the parser gave up: the row then holds the raw fields only.
pub fn message_row(
    origin: &Origin<'_>,
    raw: &[u8],
    msg: Option<&Message>,
    opts: RowOptions,
) -> (MessageRow, Vec<AttachmentRow>) {
    let mut row = MessageRow {
        source: origin.source.to_string(),
        offset: origin.offset,
        length: origin.length,
        sha256: crate::message::hex(&Sha256::digest(raw)),
        row: origin.row,
        size: raw.len() as u64,
        raw: opts.raw.then(|| raw.to_vec()),
        received: origin.envelope.and_then(envelope_time),
        flags: origin.flags.unwrap_or_default().letters(),
        unparseable: true,
        ..MessageRow::default()
    };
    let Some(msg) = msg else {
        return (row, Vec::new());
    };
    let root = msg.root();
    row.unparseable = root.headers().next().is_none();
    if origin.flags.is_none() {
        row.flags = maildir_flags(&root).letters();
    }
    let mut defects = Vec::new();
    let unfolded = |v: &[u8]| {
        String::from_utf8_lossy(&header::unfold(v))
            .trim()
            .to_string()
    };
    let ids = |name: &str| root.header(name).map(|v| msg_ids(&header::unfold(v)));
    // The `<id>` itself: RFC 5322 allows comments and blanks around it
    // (a relay's "(added by ...)"), and replies name the id alone, so
    // threading needs it bare.
    row.message_id = ids("message-id").and_then(|v| v.into_iter().next());
    row.in_reply_to = ids("in-reply-to").and_then(|v| v.into_iter().next());
    row.references = ids("references").unwrap_or_default();
    if let Some(v) = root.header("date") {
        let text = unfolded(v);
        if let Some(d) = date::parse_date(text.as_bytes()) {
            row.date = Some(d.timestamp);
            row.date_offset = Some(d.offset_minutes);
        }
        row.date_raw = Some(text);
    }
    if let Some(t) = received_time(&root, None) {
        row.received = Some(t);
    }
    row.subject = root
        .header("subject")
        .map(|v| header::decode_text(v, 0, &mut defects));
    let list = |name: &str, defects: &mut Vec<_>| -> Vec<NameAddr> {
        root.header_all(name)
            .flat_map(|v| address::parse_address_list(v, 0, defects))
            .map(|a| NameAddr {
                name: a.name,
                address: a.address,
            })
            .collect()
    };
    let from = list("from", &mut defects);
    if let Some(f) = from.into_iter().next() {
        row.from_name = f.name;
        row.from_address = Some(f.address);
    }
    row.to = list("to", &mut defects);
    row.cc = list("cc", &mut defects);
    row.bcc = list("bcc", &mut defects);
    row.reply_to = list("reply-to", &mut defects);
    row.list_id = root.header("list-id").map(|v| {
        let text = header::decode_text(v, 0, &mut Vec::new());
        // The id proper is between angle brackets; a bare one is kept.
        match (text.rfind('<'), text.rfind('>')) {
            (Some(a), Some(b)) if a < b => text[a + 1..b].to_string(),
            _ => text.trim().to_string(),
        }
    });
    if let Some(labels) = root.header_text("x-gmail-labels") {
        row.gmail_labels = labels
            .split(',')
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect();
    }
    row.gmail_thread_id = root.header_text("x-gm-thrid").map(|t| t.trim().to_string());
    row.headers = root
        .headers()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).to_ascii_lowercase(),
                header::decode_text(v, 0, &mut Vec::new()),
            )
        })
        .collect();
    let (text, html) = bodies(msg);
    row.body_text = text;
    row.body_html = html;
    row.defects = msg
        .defects()
        .map(|d| format!("{}@{}", d.code, d.offset))
        .collect();
    let sections = msg.sections();
    let attachments: Vec<AttachmentRow> = msg
        .attachments()
        .map(|part| {
            let (size, sha256) = if opts.hash_attachments {
                hash_decoded(&part)
            } else {
                (0, String::new())
            };
            AttachmentRow {
                source: row.source.clone(),
                offset: row.offset,
                section: sections[part.index()].clone(),
                filename: part.filename(),
                content_type: part.mime_type(),
                size,
                sha256,
                path: None,
            }
        })
        .collect();
    row.attachment_count = attachments.len() as u32;
    (row, attachments)
}

/// The decoded size and sha256 (hex) of a part, streamed.
fn hash_decoded(part: &EntityRef<'_>) -> (u64, String) {
    let mut sink = Sha256Sink::new();
    // A sink that only hashes cannot fail.
    let _ = part.decode_to(&mut sink);
    let (sha, size, _) = sink.finish();
    (size, crate::message::hex(&sha))
}

/// `<id>` tokens of In-Reply-To/References (bare tokens when none is
/// bracketed).
pub fn msg_ids(v: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(v);
    let mut ids = Vec::new();
    let mut rest = text.as_ref();
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        ids.push(rest[open..open + close + 1].to_string());
        rest = &rest[open + close + 1..];
    }
    if ids.is_empty() {
        ids = text.split_whitespace().map(str::to_string).collect();
    }
    ids
}

/// The best text of a message and its HTML: see the module docs.
pub fn bodies(msg: &Message) -> (Option<String>, Option<String>) {
    let leaves = || {
        msg.walk()
            .filter(|e| e.kind() == Kind::Leaf && !e.is_attachment())
    };
    let html = leaves()
        .find(|e| e.mime_type() == "text/html")
        .map(|h| h.text());
    let text = match leaves().find(|e| e.mime_type() == "text/plain") {
        Some(plain) => Some(plain.text()),
        None => html.as_deref().map(html_to_text),
    };
    (text, html)
}

/// The best text of a message alone (jsonl's `text`).
pub fn body_text(msg: &Message) -> Option<String> {
    bodies(msg).0
}

/// When the message arrived, UTC seconds: the date of its first
/// `Received:` field (after the last `;`), else the date of its From_ line
/// (`envelope`, read as UTC). See the module docs.
pub fn received_time(root: &EntityRef<'_>, envelope: Option<&[u8]>) -> Option<i64> {
    received_time_of(root.header("received"), envelope)
}

/// [`received_time`] given the first Received field's value (still
/// folded), for callers that read the header fields themselves (DKIM).
pub fn received_time_of(received: Option<&[u8]>, envelope: Option<&[u8]>) -> Option<i64> {
    let from_received = received.and_then(|v| {
        let v = header::unfold(v);
        let at = memchr::memrchr(b';', &v)?;
        date::parse_date(&v[at + 1..]).map(|d| d.timestamp)
    });
    from_received.or_else(|| envelope.and_then(envelope_time))
}

/// The date of a From_ line (`sender Www Mmm dd hh:mm:ss yyyy`, the part
/// after `From `), read as UTC.
pub fn envelope_time(envelope: &[u8]) -> Option<i64> {
    let rest = envelope.trim_ascii();
    let sp = memchr::memchr2(b' ', b'\t', rest)?;
    date::parse_date(&rest[sp..]).map(|d| d.timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_of(src: &[u8], envelope: Option<&[u8]>) -> (MessageRow, Vec<AttachmentRow>) {
        let msg = Message::parse(src.to_vec());
        let origin = Origin {
            source: "a.mbox",
            offset: 7,
            length: src.len() as u64,
            envelope,
            flags: None,
            row: Some(0),
        };
        message_row(
            &origin,
            src,
            Some(&msg),
            RowOptions {
                raw: false,
                hash_attachments: true,
            },
        )
    }

    #[test]
    fn fields_of_a_reply() {
        let src = b"Received: from a by b; Tue, 2 Jan 2001 10:00:00 +0000\r\n\
Received: from c by a; Tue, 2 Jan 2001 09:00:00 +0000\r\n\
Date: Mon, 1 Jan 2001 10:00:00 +0100\r\n\
From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\n\
To: a@x.org, \"B\" <b@x.org>\r\n\
Subject: =?utf-8?b?w6Rw?=\r\n\
Message-ID: <m2@x>\r\n\
In-Reply-To: <m1@x>\r\n\
References: <m0@x> <m1@x>\r\n\
List-Id: Dev list <dev.x.org>\r\n\
Status: RO\r\n\r\nhello\r\n";
        let (r, att) = row_of(src, Some(b"j@example.org Wed Jan  3 00:00:00 2001"));
        assert!(att.is_empty());
        assert_eq!(r.message_id.as_deref(), Some("<m2@x>"));
        assert_eq!(r.in_reply_to.as_deref(), Some("<m1@x>"));
        assert_eq!(r.references, ["<m0@x>", "<m1@x>"]);
        assert_eq!(r.date, Some(978_339_600));
        assert_eq!(r.date_offset, Some(60));
        assert_eq!(r.received, Some(978_429_600), "the first Received wins");
        assert_eq!(r.subject.as_deref(), Some("äp"));
        assert_eq!(r.from_name.as_deref(), Some("Jörg"));
        assert_eq!(r.from_address.as_deref(), Some("j@example.org"));
        assert_eq!(r.to.len(), 2);
        assert_eq!(r.to[1].name.as_deref(), Some("B"));
        assert_eq!(r.list_id.as_deref(), Some("dev.x.org"));
        assert_eq!(r.flags, "S");
        assert_eq!(r.body_text.as_deref(), Some("hello\r\n"));
        assert_eq!(r.headers[0].0, "received");
        assert_eq!(r.headers[5].1, "äp");
        assert!(!r.unparseable);
    }

    #[test]
    fn received_falls_back_to_the_envelope_as_utc() {
        let (r, _) = row_of(
            b"Subject: x\n\nbody\n",
            Some(b"MAILER-DAEMON Wed Jan  3 00:00:00 2001"),
        );
        assert_eq!(r.received, Some(978_480_000));
        assert_eq!(r.date, None);
    }

    #[test]
    fn a_bad_date_keeps_its_text() {
        let (r, _) = row_of(b"Date: yesterday-ish\n\nbody\n", None);
        assert_eq!(r.date, None);
        assert_eq!(r.date_raw.as_deref(), Some("yesterday-ish"));
    }

    #[test]
    fn html_only_mail_gives_text_and_html() {
        let src = b"Content-Type: text/html\n\n<p>Hello <b>world</b></p>\n";
        let (r, _) = row_of(src, None);
        assert!(r.body_text.unwrap().contains("Hello world"));
        assert!(r.body_html.unwrap().contains("<b>world</b>"));
    }

    #[test]
    fn attachments_are_hashed_decoded() {
        let src = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\n\
Content-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment\n\
Content-Transfer-Encoding: base64\n\naGVsbG8=\n--b--\n";
        let (r, att) = row_of(src, None);
        assert_eq!(r.attachment_count, 1);
        assert_eq!(att[0].section, "2");
        assert_eq!(att[0].filename.as_deref(), Some("a.pdf"));
        assert_eq!(att[0].size, 5);
        assert_eq!(
            att[0].sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn bytes_in_no_valid_charset_become_replacement_characters() {
        // Latin-1 bytes in a raw header, and an encoded-word whose bytes
        // are not UTF-8: decoded with U+FFFD, never dropped.
        let src = b"Subject: caf\xe9 =?utf-8?b?/w==?= ok\nFrom: J\xf6rg <j@x>\n\nbody\n";
        let (r, _) = row_of(src, None);
        let subject = r.subject.unwrap();
        assert!(
            subject.starts_with("caf") && subject.ends_with("ok"),
            "{subject}"
        );
        assert!(subject.contains('\u{fffd}'), "{subject}");
        // A raw 8-bit display name that is not UTF-8 reads as Latin-1 (every
        // byte valid there), as the address parser does everywhere.
        assert_eq!(r.from_name.as_deref(), Some("Jörg"));
        assert_eq!(r.headers.len(), 2);
    }

    #[test]
    fn the_message_id_is_the_id_without_comments() {
        // RFC 5322 allows CFWS around a msg-id; replies name the id alone,
        // so threads need it bare.
        let src = b"Message-ID: <a@x> (added by relay)\nSubject: t\n\nbody\n";
        assert_eq!(row_of(src, None).0.message_id.as_deref(), Some("<a@x>"));
        let src = b"Message-ID:\n  <b@x>\nSubject: t\n\nbody\n";
        assert_eq!(row_of(src, None).0.message_id.as_deref(), Some("<b@x>"));
        let src = b"Message-ID: \nSubject: t\n\nbody\n";
        assert_eq!(row_of(src, None).0.message_id, None);
    }

    #[test]
    fn no_parse_keeps_the_raw_fields() {
        let origin = Origin {
            source: "s",
            offset: 0,
            length: 3,
            envelope: None,
            flags: None,
            row: None,
        };
        let (r, _) = message_row(&origin, b"abc", None, RowOptions::default());
        assert!(r.unparseable);
        assert_eq!(r.size, 3);
        assert_eq!(r.sha256.len(), 64);
    }
}
