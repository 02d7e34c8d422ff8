//! Error types, one per layer.
//!
//! The codec's [`DecodeError`] is small and `Copy` so the hot path can return
//! it cheaply; it names what was wrong and the absolute byte offset where the
//! decoder noticed it. [`Error`] is the I/O-level error of streams and the CLI.

use std::fmt;
use std::io;

/// What was wrong with Base64 input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// A byte that is not in the alphabet (and not skippable in this mode).
    InvalidByte(u8),
    /// `=` where padding cannot start (before the second character of a
    /// quantum, or a whole quantum of padding).
    UnexpectedPadding,
    /// Padding that started but did not complete before the input ended.
    IncompletePadding,
    /// An alphabet character between two `=` of the same padding.
    DiscontinuousPadding,
    /// Anything but allowed whitespace after complete padding.
    DataAfterPadding,
    /// The final quantum is not padded, and this codec requires padding.
    MissingPadding,
    /// The last quantum holds a single character, which encodes no byte.
    InvalidLength,
    /// The unused low bits of the last character are not zero (strict mode).
    TrailingBits,
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidByte(b) if b.is_ascii_graphic() => {
                write!(f, "invalid byte {:?} (0x{b:02x})", *b as char)
            }
            Self::InvalidByte(b) => write!(f, "invalid byte 0x{b:02x}"),
            Self::UnexpectedPadding => f.write_str("unexpected padding"),
            Self::IncompletePadding => f.write_str("incomplete padding"),
            Self::DiscontinuousPadding => f.write_str("data inside padding"),
            Self::DataAfterPadding => f.write_str("data after padding"),
            Self::MissingPadding => f.write_str("missing padding"),
            Self::InvalidLength => {
                f.write_str("invalid length: one character left over after the last quantum")
            }
            Self::TrailingBits => f.write_str("non-zero trailing bits"),
        }
    }
}

/// A Base64 decoding error: its kind and the byte offset in the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DecodeError {
    kind: DecodeErrorKind,
    offset: u64,
}

impl DecodeError {
    pub(crate) fn new(kind: DecodeErrorKind, offset: u64) -> Self {
        Self { kind, offset }
    }

    /// What was wrong.
    pub fn kind(&self) -> DecodeErrorKind {
        self.kind
    }

    /// Byte offset in the whole input (streams count from their first byte).
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.kind, self.offset)
    }
}

impl std::error::Error for DecodeError {}

/// Errors of the Base64 streams ([`crate::base64::stream`]): bad input or
/// failed I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Invalid Base64 input.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<StreamError> for io::Error {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Io(e) => e,
            StreamError::Decode(d) => io::Error::new(io::ErrorKind::InvalidData, d),
        }
    }
}
