//! The JSON shape shared by `mimeflow parse --json`, the jsonl index and
//! Python's `structure()`, and the human tree of `mimeflow show`.
//!
//! Both walk the flat entity arena in order, so they work at any depth.

use std::io::{self, Write};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{section, Defect, EntityRef, Kind, Message};
use crate::header;

fn defects_json(defects: &[Defect]) -> Value {
    Value::Array(
        defects
            .iter()
            .map(|d| json!({"code": d.code.as_str(), "offset": d.offset}))
            .collect(),
    )
}

/// The values of the root's fields named `name`, each with its source offset.
fn fields<'m>(msg: &'m Message, name: &'m str) -> impl Iterator<Item = (u64, &'m [u8])> + 'm {
    msg.entity(0).fields.iter().filter_map(move |f| {
        let src = msg.source();
        src[f.name.clone()]
            .eq_ignore_ascii_case(name.as_bytes())
            .then(|| (f.value.start as u64, &src[f.value.clone()]))
    })
}

fn addresses(msg: &Message, name: &str, defects: &mut Vec<Defect>) -> Value {
    let mut list = Vec::new();
    for (at, raw) in fields(msg, name) {
        for a in header::address::parse_address_list(raw, at, defects) {
            list.push(json!({"name": a.name, "address": a.address}));
        }
    }
    Value::Array(list)
}

impl Message {
    /// The decoded top-level headers: `subject`, `from`, `to`, `cc` (lists
    /// of `{name, address}`), `date` (ISO 8601) and `message_id`.
    pub fn headers_json(&self) -> Value {
        self.headers_json_with_defects(&mut Vec::new())
    }

    /// [`Message::headers_json`], also collecting what was wrong with those
    /// headers (bad encoded-words, addresses, dates).
    pub fn headers_json_with_defects(&self, defects: &mut Vec<Defect>) -> Value {
        let subject = fields(self, "subject")
            .next()
            .map(|(at, v)| header::decode_text(v, at, defects));
        let date = fields(self, "date").next().and_then(|(at, v)| {
            let parsed = header::date::parse_date(&header::unfold(v));
            if parsed.is_none() {
                defects.push(Defect::new(crate::defect::DefectCode::BadDate, at));
            }
            parsed.map(|d| d.to_iso8601())
        });
        let message_id = fields(self, "message-id").next().map(|(_, v)| {
            String::from_utf8_lossy(&header::unfold(v))
                .trim()
                .to_string()
        });
        json!({
            "subject": subject,
            "from": addresses(self, "from", defects),
            "to": addresses(self, "to", defects),
            "cc": addresses(self, "cc", defects),
            "date": date,
            "message_id": message_id,
        })
    }

    /// One entity's JSON object; leaves carry `size` and `sha256` of their
    /// decoded body (decoding defects are included in `defects`).
    pub fn part_json(&self, e: &EntityRef<'_>, section: &str) -> Value {
        let mut o = Map::new();
        o.insert("section".into(), section.into());
        o.insert("kind".into(), e.kind().as_str().into());
        o.insert("content_type".into(), e.mime_type().into());
        o.insert("charset".into(), e.charset().into());
        o.insert(
            "disposition".into(),
            e.disposition().map(|d| d.kind.clone()).into(),
        );
        o.insert("filename".into(), e.filename().into());
        o.insert(
            "transfer_encoding".into(),
            e.transfer_encoding().as_str().into(),
        );
        let mut defects = e.defects().to_vec();
        if e.kind() == Kind::Leaf {
            let (body, more) = e.decoded_with_defects();
            defects.extend(more);
            o.insert("size".into(), body.len().into());
            o.insert("sha256".into(), hex(&Sha256::digest(&body)).into());
        }
        o.insert("defects".into(), defects_json(&defects));
        Value::Object(o)
    }

    /// The whole `parse --json` object: `headers`, `defects` (every defect
    /// of every entity, decoding included) and `parts` (every entity in
    /// depth-first pre-order, the root included).
    pub fn to_json(&self) -> Value {
        let sections = section::all(self);
        let mut header_defects = Vec::new();
        let headers = self.headers_json_with_defects(&mut header_defects);
        let mut parts = Vec::with_capacity(self.len());
        let mut all_defects = Vec::new();
        for (e, s) in self.walk().zip(&sections) {
            let mut p = self.part_json(&e, s);
            if e.index() == 0 && !header_defects.is_empty() {
                // The root's decoded headers are part of the root entity.
                if let Some(Value::Array(d)) = p.get_mut("defects") {
                    d.extend(
                        defects_json(&header_defects)
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                    );
                }
            }
            if let Some(Value::Array(d)) = p.get("defects") {
                all_defects.extend(d.iter().cloned());
            }
            parts.push(p);
        }
        json!({
            "headers": headers,
            "defects": all_defects,
            "parts": parts,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the readable tree of `mimeflow show`: one line per entity,
/// indented by depth, with section, type, size, filename and defects.
pub fn write_tree(msg: &Message, out: &mut impl Write) -> io::Result<()> {
    let sections = section::all(msg);
    for (e, s) in msg.walk().zip(&sections) {
        let indent = e.depth().min(40) * 2;
        let label = if s.is_empty() {
            "-".to_string()
        } else {
            s.clone()
        };
        let mut line = format!("{:indent$}{label:<8} {}", "", e.mime_type());
        if let Some(c) = e.content_type().charset() {
            line.push_str(&format!("; charset={c}"));
        }
        match e.kind() {
            Kind::Leaf => {
                let (body, defects) = e.decoded_with_defects();
                line.push_str(&format!("  {}", human_size(body.len())));
                if e.transfer_encoding().is_encoded() {
                    line.push_str(&format!(" ({})", e.transfer_encoding().as_str()));
                }
                if let Some(name) = e.filename() {
                    line.push_str(&format!("  {name:?}"));
                }
                if let Some(d) = e.disposition() {
                    line.push_str(&format!("  [{}]", d.kind));
                }
                write_defects(&mut line, e.defects().iter().chain(&defects));
            }
            _ => {
                line.push_str(&format!("  {}", human_size(e.raw().len())));
                write_defects(&mut line, e.defects().iter());
            }
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn write_defects<'a>(line: &mut String, defects: impl Iterator<Item = &'a Defect>) {
    let list: Vec<String> = defects
        .map(|d| format!("{}@{}", d.code.as_str(), d.offset))
        .collect();
    if !list.is_empty() {
        line.push_str(&format!("  !{}", list.join(",")));
    }
}

fn human_size(n: usize) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
    }
}
