//! The one-pass parser that builds the entity arena.
//!
//! Entities are opened as the scan reaches them and closed when a delimiter
//! of an enclosing multipart (or the end of the source) is found, so every
//! byte is looked at a bounded number of times whatever the nesting:
//!
//! ```text
//! open root; descend into it
//! loop:
//!     find the next line "--X" where X is the boundary of an open multipart
//!         (one memmem Finder for "\n--", then a lookup of the line in the
//!         table of open boundaries, confirmed by the delimiter grammar)
//!     close every entity opened inside that multipart's current part
//!     delimiter: open the next part (bounded header scan), descend into it
//!     close delimiter: the multipart's epilogue runs until an outer delimiter
//! at the end: close everything; unclosed multiparts get a defect
//! ```
//!
//! "Descend" pushes a multipart's boundary, or opens the message a
//! message/rfc822 part carries, in a loop. Scanning each multipart body for
//! its own boundary (as a recursive parser would) reads nested bodies once
//! per level: quadratic at depth. Header blocks are scanned line by line and
//! also stop at delimiters, so a part without a blank line cannot swallow
//! its siblings.
//!
//! The delimiter-line grammar, the line-start search, the end-of-content
//! rule and the repeated-delimiter rule are `crate::multipart`'s, the same
//! ones [`crate::multipart::Scanner`] and [`crate::multipart::split`] run on;
//! what this parser adds is the table that watches every open boundary at
//! once (a lookup per `--` line, whatever the depth).

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use memchr::memmem;

use super::decode::TransferEncoding;
use super::{
    ContentType, Defect, DefectCode, Entity, Kind, Limits, Message, ParseError, ParseOptions,
    NO_PARENT,
};
use crate::header::{self, params};
use crate::multipart;

pub(super) fn parse(source: Bytes, options: &ParseOptions) -> Result<Message, ParseError> {
    let entities = {
        let mut p = Parser::new(&source, options.limits);
        p.run();
        p.entities
    };
    let msg = Message {
        source,
        entities,
        limits: options.limits,
    };
    if options.strict {
        if let Some(first) = msg.defects().min_by_key(|d| d.offset) {
            return Err(ParseError(first));
        }
    }
    Ok(msg)
}

/// The root's header fields of `source`, read as [`parse`] reads them
/// (the same extent, limits and field grammar: [`Parser::read_header`]),
/// and nothing else: no Content-Type, no body, no entity tree. For a
/// caller that needs a few fields of many messages (a Maildir run's flags
/// and Date), where the whole parse of the header block cost about a
/// quarter of the worker's time.
#[cfg(feature = "parallel")]
/// Returns the fields and where the header block ends (before the blank
/// line; `source.len()` with none).
pub(crate) fn root_fields(source: &[u8], limits: Limits) -> (Vec<header::Field>, usize) {
    let p = Parser::new(source, limits);
    let h = p.read_header(0, NO_PARENT, &mut Vec::new());
    (h.fields, h.end)
}

struct Frame {
    /// The multipart entity.
    entity: usize,
    /// `open.len()` right after the multipart was opened: open[depth..] are
    /// the entities inside its current part.
    open_len: usize,
    /// The boundary's key (`multipart::boundary_key`); `None`, and not in
    /// the table, when the boundary can never match.
    boundary: Option<Vec<u8>>,
    saw_delimiter: bool,
    /// Where the current part began (just after its delimiter line).
    part_start: Option<usize>,
    /// Parts opened so far: the next part's ordinal is one more.
    parts: u32,
    /// Whether a part of this multipart was left unread at the parts limit
    /// (and `parts_limit` recorded on it, once).
    cut: bool,
}

/// A header block read by [`Parser::read_header`].
struct Header {
    fields: Vec<header::Field>,
    /// End of the header block.
    end: usize,
    /// Start of the body.
    body_start: usize,
}

/// What an entity's fields say ([`Parser::describe`]).
struct Description {
    content_type: ContentType,
    explicit_type: bool,
    disposition: Option<super::ContentDisposition>,
    encoding: TransferEncoding,
}

