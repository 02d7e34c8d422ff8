//! The engine behind `mimeflow bench`: workloads, contenders, the timing loop
//! and the reports (feature `bench-peers`).
//!
//! A [`Workload`] is one operation on one input: the bytes to feed, split into
//! segments (one per Base64 body when the input is a mail file, one otherwise)
//! and what a correct output must be. A contender ([`crate::peers::Contender`])
//! turns each segment into output written into a buffer sized beforehand.
//! [`run_workload`] takes the contender list as an argument, so tests can hand
//! it a deliberately wrong contender and see it flagged.
//!
//! Method, all in one process:
//! 1. run each contender once and compare its output with the reference; a
//!    contender that disagrees (or panics) is reported as such and never
//!    timed;
//! 2. then time those that passed together: each one's warm-up in turn
//!    (a short while, which also sizes its batches: enough calls for the
//!    clock to resolve them), then rounds of one batch of each contender,
//!    in turn, until each has had its time budget and a few batches;
//! 3. report each contender's median batch throughput and the p10–p90
//!    spread, in GB/s (10^9 bytes per second) of *input* bytes.
//!
//! The turns are for shared machines. The speed of the machines we measure
//! on moves by a quarter or more between spells of a fraction of a second
//! to a few seconds (another tenant's load; two CPU loops checked against
//! one read 0.78x-1.53x within minutes on a Zen 4 guest on 2026-12-06).
//! When each contender had its 0.3 s in one piece, a contender whose piece
//! fell in a slow spell lost to the others by that much: one run's ratios
//! against simdutf, cell by cell, swung from 0.67x to 1.86x. Six rounds of
//! 50 ms per contender (dfd8c2b) still left spells shorter than a round to
//! one contender (decode 256 B 0.86x in one run, 1.23-1.26x in two others).
//! Batch by batch (5 ms each), a round of eight contenders takes 40 ms, so
//! a spell falls on all of them alike, and the median takes the typical one.
//!
//! Where the output sits relative to the input can change the speed of a
//! contender: a load whose address matches a pending store's in the low 12
//! bits may wait for it (4 KiB aliasing), and an encoder writes faster than
//! it reads, so which loads meet which stores depends on `dst - src` modulo
//! 4 KiB. With one allocator-chosen output per contender and run, that
//! would differ between contenders and between runs; so batch `k` runs with
//! the output placed `k mod 8` eighths of 4 KiB past the input
//! ([`PLACEMENTS`]), the same placements for every contender, and the
//! median is over all of them. `examples/call_cost.rs` times one operation
//! at every placement (4 KiB MIME encode on Zen 4, placements interleaved:
//! 97-117 ns a call across them).
//!
//! Which *physical* pages the input and output sit on matters too. On the
//! Zen 4 guests we use, between one pair of pages in 14 and one in 64 (it
//! changes between processes) makes every writer slower, whatever its
//! offsets: at 1 KiB encode, mimeflow 23-27 -> 64 ns,
//! simdutf 30 -> 97 ns, memcpy 11.5 -> 16 ns a call (`call_cost PAGES=256`,
//! below); the same virtual addresses (ASLR off) give other slow pages in
//! each process. A run that drew one output buffer per contender reported
//! whichever pair it drew: the "bimodal" small-size figures of issue 13
//! (4 KiB MIME encode 13.4-38.9 GB/s between runs). So batch `k` also
//! starts its output in page `k mod 15` of a buffer 15 pages longer
//! ([`PAGES`]): the median is the typical pair's speed, and the rare pair
//! shows in the p10-p90 spread.
//!
//! And what follows the input matters: a masked load reaching past the end
//! of the input into a page the process has never touched (fresh heap, the
//! end of a mapping) costs a fault-suppression assist of about 90 ns on Zen
//! 4. mimeflow's AVX-512 kernels keep their windows off such pages
//! (`base64/x86_64/avx512vbmi.rs`, essay on masked loads); simdutf's do
//! not. A freshly allocated input often ends just before untouched heap
//! pages, which made the small-size figures of any masked-tail contender
//! depend on the heap's layout between runs (4 KiB MIME encode: 20 or 37
//! GB/s). So every workload's input is followed by a written page
//! ([`INPUT_SLACK`]), the common case, and the bench compares the kernels'
//! work, not the assist; `GUARD=1` of `examples/call_cost.rs` measures the
//! assist for each contender.
//!
//! With `jobs > 1` every batch runs on that many threads at once, each on
//! its own output buffer, started together at a barrier; a batch's
//! throughput is all the threads' input bytes over the slowest thread's
//! time. Nothing is pinned to a core: the report names the CPU instead.

