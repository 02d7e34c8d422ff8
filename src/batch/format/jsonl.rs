//! The jsonl output: one JSON object per message and line, the
//! `parse --json` object of the message (serialised straight from it, no
//! `Value` tree: see `message::MessageJson`) merged with its position in
//! the archive, hash, flags and threading fields, and the fields of the
//! schema (`docs/schema.md`, [`crate::rows`]). Two schema fields keep
//! their jsonl shapes, which users already read: `headers` (the object of
//! `parse --json`) and `defects` (objects with code and offset); the
//! schema's lists come as `header_list` and `defect_list`. Bodies
//! (`body_text`, `body_html`, and `text` as before) come with `--text`.
//!
//! Threads go to a file of their own beside the output,
//! `NAME.threads.jsonl` (one `{"source", "offset", "thread_id"}` a line),
//! written at the end of the run: the ids are known only then.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::super::prepare::Parsed;
use super::super::source::Item;
use crate::batch::BatchError;
use crate::message::Message;
use crate::rows::threads::{ThreadIndex, ThreadRow};
use crate::rows::{MessageRow, NameAddr, SCHEMA_VERSION};
use crate::safe_fs::Dir;

/// Writes the record of message `index` and its line end; `text` adds
/// the decoded bodies.
pub(crate) fn write_record(
    out: &mut Vec<u8>,
    item: &Item<'_>,
    index: u64,
    row: &MessageRow,
    parsed: &Parsed,
    text: bool,
) -> serde_json::Result<()> {
    let msg = parsed.msg.as_ref();
    let mut obj = Map::new();
    obj.insert("schema_version".into(), SCHEMA_VERSION.into());
    obj.insert("index".into(), index.into());
    obj.insert("row".into(), index.into());
    obj.insert("source".into(), row.source.clone().into());
    obj.insert("offset".into(), item.offset.into());
    obj.insert("length".into(), item.length.into());
    obj.insert("sha256".into(), row.sha256.clone().into());
    obj.insert(
        "envelope".into(),
        item.envelope
            .as_deref()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .into(),
    );
    obj.insert("flags".into(), parsed.flags.letters().into());
    obj.insert("deleted".into(), parsed.flags.deleted.into());
    obj.insert("unparseable".into(), parsed.unparseable.into());
    schema_fields(row, &mut obj);
    if text {
        obj.insert("text".into(), row.body_text.clone().into());
        obj.insert("body_text".into(), row.body_text.clone().into());
        obj.insert("body_html".into(), row.body_html.clone().into());
    }
    match msg.map(Message::json) {
        Some(json) => serde_json::to_writer(&mut *out, &json.with_fields(&obj)),
        None => {
            obj.insert("headers".into(), json!({}));
            obj.insert("defects".into(), json!([]));
            serde_json::to_writer(&mut *out, &Value::Object(obj))
        }
    }?;
    out.push(b'\n');
    Ok(())
}

fn people(list: &[NameAddr]) -> Value {
    Value::Array(
        list.iter()
            .map(|a| json!({"name": a.name, "address": a.address}))
            .collect(),
    )
}

/// The schema's fields that jsonl did not have under these names.
fn schema_fields(r: &MessageRow, obj: &mut Map<String, Value>) {
    obj.insert("message_id".into(), r.message_id.clone().into());
    obj.insert("in_reply_to".into(), r.in_reply_to.clone().into());
    obj.insert("references".into(), r.references.clone().into());
    obj.insert("date".into(), r.date.into());
    obj.insert("date_offset".into(), r.date_offset.into());
    obj.insert("date_raw".into(), r.date_raw.clone().into());
    obj.insert("received".into(), r.received.into());
    obj.insert("subject".into(), r.subject.clone().into());
    obj.insert("from_name".into(), r.from_name.clone().into());
    obj.insert("from_address".into(), r.from_address.clone().into());
    obj.insert("to".into(), people(&r.to));
    obj.insert("cc".into(), people(&r.cc));
    obj.insert("bcc".into(), people(&r.bcc));
    obj.insert("reply_to".into(), people(&r.reply_to));
    obj.insert("list_id".into(), r.list_id.clone().into());
    // Gmail's fields appear only on Gmail mail, as before.
    if !r.gmail_labels.is_empty() {
        obj.insert("gmail_labels".into(), r.gmail_labels.clone().into());
    }
    if let Some(t) = &r.gmail_thread_id {
        obj.insert("gmail_thread_id".into(), t.clone().into());
    }
    obj.insert("size".into(), r.size.into());
    obj.insert("attachment_count".into(), r.attachment_count.into());
    obj.insert("defect_list".into(), r.defects.clone().into());
    obj.insert(
        "header_list".into(),
        Value::Array(
            r.headers
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        ),
    );
    obj.insert("dkim".into(), crate::rows::dkim_json(r.dkim.as_deref()));
}

