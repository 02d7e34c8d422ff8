//! Defects: what was wrong with a message that was read anyway.
//!
//! Real mail breaks every rule, so the parsers never fail on malformed input.
//! Each problem is recorded on the entity where it was found, with a stable
//! code (the strings of [`DefectCode::as_str`] are part of the JSON output and
//! never change meaning) and the absolute byte offset in the source where it
//! was noticed. An optional strict mode turns the first defect into an error.

use std::fmt;

/// A problem found while reading a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Defect {
    /// What was wrong.
    pub code: DefectCode,
    /// Absolute byte offset in the parsed source.
    pub offset: u64,
}

impl Defect {
    /// A defect of kind `code` at `offset`.
    pub fn new(code: DefectCode, offset: u64) -> Defect {
        Defect { code, offset }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.code.as_str(), self.offset)
    }
}

macro_rules! defect_codes {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// The kinds of defect, each with a stable string code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum DefectCode {
            $($(#[$doc])* $variant,)*
        }

        impl DefectCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [DefectCode] = &[$(DefectCode::$variant,)*];

            /// The stable code used in JSON output and messages.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DefectCode::$variant => $code,)*
                }
            }

            /// Parses a code printed by [`DefectCode::as_str`].
            pub fn from_code(s: &str) -> Option<DefectCode> {
                match s {
                    $($code => Some(DefectCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

defect_codes! {
    // Header block.
    /// A header line with no colon (kept as a continuation or skipped).
    HeaderWithoutColon => "header_without_colon",
    /// Raw 8-bit bytes in a header (decoded as UTF-8, else Latin-1).
    EightBitInHeader => "eight_bit_in_header",
    /// A header line or field longer than RFC 5322's 998 octets.
    HeaderLineTooLong => "header_line_too_long",
    /// The first header line starts with whitespace (a continuation of nothing).
    ContinuationWithoutField => "continuation_without_field",
    /// No blank line between header and body: the message ended in its header.
    MissingHeaderBodySeparator => "missing_header_body_separator",
    /// An RFC 2047 encoded-word that could not be decoded (kept as written).
    BadEncodedWord => "bad_encoded_word",
    /// A charset this engine does not know (text decoded by the fallback).
    UnknownCharset => "unknown_charset",
    /// Bytes invalid in their charset (replaced by U+FFFD).
    InvalidCharsetData => "invalid_charset_data",
    /// A malformed RFC 2231 parameter (continuation gap, bad percent-escape).
    BadParameter => "bad_parameter",
    /// A Content-Type that does not parse (the RFC default is used).
    BadContentType => "bad_content_type",
    /// A Content-Disposition that does not parse.
    BadContentDisposition => "bad_content_disposition",
    /// An address list that only partly parses.
    BadAddress => "bad_address",
    /// A Date that does not parse.
    BadDate => "bad_date",
    /// A Date whose zone is neither a numeric offset nor a known name, such
    /// as "GMT+0100" (read as -0000, an unknown offset: RFC 5322 §4.3).
    UnknownTimeZone => "unknown_time_zone",
    // Structure.
    /// A multipart entity without a boundary parameter (read as a leaf).
    MissingBoundaryParameter => "missing_boundary_parameter",
    /// A multipart body in which its boundary never appears.
    MissingBoundary => "missing_boundary",
    /// A multipart body that ends without its close delimiter.
    MissingCloseDelimiter => "missing_close_delimiter",
    /// A multipart or message entity with a base64/quoted-printable encoding.
    EncodedCompositeEntity => "encoded_composite_entity",
    // Transfer encodings.
    /// Bytes that are not valid Base64 (skipped by the lenient decoder).
    BadBase64 => "bad_base64",
    /// Invalid quoted-printable escapes (kept literally).
    BadQuotedPrintable => "bad_quoted_printable",
    /// A broken uuencoded block.
    BadUuencode => "bad_uuencode",
    /// An unknown Content-Transfer-Encoding (body kept as is).
    UnknownTransferEncoding => "unknown_transfer_encoding",
    /// A body line longer than 998 octets.
    LineTooLong => "line_too_long",
    // Limits (see `message::Limits`).
    /// Nesting deeper than the depth limit: deeper entities read as leaves.
    DepthLimit => "depth_limit",
    /// More entities than the parts limit: the rest read as one leaf.
    PartsLimit => "parts_limit",
    /// More header fields than the limit: the rest ignored.
    HeaderCountLimit => "header_count_limit",
    /// A header block larger than the limit: the rest read as body.
    HeaderSizeLimit => "header_size_limit",
    /// A decoded body larger than the limit: cut there.
    DecodedSizeLimit => "decoded_size_limit",
}

impl fmt::Display for DefectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &c in DefectCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {}", c.as_str());
            assert_eq!(DefectCode::from_code(c.as_str()), Some(c));
        }
    }
}
