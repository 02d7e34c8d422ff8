//! The message tree: a parsed RFC 5322/MIME message whose entities are byte
//! ranges into one shared source buffer, decoded only when asked.
//!
//! Entities live in a flat arena in depth-first pre-order, each knowing its
//! parent and the size of its subtree, so nothing is recursive: parsing,
//! walking, numbering, serialising and dropping a message nested 100,000
//! levels deep all run in loops. Parsing is one forward pass over the source
//! (see `parse.rs`) and never fails: malformed mail is read as well as it
//! can be, and what was wrong is recorded as [`Defect`]s on the entity where
//! it was found. [`ParseOptions::strict`] turns the first defect into an error.
//!
//! Entities are numbered as IMAP does (RFC 3501 §6.4.5): see [`EntityRef::section`].

mod decode;
mod json;
mod parse;
mod section;
mod sink;
pub mod stream;

use std::ops::Range;

use bytes::Bytes;

pub use crate::defect::{Defect, DefectCode};
pub use crate::header::params::{ContentDisposition, ContentType, Params};
pub use decode::TransferEncoding;
pub use json::{write_tree, MessageJson};
pub(crate) use sink::hex;
pub use sink::{DecodeSink, Sha256Sink};

/// The root's header fields of `source`, exactly as [`Message::parse`]
/// reads them, without parsing anything else (see `parse::root_fields`),
/// and where the header block ends; ranges index `source`. (Its one user
/// is the batch pipeline.)
#[cfg(feature = "parallel")]
pub(crate) fn root_fields(source: &[u8]) -> (Vec<crate::header::Field>, usize) {
    parse::root_fields(source, ParseOptions::default().limits)
}

/// Resource limits, each with a documented cut-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of multiparts and carried messages. Deeper
    /// multipart/message entities are read as leaves (`depth_limit`).
    pub max_depth: usize,
    /// Most entities in a message. Further parts are not created: their
    /// bytes stay inside their multipart's body, belonging to no part
    /// (`parts_limit`, once on each multipart that lost a part).
    pub max_parts: usize,
    /// Most header fields per entity; the rest are ignored (`header_count_limit`).
    pub max_header_fields: usize,
    /// Largest header block per entity; fields beyond it are ignored
    /// (`header_size_limit`); the body still starts after the blank line.
    pub max_header_bytes: usize,
    /// Longest header line; longer fields are flagged (`header_line_too_long`)
    /// and only their first `max_line_length` bytes are interpreted.
    pub max_line_length: usize,
    /// Largest decoded body; decoding stops there (`decoded_size_limit`).
    pub max_decoded_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 100,
            max_parts: 100_000,
            max_header_fields: 10_000,
            max_header_bytes: 16 << 20,
            max_line_length: 64 << 10,
            max_decoded_bytes: usize::MAX,
        }
    }
}

impl Limits {
    /// No limits at all (for trusted input and for tests of deep nesting).
    pub fn unlimited() -> Limits {
        Limits {
            max_depth: usize::MAX,
            max_parts: usize::MAX,
            max_header_fields: usize::MAX,
            max_header_bytes: usize::MAX,
            max_line_length: usize::MAX,
            max_decoded_bytes: usize::MAX,
        }
    }
}

/// How to parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Resource limits.
    pub limits: Limits,
    /// Fail on the first defect instead of recording it.
    pub strict: bool,
}

/// A strict-mode parse failure: the first defect found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct ParseError(pub Defect);

/// What an entity holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A multipart/*: its children are its parts.
    Multipart,
    /// A message/rfc822 or message/global: its one child is the carried message.
    Message,
    /// Anything else: a body to decode.
    Leaf,
}