struct Delimiter {
    /// Start of the "--boundary" line.
    line_start: usize,
    /// Just after the line's end.
    next: usize,
    frame: usize,
    close: bool,
}

struct Parser<'s> {
    src: &'s [u8],
    limits: Limits,
    entities: Vec<Entity>,
    /// The chain of open entities, root first.
    open: Vec<usize>,
    frames: Vec<Frame>,
    /// Boundary key (`multipart::boundary_key`) -> positions in `frames`
    /// using it (innermost last).
    by_boundary: HashMap<Vec<u8>, Vec<usize>>,
    line_finder: &'static memmem::Finder<'static>,
}

/// The `"\n--"` searcher of every parse, built once: building it (and
/// copying its needle) for each message was one allocation a parse.
static LINE_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"\n--"));

impl<'s> Parser<'s> {
    fn new(src: &'s [u8], limits: Limits) -> Self {
        Parser {
            src,
            limits,
            entities: Vec::new(),
            open: Vec::new(),
            frames: Vec::new(),
            by_boundary: HashMap::new(),
            line_finder: &LINE_FINDER,
        }
    }

    fn run(&mut self) {
        let root = self.open_entity(0, NO_PARENT, 0, 1);
        let mut cursor = self.descend(root);
        while let Some(d) = self.find_delimiter(cursor) {
            let frame = &self.frames[d.frame];
            let multipart = frame.entity;
            let part_start = frame.part_start;
            let floor = part_start.unwrap_or(self.entities[multipart].body.start);
            let content_end = multipart::content_end(d.line_start as u64, floor as u64, || {
                self.src[d.line_start - 2] == b'\r'
            }) as usize;
            self.close_inside(d.frame, content_end);
            if multipart::repeats_delimiter(
                d.line_start as u64,
                d.close,
                part_start.map(|p| p as u64),
            ) {
                self.drop_repeated_part(multipart);
                self.frames[d.frame].parts -= 1;
                self.frames[d.frame].part_start = None;
            }
            // Only an opening delimiter makes a multipart: RFC 2046 §5.1.1's
            // body is dash-boundary, at least one body part, then the close
            // delimiter. A close delimiter alone leaves the boundary unseen
            // (a leaf with `missing_boundary`, as the stdlib reads it).
            if !d.close {
                self.frames[d.frame].saw_delimiter = true;
            }
            if d.close {
                self.pop_frame();
                cursor = d.next;
                continue;
            }
            // Every multipart that loses a part says so, once: a reader of
            // one entity's defects then knows its body holds unread parts.
            if self.entities.len() >= self.limits.max_parts {
                if !self.frames[d.frame].cut {
                    self.frames[d.frame].cut = true;
                    self.defect(multipart, DefectCode::PartsLimit, d.line_start);
                }
                cursor = d.next;
                continue;
            }
            let depth = self.entities[multipart].depth + 1;
            let frame = &mut self.frames[d.frame];
            frame.part_start = Some(d.next);
            frame.parts += 1;
            let ordinal = frame.parts;
            let child = self.open_entity(d.next, multipart as u32, depth, ordinal);
            cursor = self.descend(child);
        }
        // End of input: whatever is still open ends here.
        let end = self.src.len();
        // Frames still open here never saw their close delimiter.
        while let Some(inner) = self.frames.len().checked_sub(1) {
            self.close_inside(inner, end);
            let entity = self.frames[inner].entity;
            self.pop_frame_missing_close(entity, end);
        }
        while let Some(idx) = self.open.pop() {
            self.close(idx, end);
        }
    }

    /// Drops the part a repeated delimiter line held open
    /// (`multipart::repeats_delimiter`): the last child of `multipart`, with
    /// nothing inside but, in a digest, the message it implies (the repeated
    /// line started where its header block would).
    fn drop_repeated_part(&mut self, multipart: usize) {
        let part = self
            .entities
            .iter()
            .rposition(|e| e.parent == multipart as u32)
            .expect("the repeated part");
        self.entities.truncate(part);
    }

