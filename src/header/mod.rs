//! Header parsing: the header block, its fields, and their structured values.
//!
//! This module finds the end of the header block ([`split_header`]), cuts it
//! into fields ([`parse_block`], RFC 5322 §2.2 including the obsolete syntax
//! of §4.5: blanks before the colon, empty values, folded lines of only
//! blanks), and unfolds values ([`unfold`]). Unstructured text such as
//! Subject is decoded by [`decode_text`] (RFC 2047 encoded-words, see
//! [`encoded_word`]); the structured fields have their own modules:
//! [`params`] (Content-Type, Content-Disposition, RFC 2231), [`address`]
//! (address lists) and [`date`].
//!
//! Everything here is lenient (malformed input is read as well as it can be
//! and reported as [`Defect`]s with absolute offsets: `base` plus the
//! position in the slice given), iterative, linear in the input, and never
//! panics.

use std::borrow::Cow;
use std::ops::Range;

use crate::defect::{Defect, DefectCode};
use crate::newlines::NewlineIter;

pub mod address;
pub mod date;
pub mod encoded_word;
pub mod params;

pub use address::{parse_address_list, Address};
pub use date::{parse_date, DateTime};
pub use params::{
    parse_content_disposition, parse_content_type, ContentDisposition, ContentType, Params,
};

/// RFC 5322 §2.1.1: lines longer than this (without their line end) are
/// reported.
const MAX_LINE: usize = 998;

/// One header field: byte ranges relative to the block given to
/// [`parse_block`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name, without blanks before the colon.
    pub name: Range<usize>,
    /// After the colon, up to but excluding the final line end; still folded.
    pub value: Range<usize>,
    /// The whole field including its final line end.
    pub line: Range<usize>,
}

/// The first of `fields` (ranges into `src`) named `name`, ASCII
/// case-insensitive: how every reader of a header block picks a field.
pub(crate) fn first_named<'f>(fields: &'f [Field], src: &[u8], name: &str) -> Option<&'f Field> {
    fields
        .iter()
        .find(|f| src[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
}

/// Where the header block of a message ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// `src[..header_len]` is the header block, each field with its line end.
    pub header_len: usize,
    /// Just after the empty line (CRLF or LF) that ends the header block.
    pub body_start: usize,
    /// No empty line: the message ended inside its header.
    pub missing_separator: bool,
}

