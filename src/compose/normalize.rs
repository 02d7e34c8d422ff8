//! Making a message 7-bit clean for plain SMTP.
//!
//! [`normalize`] parses the message with [`Message::parse`] and rebuilds it
//! entity by entity, copying what is already safe and re-encoding the rest:
//!
//! - a leaf whose body is ASCII with lines of at most 998 octets is copied
//!   (LF becomes CRLF, nothing else changes); any other leaf is decoded and
//!   re-encoded with the best transfer encoding ([`transfer::choose`]), its
//!   Content-Transfer-Encoding field replaced;
//! - a header field that is ASCII with short lines is copied; one carrying
//!   raw 8-bit text is decoded (valid UTF-8 as UTF-8, else the entity's
//!   declared charset, else windows-1252) and written again as RFC 2047
//!   encoded-words (address lists keep their structure; Content-Type and
//!   Content-Disposition get RFC 2231 parameters); over-long lines are
//!   refolded the same way;
//! - multiparts and carried messages keep their boundaries and structure,
//!   and an `8bit`/`binary` transfer encoding on them becomes `7bit`
//!   (never base64 or QP: RFC 2045 §6.4, RFC 2046 §5.2.1). A leaf
//!   re-encoded as quoted-printable that would contain an enclosing
//!   boundary falls back to base64, whose alphabet has no `-`.
//!
//! It is a pure function of its input, safe to call from many rayon
//! threads at once (the batch `convert --normalize` does).

use std::borrow::Cow;

use bytes::Bytes;

use super::encode_header::{self, Token};
use super::transfer::{self, Stats, Transport};
use crate::message::{EntityRef, Kind, Message, TransferEncoding};

/// `src` made 7-bit clean, CRLF throughout, lines of at most 998 octets.
pub fn normalize(src: &[u8]) -> Vec<u8> {
    normalize_message(&Message::parse(Bytes::copy_from_slice(src)))
}

/// [`normalize`] of an already parsed message (no copy of its source).
pub fn normalize_message(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    normalize_into(msg, &mut out);
    out
}

/// [`normalize_message`] appended to `out`, so that a caller normalizing
/// many messages can reuse one buffer.
///
/// Each entity is written straight into `out`: headers, then the body,
/// copied (LF made CRLF in the same copy) or encoded in place by the
/// codecs' appending entry points; nothing is built in a temporary and
/// copied again, whatever the nesting depth.
pub fn normalize_into(msg: &Message, out: &mut Vec<u8>) {
    let src = msg.source();
    out.reserve(src.len() + src.len() / 8 + 64);
    let root = msg.root();
    let range = root.range();
    safe_gap(&src[..range.start], out);
    write_entity(&root, &[], out);
    safe_gap(&src[range.end..], out);
}

/// The declared charset of `e` or, for a composite, of its first text leaf.
fn declared_charset(e: &EntityRef<'_>) -> Option<String> {
    if let Some(c) = e.content_type().charset() {
        return Some(c.to_string());
    }
    e.message()
        .walk()
        .skip(e.index())
        .take_while(|d| d.index() == e.index() || d.depth() > e.depth())
        .find_map(|d| d.content_type().charset().map(str::to_string))
}

/// `7bit`, `8bit` and `binary`: the body is the content.
fn is_identity(cte: &TransferEncoding) -> bool {
    matches!(
        cte,
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary
    )
}

fn write_entity(e: &EntityRef<'_>, boundaries: &[&str], out: &mut Vec<u8>) {
    let src = e.message().source();
    let body_range = e.body_range();
    let header_end = e.range().start + e.header_bytes().len();
    let header = &src[e.range().start..header_end];
    let cte = e.transfer_encoding();
    match e.kind() {
        Kind::Leaf => write_leaf(e, header, boundaries, out),
        Kind::Multipart | Kind::Message => {
            let new_cte = matches!(cte, TransferEncoding::EightBit | TransferEncoding::Binary)
                .then_some(TransferEncoding::SevenBit);
            write_header(e, header, new_cte.as_ref(), out);
            let blank = BlankLine::open(header_end < body_range.start, out);
            let boundary = e.content_type().boundary().map(str::to_string);
            let mut inner: Vec<&str> = boundaries.to_vec();
            if let Some(b) = boundary.as_deref() {
                inner.push(b);
            }
            let mut at = body_range.start;
            for child in e.children() {
                let r = child.range();
                if r.start < at {
                    continue;
                }
                safe_gap(&src[at..r.start], out);
                write_entity(&child, &inner, out);
                at = r.end;
            }
            if at < body_range.end {
                safe_gap(&src[at..body_range.end], out);
            }
            blank.close(out);
        }
    }
}

/// The CRLF between header and body: written before the body, and taken
/// back after it when the body turned out empty and the source had no
/// blank line either.
struct BlankLine {
    /// `out.len()` after the CRLF, when it may be taken back.
    tentative: Option<usize>,
}

