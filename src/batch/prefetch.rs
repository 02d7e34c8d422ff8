//! Parsed messages of an archive a batch at a time, read ahead on rayon's
//! pool: the scheduling of Python's `mimeflow.mbox.open` iterator, over
//! the units of [`super::readahead`] (so only the `python` feature builds
//! it).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rayon::prelude::*;

use super::readahead::{next_chunk, plan_ranges, RANGE_BYTES, UNITS_PER_JOB};
use crate::mbox::{self, MboxError, ReadOptions, Variant};
use crate::message::Message;

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
pub(crate) type BoxStream = mbox::Stream<Box<dyn std::io::Read + Send>>;

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

/// Parsed messages of an archive, a batch at a time, read ahead:
/// [`Prefetch::next_batch`] hands out the oldest batch in flight and tops
/// the read-ahead up on rayon's pool.
///
/// A mapped archive goes a unit (one range of [`plan_ranges`]) per batch,
/// [`UNITS_PER_JOB`] units per thread in flight: the consumer starts on the
/// first unit as soon as it is parsed, and the workers stay busy while it
/// reads. (Whole batches of every thread's units, one in flight, kept the
/// consumer waiting for the first of them, a sixth of a 100 MB archive at
/// `-j2`, and the workers idle while it read the last; see
/// `scripts/scaling.py`'s mbox-python case.) A streamed archive goes a
/// batch of that many units at a time, one in flight: its chunks are read
/// in order from one stream. Either way memory is bounded by the units in
/// flight and the batch being read: messages of a mapped archive are byte
/// ranges of the map, streamed ones are owned.
pub(crate) struct Prefetch {
    work: Work,
    /// Batches launched and not yet handed out, in archive order.
    inflight: VecDeque<Receiver<Batch>>,
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
            inflight: VecDeque::new(),
        }
    }

    /// Whether the archive is streamed (its variant is known only after
    /// the first batch).
    pub fn is_stream(&self) -> bool {
        matches!(self.work, Work::Stream(_))
    }

    /// Waits for the oldest batch in flight (blocking: call it detached
    /// from an interpreter) and launches what follows it. `None` when a
    /// worker panicked.
    pub fn next_batch(&mut self) -> Option<Batch> {
        if self.inflight.is_empty() {
            self.launch();
        }
        let Some(rx) = self.inflight.pop_front() else {
            // Nothing was left to launch: an archive of no ranges.
            return Some(Batch {
                done: true,
                ..Batch::default()
            });
        };
        let batch = rx.recv().ok()?;
        if !batch.done {
            self.launch();
        }
        Some(batch)
    }

    /// Tops the read-ahead up on rayon's pool: a mapped archive's units
    /// until [`UNITS_PER_JOB`] per thread are in flight, or a streamed
    /// archive's next batch.
    fn launch(&mut self) {
        let units = rayon::current_num_threads().max(1) * UNITS_PER_JOB;
        match &mut self.work {
            Work::Mapped {
                data,
                ranges,
                next,
                opts,
            } => {
                while self.inflight.len() < units && *next < ranges.len() {
                    let (tx, rx) = sync_channel(1);
                    let unit = *next;
                    *next += 1;
                    let (data, ranges, opts) = (data.clone(), ranges.clone(), opts.clone());
                    rayon::spawn(move || {
                        let batch = Batch {
                            items: parse_ranges(&data, &ranges[unit..unit + 1], &opts, false),
                            done: unit + 1 == ranges.len(),
                            ..Batch::default()
                        };
                        // The consumer may be gone already: nothing to tell then.
                        let _ = tx.send(batch);
                    });
                    self.inflight.push_back(rx);
                }
            }
            Work::Stream(s) => {
                if !self.inflight.is_empty() {
                    return;
                }
                let (tx, rx) = sync_channel(1);
                let s = s.clone();
                let budget = units as u64 * RANGE_BYTES;
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
                self.inflight.push_back(rx);
            }
        }
    }
}
