//! The JSON shape shared by `mimeflow parse --json`, the jsonl index and
//! Python's `structure()`, and the human tree of `mimeflow show`.
//!
//! Both walk the flat entity arena in order, so they work at any depth.
//!
//! [`MessageJson`] is the shape itself, serialised straight to a writer:
//! nothing proportional to the message is built but one small record per
//! entity and the defects; addresses are parsed as they are written (once
//! before, for their defects, which the output lists first). A `serde_json::Value` tree would hold a map node of about
//! 600 bytes per address object, more than the output it stands for; the
//! `Value` methods ([`Message::to_json`] and friends, for Python) are built
//! from the same serialisation. Keys come in sorted order, as `Value`'s
//! maps always wrote them. Decoded bodies are hashed and sized as they
//! stream ([`EntityRef::decode_to`]), never held.

use std::io::{self, Write};

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use super::{hex, section, Defect, EntityRef, Kind, Message, Sha256Sink};
use crate::header;
use crate::header::address::Address;

/// The values of the root's fields named `name`, each with its source offset.
fn fields<'m>(msg: &'m Message, name: &'m str) -> impl Iterator<Item = (u64, &'m [u8])> + 'm {
    msg.entity(0).fields.iter().filter_map(move |f| {
        let src = msg.source();
        src[f.name.clone()]
            .eq_ignore_ascii_case(name.as_bytes())
            .then(|| (f.value.start as u64, &src[f.value.clone()]))
    })
}

/// A list of defects: `[{"code", "offset"}, ...]`.
struct DefectList<'a, I: Iterator<Item = &'a Defect> + Clone>(I);

impl<'a, I: Iterator<Item = &'a Defect> + Clone> Serialize for DefectList<'a, I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for d in self.0.clone() {
            seq.serialize_element(&DefectJson(d))?;
        }
        seq.end()
    }
}

struct DefectJson<'a>(&'a Defect);

impl Serialize for DefectJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("code", self.0.code.as_str())?;
        m.serialize_entry("offset", &self.0.offset)?;
        m.end()
    }
}

/// The addresses of the root's fields named `name`, `[{"address", "name"},
/// ...]` (the group is not part of the shape), parsed as they are written:
/// a field of a million addresses is never held as a list. (Their defects
/// were collected by [`Headers::read`], parsing them once more.)
struct AddressField<'m> {
    msg: &'m Message,
    name: &'static str,
}

impl AddressField<'_> {
    /// Parses the addresses for their defects only.
    fn defects(&self, defects: &mut Vec<Defect>) {
        for (at, raw) in fields(self.msg, self.name) {
            header::address::for_each_address(raw, at, defects, |_| {});
        }
    }
}

impl Serialize for AddressField<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        let mut result = Ok(());
        for (at, raw) in fields(self.msg, self.name) {
            header::address::for_each_address(raw, at, &mut Vec::new(), |a| {
                if result.is_ok() {
                    result = seq.serialize_element(&AddressJson(&a));
                }
            });
        }
        result?;
        seq.end()
    }
}

struct AddressJson<'a>(&'a Address);

impl Serialize for AddressJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("address", &self.0.address)?;
        m.serialize_entry("name", &self.0.name)?;
        m.end()
    }
}

/// The decoded top-level headers.
struct Headers<'m> {
    subject: Option<String>,
    date: Option<String>,
    message_id: Option<String>,
    from: AddressField<'m>,
    to: AddressField<'m>,
    cc: AddressField<'m>,
}

impl<'m> Headers<'m> {
    fn read(msg: &'m Message, defects: &mut Vec<Defect>) -> Headers<'m> {
        let subject = fields(msg, "subject")
            .next()
            .map(|(at, v)| header::decode_text(v, at, defects));
        let date = fields(msg, "date").next().and_then(|(at, v)| {
            let parsed = header::date::parse_date(&header::unfold(v));
            if parsed.is_none() {
                defects.push(Defect::new(crate::defect::DefectCode::BadDate, at));
            }
            parsed.map(|d| d.to_iso8601())
        });
        let message_id = fields(msg, "message-id").next().map(|(_, v)| {
            String::from_utf8_lossy(&header::unfold(v))
                .trim()
                .to_string()
        });
        // Defects in the order they have always come: subject, date, then
        // the address lists.
        let [from, to, cc] = ["from", "to", "cc"].map(|name| AddressField { msg, name });
        from.defects(defects);
        to.defects(defects);
        cc.defects(defects);
        Headers {
            subject,
            date,
            message_id,
            from,
            to,
            cc,
        }
    }
}

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("cc", &self.cc)?;
        m.serialize_entry("date", &self.date)?;
        m.serialize_entry("from", &self.from)?;
        m.serialize_entry("message_id", &self.message_id)?;
        m.serialize_entry("subject", &self.subject)?;
        m.serialize_entry("to", &self.to)?;
        m.end()
    }
}

/// One entity: its description is read from the entity when serialised;
/// the decoded size and sha256 (leaves) and the defects are computed once.
struct Part<'m> {
    e: EntityRef<'m>,
    section: String,
    /// Decoded size and sha256, for leaves.
    digest: Option<(u64, [u8; 32])>,
    /// The entity's own defects, then those found decoding it, then (root
    /// of a whole message only) those of its decoded headers.
    defects: Vec<Defect>,
}