impl BlankLine {
    fn open(in_source: bool, out: &mut Vec<u8>) -> BlankLine {
        out.extend_from_slice(b"\r\n");
        BlankLine {
            tentative: (!in_source).then_some(out.len()),
        }
    }

    fn close(self, out: &mut Vec<u8>) {
        if self.tentative == Some(out.len()) {
            out.truncate(out.len() - 2);
        }
    }
}

/// A leaf: copied when its body is already 7-bit clean (one scan, one
/// copy), else decoded (only if it has an encoding to undo), scanned once
/// to choose the new encoding, and encoded straight into `out`.
fn write_leaf(e: &EntityRef<'_>, header: &[u8], boundaries: &[&str], out: &mut Vec<u8>) {
    let raw = e.body_bytes();
    let header_end = e.range().start + header.len();
    let blank_in_source = header_end < e.body_range().start;
    let cte = e.transfer_encoding();
    let known = is_identity(cte)
        || matches!(
            cte,
            TransferEncoding::Base64
                | TransferEncoding::QuotedPrintable
                | TransferEncoding::Uuencode
        );
    let raw_stats = Stats::scan(raw);
    let text = e.content_type().type_ == "text";
    // Bare line ends may become CRLF only in text (its canonical form, RFC
    // 2046 §4.1.1); in other content they are data, and a 7-bit body that
    // holds one is encoded below rather than rewritten.
    if known && raw_stats.canonical().is_7bit() && (raw_stats.bare == 0 || text) {
        let new_cte = matches!(cte, TransferEncoding::EightBit | TransferEncoding::Binary)
            .then_some(TransferEncoding::SevenBit);
        write_header(e, header, new_cte.as_ref(), out);
        let blank = BlankLine::open(blank_in_source, out);
        if raw_stats.bare == 0 {
            out.extend_from_slice(raw);
        } else {
            transfer::to_crlf_append(raw, out);
        }
        blank.close(out);
        return;
    }
    // The content: the raw body when there is no encoding to undo (cut at
    // the decoded-size limit, as `decoded` would), else the decoded body.
    let (content, stats): (Cow<'_, [u8]>, Stats) = if !known {
        (Cow::Borrowed(raw), raw_stats)
    } else if is_identity(cte) {
        let max = e.message().limits().max_decoded_bytes;
        if raw.len() > max {
            let c = &raw[..max];
            (Cow::Borrowed(c), Stats::scan(c))
        } else {
            (Cow::Borrowed(raw), raw_stats)
        }
    } else {
        let d = e.decoded();
        let s = Stats::scan(&d);
        (Cow::Owned(d), s)
    };
    // Text is canonically CRLF (RFC 2046 §4.1.1): the choice is made for
    // that form, which is only built when the encoder needs it (QP in text
    // mode already writes a bare LF as a hard break; a bare CR it would
    // escape).
    let (mut new, content) = if text {
        let canonical = stats.canonical();
        let choice = transfer::choose(&canonical, text, Transport::SevenBit);
        let convert = match choice {
            TransferEncoding::QuotedPrintable => stats.bare_cr > 0,
            _ => stats.bare > 0,
        };
        let content = if convert {
            Cow::Owned(transfer::to_crlf(&content))
        } else {
            content
        };
        (choice, content)
    } else {
        (transfer::choose(&stats, text, Transport::SevenBit), content)
    };
    let start = out.len();
    loop {
        let declare = (new != *cte || !known).then_some(&new);
        write_header(e, header, declare, out);
        let blank = BlankLine::open(blank_in_source, out);
        let body_at = out.len();
        transfer::encode_append(&content, &new, text, out);
        // QP keeps `-` literal, so its output could hold an enclosing
        // delimiter line; base64's alphabet has no `-`.
        if new == TransferEncoding::QuotedPrintable
            && boundaries
                .iter()
                .any(|b| super::boundary::collides(b, &out[body_at..]))
        {
            out.truncate(start);
            new = TransferEncoding::Base64;
            continue;
        }
        blank.close(out);
        return;
    }
}

/// Fields of a header block, each with its continuation lines and line
/// ends, as [`crate::header::parse_block`] cuts them, and between them the
/// lines it skips (no colon, a leading continuation, an mbox From_ line)
/// as one piece each: [`write_header`] keeps those, made safe.
fn fields(block: &[u8]) -> Vec<&[u8]> {
    let mut defects = Vec::new();
    let mut out: Vec<&[u8]> = Vec::new();
    let mut at = 0;
    for f in crate::header::parse_block(block, 0, usize::MAX, &mut defects) {
        if f.line.start > at {
            out.push(&block[at..f.line.start]);
        }
        out.push(&block[f.line.clone()]);
        at = f.line.end;
    }
    if at < block.len() {
        out.push(&block[at..]);
    }
    out
}

/// Whether a raw field can be copied: ASCII without NUL, lines <= 998
/// (in its CRLF form, which the copy writes).
fn field_safe(f: &[u8]) -> bool {
    let s = Stats::scan(f);
    s.high == 0 && s.nul == 0 && s.longest <= encode_header::LINE_HARD
}

