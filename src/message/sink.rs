//! Where streamed decoding writes: [`DecodeSink`], an `io::Write` that can
//! start over, and [`Sha256Sink`], which hashes and counts on the way.
//!
//! [`EntityRef::decode_to`](super::EntityRef::decode_to) writes a body
//! piece by piece, so a 2 GiB attachment is hashed or written to disk
//! without ever being held. Almost every body is written once, front to
//! back. The one exception is broken Base64 whose repairs all fail: the
//! stdlib's `email` package (which the decoder follows) then returns the
//! encoded text itself, and that is no continuation of the bytes already
//! written, so the sink is restarted and written again from the start.

use std::fs::File;
use std::io::{self, Seek, Write};

use sha2::{Digest, Sha256};

/// Lowercase hex of a digest: how the crate shows every sha256 (`parse
/// --json`, the jsonl index, Maildir names, the attachment store, resume
/// fingerprints). The one hex encoder of the crate.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// An `io::Write` that [`EntityRef::decode_to`](super::EntityRef::decode_to)
/// can restart: [`DecodeSink::restart`] discards everything written so far.
pub trait DecodeSink: Write {
    /// Forgets every byte written so far; the next write starts the output
    /// again.
    fn restart(&mut self) -> io::Result<()>;
}

impl DecodeSink for Vec<u8> {
    fn restart(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }
}

/// A file written from its start: restarting truncates it to nothing.
impl DecodeSink for File {
    fn restart(&mut self) -> io::Result<()> {
        self.set_len(0)?;
        Seek::rewind(self)
    }
}

/// A buffered sink: what is buffered is flushed, then the inner sink
/// restarts (the flushed bytes are discarded with the rest).
impl<W: DecodeSink> DecodeSink for io::BufWriter<W> {
    fn restart(&mut self) -> io::Result<()> {
        self.flush()?;
        self.get_mut().restart()
    }
}

/// Discards everything, for callers that want only the defects.
impl DecodeSink for io::Sink {
    fn restart(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: DecodeSink + ?Sized> DecodeSink for &mut S {
    fn restart(&mut self) -> io::Result<()> {
        (**self).restart()
    }
}

/// Passes bytes on to `W` while computing their sha256 and length: the
/// `size` and `sha256` of the JSON output, or an attachment written to disk
/// and named by its hash in one pass.
#[derive(Clone, Debug)]
pub struct Sha256Sink<W = io::Sink> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl Sha256Sink<io::Sink> {
    /// Hashes and counts only.
    pub fn new() -> Self {
        Sha256Sink::with_inner(io::sink())
    }
}

impl Default for Sha256Sink<io::Sink> {
    fn default() -> Self {
        Sha256Sink::new()
    }
}

impl<W> Sha256Sink<W> {
    /// Hashes and counts what is written on its way to `inner`.
    pub fn with_inner(inner: W) -> Self {
        Sha256Sink {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The sha256 of the bytes written, their number, and the inner writer.
    pub fn finish(self) -> ([u8; 32], u64, W) {
        (self.hasher.finalize().into(), self.len, self.inner)
    }
}

impl<W: Write> Write for Sha256Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Only what the inner writer took is hashed and counted.
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: DecodeSink> DecodeSink for Sha256Sink<W> {
    fn restart(&mut self) -> io::Result<()> {
        self.inner.restart()?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }
}

/// Passes at most `max` bytes on and counts all: how `max_decoded_bytes`
/// cuts a streamed body (decoding goes on to the end, so the defects found
/// are those of the whole body, as for a decode into memory).
pub(super) struct Capped<'s, S: ?Sized> {
    pub(super) inner: &'s mut S,
    pub(super) max: u64,
    pub(super) total: u64,
}

impl<S: DecodeSink + ?Sized> Write for Capped<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.max.saturating_sub(self.total);
        let take = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.inner.write_all(&buf[..take])?;
        self.total += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: DecodeSink + ?Sized> DecodeSink for Capped<'_, S> {
    fn restart(&mut self) -> io::Result<()> {
        self.total = 0;
        self.inner.restart()
    }
}
