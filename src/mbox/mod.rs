//! Reading and writing mbox archives.
//!
//! An mbox is a concatenation of messages, each introduced by a From_ line
//! (`From sender date`) that follows a blank line or starts the file. The
//! four variants differ in how `From ` lines inside messages are protected:
//!
//! | variant   | quoting of body lines           | undone on read          |
//! |-----------|---------------------------------|-------------------------|
//! | `mboxo`   | `From ` -> `>From `             | only with `unquote_mboxo` (inexact) |
//! | `mboxrd`  | `>*From ` -> `>` + `>*From `    | always (exact)          |
//! | `mboxcl`  | as mboxo, plus Content-Length   | only with `unquote_mboxo` |
//! | `mboxcl2` | none; Content-Length delimits   | nothing to undo         |
//!
//! Everything except mboxcl2 is cut at From_ lines, and whether a position
//! is a cut depends only on the bytes around it (see `scan.rs`), so an
//! archive can be split into byte ranges found by searching from
//! approximate cut points ([`plan_splits`], [`read_range`]) and read in
//! parallel with the same result as the serial [`read`]. mboxcl2 leaves
//! body `From ` lines alone, so it is walked serially by Content-Length
//! (falling back to From_ lines where a header does not check out).
//!
//! Sources: a byte slice (usually a memory map, see [`open_path`]) or, for
//! compressed or piped input, the streaming reader [`stream`], which keeps
//! one message (plus a read chunk) in memory, or, for a message larger than
//! its spool threshold, in an unnamed temporary file that is then
//! memory-mapped ([`Stream::spool_threshold`]).
//!
//! A mapped archive must not shrink while it is read, nor while entries
//! borrowed from it live: a page past the new end of the file raises SIGBUS
//! in the thread that touches it, which kills the process (a mail client
//! compacting the mailbox is enough). [`open_path_streamed`] reads any
//! archive with `read(2)` instead, for callers that must survive that.
//!
//! ```
//! use mimeflow::mbox::{read, write_mboxrd, LineEnding, ReadOptions};
//!
//! let archive = b"From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\n>From here\n\n";
//! let msgs: Vec<_> = read(archive, &ReadOptions::default()).collect();
//! assert_eq!(msgs.len(), 1);
//! assert_eq!(&*msgs[0].message, b"Subject: x\n\nFrom here\n"); // mboxrd: unquoted
//! let mut out = Vec::new();
//! write_mboxrd(&mut out, Some(msgs[0].envelope), &msgs[0].message, LineEnding::Lf).unwrap();
//! assert_eq!(out, archive);
//! ```

use std::borrow::Cow;
use std::io;
use std::ops::Range;

use bytes::Bytes;
use memchr::memmem::Finder;

mod from_line;
mod mmap;
mod scan;
mod sniff;
mod split;
mod stream;
mod write;

pub use from_line::is_from_line;
pub use mmap::{open_path, open_path_streamed, open_stream, Archive};
pub use sniff::{sniff, sniff_head, Sniffed, SNIFF_SAMPLE};
pub use split::{find_cut, plan_splits, Cut, CUT_LOOKBEHIND};
// For the batch pipeline and the Python reader, both behind features.
#[cfg(feature = "parallel")]
pub(crate) use mmap::SharedMap;
#[cfg(any(feature = "parallel", feature = "python"))]
pub(crate) use stream::SPOOLED_WEIGHT;
pub use stream::{read_spooled, stream, Stream, DEFAULT_SPOOL_THRESHOLD};
pub use write::write_mboxrd;

use scan::{Ctx, Found, ScanState, Step};

/// The mbox variants (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// From lines in bodies quoted as `>From `; `>From ` left alone.
    Mboxo,
    /// Every `>*From ` line quoted by one more `>` (reversible).
    Mboxrd,
    /// mboxo quoting plus Content-Length headers.
    Mboxcl,
    /// No quoting; Content-Length headers delimit messages.
    Mboxcl2,
}

impl Variant {
    /// `mboxo`, `mboxrd`, `mboxcl` or `mboxcl2`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Mboxo => "mboxo",
            Variant::Mboxrd => "mboxrd",
            Variant::Mboxcl => "mboxcl",
            Variant::Mboxcl2 => "mboxcl2",
        }
    }

    /// The variant named by [`Variant::name`] (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Variant> {
        [
            Variant::Mboxo,
            Variant::Mboxrd,
            Variant::Mboxcl,
            Variant::Mboxcl2,
        ]
        .into_iter()
        .find(|v| v.name().eq_ignore_ascii_case(name))
    }
}