fn write_header(
    e: &EntityRef<'_>,
    block: &[u8],
    new_cte: Option<&TransferEncoding>,
    out: &mut Vec<u8>,
) {
    let mut charset: Option<Option<String>> = None;
    for f in fields(block) {
        // A field name is printable ASCII (RFC 5322 ftext; WSP before the
        // colon is obsolete syntax, trimmed). Anything else is not a field.
        let colon = memchr::memchr(b':', f).filter(|&c| {
            let n = f[..c].trim_ascii();
            !n.is_empty() && n.iter().all(|b| (0x21..0x7f).contains(b))
        });
        // Checked ASCII above, so the name is a str without a lossy copy.
        let name = colon.map(|c| std::str::from_utf8(f[..c].trim_ascii()).unwrap_or_default());
        if new_cte.is_some()
            && name.is_some_and(|n| n.eq_ignore_ascii_case("content-transfer-encoding"))
        {
            continue;
        }
        if field_safe(f) {
            transfer::to_crlf_append(f, out);
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            continue;
        }
        let (Some(colon), Some(name)) = (colon, name) else {
            // Not a field at all: keep it, made safe.
            safe_gap(f, out);
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            continue;
        };
        let lname = name.to_ascii_lowercase();
        let raw = crate::header::unfold(&f[colon + 1..]);
        let raw = trim_eol(&raw);
        let text = match std::str::from_utf8(raw) {
            Ok(s) => s.to_string(),
            Err(_) => {
                let cs = charset.get_or_insert_with(|| declared_charset(e));
                crate::charset::decode(raw, cs.as_deref()).text.into_owned()
            }
        };
        // NUL may not appear in a header even as obsolete text (RFC 5322
        // §4.1): it becomes U+FFFD, which is then encoded. Line ends left
        // inside the unfolded value would start new fields: spaces.
        let text = if text.contains(['\0', '\r', '\n']) {
            text.replace('\0', "\u{FFFD}").replace(['\r', '\n'], " ")
        } else {
            text
        };
        out.extend_from_slice(encode_field(e, name, &lname, &text).as_bytes());
    }
    if let Some(cte) = new_cte {
        out.extend_from_slice(b"Content-Transfer-Encoding: ");
        out.extend_from_slice(cte.as_str().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

fn trim_eol(v: &[u8]) -> &[u8] {
    let mut v = v;
    while let [rest @ .., b'\r' | b'\n' | b' ' | b'\t'] = v {
        v = rest;
    }
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    v
}

/// A field written again from its decoded text.
fn encode_field(e: &EntityRef<'_>, name: &str, lname: &str, text: &str) -> String {
    match lname {
        "from" | "to" | "cc" | "bcc" | "reply-to" | "sender" | "resent-from" | "resent-to"
        | "resent-cc" | "resent-bcc" | "resent-sender" => {
            let mut defects = Vec::new();
            let list = crate::header::parse_address_list(text.as_bytes(), 0, &mut defects);
            if !list.is_empty()
                && list
                    .iter()
                    .all(|a| !a.address.is_empty() && a.address.is_ascii())
            {
                return encode_header::address_list(
                    name,
                    list.iter().map(|a| (a.name.as_deref(), a.address.as_str())),
                );
            }
        }
        "content-type" => {
            let ct = e.content_type();
            let params: Vec<(&str, &str)> = ct.params.iter().collect();
            return encode_header::with_params(name, &ct.mime_type(), &params);
        }
        "content-disposition" => {
            if let Some(d) = e.disposition() {
                let params: Vec<(&str, &str)> = d.params.iter().collect();
                return encode_header::with_params(name, &d.kind, &params);
            }
        }
        _ => {}
    }
    let tokens: Vec<Token> = encode_header::unstructured_tokens_keep(text);
    if tokens.is_empty() {
        return format!("{name}:\r\n");
    }
    encode_header::fold(name, &tokens)
}

/// Bytes outside any entity (preambles, delimiter lines, epilogues):
/// CRLF line ends, 8-bit bytes and NULs replaced by `?`, lines cut at 998.
fn safe_gap(gap: &[u8], out: &mut Vec<u8>) {
    let s = Stats::scan(gap);
    if s.high == 0 && s.nul == 0 && s.longest <= encode_header::LINE_HARD {
        // The usual case (a delimiter line): one copy.
        transfer::to_crlf_append(gap, out);
        return;
    }
    let c = transfer::to_crlf(gap);
    let mut col = 0;
    let mut i = 0;
    while i < c.len() {
        let b = c[i];
        if b == b'\r' && c.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            col = 0;
            i += 2;
            continue;
        }
        if col == encode_header::LINE_HARD {
            out.extend_from_slice(b"\r\n");
            col = 0;
        }
        out.push(if b >= 0x80 || b == 0 { b'?' } else { b });
        col += 1;
        i += 1;
    }
}