    /// Closes every entity opened inside frame `f`'s current part, and every
    /// multipart frame deeper than `f` (they lacked a close delimiter).
    fn close_inside(&mut self, f: usize, end: usize) {
        // Innermost first, in a loop: frames can be nested 100,000 deep.
        while self.frames.len() > f + 1 {
            let inner = self.frames.len() - 1;
            self.close_open_above(self.frames[inner].open_len, end);
            let entity = self.frames[inner].entity;
            self.pop_frame_missing_close(entity, end);
        }
        self.close_open_above(self.frames[f].open_len, end);
    }

    fn close_open_above(&mut self, keep: usize, end: usize) {
        while self.open.len() > keep {
            let idx = self.open.pop().expect("non-empty");
            self.close(idx, end);
        }
    }

    /// Pops the innermost frame after its close delimiter.
    fn pop_frame(&mut self) {
        let frame = self.frames.pop().expect("a frame is open");
        if !frame.saw_delimiter {
            self.no_delimiter(frame.entity);
        }
        self.unindex(frame.boundary.as_deref(), self.frames.len());
    }

    fn pop_frame_missing_close(&mut self, entity: usize, end: usize) {
        let frame = self.frames.pop().expect("a frame is open");
        if frame.saw_delimiter {
            self.defect(entity, DefectCode::MissingCloseDelimiter, end);
        } else {
            self.no_delimiter(entity);
        }
        self.unindex(frame.boundary.as_deref(), self.frames.len());
    }

    /// A multipart whose boundary never appeared reads as a leaf, as other
    /// readers (and the stdlib `email` package) do.
    fn no_delimiter(&mut self, entity: usize) {
        let at = self.entities[entity].body.start;
        self.defect(entity, DefectCode::MissingBoundary, at);
        self.entities[entity].kind = Kind::Leaf;
    }

    /// Takes the frame at `pos` (just popped) out of the table.
    fn unindex(&mut self, boundary: Option<&[u8]>, pos: usize) {
        let Some(boundary) = boundary else { return };
        if let Some(v) = self.by_boundary.get_mut(boundary) {
            if v.last() == Some(&pos) {
                v.pop();
            }
            if v.is_empty() {
                self.by_boundary.remove(boundary);
            }
        }
    }

    fn close(&mut self, idx: usize, end: usize) {
        let e = &mut self.entities[idx];
        // A header block can end on the blank line whose line end belongs to
        // the next delimiter ("Header\n\n--b"): the entity still ends at
        // `end`, inside its parent, with an empty body.
        // An entity opened on the delimiter line itself (a message part with
        // an empty body) shrinks to an empty range at `end`.
        e.range.start = e.range.start.min(end);
        e.header.start = e.header.start.min(end);
        e.header.end = e.header.end.min(end);
        e.body.start = e.body.start.min(end);
        e.body.end = end;
        e.range.end = end;
        let subtree = (self.entities.len() - idx) as u32;
        self.entities[idx].subtree = subtree;
    }

    fn defect(&mut self, entity: usize, code: DefectCode, at: usize) {
        self.entities[entity]
            .defects
            .push(Defect::new(code, at as u64));
    }

    /// Goes into a freshly opened entity: pushes a multipart's boundary, or
    /// opens the message a message part carries (in a loop). Returns where
    /// scanning continues.
    fn descend(&mut self, mut idx: usize) -> usize {
        loop {
            let e = &self.entities[idx];
            let body_start = e.body.start;
            match e.kind {
                Kind::Leaf => return body_start,
                // A header block cut short by a delimiter line of an open
                // multipart (`header_extent`) leaves no body: that line
                // belongs to the enclosing multipart, even when this one
                // names the same boundary, so this one never sees its own.
                Kind::Multipart if e.header.end == body_start => {
                    self.no_delimiter(idx);
                    return body_start;
                }
                Kind::Multipart => {
                    let param = e.content_type.boundary().unwrap_or_default().as_bytes();
                    // A boundary holding CR or LF can never match a line: its
                    // frame is open but not in the table.
                    let key = multipart::boundary_key(param).map(<[u8]>::to_vec);
                    let pos = self.frames.len();
                    if let Some(key) = &key {
                        self.by_boundary.entry(key.clone()).or_default().push(pos);
                    }
                    self.frames.push(Frame {
                        entity: idx,
                        open_len: self.open.len(),
                        boundary: key,
                        saw_delimiter: false,
                        part_start: None,
                        parts: 0,
                        cut: false,
                    });
                    return body_start;
                }
                Kind::Message => {
                    if self.entities.len() >= self.limits.max_parts {
                        self.defect(idx, DefectCode::PartsLimit, body_start);
                        self.entities[idx].kind = Kind::Leaf;
                        return body_start;
                    }
                    let depth = e.depth + 1;
                    // The carried message is its part's only child.
                    idx = self.open_entity(body_start, idx as u32, depth, 1);
                }
            }
        }
    }

