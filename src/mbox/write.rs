//! Writing mboxrd: the one variant whose quoting is reversible, so that
//! mbox -> eml -> mbox gives the original messages byte for byte.

use std::io::{self, Write};

use memchr::memmem;

use super::from_line::{newline_byte, synthesize_envelope};
use super::LineEnding;

/// Writes one message as mboxrd: the From_ line (`From ` + `envelope`, or
/// `From MAILER-DAEMON <asctime>` with the UTC date of the message's `Date:`
/// header, the epoch without one), the message with every `^>*From ` line
/// quoted by one more `>`, a final line end if the message lacks one, and
/// the blank separator line. Lines are those of `eol` (LF and CRLF: ended
/// by `\n`; CR: by `\r`), as the reader sees them. An envelope holding a
/// line end is cut at it (it would end the From_ line anyway).
pub fn write_mboxrd(
    out: &mut impl Write,
    envelope: Option<&[u8]>,
    message: &[u8],
    eol: LineEnding,
) -> io::Result<()> {
    let nl = newline_byte(eol);
    let eol_bytes = eol.as_bytes();
    let synthesized;
    let env = match envelope {
        Some(e) => &e[..memchr::memchr2(b'\n', b'\r', e).unwrap_or(e.len())],
        None => {
            synthesized = synthesize_envelope(message);
            &synthesized[..]
        }
    };
    out.write_all(b"From ")?;
    out.write_all(env)?;
    out.write_all(eol_bytes)?;
    let mut written = 0;
    for h in memmem::find_iter(message, b"From ") {
        let mut j = h;
        while j > 0 && message[j - 1] == b'>' {
            j -= 1;
        }
        if j == 0 || message[j - 1] == nl {
            out.write_all(&message[written..j])?;
            out.write_all(b">")?;
            written = j;
        }
    }
    out.write_all(&message[written..])?;
    if !message.is_empty() && *message.last().unwrap() != nl {
        out.write_all(eol_bytes)?;
    }
    out.write_all(eol_bytes)
}
