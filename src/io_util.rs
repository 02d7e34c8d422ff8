//! Small reading helpers the modules share.

use std::io::{self, Read};

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
