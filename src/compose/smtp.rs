//! SMTP `DATA` framing (RFC 5321 §4.5.2): dot-stuffing and the `CRLF.CRLF`
//! terminator, and the reverse.
//!
//! Both directions are streams whose state crosses chunk boundaries (a line
//! start, or a terminator, can straddle two chunks). Line starts are found
//! with memchr's vectorised search: [`DotStuffer`] looks for `"\n."` with a
//! `memmem` finder and copies everything between hits in one go;
//! [`DotUnstuffer`] jumps from line end to line end with `memchr`.
//!
//! A line start is the start of the stream or the byte after any LF (a bare
//! LF counts too: receivers differ on bare LFs, and stuffing after them is
//! harmless). Unstuffing accepts `.\r\n` as the terminator, and also `.\n`
//! (lenient, as many servers are).

use std::io::{self, Write};

use memchr::memmem;

/// An `io::Write` adapter that dot-stuffs what goes through it; call
/// [`DotStuffer::finish`] to write the terminator.
pub struct DotStuffer<W: Write> {
    inner: W,
    finder: memmem::Finder<'static>,
    /// The next byte starts a line.
    at_line_start: bool,
    /// The last two bytes written (for the final CRLF).
    tail: [u8; 2],
    written: u64,
}

impl<W: Write> DotStuffer<W> {
    /// Stuffs into `inner`.
    pub fn new(inner: W) -> Self {
        DotStuffer {
            inner,
            finder: memmem::Finder::new(b"\n.").into_owned(),
            at_line_start: true,
            tail: [b'\r', b'\n'],
            written: 0,
        }
    }

    /// Ends the data: a CRLF if the content did not end with one, then
    /// `.\r\n`. Returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.written > 0 && self.tail != *b"\r\n" {
            self.inner.write_all(b"\r\n")?;
        }
        self.inner.write_all(b".\r\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for DotStuffer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut from = 0;
        if self.at_line_start && buf[0] == b'.' {
            self.inner.write_all(b".")?;
        }
        for hit in self.finder.find_iter(buf) {
            // `hit` is the LF; the dot after it gets doubled.
            self.inner.write_all(&buf[from..=hit])?;
            self.inner.write_all(b".")?;
            from = hit + 1;
        }
        self.inner.write_all(&buf[from..])?;
        self.at_line_start = buf[buf.len() - 1] == b'\n';
        self.tail = if buf.len() >= 2 {
            [buf[buf.len() - 2], buf[buf.len() - 1]]
        } else {
            [self.tail[1], buf[0]]
        };
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `data` dot-stuffed and terminated, in one go.
pub fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 8);
    let mut s = DotStuffer::new(&mut out);
    s.write_all(data).expect("Vec never fails");
    s.finish().expect("Vec never fails");
    out
}

/// Where [`DotUnstuffer`] is inside a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The next byte starts a line.
    LineStart,
    /// Inside a line.
    Mid,
    /// A line started with `.`.
    Dot,
    /// A line started with `.\r`.
    DotCr,
    /// The terminator was read.
    Done,
}

/// What [`DotUnstuffer::push`] did with a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Bytes of the chunk consumed; less than its length only when the
    /// terminator ended inside it (the rest follows the DATA).
    pub consumed: usize,
    /// The terminator has been read.
    pub done: bool,
}

/// Push-style un-stuffing of a received DATA stream up to its terminator.
#[derive(Clone, Debug)]
pub struct DotUnstuffer {
    state: State,
}

impl Default for DotUnstuffer {
    fn default() -> Self {
        DotUnstuffer::new()
    }
}

impl DotUnstuffer {
    /// At the start of the DATA stream.
    pub fn new() -> Self {
        DotUnstuffer {
            state: State::LineStart,
        }
    }

    /// Whether the terminator has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Un-stuffs `chunk`, appending the content to `out`. The terminator
    /// line is not part of the content; the CRLF before it is.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Pushed {
        let mut i = 0;
        while i < chunk.len() {
            match self.state {
                State::Done => break,
                State::LineStart => {
                    if chunk[i] == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::Mid => match memchr::memchr(b'\n', &chunk[i..]) {
                    Some(p) => {
                        out.extend_from_slice(&chunk[i..=i + p]);
                        i += p + 1;
                        self.state = State::LineStart;
                    }
                    None => {
                        out.extend_from_slice(&chunk[i..]);
                        i = chunk.len();
                    }
                },
                State::Dot => match chunk[i] {
                    b'\r' => {
                        self.state = State::DotCr;
                        i += 1;
                    }
                    b'\n' => {
                        self.state = State::Done;
                        i += 1;
                    }
                    // The stuffed dot is dropped; the rest of the line is content.
                    _ => self.state = State::Mid,
                },
                State::DotCr => {
                    if chunk[i] == b'\n' {
                        self.state = State::Done;
                        i += 1;
                    } else {
                        // ".\r" then something else: a line ".\r..." whose
                        // first dot was stuffing.
                        out.push(b'\r');
                        self.state = State::Mid;
                    }
                }
            }
        }
        Pushed {
            consumed: i,
            done: self.state == State::Done,
        }
    }

    /// Ends the stream; `Err` when the terminator never came (what was
    /// pushed is still in the caller's buffer).
    pub fn finish(self) -> Result<(), Unterminated> {
        if self.state == State::Done {
            Ok(())
        } else {
            Err(Unterminated)
        }
    }
}

/// A DATA stream that ended without its `CRLF.CRLF` terminator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("DATA stream ends without the <CRLF>.<CRLF> terminator")]
pub struct Unterminated;

/// Un-stuffs a whole DATA stream: the content and the number of input bytes
/// up to and including the terminator.
pub fn unstuff(data: &[u8]) -> Result<(Vec<u8>, usize), Unterminated> {
    let mut u = DotUnstuffer::new();
    let mut out = Vec::with_capacity(data.len());
    let p = u.push(data, &mut out);
    u.finish()?;
    Ok((out, p.consumed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_basic() {
        let msg = b".hello\r\n..x\r\nline\r\n.\r\nend";
        let s = stuff(msg);
        assert_eq!(s, b"..hello\r\n...x\r\nline\r\n..\r\nend\r\n.\r\n");
        let (back, n) = unstuff(&s).unwrap();
        assert_eq!(n, s.len());
        assert_eq!(back, b".hello\r\n..x\r\nline\r\n.\r\nend\r\n");
        assert_eq!(stuff(b""), b".\r\n");
        assert_eq!(unstuff(b".\r\n").unwrap(), (Vec::new(), 3));
        assert!(unstuff(b"abc\r\n").is_err());
    }
}
