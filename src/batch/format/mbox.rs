//! The mbox output: each message as mboxrd, its From_ line then the
//! message with From_ quoting, in the line ending of its first line.

use std::io::{self, Write};

use super::super::source::Item;
use crate::mbox::{self, LineEnding};

/// Messages at least this large go to an mbox output straight from the
/// source during the in-order commit: a prepared copy would double their
/// size in memory (a 405 MB message peaked at 784 MiB). Smaller ones are
/// quoted in parallel by the workers.
pub(crate) const AT_COMMIT: usize = 4 << 20;

/// `item` as mboxrd: its From_ line, then the message with From_ quoting.
pub(crate) fn write_mbox(out: &mut impl Write, item: &Item<'_>) -> io::Result<()> {
    let raw: &[u8] = &item.message;
    let eol = if first_line_is_crlf(raw) {
        LineEnding::Crlf
    } else {
        LineEnding::Lf
    };
    mbox::write_mboxrd(out, item.envelope.as_deref(), raw, eol)
}

fn first_line_is_crlf(raw: &[u8]) -> bool {
    memchr::memchr(b'\n', raw).is_some_and(|i| i > 0 && raw[i - 1] == b'\r')
}