    /// Parses the header block at `start` and pushes a new open entity, the
    /// `ordinal`-th (1-based) child of `parent`: read the header block,
    /// describe the entity from its fields, decide what kind it is.
    fn open_entity(&mut self, start: usize, parent: u32, depth: u32, ordinal: u32) -> usize {
        let idx = self.entities.len();
        let mut defects = Vec::new();
        let header = self.read_header(start, parent, &mut defects);
        let parent_type = (parent != NO_PARENT).then(|| &self.entities[parent as usize]);
        let in_digest = parent_type.is_some_and(|p| {
            p.content_type.type_ == "multipart" && p.content_type.subtype == "digest"
        });
        let is_message = parent_type.is_none_or(|p| p.kind == Kind::Message);
        let d = self.describe(&header.fields, in_digest, is_message, &mut defects);
        let kind = self.kind_of(&d, depth, start, &mut defects);
        self.entities.push(Entity {
            range: start..header.body_start,
            header: start..header.end,
            body: header.body_start..header.body_start,
            fields: header.fields,
            parent,
            ordinal,
            subtree: 1,
            depth,
            kind,
            content_type: d.content_type,
            explicit_type: d.explicit_type,
            disposition: d.disposition,
            encoding: d.encoding,
            defects,
        });
        self.open.push(idx);
        idx
    }

    /// The header block at `start`: where it ends (within the header size
    /// limit) and its fields, with absolute ranges; defects of its lines.
    fn read_header(&self, start: usize, parent: u32, defects: &mut Vec<Defect>) -> Header {
        let (header_end, body_start) = self.header_extent(start, defects);
        let mut block_len = header_end - start;
        if block_len > self.limits.max_header_bytes {
            defects.push(Defect::new(
                DefectCode::HeaderSizeLimit,
                (start + self.limits.max_header_bytes) as u64,
            ));
            block_len = line_floor(&self.src[start..start + self.limits.max_header_bytes]);
        }
        let block = &self.src[start..start + block_len];
        let mut fields =
            header::parse_block(block, start as u64, self.limits.max_header_fields, defects);
        if parent != NO_PARENT && carries_utf8_headers(&self.entities[parent as usize].content_type)
        {
            // RFC 6532 §3: a message/global carries UTF-8 header fields;
            // only 8-bit bytes that are not UTF-8 are a defect there.
            if std::str::from_utf8(block).is_ok() {
                defects.retain(|d| d.code != DefectCode::EightBitInHeader);
            }
        }
        for f in &mut fields {
            f.name = f.name.start + start..f.name.end + start;
            f.value = f.value.start + start..f.value.end + start;
            f.line = f.line.start + start..f.line.end + start;
        }
        // Fields longer than the line limit are only read up to it.
        let max_line = self.limits.max_line_length;
        for f in &fields {
            let at = f.line.start as u64;
            if f.value.len() > max_line
                && !defects
                    .iter()
                    .any(|d| d.code == DefectCode::HeaderLineTooLong && d.offset == at)
            {
                defects.push(Defect::new(DefectCode::HeaderLineTooLong, at));
            }
        }
        Header {
            fields,
            end: header_end,
            body_start,
        }
    }