impl Kind {
    /// `multipart`, `message` or `leaf`, as in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Multipart => "multipart",
            Kind::Message => "message",
            Kind::Leaf => "leaf",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Entity {
    /// The whole entity: header block and body.
    pub(crate) range: Range<usize>,
    pub(crate) header: Range<usize>,
    pub(crate) body: Range<usize>,
    /// Header fields, ranges absolute in the source.
    pub(crate) fields: Vec<crate::header::Field>,
    pub(crate) parent: u32,
    /// 1-based position among the parent's children (1 for the root and
    /// for a carried message), recorded at parse time so that a section
    /// number costs O(depth), not a walk over the preceding siblings.
    pub(crate) ordinal: u32,
    /// Entities in this entity's subtree, itself included.
    pub(crate) subtree: u32,
    pub(crate) depth: u32,
    pub(crate) kind: Kind,
    pub(crate) content_type: ContentType,
    /// Whether Content-Type was present and parsed (else an RFC default).
    pub(crate) explicit_type: bool,
    pub(crate) disposition: Option<ContentDisposition>,
    pub(crate) encoding: TransferEncoding,
    pub(crate) defects: Vec<Defect>,
}

pub(crate) const NO_PARENT: u32 = u32::MAX;

/// A parsed message.
#[derive(Clone, Debug)]
pub struct Message {
    source: Bytes,
    entities: Vec<Entity>,
    limits: Limits,
}

impl Message {
    /// Parses `source` leniently with default limits; never fails.
    pub fn parse(source: impl Into<Bytes>) -> Message {
        parse::parse(source.into(), &ParseOptions::default()).expect("lenient parsing never fails")
    }

    /// Parses with `options`; fails only in strict mode.
    pub fn parse_with(
        source: impl Into<Bytes>,
        options: &ParseOptions,
    ) -> Result<Message, ParseError> {
        parse::parse(source.into(), options)
    }

    /// The source bytes.
    pub fn source(&self) -> &Bytes {
        &self.source
    }

    /// The message serialised: byte for byte the source, since the tree is
    /// never modified in place.
    pub fn to_bytes(&self) -> Bytes {
        self.source.clone()
    }

    /// The top-level entity (the message itself).
    pub fn root(&self) -> EntityRef<'_> {
        EntityRef { msg: self, idx: 0 }
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Always false: a message has at least its root entity.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Every entity in depth-first pre-order, the root first.
    pub fn walk(&self) -> impl ExactSizeIterator<Item = EntityRef<'_>> + '_ {
        (0..self.entities.len()).map(move |idx| EntityRef { msg: self, idx })
    }

    /// The entity with IMAP section number `section` (`""` is a multipart root).
    pub fn section(&self, section: &str) -> Option<EntityRef<'_>> {
        section::find(self, section).map(|idx| EntityRef { msg: self, idx })
    }

    /// Leaves that are attachments: disposition `attachment`, or a filename.
    pub fn attachments(&self) -> impl Iterator<Item = EntityRef<'_>> + '_ {
        self.walk().filter(|e| e.is_attachment())
    }

    /// Every defect of every entity, in source order of the entities.
    pub fn defects(&self) -> impl Iterator<Item = Defect> + '_ {
        self.entities.iter().flat_map(|e| e.defects.iter().copied())
    }

    /// The limits the message was parsed with (decoding honours
    /// `max_decoded_bytes`).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The entity at position `index` of [`Message::walk`] order.
    pub fn get(&self, index: usize) -> Option<EntityRef<'_>> {
        (index < self.entities.len()).then_some(EntityRef {
            msg: self,
            idx: index,
        })
    }

    /// The IMAP section number of every entity, in [`Message::walk`] order
    /// (one pass; cheaper than [`EntityRef::section`] per entity).
    pub fn sections(&self) -> Vec<String> {
        section::all(self)
    }

    pub(crate) fn entity(&self, idx: usize) -> &Entity {
        &self.entities[idx]
    }
}

/// A view of one entity of a [`Message`].
#[derive(Clone, Copy, Debug)]
pub struct EntityRef<'a> {
    msg: &'a Message,
    idx: usize,
}