/// Finds where the header block of `src` ends: returns (header_len,
/// body_start) where `src[..header_len]` is the header block and body_start
/// is just after the empty line (CRLF or LF). With no blank line:
/// `header_len == body_start == src.len()` and `missing_separator`. A message
/// starting with a blank line: `(0, len of that line end)`. A line of only
/// blanks is a (folded) continuation, not the separator.
pub fn split_header(src: &[u8]) -> Split {
    let blank_at = |i: usize| -> Option<usize> {
        match src.get(i) {
            Some(b'\n') => Some(1),
            Some(b'\r') if src.get(i + 1) == Some(&b'\n') => Some(2),
            _ => None,
        }
    };
    if let Some(n) = blank_at(0) {
        return Split {
            header_len: 0,
            body_start: n,
            missing_separator: false,
        };
    }
    for nl in NewlineIter::new(src, 0) {
        if let Some(n) = blank_at(nl + 1) {
            return Split {
                header_len: nl + 1,
                body_start: nl + 1 + n,
                missing_separator: false,
            };
        }
    }
    Split {
        header_len: src.len(),
        body_start: src.len(),
        missing_separator: true,
    }
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Where the content of the line from `start` to its `\n` at `nl` ends
/// (before the CR of a CRLF).
fn line_content_end(block: &[u8], start: usize, nl: usize) -> usize {
    if nl > start && block[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    }
}

/// Parses a header block into fields, iteratively, in linear time.
///
/// Lines without a colon (or whose name is not printable ASCII without
/// blanks inside) are reported as `HeaderWithoutColon` and skipped, together
/// with their continuation lines; an mbox "From " first line is skipped
/// silently. A first line that starts with a blank is reported as
/// `ContinuationWithoutField` and skipped. 8-bit bytes: `EightBitInHeader`
/// once per field; lines over 998 octets: `HeaderLineTooLong`. An empty line
/// ends the block. After `max_fields` fields, `HeaderCountLimit` and stop.
pub fn parse_block(
    block: &[u8],
    base: u64,
    max_fields: usize,
    defects: &mut Vec<Defect>,
) -> Vec<Field> {
    // Room for a field per 64 bytes of the block (most are longer), so
    // that a message's fields are not copied through four growing buffers.
    let mut fields = Vec::with_capacity((block.len() / 64 + 4).min(max_fields));
    let at = |i: usize| base + i as u64;
    // The field being read: (line start, name, value start, saw 8-bit).
    let mut cur: Option<(usize, Range<usize>, usize, bool)> = None;
    // Continuation lines of a skipped line are skipped too.
    let mut skipping = false;
    let mut last_end = 0; // content end of the previous line
    let mut pos = 0;
    let mut first = true;
    // Lines are read in order, so one pass over the block finds their ends.
    let mut newlines = NewlineIter::new(block, 0);
    while pos < block.len() {
        let start = pos;
        let (end, next) = match newlines.next() {
            Some(nl) => (line_content_end(block, start, nl), nl + 1),
            None => (block.len(), block.len()),
        };
        pos = next;
        let is_first = std::mem::replace(&mut first, false);
        if end - start > MAX_LINE {
            defects.push(Defect::new(DefectCode::HeaderLineTooLong, at(start)));
        }
        let line = &block[start..end];
        if line.is_empty() {
            break;
        }
        if is_wsp(line[0]) {
            if let Some(c) = cur.as_mut() {
                if !c.3 && !line.is_ascii() {
                    if let Some(k) = line.iter().position(|&b| b >= 0x80) {
                        defects.push(Defect::new(DefectCode::EightBitInHeader, at(start + k)));
                        c.3 = true;
                    }
                }
            } else if !skipping {
                defects.push(Defect::new(DefectCode::ContinuationWithoutField, at(start)));
                skipping = true;
            }
            last_end = end;
            continue;
        }
        // A new line: finish the current field.
        if let Some((s, name, v, _)) = cur.take() {
            fields.push(Field {
                name,
                value: v..last_end,
                line: s..start,
            });
        }
        skipping = false;
        let name = field_name(line);
        let Some((n, colon)) = name else {
            if !(is_first && line.starts_with(b"From ")) {
                defects.push(Defect::new(DefectCode::HeaderWithoutColon, at(start)));
            }
            skipping = true;
            last_end = end;
            continue;
        };
        if fields.len() >= max_fields {
            defects.push(Defect::new(DefectCode::HeaderCountLimit, at(start)));
            return fields;
        }
        let mut eight = false;
        // `is_ascii` reads a word at a time; the search for the first
        // 8-bit byte, a byte at a time, runs only for lines that have one.
        if let Some(k) = (!line.is_ascii())
            .then(|| line.iter().position(|&b| b >= 0x80))
            .flatten()
        {
            defects.push(Defect::new(DefectCode::EightBitInHeader, at(start + k)));
            eight = true;
        }
        cur = Some((start, start..start + n, start + colon + 1, eight));
        last_end = end;
    }
    if let Some((s, name, v, _)) = cur {
        fields.push(Field {
            name,
            value: v..last_end,
            line: s..pos,
        });
    }
    fields
}

/// A field line's name and colon: `(name length, colon position)` when
/// the line is a name of printable ASCII (33-126), blanks, then ':'.
///
/// A byte loop: names are a few to thirty bytes, and a `memchr` call for
/// the colon (one of the two calls a field line cost), then a second pass
/// to check the name, cost more than reading them once.
fn field_name(line: &[u8]) -> Option<(usize, usize)> {
    let n = line
        .iter()
        .position(|&b| !(33..=126).contains(&b) || b == b':')
        .unwrap_or(line.len());
    let colon = n + line[n..].iter().take_while(|&&b| is_wsp(b)).count();
    (n > 0 && line.get(colon) == Some(&b':')).then_some((n, colon))
}

/// Removes folding (every CR and LF; the blanks after them stay) and trims
/// leading and trailing blanks. Borrows when there is nothing to remove.
pub fn unfold(value: &[u8]) -> Cow<'_, [u8]> {
    unfold_mapped(value).0
}