    /// What the fields say: Content-Type (or the default of the context),
    /// Content-Disposition, Content-Transfer-Encoding; a message's Date in a
    /// zone that cannot be read is a defect.
    fn describe(
        &self,
        fields: &[header::Field],
        in_digest: bool,
        is_message: bool,
        defects: &mut Vec<Defect>,
    ) -> Description {
        let max_line = self.limits.max_line_length;
        let field =
            |name: &str| header::first_named(fields, self.src, name).map(|f| f.value.clone());
        // The value as read: up to the line limit.
        let value = |r: std::ops::Range<usize>| {
            let end = r.end.min(r.start.saturating_add(max_line));
            header::unfold(&self.src[r.start..end])
        };
        let mut content_type = None;
        if let Some(r) = field("content-type") {
            content_type = params::parse_content_type(&value(r.clone()), r.start as u64, defects);
            if content_type.is_none() {
                defects.push(Defect::new(DefectCode::BadContentType, r.start as u64));
            }
        }
        let explicit_type = content_type.is_some();
        let content_type = content_type.unwrap_or_else(|| default_type(in_digest));
        let disposition = field("content-disposition").and_then(|r| {
            let d = params::parse_content_disposition(&value(r.clone()), r.start as u64, defects);
            if d.is_none() {
                defects.push(Defect::new(
                    DefectCode::BadContentDisposition,
                    r.start as u64,
                ));
            }
            d
        });
        // A message's Date in a zone that cannot be read is a defect (the
        // value reads as -0000, an unknown offset: RFC 5322 §4.3); a Date
        // that does not parse at all is `bad_date`, found where it is read.
        if let Some(r) = field("date").filter(|_| is_message) {
            if header::date::parse_date_zone(&value(r.clone()))
                .is_some_and(|(_, zone)| zone == header::date::Zone::Unknown)
            {
                defects.push(Defect::new(DefectCode::UnknownTimeZone, r.start as u64));
            }
        }
        let encoding = match field("content-transfer-encoding") {
            Some(r) => {
                let enc = TransferEncoding::parse(&value(r.clone()));
                if matches!(enc, TransferEncoding::Other(_)) {
                    defects.push(Defect::new(
                        DefectCode::UnknownTransferEncoding,
                        r.start as u64,
                    ));
                }
                enc
            }
            None => TransferEncoding::SevenBit,
        };
        Description {
            content_type,
            explicit_type,
            disposition,
            encoding,
        }
    }

    /// Multipart, carried message or leaf: a multipart needs a boundary, a
    /// carried message must not be encoded, and composites past the depth
    /// limit read as leaves.
    fn kind_of(
        &self,
        d: &Description,
        depth: u32,
        start: usize,
        defects: &mut Vec<Defect>,
    ) -> Kind {
        let at = start as u64;
        let ct = &d.content_type;
        let mut kind = if ct.type_ == "multipart" {
            if ct.boundary().is_some_and(|b| !b.is_empty()) {
                Kind::Multipart
            } else {
                defects.push(Defect::new(DefectCode::MissingBoundaryParameter, at));
                Kind::Leaf
            }
        } else if ct.type_ == "message" && matches!(&*ct.subtype, "rfc822" | "global") {
            if d.encoding.is_encoded() {
                // A carried message in base64/QP: decode to read it, not in place.
                defects.push(Defect::new(DefectCode::EncodedCompositeEntity, at));
                Kind::Leaf
            } else {
                Kind::Message
            }
        } else {
            Kind::Leaf
        };
        if kind == Kind::Multipart && d.encoding.is_encoded() {
            defects.push(Defect::new(DefectCode::EncodedCompositeEntity, at));
        }
        if kind != Kind::Leaf && depth as usize >= self.limits.max_depth {
            defects.push(Defect::new(DefectCode::DepthLimit, at));
            kind = Kind::Leaf;
        }
        kind
    }

