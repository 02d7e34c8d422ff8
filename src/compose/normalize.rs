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
    let src = msg.source();
    let mut out = Vec::with_capacity(src.len() + src.len() / 8 + 64);
    let root = msg.root();
    let range = root.range();
    safe_gap(&src[..range.start], &mut out);
    write_entity(&root, &[], &mut out);
    safe_gap(&src[range.end..], &mut out);
    out
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

fn write_entity(e: &EntityRef<'_>, boundaries: &[&str], out: &mut Vec<u8>) {
    let src = e.message().source();
    let body_range = e.body_range();
    let header_end = e.range().start + e.header_bytes().len();
    // The body, and the transfer encoding to declare when it changes.
    let mut body = Vec::new();
    let mut new_cte: Option<TransferEncoding> = None;
    match e.kind() {
        Kind::Leaf => {
            let raw = e.body_bytes();
            let crlf = transfer::to_crlf(raw);
            let known = matches!(
                e.transfer_encoding(),
                TransferEncoding::SevenBit
                    | TransferEncoding::EightBit
                    | TransferEncoding::Binary
                    | TransferEncoding::Base64
                    | TransferEncoding::QuotedPrintable
                    | TransferEncoding::Uuencode
            );
            if Stats::scan(&crlf).is_7bit() && known {
                body = crlf;
                if matches!(e.transfer_encoding(), TransferEncoding::EightBit | TransferEncoding::Binary) {
                    new_cte = Some(TransferEncoding::SevenBit);
                }
            } else {
                let text = e.content_type().type_ == "text";
                let content = if known { e.decoded() } else { raw.to_vec() };
                let content = if text { transfer::to_crlf(&content) } else { content };
                let stats = Stats::scan(&content);
                let mut cte = transfer::choose(&stats, text, Transport::SevenBit);
                transfer::encode_append(&content, &cte, text, &mut body);
                if cte == TransferEncoding::QuotedPrintable
                    && boundaries.iter().any(|b| super::boundary::collides(b, &body))
                {
                    cte = TransferEncoding::Base64;
                    body.clear();
                    transfer::encode_append(&content, &cte, text, &mut body);
                }
                if cte != *e.transfer_encoding() || !known {
                    new_cte = Some(cte);
                }
            }
        }
        Kind::Multipart | Kind::Message => {
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
                safe_gap(&src[at..r.start], &mut body);
                write_entity(&child, &inner, &mut body);
                at = r.end;
            }
            if at < body_range.end {
                safe_gap(&src[at..body_range.end], &mut body);
            }
            if matches!(e.transfer_encoding(), TransferEncoding::EightBit | TransferEncoding::Binary) {
                new_cte = Some(TransferEncoding::SevenBit);
            }
        }
    }
    write_header(e, &src[e.range().start..header_end], new_cte.as_ref(), out);
    // The blank line, as CRLF (or nothing when the source had none).
    if header_end < body_range.start || !body.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&body);
}

/// Fields of a header block: each with its continuation lines and line ends.
fn fields(block: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < block.len() {
        let end = memchr::memchr(b'\n', &block[i..]).map_or(block.len(), |p| i + p + 1);
        if i > start && !matches!(block[i], b' ' | b'\t') {
            out.push(&block[start..i]);
            start = i;
        }
        i = end;
    }
    if start < block.len() {
        out.push(&block[start..]);
    }
    out
}

/// Whether a raw field can be copied: ASCII without NUL, lines <= 998.
fn field_safe(f: &[u8]) -> bool {
    let s = Stats::scan(&transfer::to_crlf(f));
    s.high == 0 && s.nul == 0 && s.longest <= encode_header::LINE_HARD
}

fn write_header(e: &EntityRef<'_>, block: &[u8], new_cte: Option<&TransferEncoding>, out: &mut Vec<u8>) {
    let mut charset: Option<Option<String>> = None;
    for f in fields(block) {
        let colon = memchr::memchr(b':', f);
        let name = colon.map(|c| String::from_utf8_lossy(&f[..c]).trim().to_string());
        let lname = name.as_deref().map(str::to_ascii_lowercase);
        if new_cte.is_some() && lname.as_deref() == Some("content-transfer-encoding") {
            continue;
        }
        if field_safe(f) {
            let c = transfer::to_crlf(f);
            out.extend_from_slice(&c);
            if !c.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            continue;
        }
        let (Some(colon), Some(name), Some(lname)) = (colon, name, lname) else {
            // Not a field at all: keep it, made safe.
            safe_gap(f, out);
            if !out.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
            continue;
        };
        let raw = crate::header::unfold(&f[colon + 1..]);
        let raw = trim_eol(&raw);
        let text = match std::str::from_utf8(raw) {
            Ok(s) => s.to_string(),
            Err(_) => {
                let cs = charset.get_or_insert_with(|| declared_charset(e));
                crate::charset::decode(raw, cs.as_deref()).text.into_owned()
            }
        };
        out.extend_from_slice(encode_field(e, &name, &lname, &text).as_bytes());
    }
    if let Some(cte) = new_cte {
        out.extend_from_slice(format!("Content-Transfer-Encoding: {}\r\n", cte.as_str()).as_bytes());
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
        "from" | "to" | "cc" | "bcc" | "reply-to" | "sender" | "resent-from" | "resent-to" | "resent-cc"
        | "resent-bcc" | "resent-sender" => {
            let mut defects = Vec::new();
            let list = crate::header::parse_address_list(text.as_bytes(), 0, &mut defects);
            if !list.is_empty() && list.iter().all(|a| !a.address.is_empty() && a.address.is_ascii()) {
                return encode_header::address_list(
                    name,
                    list.iter().map(|a| (a.name.as_deref(), a.address.as_str())),
                );
            }
        }
        "content-type" => {
            let ct = e.content_type();
            let params: Vec<(&str, &str)> =
                ct.params.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            return encode_header::with_params(name, &ct.mime_type(), &params);
        }
        "content-disposition" => {
            if let Some(d) = e.disposition() {
                let params: Vec<(&str, &str)> =
                    d.params.0.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
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