impl<'m> Part<'m> {
    fn read(e: EntityRef<'m>, section: String) -> Part<'m> {
        let mut defects = e.defects().to_vec();
        let digest = (e.kind() == Kind::Leaf).then(|| {
            let mut sink = Sha256Sink::new();
            let (_, more) = e.decode_to(&mut sink).expect("hashing cannot fail");
            defects.extend(more);
            let (sha, len, _) = sink.finish();
            (len, sha)
        });
        Part {
            e,
            section,
            digest,
            defects,
        }
    }
}

impl Serialize for Part<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = &self.e;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("charset", &e.charset())?;
        m.serialize_entry("content_type", &e.mime_type())?;
        m.serialize_entry("defects", &DefectList(self.defects.iter()))?;
        m.serialize_entry("disposition", &e.disposition().map(|d| &d.kind))?;
        m.serialize_entry("filename", &e.filename())?;
        m.serialize_entry("kind", e.kind().as_str())?;
        m.serialize_entry("section", &self.section)?;
        if let Some((size, sha)) = &self.digest {
            m.serialize_entry("sha256", &hex(sha))?;
            m.serialize_entry("size", size)?;
        }
        m.serialize_entry("transfer_encoding", e.transfer_encoding().as_str())?;
        m.end()
    }
}

/// The whole `parse --json` object of a message, ready to serialise:
/// `defects` (every defect of every entity, decoding included), `headers`
/// and `parts` (every entity in depth-first pre-order, the root included).
/// Made by [`Message::json`]; [`Message::to_json`] is its `Value`.
pub struct MessageJson<'m> {
    headers: Headers<'m>,
    parts: Vec<Part<'m>>,
}

/// The keys of a [`MessageJson`] object, in the order it writes them.
const MESSAGE_KEYS: [&str; 3] = ["defects", "headers", "parts"];

impl MessageJson<'_> {
    fn entry<M: SerializeMap>(&self, m: &mut M, key: &str) -> Result<(), M::Error> {
        match key {
            "defects" => m.serialize_entry(
                key,
                &DefectList(self.parts.iter().flat_map(|p| p.defects.iter())),
            ),
            "headers" => m.serialize_entry(key, &self.headers),
            _ => m.serialize_entry(key, &PartList(&self.parts)),
        }
    }

    /// The message's object with `extra` fields added (the jsonl record:
    /// index, offset, flags...), all keys in sorted order; a key of
    /// `extra` replaces the message's own.
    pub fn with_fields<'a>(&'a self, extra: &'a Map<String, Value>) -> impl Serialize + 'a {
        WithFields { json: self, extra }
    }

    /// Writes the object as one line of compact JSON (no newline).
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(w, self).map_err(io::Error::from)
    }
}

struct PartList<'a, 'm>(&'a [Part<'m>]);

impl Serialize for PartList<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for p in self.0 {
            seq.serialize_element(p)?;
        }
        seq.end()
    }
}

impl Serialize for MessageJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(MESSAGE_KEYS.len()))?;
        for key in MESSAGE_KEYS {
            self.entry(&mut m, key)?;
        }
        m.end()
    }
}

/// A message's object merged with extra fields, keys in sorted order.
struct WithFields<'a, 'm> {
    json: &'a MessageJson<'m>,
    extra: &'a Map<String, Value>,
}

impl Serialize for WithFields<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut keys: Vec<&str> = self.extra.keys().map(String::as_str).collect();
        keys.extend(
            MESSAGE_KEYS
                .iter()
                .filter(|k| !self.extra.contains_key(**k)),
        );
        keys.sort_unstable();
        let mut m = s.serialize_map(Some(keys.len()))?;
        for key in keys {
            match self.extra.get(key) {
                Some(v) => m.serialize_entry(key, v)?,
                None => self.json.entry(&mut m, key)?,
            }
        }
        m.end()
    }
}

fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).expect("the JSON shape has string keys only")
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
        to_value(&Headers::read(self, defects))
    }

    /// One entity's JSON object; leaves carry `size` and `sha256` of their
    /// decoded body (decoding defects are included in `defects`).
    pub fn part_json(&self, e: &EntityRef<'_>, section: &str) -> Value {
        to_value(&Part::read(*e, section.to_string()))
    }

    /// The whole `parse --json` object, ready to serialise (see
    /// [`MessageJson`]). Every leaf is decoded here, as a stream, for its
    /// size and sha256.
    pub fn json(&self) -> MessageJson<'_> {
        let mut header_defects = Vec::new();
        let headers = Headers::read(self, &mut header_defects);
        let mut parts: Vec<Part<'_>> = self
            .walk()
            .zip(section::all(self))
            .map(|(e, s)| Part::read(e, s))
            .collect();
        // The root's decoded headers are part of the root entity.
        parts[0].defects.extend(header_defects);
        MessageJson { headers, parts }
    }

    /// [`Message::json`] as a `Value`: `headers`, `defects` and `parts`.
    pub fn to_json(&self) -> Value {
        to_value(&self.json())
    }
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
                let (len, defects) = e.decode_to(&mut io::sink())?;
                line.push_str(&format!("  {}", human_size(len)));
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
                line.push_str(&format!("  {}", human_size(e.raw().len() as u64)));
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

fn human_size(n: u64) -> String {
    match n {
        n if n < 1024 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
    }
}