pub mod input;
pub mod report;
pub mod stats;

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::peers::{self, Contender};
use stats::Summary;

/// The operations `mimeflow bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Plain, padded Base64 (raw bytes in).
    Encode,
    /// Canonical Base64 in, no whitespace.
    Decode,
    /// Base64 in 76-column CRLF lines.
    MimeEncode,
    /// Base64 in 76-column LF lines (the layout simdutf's wrapped encode writes).
    MimeEncodeLf,
    /// 76-column CRLF Base64 text in, whitespace skipped.
    MimeDecode,
    /// Quoted-printable, text mode, CRLF, 76 columns.
    QpEncode,
    /// Quoted-printable text in.
    QpDecode,
}

impl Op {
    /// Every operation, in report order.
    pub const ALL: [Op; 7] = [
        Op::Encode,
        Op::Decode,
        Op::MimeEncode,
        Op::MimeEncodeLf,
        Op::MimeDecode,
        Op::QpEncode,
        Op::QpDecode,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Encode => "encode",
            Op::Decode => "decode",
            Op::MimeEncode => "mime-encode",
            Op::MimeEncodeLf => "mime-encode-lf",
            Op::MimeDecode => "mime-decode",
            Op::QpEncode => "qp-encode",
            Op::QpDecode => "qp-decode",
        }
    }

    /// Parses a name as printed by [`Op::name`].
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// The Base64 operation in [`crate::peers`], if this is one.
    pub fn base64(self) -> Option<peers::Op> {
        match self {
            Op::Encode => Some(peers::Op::Encode),
            Op::Decode => Some(peers::Op::Decode),
            Op::MimeEncode => Some(peers::Op::MimeEncode),
            Op::MimeEncodeLf => Some(peers::Op::MimeEncodeLf),
            Op::MimeDecode => Some(peers::Op::MimeDecode),
            Op::QpEncode | Op::QpDecode => None,
        }
    }

    /// Whether the operation consumes raw bytes (rather than encoded text).
    pub fn is_encode(self) -> bool {
        matches!(
            self,
            Op::Encode | Op::MimeEncode | Op::MimeEncodeLf | Op::QpEncode
        )
    }

    /// Output room a contender gets for an input segment of `n` bytes.
    pub fn output_room(self, n: usize) -> usize {
        match self {
            // Every byte may become `=XX`, plus a soft break per 75 columns.
            Op::QpEncode => n * 4 + 64,
            _ => n * 2 + 64,
        }
    }
}

/// What a correct output is.
pub enum Expected {
    /// Exactly these bytes (all segments' outputs concatenated).
    Bytes(Vec<u8>),
    /// Any output that `decode` turns back into `raw`: an encoding that
    /// allows several correct outputs (quoted-printable's soft breaks).
    RoundTrip {
        /// The data that was encoded.
        raw: Vec<u8>,
        /// The reference decoder.
        decode: fn(&[u8]) -> Option<Vec<u8>>,
    },
}

impl Expected {
    /// Whether `output` is correct.
    pub fn accepts(&self, output: &[u8]) -> bool {
        match self {
            Expected::Bytes(want) => output == want.as_slice(),
            Expected::RoundTrip { raw, decode } => {
                decode(output).as_deref() == Some(raw.as_slice())
            }
        }
    }
}

/// Bytes past the end of every workload's input that are written before
/// timing: a page, so that no contender's tail reaches a page with nothing
/// behind it (module docs).
pub const INPUT_SLACK: usize = 4096;

/// One operation on one input.
pub struct Workload {
    /// The operation.
    pub op: Op,
    /// The size of the raw data behind the input, in bytes (the size the
    /// user asked for, or the data found in `--input`).
    pub size: usize,
    /// A short label for `size` (`64K`) or for the input file.
    pub label: String,
    /// What each contender consumes.
    pub input: Vec<u8>,
    /// The calls a run makes: one per segment, outputs written back to back.
    pub segments: Vec<Range<usize>>,
    /// The reference result.
    pub expected: Expected,
}

