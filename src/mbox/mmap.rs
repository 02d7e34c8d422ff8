//! Opening an archive from a path: memory-mapped when a plain regular file,
//! a (decoding) stream when compressed (gzip, zstd or xz, told by their
//! magic bytes) or not a regular file (pipes, devices).
//! This is the one module of the mbox layer with `unsafe` (the mapping,
//! [`map_readonly`], which the streaming reader's spool files reuse).
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, BufReader, Read};
#[cfg(feature = "parallel")]
use std::ops::Range;
use std::path::Path;
#[cfg(feature = "parallel")]
use std::sync::Arc;

#[cfg(feature = "parallel")]
use bytes::Bytes;
use memmap2::Mmap;
#[cfg(feature = "parallel")]
use memmap2::UncheckedAdvice;

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

// Essay: giving back the pages of a mapped archive.
//
// A page of a mapped file, once read, stays mapped in the process until the
// map goes: a run over a 2.2 GB archive ends with 2.1 GB counted in its
// resident memory (RssFile), all of it read once and done with, and
// unmapping it is a serial step after the last window: `munmap` of a
// 100 MB archive took 5-7 ms (strace -T, Zen 4 guest), after the workers
// had stopped. A reader that moves through the archive once can give each
// part back when it is done with it: `MADV_DONTNEED` unmaps those pages
// (the page cache keeps them), so the process holds only the parts in
// flight, and the unmapping is done piece by piece by whichever thread
// reads on. The map is read-only and nothing is ever written through it,
// so a page given back and touched again is read again from the file with
// the same bytes: giving back too early costs a page fault, never a
// change in what is read. That is why this is safe here and never on
// memory that was written (there, the bytes would become zeros).

/// A mapped archive shared as [`Bytes`] (messages are zero-copy slices of
/// it) whose parts a reader is done with can be given back (see the essay
/// above). Crate-private, and made only from a [`map_readonly`] map of a
/// file: any `Mmap` is read-only, but one made read-only after it was
/// written (an anonymous or copy-on-write map) would read zeros or the
/// file's bytes again where it was given back.
#[cfg(feature = "parallel")]
#[derive(Clone)]
pub(crate) struct SharedMap {
    map: Arc<Mmap>,
    bytes: Bytes,
}

/// `Bytes::from_owner` wants `AsRef<[u8]>`, which `Arc<Mmap>` is not.
#[cfg(feature = "parallel")]
struct MapOwner(Arc<Mmap>);

#[cfg(feature = "parallel")]
impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(feature = "parallel")]
impl SharedMap {
    /// Shares `map`, which must come from [`map_readonly`] (through
    /// [`open_path`]'s [`Archive::Mapped`]): a shared read-only map of a
    /// file, never written.
    pub(crate) fn new(map: Mmap) -> SharedMap {
        let map = Arc::new(map);
        let bytes = Bytes::from_owner(MapOwner(Arc::clone(&map)));
        SharedMap { map, bytes }
    }

    /// The whole archive.
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Gives back the whole pages inside `range` (offsets into the map;
    /// the pages it only partly covers stay). The bytes read there later
    /// are the same, from the file again. A failure changes nothing and is
    /// not reported: this only saves memory and time.
    pub(crate) fn release(&self, range: Range<usize>) {
        let page = rustix::param::page_size();
        let end = range.end.min(self.map.len());
        let start = range.start.next_multiple_of(page);
        let end = end - end % page;
        if start >= end {
            return;
        }
        // SAFETY: the range lies inside the map, which this value keeps
        // alive. The map is a shared read-only map of a file (`new`), so no
        // byte of it was ever written: DONTNEED drops page-table entries
        // only, and a later read maps the file's page-cache page again,
        // the page every other mapping of the file sees (a file rewritten
        // by another process is the caveat of `map_readonly`, unchanged).
        let _ = unsafe {
            self.map
                .unchecked_advise_range(UncheckedAdvice::DontNeed, start, end - start)
        };
    }
}

#[cfg(all(test, target_os = "linux", feature = "parallel"))]
mod tests {
    use super::*;
    use std::io::Write;

    /// The resident kB of the mapping that holds `p` (/proc/self/smaps).
    fn rss_kb(p: *const u8) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = (lo..hi).contains(&(p as usize));
                        continue;
                    }
                }
            }
            if inside {
                if let Some(v) = line.strip_prefix("Rss:") {
                    return v.trim().trim_end_matches(" kB").parse().unwrap();
                }
            }
        }
        panic!("no mapping holds {p:p}");
    }

    #[test]
    fn released_pages_leave_the_process_and_read_the_same() {
        let page = rustix::param::page_size();
        let want: Vec<u8> = (0..64 * page).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&want).unwrap();
        let shared = SharedMap::new(map_readonly(&f).unwrap());
        let bytes = shared.bytes().clone();
        assert_eq!(&bytes[..], &want[..]);
        let full = rss_kb(bytes.as_ptr());
        assert_eq!(full, (64 * page / 1024) as u64);
        // Half a page in, 40 pages on: the 39 whole pages inside go.
        shared.release(page / 2..page / 2 + 40 * page);
        assert_eq!(rss_kb(bytes.as_ptr()), full - (39 * page / 1024) as u64);
        // A range past the end stops there (4 pages go); empty and
        // backwards ones change nothing.
        shared.release(60 * page..1000 * page);
        shared.release(3..3);
        shared.release(10 * page..2 * page);
        assert_eq!(rss_kb(bytes.as_ptr()), full - (43 * page / 1024) as u64);
        // Read again: the same bytes, from the file.
        assert_eq!(&bytes[..], &want[..]);
        assert_eq!(rss_kb(bytes.as_ptr()), full);
    }
}
