//! Undoing transfer encodings of leaf bodies, on demand.
//!
//! Base64 takes the SIMD codec's MIME mode (whitespace skipped in the vector
//! loops); when that fails, the same fallbacks as the stdlib `email` package
//! run (lenient decoding, then padding repair, then the raw text), so decoded
//! payloads agree with it on broken mail too, with a `bad_base64` defect.

use super::{Defect, DefectCode, EntityRef};
use crate::base64::{DecodeMode, STANDARD};
use crate::{qp, uu};

/// A Content-Transfer-Encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransferEncoding {
    /// `7bit` (also the default).
    SevenBit,
    /// `8bit`.
    EightBit,
    /// `binary`.
    Binary,
    /// `base64`.
    Base64,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `x-uuencode` (and its aliases).
    Uuencode,
    /// Anything else, lowercased; the body is kept as is.
    Other(String),
}

impl TransferEncoding {
    /// Parses a header value (case and surrounding blanks ignored).
    pub fn parse(value: &[u8]) -> TransferEncoding {
        let v = String::from_utf8_lossy(value)
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase();
        match v.as_str() {
            "" | "7bit" | "7-bit" => TransferEncoding::SevenBit,
            "8bit" | "8-bit" => TransferEncoding::EightBit,
            "binary" => TransferEncoding::Binary,
            "base64" => TransferEncoding::Base64,
            "quoted-printable" => TransferEncoding::QuotedPrintable,
            "x-uuencode" | "uuencode" | "x-uue" | "uue" => TransferEncoding::Uuencode,
            _ => TransferEncoding::Other(v),
        }
    }

    /// The name as it appears in output (`7bit`, `base64`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::Binary => "binary",
            TransferEncoding::Base64 => "base64",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Uuencode => "x-uuencode",
            TransferEncoding::Other(s) => s,
        }
    }

    /// Base64, quoted-printable or uuencode: the body is not the content.
    pub fn is_encoded(&self) -> bool {
        matches!(
            self,
            TransferEncoding::Base64
                | TransferEncoding::QuotedPrintable
                | TransferEncoding::Uuencode
        )
    }
}

/// The decoded body of `e` and the defects found decoding it.
pub(super) fn body(e: &EntityRef<'_>) -> (Vec<u8>, Vec<Defect>) {
    let raw = e.body_bytes();
    let base = e.body_range().start as u64;
    let mut defects = Vec::new();
    let mut out = match e.transfer_encoding() {
        // Composite entities are never encoded (RFC 2045 §6.4): read as is.
        _ if e.kind() != super::Kind::Leaf => raw.to_vec(),
        TransferEncoding::Base64 => base64_body(raw, base, &mut defects),
        TransferEncoding::QuotedPrintable => {
            let mut out = Vec::with_capacity(raw.len());
            for bad in qp::decode(raw, &mut out) {
                defects.push(Defect::new(
                    DefectCode::BadQuotedPrintable,
                    base + bad as u64,
                ));
            }
            out
        }
        TransferEncoding::Uuencode => match uu::decode(raw) {
            Some(block) => {
                if !block.ok {
                    defects.push(Defect::new(
                        DefectCode::BadUuencode,
                        base + block.range.start as u64,
                    ));
                }
                block.data
            }
            None => {
                defects.push(Defect::new(DefectCode::BadUuencode, base));
                raw.to_vec()
            }
        },
        _ => raw.to_vec(),
    };
    if *e.transfer_encoding() != TransferEncoding::Binary {
        if let Some(at) = first_long_line(raw) {
            defects.push(Defect::new(DefectCode::LineTooLong, base + at as u64));
        }
    }
    let max = e.message().limits().max_decoded_bytes;
    if out.len() > max {
        out.truncate(max);
        defects.push(Defect::new(DefectCode::DecodedSizeLimit, base));
    }
    (out, defects)
}

/// RFC 5322 §2.1.1: lines are at most 998 octets plus CRLF (only `binary`
/// bodies may break that). Returns the offset of the first longer line.
fn first_long_line(body: &[u8]) -> Option<usize> {
    const MAX: usize = 998;
    let mut start = 0;
    for lf in memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len())) {
        let mut end = lf;
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
        if end - start > MAX {
            return Some(start);
        }
        start = lf + 1;
    }
    None
}

fn base64_body(raw: &[u8], base: u64, defects: &mut Vec<Defect>) -> Vec<u8> {
    match STANDARD.decode_to_vec(raw, DecodeMode::Mime) {
        Ok(v) => v,
        Err(err) => {
            defects.push(Defect::new(DefectCode::BadBase64, base + err.offset()));
            salvage_base64(raw)
        }
    }
}

/// What the stdlib's `email._encoded_words.decode_b` makes of broken Base64:
/// lenient decoding, then with padding added, then the text itself.
fn salvage_base64(raw: &[u8]) -> Vec<u8> {
    let joined: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    if let Ok(v) = STANDARD.decode_to_vec(&joined, DecodeMode::Lenient) {
        return v;
    }
    let mut padded = joined.clone();
    padded.extend_from_slice(b"==");
    if let Ok(v) = STANDARD.decode_to_vec(&padded, DecodeMode::Lenient) {
        return v;
    }
    joined
}