/// Line endings of an archive. LF and CRLF archives are split alike (a line
/// holding only `\r` is blank in both); CR-only archives end lines with `\r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`
    Lf,
    /// `\r\n`
    Crlf,
    /// `\r` alone (classic Mac OS)
    Cr,
}

impl LineEnding {
    /// The bytes of one line end.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineEnding::Lf => b"\n",
            LineEnding::Crlf => b"\r\n",
            LineEnding::Cr => b"\r",
        }
    }
}

/// Why a line was reported as a suspicious split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SuspiciousKind {
    /// A line starting `From ` after a blank line that is not an envelope:
    /// not a split.
    NotEnvelope,
    /// An envelope-like `From ` line that does not follow a blank line (an
    /// unquoted body line, or a separator missing its blank line): not a
    /// split.
    NoBlankLine,
    /// The message's Content-Length does not land on a blank line followed
    /// by a From_ line or the end of the archive (mboxcl and mboxcl2 only;
    /// the offset is the message's).
    ContentLength,
}

/// One message of an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// 0-based position in what the reader yields: the archive for [`read`],
    /// the range for [`read_range`] (add the counts of the earlier ranges
    /// to get the archive index).
    pub index: u64,
    /// Byte offset of its From_ line in the archive.
    pub offset: u64,
    /// Bytes in the archive from the From_ line to the end of its blank
    /// separator line (to the next From_ line or the end of the archive).
    pub length: u64,
    /// The From_ line after `From `, without its line end (`sender date`).
    pub envelope: &'a [u8],
    /// The bytes between the From_ line and the blank separator line, with
    /// the variant's quoting undone (borrowed when there was nothing to undo).
    pub message: Cow<'a, [u8]>,
}

impl Entry<'_> {
    /// An owned copy.
    pub fn to_owned_entry(&self) -> OwnedEntry {
        OwnedEntry {
            offset: self.offset,
            length: self.length,
            envelope: self.envelope.to_vec(),
            message: Bytes::copy_from_slice(&self.message),
            spooled: false,
        }
    }
}

/// An [`Entry`] that owns its bytes (from [`stream`]). Two entries are
/// equal when their positions and bytes are: where the bytes are kept
/// ([`OwnedEntry::spooled`]) does not count.
#[derive(Clone, Debug)]
pub struct OwnedEntry {
    /// Byte offset of its From_ line in the (decompressed) archive.
    pub offset: u64,
    /// Bytes in the archive from the From_ line to the end of its separator.
    pub length: u64,
    /// The From_ line after `From `, without its line end.
    pub envelope: Vec<u8>,
    /// The message, quoting undone: on the heap, or, for a message over
    /// the stream's spool threshold, a read-only map of an unnamed temporary
    /// file (freed when the last clone of the `Bytes` is dropped).
    pub message: Bytes,
    /// Whether `message` is a spooled map rather than heap memory.
    pub spooled: bool,
}

impl PartialEq for OwnedEntry {
    fn eq(&self, other: &OwnedEntry) -> bool {
        self.offset == other.offset
            && self.length == other.length
            && self.envelope == other.envelope
            && self.message == other.message
    }
}

impl Eq for OwnedEntry {}

/// How to read an archive.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// The variant; `None` sniffs it ([`sniff`]) from the start of the data.
    /// Range readers sniff again each: pass the variant of one [`sniff`].
    pub variant: Option<Variant>,
    /// Undo `>From ` quoting for mboxo and mboxcl too (inexact: a body line
    /// that really was `>From ` loses its `>`).
    pub unquote_mboxo: bool,
}

/// Errors of the mbox layer.
#[derive(Debug, thiserror::Error)]
pub enum MboxError {
    /// Reading the input failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The input is not an mbox archive.
    #[error("not an mbox: {reason}")]
    NotMbox {
        /// What was seen instead.
        reason: String,
    },
    /// The operation cannot be done on this input.
    #[error("refused: {reason}")]
    Refused {
        /// Why, and what to do instead.
        reason: String,
    },
    /// A streamed message exceeds the hard cap set with
    /// [`Stream::max_message`] (there is none by default); it is skipped and
    /// the stream goes on with the next message.
    #[error(
        "message at byte {offset} is larger than the streaming limit of {limit} bytes; skipped"
    )]
    TooLarge {
        /// Offset of its From_ line in the (decompressed) archive.
        offset: u64,
        /// The limit ([`Stream::max_message`]).
        limit: u64,
    },
}