/// A header value unfolded and trimmed, as text.
pub(crate) fn lossy_unfolded(v: &[u8]) -> String {
    String::from_utf8_lossy(&crate::header::unfold(v))
        .trim()
        .to_string()
}

/// A resumed run: the first `len` bytes of the jsonl output (the records
/// the interrupted run committed) go into `threads`.
pub(crate) fn seed_threads(
    dir: &Dir,
    name: &OsStr,
    len: u64,
    shown: &Path,
    threads: &mut ThreadIndex,
) -> Result<(), BatchError> {
    let f = dir.open_file(name).map_err(BatchError::io(shown))?;
    let mut lines = BufReader::new(f.take(len));
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines
            .read_until(b'\n', &mut line)
            .map_err(BatchError::io(shown))?
            == 0
        {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(&line).map_err(|e| {
            BatchError::Resume(format!("{}: unreadable record ({e})", shown.display()))
        })?;
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let refs: Vec<String> = v
            .get("references")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        threads.push(
            s("source").unwrap_or(""),
            v.get("offset").and_then(Value::as_u64).unwrap_or(0),
            s("message_id"),
            s("in_reply_to"),
            &refs,
        );
    }
}

/// One line of the threads file: the object {"offset", "source",
/// "thread_id"} as serde_json writes it (keys in its order), written field
/// by field rather than built as a map per message, since it runs on one
/// thread at the end of the run; `source` is `t.source` as JSON already.
fn thread_record(w: &mut impl Write, t: &ThreadRow<'_>, source: &[u8]) -> std::io::Result<()> {
    w.write_all(b"{\"offset\":")?;
    serde_json::to_writer(&mut *w, &t.offset)?;
    w.write_all(b",\"source\":")?;
    w.write_all(source)?;
    // A thread id is hex digits: nothing to escape.
    w.write_all(b",\"thread_id\":\"")?;
    w.write_all(t.thread_id.as_bytes())?;
    w.write_all(b"\"}\n")
}

/// Writes the threads file as `partial`, then renames it to `fin`.
pub(crate) fn write_threads(
    dir: &Dir,
    partial: &OsStr,
    fin: &OsStr,
    threads: &mut ThreadIndex,
) -> Result<(), BatchError> {
    let shown = dir.display_path(partial);
    let f = dir.create_new(partial).map_err(BatchError::io(&shown))?;
    let mut w = BufWriter::with_capacity(1 << 20, f);
    // Written after the last window, on one thread: each message's source
    // (the same for all of an mbox) is escaped once, and the records are
    // put together without `fmt`.
    let mut source: Option<(&str, Vec<u8>)> = None;
    for t in threads.finish() {
        if source.as_ref().is_none_or(|(s, _)| *s != t.source) {
            let json = serde_json::to_vec(t.source).map_err(std::io::Error::from);
            source = Some((t.source, json.map_err(BatchError::io(&shown))?));
        }
        let json = &source.as_ref().expect("set above").1;
        thread_record(&mut w, &t, json).map_err(BatchError::io(&shown))?;
    }
    w.flush().map_err(BatchError::io(&shown))?;
    drop(w);
    dir.rename_noreplace(partial, dir, fin)
        .map_err(BatchError::io(&dir.display_path(fin)))
}