    /// Finds the end of the header block at `start`: the first empty line,
    /// or a delimiter line of an open multipart, or the end of the source.
    /// Returns (end of the header block, start of the body).
    fn header_extent(&self, start: usize, defects: &mut Vec<Defect>) -> (usize, usize) {
        let src = self.src;
        let mut pos = start;
        let mut newlines = crate::newlines::NewlineIter::new(src, start);
        while pos < src.len() {
            let line_end = newlines.next().map_or(src.len(), |nl| nl + 1);
            let line = &src[pos..line_end];
            if line == b"\n" || line == b"\r\n" {
                return (pos, line_end);
            }
            if line.starts_with(b"--")
                && !self.frames.is_empty()
                && self.match_line(pos).0.is_some()
            {
                defects.push(Defect::new(
                    DefectCode::MissingHeaderBodySeparator,
                    pos as u64,
                ));
                return (pos, pos);
            }
            pos = line_end;
        }
        if start < src.len() {
            defects.push(Defect::new(
                DefectCode::MissingHeaderBodySeparator,
                src.len() as u64,
            ));
        }
        (src.len(), src.len())
    }

    /// The next delimiter line of any open multipart at or after `from`:
    /// each line that starts with `--` ([`multipart::find_line`]) is looked
    /// up in the table of open boundaries.
    fn find_delimiter(&self, from: usize) -> Option<Delimiter> {
        if self.frames.is_empty() {
            return None;
        }
        let src = self.src;
        let mut pos = from;
        loop {
            let line = multipart::find_line(self.line_finder, src, pos, true)?;
            let (frame, close, next) = self.match_line(line);
            if let Some(frame) = frame {
                return Some(Delimiter {
                    line_start: line,
                    next,
                    frame,
                    close,
                });
            }
            if next >= src.len() {
                return None;
            }
            pos = next;
        }
    }

    /// Which open multipart (innermost first) the line starting with `--` at
    /// `line` delimits, and whether it is a close delimiter; with the start
    /// of the next line (the end of the source when the line has no end).
    fn match_line(&self, line: usize) -> (Option<usize>, bool, usize) {
        let src = self.src;
        let rest = &src[line + 2..];
        // Most delimiter lines are the innermost multipart's, which wins
        // over any other anyway: try its key before hashing the line. The
        // grammar (`delimiter_tail`) is the same; only the lookup is saved.
        let innermost = self.frames.len().checked_sub(1);
        if let Some(key) = innermost.and_then(|i| self.frames[i].boundary.as_deref()) {
            if rest.starts_with(key) {
                if let Some((close, next)) = multipart::delimiter_tail(src, line + 2 + key.len()) {
                    return (innermost, close, next);
                }
            }
        }
        let eol = memchr::memchr(b'\n', rest).map_or(src.len(), |i| line + 2 + i + 1);
        let (open_key, close_key) = multipart::delimiter_keys(&src[line + 2..eol]);
        // A key found in the table is confirmed by the grammar (the keys
        // ignore what it forbids, such as a CR inside the padding).
        let confirm = |key: &[u8], close: bool| {
            let frame = *self.by_boundary.get(key)?.last()?;
            match multipart::delimiter_tail(&src[..eol], line + 2 + key.len()) {
                Some((c, next)) if c == close => Some((frame, next)),
                _ => None,
            }
        };
        let open = confirm(open_key, false);
        let close = close_key.and_then(|k| confirm(k, true));
        match (open, close) {
            (Some(a), Some(b)) if b.0 > a.0 => (Some(b.0), true, b.1),
            (Some(a), _) => (Some(a.0), false, a.1),
            (None, Some(b)) => (Some(b.0), true, b.1),
            (None, None) => (None, false, eol),
        }
    }
}

/// message/global (RFC 6532): the carried header may hold raw UTF-8.
fn carries_utf8_headers(ct: &ContentType) -> bool {
    ct.type_ == "message" && ct.subtype == "global"
}

fn default_type(in_digest: bool) -> ContentType {
    let (type_, subtype) = if in_digest {
        ("message", "rfc822")
    } else {
        ("text", "plain")
    };
    let mut params = params::Params::default();
    if !in_digest {
        params.0.push(("charset".into(), "us-ascii".into()));
    }
    ContentType {
        type_: type_.into(),
        subtype: subtype.into(),
        params,
    }
}

/// Length of the longest prefix of `block` that ends at a line end.
fn line_floor(block: &[u8]) -> usize {
    memchr::memrchr(b'\n', block).map_or(0, |i| i + 1)
}