/// [`unfold`], plus what maps positions in the result back to `value`.
pub(crate) fn unfold_mapped(value: &[u8]) -> (Cow<'_, [u8]>, OffsetMap) {
    let is_blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let lead = value
        .iter()
        .position(|b| !is_blank(b))
        .unwrap_or(value.len());
    let trail = value
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(lead, |p| p + 1);
    let v = &value[lead..trail];
    let mut map = OffsetMap {
        lead,
        removed: Vec::new(),
    };
    if memchr::memchr2(b'\r', b'\n', v).is_none() {
        return (Cow::Borrowed(v), map);
    }
    let mut out = Vec::with_capacity(v.len());
    for (i, &b) in v.iter().enumerate() {
        if b == b'\r' || b == b'\n' {
            map.removed.push((out.len(), i + 1 - out.len()));
        } else {
            out.push(b);
        }
    }
    (Cow::Owned(out), map)
}

/// Maps a position in an unfolded value back to the folded original.
#[derive(Clone, Debug, Default)]
pub(crate) struct OffsetMap {
    lead: usize,
    /// (position in the output, bytes removed up to there), ascending.
    removed: Vec<(usize, usize)>,
}

impl OffsetMap {
    pub(crate) fn orig(&self, p: usize) -> u64 {
        let k = self.removed.partition_point(|&(at, _)| at <= p);
        let extra = if k == 0 { 0 } else { self.removed[k - 1].1 };
        (self.lead + p + extra) as u64
    }
}

/// Unstructured text (Subject etc.): unfolds, decodes RFC 2047
/// encoded-words (Q and B, any case, also inside or glued to other text, as
/// real mail writes them), drops the blanks between adjacent encoded-words
/// and joins their decoded bytes when they share a charset (a character
/// split across two words decodes), reads raw 8-bit text as UTF-8 else
/// windows-1252. Malformed words are kept as written (`BadEncodedWord`);
/// unknown charsets are decoded by the fallback (`UnknownCharset`); an RFC
/// 2231 language suffix ("=?us-ascii*en?q?...?=") is ignored.
pub fn decode_text(value: &[u8], base: u64, defects: &mut Vec<Defect>) -> String {
    let (v, map) = unfold_mapped(value);
    encoded_word::decode_mapped(&v, base, &map, defects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_cases() {
        let s = split_header(b"A: b\r\n\r\nbody");
        assert_eq!(
            (s.header_len, s.body_start, s.missing_separator),
            (6, 8, false)
        );
        let s = split_header(b"A: b\n\nbody");
        assert_eq!((s.header_len, s.body_start), (5, 6));
        let s = split_header(b"\r\nbody");
        assert_eq!((s.header_len, s.body_start), (0, 2));
        let s = split_header(b"A: b\n \nc\n");
        assert!(s.missing_separator);
        assert_eq!(s.header_len, 9);
    }

    #[test]
    fn offset_map() {
        let (v, m) = unfold_mapped(b"  ab\r\n cd\n e");
        assert_eq!(&*v, b"ab cd e");
        assert_eq!(m.orig(0), 2);
        assert_eq!(m.orig(2), 6);
        assert_eq!(m.orig(6), 11);
    }
}
