//! Undoing transfer encodings of leaf bodies, on demand.
//!
//! Base64 takes the SIMD codec's MIME mode (whitespace skipped in the vector
//! loops); when that fails, the same fallbacks as the stdlib `email` package
//! run (lenient decoding, then padding repair, then the raw text), so decoded
//! payloads agree with it on broken mail too, with a `bad_base64` defect.
//!
//! Every decoder streams: a body goes to a [`DecodeSink`] a bounded step at
//! a time (Base64 through the codec's `DecodeState`, quoted-printable and
//! uuencode through their modules' streaming forms), so hashing or saving a
//! 2 GiB attachment holds a few hundred KiB, not the attachment. Decoding
//! into memory is the same code writing into a `Vec`.

use std::io::{self, Write};
use std::mem::MaybeUninit;

use super::sink::{Capped, DecodeSink};
use super::{Defect, DefectCode, EntityRef};
use crate::base64::{DecodeMode, DecodeState, STANDARD};
use crate::error::DecodeError;
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

/// Every name a Content-Transfer-Encoding value is read as, compared
/// ignoring ASCII case once blanks and quotes around it are trimmed.
const NAMES: [(&str, TransferEncoding); 12] = [
    ("", TransferEncoding::SevenBit),
    ("7bit", TransferEncoding::SevenBit),
    ("7-bit", TransferEncoding::SevenBit),
    ("8bit", TransferEncoding::EightBit),
    ("8-bit", TransferEncoding::EightBit),
    ("binary", TransferEncoding::Binary),
    ("base64", TransferEncoding::Base64),
    ("quoted-printable", TransferEncoding::QuotedPrintable),
    ("x-uuencode", TransferEncoding::Uuencode),
    ("uuencode", TransferEncoding::Uuencode),
    ("x-uue", TransferEncoding::Uuencode),
    ("uue", TransferEncoding::Uuencode),
];