impl<'a> EntityRef<'a> {
    fn e(&self) -> &'a Entity {
        &self.msg.entities[self.idx]
    }

    /// Position in [`Message::walk`] order.
    pub fn index(&self) -> usize {
        self.idx
    }

    /// The message this entity belongs to.
    pub fn message(&self) -> &'a Message {
        self.msg
    }

    /// IMAP section number (RFC 3501 §6.4.5): the body of a non-multipart
    /// message is `1`; parts of a multipart are `1`, `2`, … nesting as `2.1`;
    /// a message/rfc822 part numbered `2` keeps `2` and the message it carries
    /// is numbered as if it stood alone, prefixed by `2.`; a multipart root
    /// is `""`. (A carried multipart message shares its part's number.)
    pub fn section(&self) -> String {
        section::of(self.msg, self.idx)
    }

    /// Multipart, message or leaf.
    pub fn kind(&self) -> Kind {
        self.e().kind
    }

    /// Nesting depth (the root is 0).
    pub fn depth(&self) -> usize {
        self.e().depth as usize
    }

    /// The parent entity, `None` for the root.
    pub fn parent(&self) -> Option<EntityRef<'a>> {
        let p = self.e().parent;
        (p != NO_PARENT).then_some(EntityRef {
            msg: self.msg,
            idx: p as usize,
        })
    }

    /// Direct children: parts of a multipart, or the carried message.
    pub fn children(&self) -> impl Iterator<Item = EntityRef<'a>> + 'a {
        let msg = self.msg;
        let end = self.idx + self.e().subtree as usize;
        let mut next = self.idx + 1;
        std::iter::from_fn(move || {
            if next >= end {
                return None;
            }
            let child = EntityRef { msg, idx: next };
            next += msg.entities[next].subtree as usize;
            Some(child)
        })
    }

    /// The whole entity's bytes (header block and body).
    pub fn raw(&self) -> &'a [u8] {
        &self.msg.source[self.e().range.clone()]
    }

    /// The header block's bytes.
    pub fn header_bytes(&self) -> &'a [u8] {
        &self.msg.source[self.e().header.clone()]
    }

    /// The body's bytes, still transfer-encoded.
    pub fn body_bytes(&self) -> &'a [u8] {
        &self.msg.source[self.e().body.clone()]
    }

    /// Byte range of the whole entity in the source.
    pub fn range(&self) -> Range<usize> {
        self.e().range.clone()
    }

    /// Byte range of the body in the source.
    pub fn body_range(&self) -> Range<usize> {
        self.e().body.clone()
    }

    /// Header fields as (name, raw folded value) in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let src = &self.msg.source;
        self.e()
            .fields
            .iter()
            .map(move |f| (&src[f.name.clone()], &src[f.value.clone()]))
    }

    /// The first field named `name` (ASCII case-insensitive), raw and folded.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Every field named `name`, raw.
    pub fn header_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The first field named `name`, unfolded and RFC 2047-decoded.
    pub fn header_text(&self, name: &str) -> Option<String> {
        let v = self.header(name)?;
        Some(crate::header::decode_text(v, 0, &mut Vec::new()))
    }

    /// Content type, or the RFC default (text/plain; charset=us-ascii, or
    /// message/rfc822 inside multipart/digest).
    pub fn content_type(&self) -> &'a ContentType {
        &self.e().content_type
    }

    /// `type/subtype`, lowercase.
    pub fn mime_type(&self) -> String {
        self.e().content_type.mime_type()
    }

    /// Whether the Content-Type came from the header (not a default).
    pub fn has_explicit_type(&self) -> bool {
        self.e().explicit_type
    }

    /// The charset parameter, lowercased; `us-ascii` for text/* without one.
    pub fn charset(&self) -> Option<String> {
        match self.e().content_type.charset() {
            Some(c) => Some(c.trim().to_ascii_lowercase()),
            None if self.e().content_type.type_ == "text" => Some("us-ascii".to_string()),
            None => None,
        }
    }

    /// The parsed Content-Disposition.
    pub fn disposition(&self) -> Option<&'a ContentDisposition> {
        self.e().disposition.as_ref()
    }

    /// The file name: the disposition's `filename`, else the content type's
    /// `name` (parameter values arrive RFC 2231- and RFC 2047-decoded).
    pub fn filename(&self) -> Option<String> {
        let from_disposition = self
            .e()
            .disposition
            .as_ref()
            .and_then(|d| d.params.get("filename"));
        from_disposition
            .or_else(|| self.e().content_type.params.get("name"))
            .map(str::to_string)
    }

    /// An attachment: a leaf with disposition `attachment` or a filename.
    pub fn is_attachment(&self) -> bool {
        self.kind() == Kind::Leaf
            && (self
                .e()
                .disposition
                .as_ref()
                .is_some_and(|d| d.kind == "attachment")
                || self.filename().is_some())
    }

    /// The Content-Transfer-Encoding (7bit when absent).
    pub fn transfer_encoding(&self) -> &'a TransferEncoding {
        &self.e().encoding
    }

    /// Defects found in this entity's header and structure.
    pub fn defects(&self) -> &'a [Defect] {
        &self.e().defects
    }

    /// The body with its transfer encoding undone; defects found while
    /// decoding come back beside it.
    pub fn decoded_with_defects(&self) -> (Vec<u8>, Vec<Defect>) {
        decode::body(self)
    }

    /// Writes the body with its transfer encoding undone to `sink`, a
    /// bounded step at a time (a few hundred KiB held, whatever the body's
    /// size); returns the bytes of the decoded body and the defects found
    /// decoding it. The bytes are exactly those of [`EntityRef::decoded`],
    /// `max_decoded_bytes` included.
    ///
    /// Only broken Base64 that the stdlib's repairs cannot save (its text is
    /// then the payload) makes the decoder [`DecodeSink::restart`] and write
    /// from the start again. An error is the sink's; what was written is then
    /// incomplete.
    ///
    /// ```
    /// use mimeflow::message::{Message, Sha256Sink};
    /// let msg = Message::parse(&b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n"[..]);
    /// let mut sink = Sha256Sink::new();
    /// let (len, defects) = msg.root().decode_to(&mut sink).unwrap();
    /// assert_eq!((len, defects.len()), (5, 0));
    /// assert_eq!(sink.finish().0[..4], [0x2c, 0xf2, 0x4d, 0xba]); // sha256("hello")
    /// ```
    pub fn decode_to(
        &self,
        sink: &mut (impl DecodeSink + ?Sized),
    ) -> std::io::Result<(u64, Vec<Defect>)> {
        self.decode_to_in_steps(sink, decode::BLOCK)
    }

    /// [`EntityRef::decode_to`] reading about `step` input bytes at a time
    /// (default: a few hundred KiB). A smaller step holds less in memory
    /// and reaches the sink sooner; the bytes the sink gets, their count
    /// and the defects do not depend on it.
    pub fn decode_to_in_steps(
        &self,
        sink: &mut (impl DecodeSink + ?Sized),
        step: usize,
    ) -> std::io::Result<(u64, Vec<Defect>)> {
        decode::to_sink(self, sink, step)
    }

    /// The body with its transfer encoding undone.
    pub fn decoded(&self) -> Vec<u8> {
        self.decoded_with_defects().0
    }

    /// The decoded body as text through its charset (UTF-8 if valid, else
    /// windows-1252, when the charset is missing or unknown).
    pub fn text(&self) -> String {
        let bytes = self.decoded();
        let charset = self.charset();
        crate::charset::decode(&bytes, charset.as_deref())
            .text
            .into_owned()
    }

    /// uuencoded blocks inside a text body (old mailers attached files so).
    pub fn uu_blocks(&self) -> Vec<crate::uu::UuBlock> {
        crate::uu::find_blocks(&self.decoded())
    }
}
