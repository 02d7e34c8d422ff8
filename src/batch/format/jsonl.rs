//! The jsonl output: one JSON object per message and line, the
//! `parse --json` object of the message (serialised straight from it, no
//! `Value` tree: see `message::MessageJson`) merged with its position in
//! the archive, hash, flags and threading fields.

use serde_json::{Map, Value};

use super::super::prepare::Parsed;
use super::super::source::Item;
use crate::header;
use crate::message::{Kind, Message};

/// Writes the record of message `index` (content hash `sha`, in hex) and
/// its line end; `text` adds the decoded plain-text body.
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    item: &Item<'_>,
    index: u64,
    sha: &str,
    parsed: &Parsed,
    text: bool,
) -> serde_json::Result<()> {
    let msg = parsed.msg.as_ref();
    let mut obj = Map::new();
    obj.insert("index".into(), index.into());
    obj.insert("offset".into(), item.offset.into());
    obj.insert("length".into(), item.length.into());
    obj.insert("sha256".into(), sha.into());
    obj.insert(
        "envelope".into(),
        item.envelope
            .as_deref()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .into(),
    );
    if let Some(o) = &item.origin {
        obj.insert("source".into(), o.to_string_lossy().into_owned().into());
    }
    obj.insert("flags".into(), parsed.flags.letters().into());
    obj.insert("deleted".into(), parsed.flags.deleted.into());
    obj.insert("unparseable".into(), parsed.unparseable.into());
    if let Some(m) = msg {
        threading_fields(m, &mut obj);
    }
    if text {
        obj.insert("text".into(), msg.and_then(body_text).into());
    }
    match msg.map(Message::json) {
        Some(json) => serde_json::to_writer(&mut *out, &json.with_fields(&obj)),
        None => serde_json::to_writer(&mut *out, &Value::Object(obj)),
    }?;
    out.push(b'\n');
    Ok(())
}

/// `in_reply_to`, `references` and Gmail's labels and thread id.
fn threading_fields(m: &Message, obj: &mut Map<String, Value>) {
    let r = m.root();
    let ids = |name: &str| {
        r.header(name)
            .map(|v| msg_ids(&header::unfold(v)))
            .unwrap_or_default()
    };
    obj.insert(
        "in_reply_to".into(),
        ids("in-reply-to").into_iter().next().into(),
    );
    obj.insert("references".into(), ids("references").into());
    if let Some(labels) = r.header_text("x-gmail-labels") {
        let list: Vec<String> = labels
            .split(',')
            .map(|l| l.trim().trim_matches('"').to_string())
            .filter(|l| !l.is_empty())
            .collect();
        obj.insert("gmail_labels".into(), list.into());
    }
    if let Some(t) = r.header_text("x-gm-thrid") {
        obj.insert("gmail_thread_id".into(), t.trim().into());
    }
}

/// A header value unfolded and trimmed, as text.
pub(crate) fn lossy_unfolded(v: &[u8]) -> String {
    String::from_utf8_lossy(&header::unfold(v))
        .trim()
        .to_string()
}

/// `<id>` tokens of In-Reply-To/References (bare tokens when none is bracketed).
fn msg_ids(v: &[u8]) -> Vec<String> {
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

/// The first inline text/plain body, else the first text/html one as text.
fn body_text(msg: &Message) -> Option<String> {
    let leaves = || {
        msg.walk()
            .filter(|e| e.kind() == Kind::Leaf && !e.is_attachment())
    };
    if let Some(plain) = leaves().find(|e| e.mime_type() == "text/plain") {
        return Some(plain.text());
    }
    leaves()
        .find(|e| e.mime_type() == "text/html")
        .map(|h| super::super::html_to_text(&h.text()))
}