impl Workload {
    /// A workload with one segment spanning `input`.
    pub fn single(op: Op, size: usize, label: String, input: Vec<u8>, expected: Expected) -> Self {
        let segments = std::iter::once(0..input.len()).collect();
        Workload::new(op, size, label, input, segments, expected)
    }

    /// A workload making one call per segment of `input`. The input is
    /// followed by [`INPUT_SLACK`] bytes that have been written to, so the
    /// page after it is in use (module docs).
    pub fn new(
        op: Op,
        size: usize,
        label: String,
        mut input: Vec<u8>,
        segments: Vec<Range<usize>>,
        expected: Expected,
    ) -> Self {
        let len = input.len();
        input.resize(len + INPUT_SLACK, 0);
        input.truncate(len);
        Workload {
            op,
            size,
            label,
            input,
            segments,
            expected,
        }
    }

    /// Output room for one run over every segment.
    pub fn output_room(&self) -> usize {
        self.segments
            .iter()
            .map(|s| self.op.output_room(s.len()))
            .sum()
    }

    /// Runs `contender` once over every segment; returns the bytes written.
    fn run_once(&self, contender: &Contender, out: &mut [u8]) -> usize {
        let mut written = 0;
        for seg in &self.segments {
            written += (contender.run)(&self.input[seg.clone()], &mut out[written..]);
        }
        written
    }
}

/// How long to measure.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Untimed calls of each contender before measuring, at least one.
    pub warmup: Duration,
    /// Rounds of timed batches continue until this much time per
    /// contender is used...
    pub budget: Duration,
    /// ...and each contender has at least this many batches.
    pub min_batches: usize,
    /// Calls per batch are chosen so a batch takes about this long.
    pub batch: Duration,
    /// Threads running the contender at once.
    pub jobs: usize,
}

impl Settings {
    /// The full run: about 0.4 s per contender and size.
    pub fn full(jobs: usize) -> Settings {
        Settings {
            warmup: Duration::from_millis(50),
            budget: Duration::from_millis(300),
            min_batches: 10,
            batch: Duration::from_millis(5),
            jobs,
        }
    }

    /// `--quick`: a few milliseconds per contender and size, so every
    /// operation at the default sizes fits in a few seconds.
    pub fn quick(jobs: usize) -> Settings {
        Settings {
            warmup: Duration::from_millis(2),
            budget: Duration::from_millis(8),
            min_batches: 3,
            batch: Duration::from_millis(1),
            jobs,
        }
    }
}

/// Outcome of one contender on one workload.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Output checked and timed.
    Ok(Summary),
    /// Output differed from the reference; not timed.
    Mismatch,
    /// The contender panicked (rejected the input); not timed.
    Failed(String),
}

impl Status {
    /// `ok`, `mismatch` or `error`, as in the JSON and CSV reports.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Ok(_) => "ok",
            Status::Mismatch => "mismatch",
            Status::Failed(_) => "error",
        }
    }

    /// The throughput summary, for a timed contender.
    pub fn summary(&self) -> Option<Summary> {
        match self {
            Status::Ok(s) => Some(*s),
            _ => None,
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The operation's name.
    pub op: &'static str,
    /// Raw data size in bytes.
    pub size: usize,
    /// Label of the size or input.
    pub label: String,
    /// Contender name.
    pub contender: String,
    /// Input bytes per call (the input over its segments: one call per
    /// segment), what turns a throughput into a time per call.
    pub call_bytes: f64,
    /// What happened.
    pub status: Status,
}

impl Row {
    /// Median nanoseconds per call, for a timed contender: at 256 B and
    /// 1 KiB this is mostly the per-call fixed cost (dispatch, length
    /// arithmetic, tails), which a throughput hides.
    pub fn ns_per_call(&self) -> Option<f64> {
        // GB/s is 10^9 bytes per second, i.e. bytes per nanosecond.
        self.status
            .summary()
            .filter(|s| s.median > 0.0)
            .map(|s| self.call_bytes / s.median)
    }
}

/// What the harness tells its caller while it runs.
pub struct Progress<'a> {
    /// The workload being measured.
    pub workload: &'a Workload,
    /// The contender about to run.
    pub contender: &'a str,
    /// Its index in the workload's contender list, and the list's length.
    pub index: usize,
    /// The number of contenders.
    pub count: usize,
}