/// `v` without the leading and trailing bytes that `strip` picks.
fn trim_by(v: &[u8], strip: impl Fn(u8) -> bool) -> &[u8] {
    let start = v.iter().position(|&b| !strip(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|&b| !strip(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

impl TransferEncoding {
    /// Parses a header value (case and surrounding blanks ignored).
    pub fn parse(value: &[u8]) -> TransferEncoding {
        let text;
        let v = if value.is_ascii() {
            // No String for the common case: on ASCII, `str::trim` strips
            // exactly \t \n \x0B \x0C \r and space.
            let v = trim_by(value, |b| matches!(b, b'\t'..=b'\r' | b' '));
            trim_by(v, |b| b == b'"')
        } else {
            text = String::from_utf8_lossy(value);
            text.trim().trim_matches('"').as_bytes()
        };
        match NAMES
            .iter()
            .find(|(name, _)| v.eq_ignore_ascii_case(name.as_bytes()))
        {
            Some((_, known)) => known.clone(),
            None => TransferEncoding::Other(String::from_utf8_lossy(v).to_ascii_lowercase()),
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

/// Input bytes decoded per step: what a streamed decode holds at once is
/// about this much (a Base64 step's output, a quoted-printable piece).
pub(super) const BLOCK: usize = 256 * 1024;

/// The decoded body of `e` and the defects found decoding it.
pub(super) fn body(e: &EntityRef<'_>) -> (Vec<u8>, Vec<Defect>) {
    // Room for the usual outcome up front, as the one-shot codecs had: a
    // Vec grown by doubling would copy a large body several times and
    // peak at up to twice its size. (uuencode can exceed this; it grows.)
    let raw = e.body_bytes().len();
    let likely = match e.transfer_encoding() {
        TransferEncoding::Base64 if e.kind() == super::Kind::Leaf => {
            STANDARD.estimated_decoded_length(raw)
        }
        _ => raw,
    };
    let mut out = Vec::with_capacity(likely.min(e.message().limits().max_decoded_bytes));
    let (_, defects) = to_sink(e, &mut out, BLOCK).expect("writing to a Vec cannot fail");
    (out, defects)
}

/// Writes the decoded body of `e` to `sink`, `block` input bytes a step;
/// returns its length and the defects found decoding it. The bytes are
/// those of [`body`] whatever `block` is: every decoder here keeps its
/// state across steps. The sink is restarted only for Base64 that falls
/// back to the raw text (see `base64_to`).
pub(super) fn to_sink(
    e: &EntityRef<'_>,
    sink: &mut (impl DecodeSink + ?Sized),
    block: usize,
) -> io::Result<(u64, Vec<Defect>)> {
    let block = block.max(1);
    let raw = e.body_bytes();
    let base = e.body_range().start as u64;
    let max = e.message().limits().max_decoded_bytes;
    let mut out = Capped {
        inner: sink,
        max: u64::try_from(max).unwrap_or(u64::MAX),
        total: 0,
    };
    let mut defects = Vec::new();
    match e.transfer_encoding() {
        // Composite entities are never encoded (RFC 2045 §6.4): read as is.
        _ if e.kind() != super::Kind::Leaf => copy_to(raw, &mut out, block)?,
        TransferEncoding::Base64 => base64_to(raw, base, &mut out, &mut defects, block)?,
        TransferEncoding::QuotedPrintable => {
            let mut bad = Vec::new();
            qp::decode_pieces(raw, &mut out, &mut bad, block)?;
            defects.extend(
                bad.into_iter()
                    .map(|at| Defect::new(DefectCode::BadQuotedPrintable, base + at as u64)),
            );
        }
        TransferEncoding::Uuencode => match uu::decode_flushing(raw, &mut out, block)? {
            Some(block) => {
                if !block.ok {
                    defects.push(Defect::new(
                        DefectCode::BadUuencode,
                        base + block.range.start as u64,
                    ));
                }
            }
            None => {
                defects.push(Defect::new(DefectCode::BadUuencode, base));
                copy_to(raw, &mut out, block)?;
            }
        },
        _ => copy_to(raw, &mut out, block)?,
    }
    if *e.transfer_encoding() != TransferEncoding::Binary {
        if let Some(at) = first_long_line(raw) {
            defects.push(Defect::new(DefectCode::LineTooLong, base + at as u64));
        }
    }
    if out.total > out.max {
        defects.push(Defect::new(DefectCode::DecodedSizeLimit, base));
    }
    Ok((out.total.min(out.max), defects))
}

fn copy_to(raw: &[u8], out: &mut impl Write, block: usize) -> io::Result<()> {
    raw.chunks(block).try_for_each(|c| out.write_all(c))
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

/// Base64 in the codec's MIME mode, streamed. When that fails, the stdlib's
/// `email._encoded_words.decode_b` fallbacks follow: lenient decoding, then
/// with padding added, then the text itself (CR and LF removed).
///
/// The lenient decode (`binascii` rules) reads every alphabet character as
/// MIME mode does, skips more, and emits a final partial quantum only on
/// complete padding, as MIME mode does; so the bytes MIME mode wrote before
/// it failed are a prefix of the lenient output, and the lenient pass skips
/// that many bytes instead of rewriting them. Its `finish` fails without
/// touching the state, so "with padding added" is the same state fed `==`.
/// Only the last fallback, the raw text, restarts the sink.
fn base64_to(
    raw: &[u8],
    base: u64,
    out: &mut (impl DecodeSink + ?Sized),
    defects: &mut Vec<Defect>,
    block: usize,
) -> io::Result<()> {
    let mut buf = vec![MaybeUninit::uninit(); DecodeState::max_output(block) + 3];
    let mut mime = STANDARD.decode_state(STANDARD.rules(DecodeMode::Mime));
    let mut written = 0u64;
    let mut emit = |b: &[u8]| {
        written += b.len() as u64;
        out.write_all(b)
    };
    let failed = match feed(&mut mime, raw, block, &mut buf, &mut emit)? {
        Ok(()) => match mime.finish_buf(&mut buf) {
            Ok(last) => return emit(last),
            Err(err) => err,
        },
        Err(err) => err,
    };
    defects.push(Defect::new(DefectCode::BadBase64, base + failed.offset()));
    let mut lenient = STANDARD.decode_state(STANDARD.rules(DecodeMode::Lenient));
    let mut skip = written;
    let mut emit = |b: &[u8]| {
        let k = b.len().min(usize::try_from(skip).unwrap_or(usize::MAX));
        skip -= k as u64;
        out.write_all(&b[k..])
    };
    let mut salvaged = feed(&mut lenient, raw, block, &mut buf, &mut emit)?.is_ok();
    if salvaged {
        salvaged = match lenient.finish_buf(&mut buf) {
            Ok(last) => emit(last).map(|()| true)?,
            Err(_) => match feed(&mut lenient, b"==", block, &mut buf, &mut emit)? {
                Ok(()) => match lenient.finish_buf(&mut buf) {
                    Ok(last) => emit(last).map(|()| true)?,
                    Err(_) => false,
                },
                Err(_) => false,
            },
        };
    }
    if !salvaged {
        out.restart()?;
        let mut text = Vec::with_capacity(block.min(raw.len()));
        for piece in raw.chunks(block) {
            text.clear();
            text.extend(piece.iter().filter(|&&b| b != b'\r' && b != b'\n'));
            out.write_all(&text)?;
        }
    }
    Ok(())
}

/// Feeds `src` to `state` `block` bytes at a time, handing each step's
/// output to `emit`. The outer error is the sink's, the inner the codec's.
fn feed(
    state: &mut DecodeState,
    src: &[u8],
    block: usize,
    buf: &mut [MaybeUninit<u8>],
    emit: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<Result<(), DecodeError>> {
    for piece in src.chunks(block) {
        match state.feed_buf(piece, buf) {
            Ok(decoded) => emit(decoded)?,
            Err(err) => return Ok(Err(err)),
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::TransferEncoding::{self, *};

    #[test]
    fn transfer_encoding_names() {
        let cases: [(&[u8], TransferEncoding); 12] = [
            (b"base64", Base64),
            (b" \"BASE64\"\r\n", Base64),
            (b"\x0b7Bit\x0c", SevenBit),
            (b"", SevenBit),
            (b"\"\"", SevenBit),
            (b"Quoted-Printable", QuotedPrintable),
            (b"X-UUE", Uuencode),
            (b"8-bit", EightBit),
            // Unicode blanks are trimmed as `str::trim` does.
            (b"\xc2\xa0binary\xe3\x80\x80", Binary),
            // Not a blank: kept, so the name is unknown.
            (b"\x1cbase64", Other("\x1cbase64".into())),
            (b" X-Token ", Other("x-token".into())),
            (b"b\xffse64", Other("b\u{fffd}se64".into())),
        ];
        for (value, want) in cases {
            assert_eq!(TransferEncoding::parse(value), want, "{value:?}");
        }
    }
}