/// Serial reader over an archive in memory (or memory-mapped): the
/// reference splitter, and the mboxcl2 walker.
pub struct Reader<'a> {
    data: &'a [u8],
    variant: Variant,
    line_ending: LineEnding,
    unquote_mboxo: bool,
    nl: u8,
    finder: Finder<'static>,
    next: Option<usize>,
    limit: usize,
    index: u64,
    suspicious: Vec<u64>,
    kinds: Vec<SuspiciousKind>,
    scratch: Vec<Found>,
    not_mbox: Option<String>,
}

/// Reads every message of `data` in order.
pub fn read<'a>(data: &'a [u8], opts: &ReadOptions) -> Reader<'a> {
    read_range(data, 0..data.len() as u64, opts)
}

/// The entries owned by `range`: those whose From_ line starts inside it
/// (the last one may extend past `range.end`). Put together, the entries of
/// the ranges of a [`plan_splits`] plan (of any `n`, indeed of any ordered
/// cover of the file) equal those of [`read`], indexes aside, and so do
/// their [`Reader::suspicious`] lines. Not for Mboxcl2 unless `range`
/// covers the whole archive.
pub fn read_range<'a>(data: &'a [u8], range: Range<u64>, opts: &ReadOptions) -> Reader<'a> {
    let line_ending = from_line::detect_eol(data);
    let variant = opts.variant.unwrap_or_else(|| sniff(data).variant);
    let nl = from_line::newline_byte(line_ending);
    let finder = Finder::new(b"From ").into_owned();
    let start = usize::try_from(range.start)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let limit = usize::try_from(range.end)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let (next, not_mbox) = match sniff::first_record(data, true) {
        sniff::First::Record(first) if first >= start => (Some(first), None),
        sniff::First::Record(_) => {
            let ctx = Ctx {
                finder: &finder,
                nl,
                archive_start: true,
                eof: true,
            };
            let mut st = ScanState {
                pos: start,
                quoted: false,
            };
            match scan::next_boundary(data, start, &mut st, &ctx, None) {
                scan::Scan::Boundary(q) => (Some(q), None),
                _ => (None, None),
            }
        }
        sniff::First::Empty | sniff::First::NeedMore => (None, None),
        sniff::First::NotMbox(reason) => (None, Some(reason)),
    };
    Reader {
        data,
        variant,
        line_ending,
        unquote_mboxo: opts.unquote_mboxo,
        nl,
        finder,
        next,
        limit,
        index: 0,
        suspicious: Vec::new(),
        kinds: Vec::new(),
        scratch: Vec::new(),
        not_mbox,
    }
}

impl<'a> Reader<'a> {
    /// The variant being read.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The archive's line ending.
    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// Byte offsets of the suspicious lines met so far (in order; see
    /// [`SuspiciousKind`] and [`Reader::suspicious_kinds`]).
    pub fn suspicious(&self) -> &[u64] {
        &self.suspicious
    }

    /// Why each line of [`Reader::suspicious`] is suspicious (same order).
    pub fn suspicious_kinds(&self) -> &[SuspiciousKind] {
        &self.kinds
    }

    /// `Err(NotMbox)` when the data is not an mbox (its first non-blank
    /// line is not a From_ line); the reader then yields nothing.
    pub fn check(&self) -> Result<(), MboxError> {
        match &self.not_mbox {
            None => Ok(()),
            Some(r) => Err(MboxError::NotMbox { reason: r.clone() }),
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        let p = self.next.take()?;
        if p >= self.limit {
            return None;
        }
        let data = self.data;
        let ctx = Ctx {
            finder: &self.finder,
            nl: self.nl,
            archive_start: true,
            eof: true,
        };
        let mut st = ScanState::default();
        self.scratch.clear();
        let Step::Record(r) =
            scan::next_record(data, p, &mut st, self.variant, &ctx, &mut self.scratch)
        else {
            unreachable!("a complete buffer never needs more input")
        };
        for &(off, kind) in &self.scratch {
            self.suspicious.push(off as u64);
            self.kinds.push(kind);
        }
        if r.end < data.len() {
            self.next = Some(r.end);
        }
        let index = self.index;
        self.index += 1;
        Some(Entry {
            index,
            offset: p as u64,
            length: (r.end - p) as u64,
            envelope: scan::envelope(data, p, r.content, self.nl),
            message: scan::message_of(
                data,
                &r,
                self.variant,
                self.unquote_mboxo,
                self.nl,
                &self.finder,
            ),
        })
    }
}