/// The default contenders for `op`: every mimeflow backend this CPU runs,
/// the peers, and `memcpy`.
pub fn contenders(op: Op) -> Vec<Contender> {
    match op.base64() {
        Some(b64) => peers::contenders(b64),
        None => qp_contenders(op),
    }
}

/// Quoted-printable has one implementation of ours (named plain
/// `mimeflow`), the `quoted_printable` crate, and `memcpy`. Both codecs
/// write into a vector; ours reuses a per-thread one, and the result is
/// copied into the harness's buffer (a memcpy, small beside QP's cost).
fn qp_contenders(op: Op) -> Vec<Contender> {
    use std::cell::RefCell;
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let mut v = Vec::new();
    match op {
        Op::QpEncode => {
            v.push(Contender::new("mimeflow", |i, o| {
                SCRATCH.with_borrow_mut(|buf| {
                    buf.clear();
                    crate::qp::encode_append(i, crate::qp::EncodeOptions::default(), buf);
                    copy_out(buf, o)
                })
            }));
            v.push(Contender::new("quoted_printable", |i, o| {
                copy_out(&quoted_printable::encode(i), o)
            }));
        }
        _ => {
            v.push(Contender::new("mimeflow", |i, o| {
                SCRATCH.with_borrow_mut(|buf| {
                    buf.clear();
                    crate::qp::decode_append(i, buf);
                    copy_out(buf, o)
                })
            }));
            v.push(Contender::new("quoted_printable", |i, o| {
                let d = quoted_printable::decode(i, quoted_printable::ParseMode::Robust)
                    .expect("robust mode accepts any input");
                copy_out(&d, o)
            }));
        }
    }
    v.push(peers::memcpy());
    v
}

/// Copies a peer's allocated result into the harness's buffer.
fn copy_out(result: &[u8], out: &mut [u8]) -> usize {
    out[..result.len()].copy_from_slice(result);
    result.len()
}

/// Checks every contender on `workload`, then times those that passed,
/// batch by batch in turn (module docs).
pub fn run_workload(
    workload: &Workload,
    contenders: &[Contender],
    settings: &Settings,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Vec<Row> {
    let checked: Vec<Option<Status>> = contenders.iter().map(|c| check(workload, c)).collect();
    let passed: Vec<usize> = (0..contenders.len())
        .filter(|&i| checked[i].is_none())
        .collect();
    let timed: Vec<&Contender> = passed.iter().map(|&i| &contenders[i]).collect();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut announce = |k: usize| {
        let index = passed[k];
        progress(Progress {
            workload,
            contender: &contenders[index].name,
            index,
            count: contenders.len(),
        });
    };
    for (k, s) in time(workload, &timed, settings, &mut announce)
        .into_iter()
        .enumerate()
    {
        samples[passed[k]] = s;
    }
    contenders
        .iter()
        .zip(checked)
        .zip(samples)
        .map(|((c, checked), samples)| Row {
            op: workload.op.name(),
            size: workload.size,
            label: workload.label.clone(),
            contender: c.name.clone(),
            call_bytes: workload.input.len() as f64 / workload.segments.len().max(1) as f64,
            status: checked.unwrap_or_else(|| summarize(&samples)),
        })
        .collect()
}

/// Checks `c` once against the reference, then times it ([`run_workload`]
/// for one contender).
pub fn measure(workload: &Workload, c: &Contender, settings: &Settings) -> Status {
    if let Some(failed) = check(workload, c) {
        return failed;
    }
    let samples = time(workload, &[c], settings, &mut |_| {});
    summarize(&samples[0])
}

/// Runs `c` once and checks its output against the reference: `None` when
/// it passes, else the status to report (it is then never timed).
fn check(workload: &Workload, c: &Contender) -> Option<Status> {
    let mut out = vec![0u8; workload.output_room()];
    // A peer that rejects the input panics (its `expect`); that is a result
    // to report, not a reason to stop the whole run.
    let checked = catch_unwind(AssertUnwindSafe(|| {
        let n = workload.run_once(c, &mut out);
        match (c.reference, &workload.expected) {
            (peers::Reference::Expected, expected) => expected.accepts(&out[..n]),
            // The ceilings copy their input: check the first segment's copy
            // (a ceiling may write more or fewer bytes than it read), run on
            // its own: in the full run the copies of all segments follow
            // each other.
            (peers::Reference::Input, _) => {
                let seg = workload.segments.first().cloned().unwrap_or(0..0);
                let first = &workload.input[seg];
                let mut copy = vec![0u8; workload.output_room()];
                let k = (c.run)(first, &mut copy).min(first.len());
                copy[..k] == first[..k]
            }
            (r, Expected::Bytes(want)) => r.accepts(&workload.input, want, &out[..n]),
            (_, Expected::RoundTrip { .. }) => false,
        }
    }));
    match checked {
        Ok(true) => None,
        Ok(false) => Some(Status::Mismatch),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panicked".into());
            Some(Status::Failed(msg))
        }
    }
}

