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
//! [`Prefetch`] schedules units for a consumer that takes parsed messages
//! one batch at a time (Python's iterator): while one batch is consumed,
//! the next is read and parsed on rayon's pool. `convert` schedules its own
//! windows (an in-order commit ends each), from the same units.

use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rayon::prelude::*;

use crate::mbox::{self, MboxError, OwnedEntry, ReadOptions, Variant};
use crate::message::Message;

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

/// An archive entry parsed off the consumer's thread.
pub(crate) struct Parsed {
    pub offset: u64,
    pub length: u64,
    pub envelope: Bytes,
    pub msg: Message,
}

/// An entry of a mapped archive, its bytes as ranges of the map.
struct Raw {
    offset: u64,
    length: u64,
    envelope: Bytes,
    message: Bytes,
}

impl Raw {
    /// The entry `e` of `data`: ranges of the map, or with `copy` copies
    /// that keep no reference to it.
    fn of(data: &Bytes, e: mbox::Entry<'_>, copy: bool) -> Raw {
        let share = |s: &[u8]| {
            if copy {
                Bytes::copy_from_slice(s)
            } else {
                data.slice_ref(s)
            }
        };
        Raw {
            offset: e.offset,
            length: e.length,
            envelope: share(e.envelope),
            message: match e.message {
                // Nothing to unquote: a range of the map, no copy.
                Cow::Borrowed(s) => share(s),
                Cow::Owned(v) => Bytes::from(v),
            },
        }
    }

    fn parse(self) -> Parsed {
        Parsed {
            offset: self.offset,
            length: self.length,
            envelope: self.envelope,
            msg: Message::parse(self.message),
        }
    }
}

/// The entries of `ranges` of `data`, parsed in parallel, in archive order;
/// with `copy`, from copies of their bytes that keep no reference to the
/// map.
pub(crate) fn parse_ranges(
    data: &Bytes,
    ranges: &[Range<u64>],
    opts: &ReadOptions,
    copy: bool,
) -> Vec<Parsed> {
    // Two steps, so a range full of big messages does not keep one thread
    // busy while the others idle: cut every range (one task each), then
    // parse every message (one task each).
    let raw: Vec<Raw> = ranges
        .par_iter()
        .flat_map_iter(|r| mbox::read_range(data, r.clone(), opts).map(|e| Raw::of(data, e, copy)))
        .collect();
    raw.into_par_iter().map(Raw::parse).collect()
}

/// One batch of [`Prefetch`].
#[derive(Default)]
pub(crate) struct Batch {
    pub items: Vec<Parsed>,
    /// Messages over the streaming limit: skipped, offset and reason.
    pub skipped: Vec<(u64, String)>,
    /// The error that ended the archive (after `items`).
    pub error: Option<MboxError>,
    /// Whether the archive is done after this batch.
    pub done: bool,
    /// The variant read (known after the first streamed batch).
    pub variant: Option<Variant>,
}

/// A streamed archive, boxed so every input type is one engine.
pub(crate) type BoxStream = mbox::Stream<Box<dyn Read + Send>>;

/// Reads a chunk of `s` of weight `budget`, then parses it in parallel.
fn stream_batch(s: &mut BoxStream, budget: u64) -> Batch {
    let chunk = next_chunk(s, budget, usize::MAX);
    let mut skipped = Vec::new();
    let mut raw = Vec::with_capacity(chunk.entries.len());
    for e in chunk.entries {
        match e {
            Ok(e) => raw.push(e),
            Err(e @ MboxError::TooLarge { offset, .. }) => skipped.push((offset, e.to_string())),
            Err(e) => unreachable!("next_chunk keeps only TooLarge in place: {e}"),
        }
    }
    Batch {
        items: raw
            .into_par_iter()
            .map(|e| Parsed {
                offset: e.offset,
                length: e.length,
                envelope: Bytes::from(e.envelope),
                msg: Message::parse(e.message),
            })
            .collect(),
        skipped,
        error: chunk.error,
        done: chunk.done,
        variant: Some(s.variant()),
    }
}

/// Where batches come from.
enum Work {
    Mapped {
        data: Bytes,
        ranges: Arc<[Range<u64>]>,
        next: usize,
        opts: ReadOptions,
    },
    Stream(Arc<Mutex<BoxStream>>),
}

/// Parsed messages of an archive, a batch at a time, one batch read ahead:
/// [`Prefetch::next_batch`] hands out the batch in flight and starts the
/// next on rayon's pool. A batch is [`UNITS_PER_JOB`] units per thread, so
/// memory is bounded by two batches: messages of a mapped archive are
/// byte ranges of the map, streamed ones are owned.
pub(crate) struct Prefetch {
    work: Work,
    inflight: Option<Receiver<Batch>>,
}

impl Prefetch {
    /// A mapped archive of `variant` (not mboxcl2: its Content-Length walk
    /// cannot be cut; stream it), cut by [`plan_ranges`].
    pub fn mapped(data: Bytes, opts: ReadOptions) -> Result<Prefetch, MboxError> {
        let variant = opts.variant.expect("a mapped archive's variant is known");
        let ranges = plan_ranges(&data, variant)?;
        Ok(Prefetch::new(Work::Mapped {
            data,
            ranges: ranges.into(),
            next: 0,
            opts,
        }))
    }

    /// A streamed archive.
    pub fn stream(s: BoxStream) -> Prefetch {
        Prefetch::new(Work::Stream(Arc::new(Mutex::new(s))))
    }

    fn new(work: Work) -> Prefetch {
        Prefetch {
            work,
            inflight: None,
        }
    }

    /// Whether the archive is streamed (its variant is known only after
    /// the first batch).
    pub fn is_stream(&self) -> bool {
        matches!(self.work, Work::Stream(_))
    }

    /// Waits for the batch in flight (blocking: call it detached from an
    /// interpreter) and starts the next one. `None` when a worker panicked.
    pub fn next_batch(&mut self) -> Option<Batch> {
        let rx = match self.inflight.take() {
            Some(rx) => rx,
            None => self.launch(),
        };
        let batch = rx.recv().ok()?;
        if !batch.done {
            self.inflight = Some(self.launch());
        }
        Some(batch)
    }

    /// Starts preparing the next batch on rayon's pool.
    fn launch(&mut self) -> Receiver<Batch> {
        let (tx, rx) = sync_channel(1);
        let per_batch = rayon::current_num_threads().max(1) * UNITS_PER_JOB;
        match &mut self.work {
            Work::Mapped {
                data,
                ranges,
                next,
                opts,
            } => {
                let start = *next;
                let end = (start + per_batch).min(ranges.len());
                *next = end;
                let (data, ranges, opts) = (data.clone(), ranges.clone(), opts.clone());
                rayon::spawn(move || {
                    let batch = Batch {
                        items: parse_ranges(&data, &ranges[start..end], &opts, false),
                        done: end == ranges.len(),
                        ..Batch::default()
                    };
                    // The consumer may be gone already: nothing to tell then.
                    let _ = tx.send(batch);
                });
            }
            Work::Stream(s) => {
                let s = s.clone();
                let budget = per_batch as u64 * RANGE_BYTES;
                rayon::spawn(move || {
                    let batch = match s.lock() {
                        Ok(mut s) => stream_batch(&mut s, budget),
                        Err(_) => Batch {
                            done: true,
                            ..Batch::default()
                        },
                    };
                    let _ = tx.send(batch);
                });
            }
        }
        rx
    }
}
