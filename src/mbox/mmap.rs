//! Opening an archive from a path: memory-mapped when a plain regular file,
//! a (decoding) stream when compressed (gzip, zstd or xz, told by their
//! magic bytes) or not a regular file (pipes, devices).
//! This is the one module of the mbox layer with `unsafe` (the mapping,
//! [`map_readonly`], which the streaming reader's spool files reuse).
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use memmap2::Mmap;

use super::MboxError;

/// An opened archive.
pub enum Archive {
    /// A plain file, memory-mapped: split it with `plan_splits`/`read_range`
    /// or `read`.
    Mapped(Mmap),
    /// A compressed file, or anything that cannot be mapped (a pipe, a
    /// device, an empty file): read it with `stream`.
    Stream(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Archive::Mapped(m) => write!(f, "Archive::Mapped({} bytes)", m.len()),
            Archive::Stream(_) => f.write_str("Archive::Stream"),
        }
    }
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];

/// Opens `path`: gzip, zstd and xz files (by magic bytes, whatever their
/// name) become decoding streams, other regular files are memory-mapped.
/// What is not a regular file with a size (a FIFO, `<(...)`, a device such
/// as `/dev/zero`, or a file that reports size 0, as procfs files do)
/// cannot be mapped and is read as a stream, compressed or not: the bytes
/// read to recognise it are put back in front, since a pipe cannot seek.
/// Whether the content is an mbox is for the caller to check
/// ([`sniff`](super::sniff), `Reader::check`, or the stream's first item).
pub fn open_path(path: &Path) -> Result<Archive, MboxError> {
    let (file, head) = open_file(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > 0 && compression(&head).is_none() {
        // The map does not care where the read position is.
        return Ok(Archive::Mapped(map_readonly(&file)?));
    }
    Ok(Archive::Stream(stream_of(file, head)?))
}

/// [`open_path`] without the map: every archive comes back as a stream
/// (decoded when compressed) read with `read(2)`. For readers that must
/// survive another program truncating the file under them (a mail client
/// compacting it): a mapped page past the new end of the file raises
/// SIGBUS in whoever touches it, while a read ends early, which a regular
/// file reports as an error (`WholeFile`). The price is a copy of every
/// message and a serial split.
pub fn open_path_streamed(path: &Path) -> Result<Box<dyn Read + Send>, MboxError> {
    let (file, head) = open_file(path)?;
    let meta = file.metadata()?;
    if meta.is_file() {
        let file = WholeFile {
            file,
            path: path.to_path_buf(),
            size: meta.len(),
            read: head.len() as u64,
        };
        return stream_of(file, head);
    }
    stream_of(file, head)
}

/// A regular file read to its end. An end before the size the file had
/// when opened means another program truncated it under the reader: an
/// error (`UnexpectedEof`), not a shorter archive whose last message is
/// silently cut. A file that grows is read to its new end.
struct WholeFile {
    file: File,
    /// For the error message.
    path: std::path::PathBuf,
    /// The size at opening.
    size: u64,
    /// Bytes read so far (the head included).
    read: u64,
}

impl Read for WholeFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.read += n as u64;
        if n == 0 && !buf.is_empty() && self.read < self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: the file shrank while being read: it had {} bytes when opened, \
                     its end came after {} (truncated by another program?)",
                    self.path.display(),
                    self.size,
                    self.read
                ),
            ));
        }
        Ok(n)
    }
}

/// A stream that is no file (standard input): decoded when its first
/// bytes announce a compression, as [`open_path`] does for files.
pub fn open_stream(mut reader: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, MboxError> {
    let head = read_head(&mut reader)?;
    stream_of(reader, head)
}

/// Opens `path` and reads its first bytes (enough for the magic numbers).
fn open_file(path: &Path) -> Result<(File, Vec<u8>), MboxError> {
    let mut file = File::open(path)?;
    let head = read_head(&mut file)?;
    Ok((file, head))
}

/// The first bytes of `r`, enough for the magic numbers (fewer at its end).
fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; 6];
    let got = crate::io_util::read_full(r, &mut head)?;
    head.truncate(got);
    Ok(head)
}

#[derive(Clone, Copy)]
enum Compression {
    Gzip,
    Zstd,
    Xz,
}

/// The compression the first bytes of a file announce.
fn compression(head: &[u8]) -> Option<Compression> {
    [
        (GZIP, Compression::Gzip),
        (ZSTD, Compression::Zstd),
        (XZ, Compression::Xz),
    ]
    .into_iter()
    .find_map(|(magic, c)| head.starts_with(magic).then_some(c))
}

/// `file` as a stream whose first bytes, `head`, were read already: they
/// are put back in front rather than sought back to, since a pipe cannot
/// seek. Decoded when `head` announces a compression.
fn stream_of(
    file: impl Read + Send + 'static,
    head: Vec<u8>,
) -> Result<Box<dyn Read + Send>, MboxError> {
    let c = compression(&head);
    let raw = io::Cursor::new(head).chain(file);
    Ok(match c {
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(raw))),
        Some(Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(raw)?),
        Some(Compression::Xz) => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            BufReader::new(raw),
        )),
        None => Box::new(raw),
    })
}

/// Maps `file` read-only: the one `unsafe` of the mbox layer, shared by
/// [`open_path`] and the streaming reader's spool files. Callers must not
/// change the mapped bytes while the map lives (see the SAFETY note).
pub(super) fn map_readonly(file: &File) -> io::Result<Mmap> {
    // SAFETY: the map is read-only and private to this process, and
    // mimeflow never writes to a mapped range. Archives (`open_path`): a
    // process truncating or rewriting the file while mapped is outside what
    // the type system can guard against (every mmap-based reader shares
    // this caveat): a truncation makes a later access past the new end
    // raise SIGBUS, which kills the process rather than reading freed
    // memory; rewritten bytes are read as they now are. The CLI reports
    // that SIGBUS as one line (`src/bin/mimeflow/sigbus.rs`); Python
    // callers that must survive it read with `open_path_streamed` instead.
    // Spool files (`stream.rs`): unnamed temporary files that no other
    // process can open; the reader appends to one only after dropping its
    // previous map, and hands the last map on without keeping the file.
    unsafe { Mmap::map(file) }
}