/// The status of a contender timed as `samples` (GB/s per batch).
fn summarize(samples: &[f64]) -> Status {
    match Summary::of(samples) {
        Some(s) => Status::Ok(s),
        None => Status::Failed("no samples".into()),
    }
}

/// How many output placements batches cycle through (module docs): batch
/// `k` writes its output `(k % PLACEMENTS) * 4096 / PLACEMENTS` bytes past
/// the input, modulo 4 KiB...
pub const PLACEMENTS: usize = 8;

/// ...and starts in page `k % PAGES` of its buffer, so that batches meet
/// different physical pages (module docs). Odd, so that over
/// `8 * PAGES` batches every offset meets every page.
pub const PAGES: usize = 15;

/// Bytes of output buffer for outputs of `room` bytes at every placement.
fn buffer_len(room: usize) -> usize {
    room + PAGES * 4096
}

/// The `room` bytes of `buf` (which holds [`buffer_len`]`(room)`) that
/// start in placement `k`'s page, its distance past `input` modulo 4 KiB.
fn placed<'b>(buf: &'b mut [u8], input: &[u8], k: usize, room: usize) -> &'b mut [u8] {
    let delta = (k % PLACEMENTS) * (4096 / PLACEMENTS);
    let want = (input.as_ptr() as usize + delta) % 4096;
    let start = (want + 4096 - buf.as_ptr() as usize % 4096) % 4096 + (k % PAGES) * 4096;
    &mut buf[start..start + room]
}

