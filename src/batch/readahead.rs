//! Read-ahead: the one engine that cuts an archive into units of parallel
//! work, for `mimeflow convert` ([`super::source`]) and for Python's
//! `mimeflow.mbox.open` (`src/python/mbox.rs`, which only maps types).
//!
//! A unit is about [`RANGE_BYTES`] of archive:
//! * a mapped archive is planned into byte ranges of that size
//!   ([`plan_ranges`]; the plan depends on the file, not on the thread
//!   count), each scanned by the worker that owns it;
//! * a streamed one (compressed, piped, mboxcl2) is read serially into
//!   chunks of entries of that weight ([`next_chunk`]; a spooled message
//!   counts for [`weight`], not its size, since it is a map of a temporary
//!   file, not heap).
//!
//! [`super::prefetch::Prefetch`] (built with the `python` feature) schedules
//! units for a consumer that takes parsed messages one batch at a time
//! (Python's iterator): while one batch is consumed, the next is read and
//! parsed on rayon's pool. `convert` schedules its own windows (an in-order
//! commit ends each), from the same units.

use std::io::Read;
use std::ops::Range;

use crate::mbox::{self, MboxError, OwnedEntry, Variant};

/// Target size of one unit: a range of a mapped archive, or a chunk of a
/// streamed one. Big enough that cutting costs nothing next to reading,
/// small enough that a window of a few per worker spreads evenly.
pub(crate) const RANGE_BYTES: u64 = 4 << 20;

/// Units per worker in one batch of [`Prefetch`] (and streamed chunks in
/// flight per worker for `convert`).
pub(crate) const UNITS_PER_JOB: usize = 2;

/// The ranges of about [`RANGE_BYTES`] that `data` is read in.
pub(crate) fn plan_ranges(data: &[u8], variant: Variant) -> Result<Vec<Range<u64>>, MboxError> {
    let n = (data.len() as u64).div_ceil(RANGE_BYTES).max(1) as usize;
    mbox::plan_splits(data, n, variant)
}

/// What a streamed entry counts for in a read-ahead budget: its length,
/// or for a spooled one (a map of a temporary file: page cache and disk,
/// not heap) a small fixed weight, so that one large message neither ends a
/// unit early nor is counted as memory it does not take.
pub(crate) fn weight(e: &OwnedEntry) -> u64 {
    if e.spooled {
        mbox::SPOOLED_WEIGHT
    } else {
        e.length
    }
}

/// One unit of a streamed archive.
pub(crate) struct Chunk {
    /// Entries in archive order; `Err` only for [`MboxError::TooLarge`]
    /// (a message skipped, kept in its place).
    pub entries: Vec<Result<OwnedEntry, MboxError>>,
    /// The error that ended the archive (after `entries`).
    pub error: Option<MboxError>,
    /// Whether the archive is done after this chunk.
    pub done: bool,
}

/// Reads entries of `s` until their [`weight`] reaches `budget` or there
/// are `max_entries` of them (skipped ones count), or the archive ends.
pub(crate) fn next_chunk<R: Read>(
    s: &mut mbox::Stream<R>,
    budget: u64,
    max_entries: usize,
) -> Chunk {
    let mut chunk = Chunk {
        entries: Vec::new(),
        error: None,
        done: false,
    };
    let mut bytes = 0;
    while bytes < budget && chunk.entries.len() < max_entries {
        match s.next() {
            None => {
                chunk.done = true;
                break;
            }
            Some(Ok(e)) => {
                bytes += weight(&e);
                chunk.entries.push(Ok(e));
            }
            Some(Err(e @ MboxError::TooLarge { .. })) => chunk.entries.push(Err(e)),
            Some(Err(e)) => {
                chunk.error = Some(e);
                chunk.done = true;
                break;
            }
        }
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mbox::ReadOptions;

    fn archive(sizes: &[usize]) -> Vec<u8> {
        let mut a = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            a.extend_from_slice(b"From a@b Mon Jan  1 00:00:00 2024\nSubject: ");
            a.extend_from_slice(format!("{i}\n\n").as_bytes());
            a.extend(std::iter::repeat_n(b'x', n));
            a.extend_from_slice(b"\n\n");
        }
        a
    }

    #[test]
    fn chunks_keep_skipped_messages_in_place_and_cover_the_archive() {
        // 3 small, 1 over max_message, 3 small; budget of two small ones.
        let data = archive(&[100, 100, 100, 5000, 100, 100, 100]);
        let opts = ReadOptions {
            variant: None,
            unquote_mboxo: false,
        };
        let input: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(data));
        let mut s = mbox::stream(input, &opts).max_message(Some(1000));
        let mut seen = Vec::new();
        let mut chunks = 0;
        loop {
            let c = next_chunk(&mut s, 250, usize::MAX);
            assert!(c.error.is_none());
            chunks += 1;
            for e in c.entries {
                seen.push(match e {
                    Ok(e) => e.message[9] - b'0',
                    Err(MboxError::TooLarge { .. }) => b'!',
                    Err(e) => panic!("{e}"),
                });
            }
            if c.done {
                break;
            }
        }
        assert_eq!(seen, [0, 1, 2, b'!', 4, 5, 6]);
        // Weights of about 150 against 250: two entries per chunk.
        assert_eq!(chunks, 4);
    }

    #[test]
    fn a_mapped_plan_cuts_ranges_of_about_range_bytes() {
        let data = archive(&vec![64 << 10; 200]);
        let ranges = plan_ranges(&data, Variant::Mboxrd).unwrap();
        let want = (data.len() as u64).div_ceil(RANGE_BYTES) as usize;
        assert_eq!(ranges.len(), want);
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, data.len() as u64);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
    }
}
