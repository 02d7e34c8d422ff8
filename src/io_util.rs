//! Small I/O helpers the modules share.

use std::io::{self, Read, Write};

/// Reads until `buf` is full or the input ends (retrying interrupted
/// reads); how many bytes it got. Fewer than `buf.len()` means the input
/// ended.
pub(crate) fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A writer that counts the bytes written through it.
pub(crate) struct Counting<W> {
    pub(crate) inner: W,
    /// Bytes written so far.
    pub(crate) n: u64,
}

impl<W> Counting<W> {
    pub(crate) fn new(inner: W) -> Self {
        Counting { inner, n: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