/// Times `contenders` together: each one's warm-up in turn (`announce(k)`
/// before contender `k`'s), which also sizes its batches, then rounds of one
/// batch of each, in turn, until every contender has had `settings.budget`
/// and `settings.min_batches` batches (module docs). Returns each
/// contender's GB/s per batch; all get the same number of batches, and
/// batch `k` of each runs at placement `k`.
fn time(
    workload: &Workload,
    contenders: &[&Contender],
    settings: &Settings,
    announce: &mut dyn FnMut(usize),
) -> Vec<Vec<f64>> {
    let count = contenders.len();
    if count == 0 {
        return Vec::new();
    }
    let jobs = settings.jobs.max(1);
    let room = workload.output_room();
    let input = &workload.input[..];

    // Warm-up on this thread, which also sizes each contender's batches.
    let mut out = vec![0u8; buffer_len(room)];
    let iters: Vec<u64> = contenders
        .iter()
        .enumerate()
        .map(|(k, c)| {
            announce(k);
            let start = Instant::now();
            let mut calls = 0u64;
            while calls == 0 || start.elapsed() < settings.warmup {
                let dst = placed(&mut out, input, calls as usize, room);
                std::hint::black_box(workload.run_once(c, dst));
                calls += 1;
            }
            let per_call = start.elapsed().as_secs_f64() / calls as f64;
            ((settings.batch.as_secs_f64() / per_call.max(1e-9)) as u64).max(1)
        })
        .collect();
    // The budget is per contender; all of them share the rounds.
    let budget = settings.budget * count as u32;

    // Every thread runs the same batches; thread 0 decides, after each
    // round, whether another one follows, and all read the decision
    // between two barriers, so all agree on the count.
    let barrier = Barrier::new(jobs);
    let stop = AtomicBool::new(false);
    let worker = |leader: bool, out: &mut [u8]| -> Vec<Vec<f64>> {
        let mut times = vec![Vec::new(); count];
        let begin = Instant::now();
        for step in 0usize.. {
            let (k, batch) = (step % count, step / count);
            if k == 0 {
                barrier.wait();
                let done = stop.load(Ordering::Relaxed);
                // Everyone has read `stop` before the leader can set it in
                // this round.
                barrier.wait();
                if done {
                    break;
                }
            }
            // All threads start the batch at once.
            barrier.wait();
            let (c, n) = (contenders[k], iters[k]);
            let dst = placed(out, input, batch, room);
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(workload.run_once(c, &mut *dst));
            }
            times[k].push(t.elapsed().as_secs_f64());
            let rounds = batch + 1;
            if leader
                && k == count - 1
                && rounds >= settings.min_batches.max(1)
                && (begin.elapsed() >= budget || rounds >= 10_000)
            {
                stop.store(true, Ordering::Relaxed);
            }
        }
        times
    };
    let per_thread: Vec<Vec<Vec<f64>>> = if jobs == 1 {
        vec![worker(true, &mut out)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..jobs)
                .map(|j| {
                    let worker = &worker;
                    s.spawn(move || worker(j == 0, &mut vec![0u8; buffer_len(room)]))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a benchmark thread panicked"))
                .collect()
        })
    };
    (0..count)
        .map(|k| {
            let bytes = (workload.input.len() as u64 * iters[k] * jobs as u64) as f64;
            (0..per_thread[0][k].len())
                .map(|b| {
                    let slowest = per_thread.iter().map(|t| t[k][b]).fold(0.0, f64::max);
                    bytes / slowest.max(1e-12) / 1e9
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Settings {
        Settings {
            warmup: Duration::ZERO,
            budget: Duration::ZERO,
            min_batches: 3,
            batch: Duration::from_micros(100),
            jobs: 1,
        }
    }

    #[test]
    fn wrong_contender_is_flagged_and_not_timed() {
        let raw = input::random_bytes(1000, 1);
        let w = input::workload(Op::Encode, &raw, "1000".into());
        let timed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let calls = timed.clone();
        let good = contenders(Op::Encode).into_iter().next().unwrap();
        let wrong = Contender::new("wrong", move |i, o| {
            calls.fetch_add(1, Ordering::Relaxed);
            o[..i.len()].copy_from_slice(i); // a copy is not Base64
            i.len()
        });
        let panics = Contender::new("panics", |_, _| panic!("rejected"));
        let rows = run_workload(&w, &[good, wrong, panics], &tiny(), &mut |_| {});
        assert_eq!(rows.len(), 3);
        assert!(matches!(rows[0].status, Status::Ok(_)), "{:?}", rows[0]);
        assert_eq!(rows[1].status, Status::Mismatch);
        assert_eq!(
            timed.load(Ordering::Relaxed),
            1,
            "run once to check, never timed"
        );
        assert_eq!(rows[2].status, Status::Failed("rejected".into()));
    }

    #[test]
    fn every_default_contender_passes_its_check() {
        let raw = input::random_bytes(3000, 2);
        let text = input::text_bytes(3000, 2);
        for op in Op::ALL {
            let data = if op.base64().is_some() { &raw } else { &text };
            let w = input::workload(op, data, "3000".into());
            for c in contenders(op) {
                let s = measure(&w, &c, &tiny());
                let want = input::tests::want_status(&c.name);
                assert_eq!(s.name(), want, "{} {}: {s:?}", op.name(), c.name);
            }
        }
    }

    /// The ceilings copy as many bytes as the codec moves, which for a
    /// tiny encode is more than twice its input: they pass their check
    /// (never panic) at every size from 0 bytes.
    #[test]
    fn ceilings_pass_their_check_at_tiny_sizes() {
        for op in Op::ALL.into_iter().filter(|op| op.base64().is_some()) {
            for size in 0..=5 {
                let raw = input::random_bytes(size, 5);
                let w = input::workload(op, &raw, size.to_string());
                for c in [peers::memcpy(), peers::memcpy_traffic(op.base64().unwrap())] {
                    let s = measure(&w, &c, &tiny());
                    assert_eq!(s.name(), "ok", "{} {size} {}: {s:?}", op.name(), c.name);
                }
            }
        }
    }

    /// The contenders of a workload take turns batch by batch: after the
    /// checks and the warm-ups, each batch of one is followed by one of the
    /// other, and both get the same number.
    #[test]
    fn contenders_take_turns() {
        let raw = input::random_bytes(1000, 4);
        let w = input::workload(Op::Encode, &raw, "1000".into());
        let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let logged = |id: u8| {
            let calls = calls.clone();
            Contender::new(format!("c{id}"), move |i, o| {
                calls.lock().unwrap().push(id);
                crate::base64::STANDARD.encode(i, o)
            })
        };
        let rows = run_workload(&w, &[logged(0), logged(1)], &tiny(), &mut |_| {});
        assert!(
            rows.iter().all(|r| matches!(r.status, Status::Ok(_))),
            "{rows:?}"
        );
        let calls = calls.lock().unwrap();
        // Past the two checks: runs of one contender's calls, the warm-ups
        // and then `min_batches` rounds of one batch each (the budget is 0).
        let runs = 1 + calls[2..].windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(runs, 2 + 2 * tiny().min_batches, "{calls:?}");
    }

    #[test]
    fn jobs_run_side_by_side() {
        let raw = input::random_bytes(4000, 3);
        let w = input::workload(Op::Decode, &raw, "4000".into());
        let mut settings = tiny();
        settings.jobs = 2;
        for c in contenders(Op::Decode) {
            let s = measure(&w, &c, &settings).summary().expect("ok");
            assert!(s.median > 0.0 && s.p10 <= s.p90);
        }
    }

    #[test]
    fn mime_encode_meets_peers_writing_the_same_line_ending() {
        let names = |op| -> Vec<String> { contenders(op).into_iter().map(|c| c.name).collect() };
        let crlf = names(Op::MimeEncode);
        assert!(
            !crlf.iter().any(|n| n == peers::SIMDUTF_LF_LINES),
            "CRLF encode meets CRLF writers only: {crlf:?}"
        );
        let lf = names(Op::MimeEncodeLf);
        assert!(lf.iter().any(|n| n == peers::SIMDUTF_LF_LINES), "{lf:?}");
        assert!(lf.iter().any(|n| n.starts_with("mimeflow/")), "{lf:?}");
        // Same text, one line ending less per line: 1000 bytes are 1336
        // characters in 18 lines.
        let raw = input::random_bytes(1000, 4);
        let text = |op| match input::workload(op, &raw, "1000".into()).expected {
            Expected::Bytes(b) => b,
            Expected::RoundTrip { .. } => unreachable!("Base64 has one right output"),
        };
        let (crlf, lf) = (text(Op::MimeEncode), text(Op::MimeEncodeLf));
        assert_eq!((crlf.len(), lf.len()), (1336 + 2 * 18, 1336 + 18));
        assert!(!lf.contains(&b'\r') && lf.ends_with(b"\n"));
        let stripped: Vec<u8> = crlf.iter().copied().filter(|&c| c != b'\r').collect();
        assert_eq!(stripped, lf);
    }

    #[test]
    fn ns_per_call_is_bytes_per_call_over_throughput() {
        let raw = input::random_bytes(256, 5);
        let w = input::workload(Op::Encode, &raw, "256".into());
        let c = contenders(Op::Encode).into_iter().next().unwrap();
        let row = &run_workload(&w, &[c], &tiny(), &mut |_| {})[0];
        assert_eq!(row.call_bytes, 256.0);
        let median = row.status.summary().expect("timed").median;
        let ns = row.ns_per_call().expect("timed");
        assert!(
            (ns * median - 256.0).abs() < 1e-6,
            "{ns} ns at {median} GB/s"
        );
        let failed = Row {
            status: Status::Mismatch,
            ..row.clone()
        };
        assert_eq!(failed.ns_per_call(), None);
    }

    #[test]
    fn placements_put_the_output_at_each_eighth_of_4k_past_the_input_in_each_page() {
        let input = vec![7u8; 100];
        let room = 300;
        let mut buf = vec![0u8; buffer_len(room)];
        let base = buf.as_ptr() as usize;
        let mut seen = Vec::new();
        for k in 0..2 * PLACEMENTS * PAGES {
            let dst = placed(&mut buf, &input, k, room);
            assert_eq!(dst.len(), room);
            let delta = (dst.as_ptr() as usize).wrapping_sub(input.as_ptr() as usize) % 4096;
            assert_eq!(delta, k % PLACEMENTS * 512, "batch {k}");
            let page = (dst.as_ptr() as usize - base) / 4096;
            assert_eq!(page, k % PAGES, "batch {k}");
            seen.push((delta, page));
        }
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), PLACEMENTS * PAGES);
    }

    #[test]
    fn op_names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(op));
        }
        assert_eq!(Op::from_name("nope"), None);
    }
}
