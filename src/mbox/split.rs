//! Byte-range plans for parallel reading: cut points found by searching
//! forward from approximate positions (`len * i / n`) for the next From_
//! boundary, never by a serial pass over the file. A cut is the first
//! boundary of its segment (`len * i / n` up to the next position), so the
//! segments are searched independently, on rayon's pool: each search reads
//! up to its segment's first boundary, or the whole segment when a large
//! message covers it. Searched one after the other, an archive of large
//! messages kept the planning thread reading alone before any work began
//! (55 ms for the 2.2 GB mixed archive, Zen 4).

use std::ops::Range;

use memchr::memmem::Finder;

use super::from_line::{detect_eol, newline_byte, MAX_FROM_LINE};
use super::scan::{self, Ctx, Scan, ScanState};
use super::sniff::{first_record, First};
use super::{MboxError, Variant};

/// Cuts the archive into at most `n` ranges at From_ boundaries (a range
/// owns the messages whose From_ line starts inside it). The ranges cover
/// the whole file, in order, without overlap; fewer than `n` come back when
/// the archive has fewer boundaries. Any `n` is fine: the work is one
/// search per segment, up to its first boundary (on rayon's pool with the
/// `parallel` feature), or one per cut made when segments are under 4 KiB;
/// at most one pass over the data in all; an `n` beyond the data's length
/// is treated as that length. Refuses Mboxcl2 and data that is not an
/// mbox.
pub fn plan_splits(data: &[u8], n: usize, variant: Variant) -> Result<Vec<Range<u64>>, MboxError> {
    if variant == Variant::Mboxcl2 {
        return Err(MboxError::Refused {
            reason: "mboxcl2 cannot be cut at From_ lines (its bodies keep unquoted From lines; \
                     Content-Length delimits messages): read it serially with mbox::read and \
                     parallelise the parsing behind it"
                .into(),
        });
    }
    let len = data.len();
    match first_record(data, true) {
        First::NotMbox(reason) => return Err(MboxError::NotMbox { reason }),
        First::Empty | First::NeedMore => return Ok(std::iter::once(0..len as u64).collect()),
        First::Record(_) => {}
    }
    let finder = Finder::new(b"From ").into_owned();
    let ctx = Ctx {
        finder: &finder,
        nl: newline_byte(detect_eol(data)),
        archive_start: true,
        eof: true,
    };
    // A range holds at least one byte, so more than `len` ranges cannot
    // be.
    let n = n.clamp(1, len.max(1));
    let cuts = if len / n >= MIN_SEGMENT {
        segment_cuts(data, n, &ctx)
    } else {
        serial_cuts(data, n, &ctx)
    };
    let mut ranges: Vec<Range<u64>> = cuts.windows(2).map(|w| w[0] as u64..w[1] as u64).collect();
    ranges.push(*cuts.last().unwrap() as u64..len as u64);
    Ok(ranges)
}

/// Segments at least this long are searched independently
/// ([`segment_cuts`]); a plan of shorter ones (an `n` near the archive's
/// length) is made by [`serial_cuts`], which makes the same cuts without a
/// slot per segment.
const MIN_SEGMENT: usize = 4096;

/// The cuts of [`plan_splits`]: 0, then the first boundary in each segment
/// `[len * i / n, len * (i + 1) / n)` that has one (`1 <= i < n`). The
/// search in a segment reads no further than one From_ line past its end
/// ([`MAX_FROM_LINE`]: enough to tell whether a line that starts inside
/// it is an envelope), so the segments are independent, and rayon's pool
/// searches them.
fn segment_cuts(data: &[u8], n: usize, ctx: &Ctx<'_>) -> Vec<usize> {
    let len = data.len();
    let approx = |i: usize| (len as u128 * i as u128 / n as u128) as usize;
    let first = |i: usize| {
        let (at, next) = (approx(i), approx(i + 1));
        let end = len.min(next.saturating_add(MAX_FROM_LINE));
        let ctx = Ctx {
            eof: end == len,
            ..*ctx
        };
        let mut st = ScanState {
            pos: at,
            quoted: false,
        };
        match scan::next_boundary(&data[..end], at, &mut st, &ctx, None) {
            Scan::Boundary(q) if q < next => Some(q),
            _ => None,
        }
    };
    #[cfg(feature = "parallel")]
    let firsts: Vec<Option<usize>> = {
        use rayon::prelude::*;
        (1..n).into_par_iter().map(first).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let firsts: Vec<Option<usize>> = (1..n).map(first).collect();
    std::iter::once(0)
        .chain(firsts.into_iter().flatten())
        .collect()
}

/// The cuts of [`segment_cuts`], found one after the other: from each
/// approximate position, the next boundary; then on from the first
/// approximate position past it. It runs once per cut found, never `n`
/// times (n = 2**63 from Python used to spin for ever).
fn serial_cuts(data: &[u8], n: usize, ctx: &Ctx<'_>) -> Vec<usize> {
    let len = data.len();
    let approx = |i: usize| (len as u128 * i as u128 / n as u128) as usize;
    let mut cuts = vec![0usize];
    let mut i = 1;
    while i < n {
        let at = approx(i);
        let mut st = ScanState {
            pos: at,
            quoted: false,
        };
        let q = match scan::next_boundary(data, at, &mut st, ctx, None) {
            Scan::Boundary(q) => q,
            Scan::End | Scan::NeedMore => break,
        };
        // `at` is past the last cut (the jump below), so `q` is too.
        debug_assert!(q > *cuts.last().expect("starts with 0"));
        cuts.push(q);
        // The first i with approx(i) > q: len * i >= (q + 1) * n.
        let next = ((q as u128 + 1) * n as u128).div_ceil(len as u128);
        i = usize::try_from(next).unwrap_or(usize::MAX).max(i + 1);
    }
    cuts
}

/// Bytes a [`find_cut`] window must hold before its nominal position: a
/// From_ line's blank line before it is at most `\r\n\r\n`.
pub const CUT_LOOKBEHIND: usize = 4;

/// What [`find_cut`] found in its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// A From_ boundary at this index of the window.
    At(usize),
    /// No boundary between `at` and the end of the window, which is the
    /// end of the archive: nothing after `at` starts a message.
    End,
    /// No boundary decided inside the window: read a longer one.
    NeedMore,
}

/// The cut [`plan_splits`] would make for a nominal position, found in a
/// window of the archive rather than in the whole of it: what a planner
/// reading remote storage fetches is a few KiB around each nominal
/// position, never the archive.
///
/// `window` is a piece of an archive whose line ending is `line_ending`
/// (its [`sniff`](super::sniff)); `at`, an index into it, is the nominal
/// position. The window must start at least [`CUT_LOOKBEHIND`] bytes
/// before `at` (the blank line before a From_ line must be in view), or at
/// the archive's start (`archive_start`). `eof` says it runs to the end of
/// the archive. The rule is [`plan_splits`]'s own, so the same nominal
/// positions give the same cuts.
///
/// # Panics
/// When `at` is 0 or past the window, or the window starts too late.
pub fn find_cut(
    window: &[u8],
    at: usize,
    line_ending: super::LineEnding,
    archive_start: bool,
    eof: bool,
) -> Cut {
    assert!(
        at >= 1 && at <= window.len() && (archive_start || at >= CUT_LOOKBEHIND),
        "find_cut: the window must start {CUT_LOOKBEHIND} bytes before `at`, and hold it"
    );
    let finder = Finder::new(b"From ").into_owned();
    let ctx = Ctx {
        finder: &finder,
        nl: newline_byte(line_ending),
        archive_start,
        eof,
    };
    let mut st = ScanState {
        pos: at,
        quoted: false,
    };
    match scan::next_boundary(window, at, &mut st, &ctx, None) {
        Scan::Boundary(q) => Cut::At(q),
        Scan::End => Cut::End,
        Scan::NeedMore => Cut::NeedMore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mbox::sniff;

    /// Every nominal position of `plan_splits`, searched in windows of a
    /// few sizes, cuts where `plan_splits` cuts.
    #[test]
    fn windows_cut_where_the_whole_archive_does() {
        let mut data = Vec::new();
        for i in 0..60 {
            data.extend_from_slice(
                format!(
                    "From a{i}@x Thu Jan  1 00:00:00 2004\nSubject: {i}\n\nFrom the body\n{}\n\n",
                    "line\n".repeat(i * 7 % 23)
                )
                .as_bytes(),
            );
        }
        let crlf = String::from_utf8(data.clone())
            .unwrap()
            .replace('\n', "\r\n");
        let crlf = crlf.into_bytes();
        for data in [data, crlf] {
            cuts_in_windows(&data);
        }
    }

    /// Searching the segments independently makes the cuts that the
    /// search from one boundary to the next makes, whatever the segment
    /// size: messages far longer than a segment, envelopes and body lines
    /// starting "From " next to the segments' ends, LF and CRLF.
    #[test]
    fn segment_cuts_are_the_serial_cuts() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let mut data = Vec::new();
        for i in 0..120 {
            data.extend_from_slice(
                format!("From a{i}@x Thu Jan  1 00:00:00 2004\nSubject: {i}\n\n").as_bytes(),
            );
            // Mostly short, sometimes a hundred times longer.
            let lines = if next(8) == 0 {
                400 + next(2000)
            } else {
                next(30)
            };
            for _ in 0..lines {
                match next(40) {
                    0 => data.extend_from_slice(b"\nFrom the body, after a blank line\n"),
                    1 => data.extend_from_slice(b">From quoted\n"),
                    2 => data.extend_from_slice(b"\nFrom b@y Thu Jan  1 00:00:00 2004\n"),
                    _ => data.extend_from_slice(&b"a body line of text\n"[next(10) as usize..]),
                }
            }
            data.push(b'\n');
        }
        let crlf = String::from_utf8(data.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        for data in [data, crlf] {
            let finder = Finder::new(b"From ").into_owned();
            let ctx = Ctx {
                finder: &finder,
                nl: newline_byte(detect_eol(&data)),
                archive_start: true,
                eof: true,
            };
            let len = data.len();
            for n in [2, 3, 5, 16, 61, 200, 997, len / 700, len / 64, len / 5] {
                let serial = serial_cuts(&data, n, &ctx);
                assert!(serial.len() > 1, "n={n}: no cut to compare");
                assert_eq!(segment_cuts(&data, n, &ctx), serial, "n={n} of {len} bytes");
            }
        }
    }

    fn cuts_in_windows(data: &[u8]) {
        let eol = sniff(data).line_ending;
        for n in [2, 3, 7, 16, 59] {
            let want = plan_splits(data, n, Variant::Mboxrd).unwrap();
            for w in [8, 64, 4096] {
                let len = data.len();
                let mut cuts = vec![0u64];
                let mut i = 1;
                while i < n {
                    let nominal = len * i / n;
                    if nominal <= *cuts.last().unwrap() as usize {
                        i += 1;
                        continue;
                    }
                    let start = nominal.saturating_sub(CUT_LOOKBEHIND);
                    let mut size = w;
                    let cut = loop {
                        let end = (nominal + size).min(len);
                        let window = &data[start..end];
                        match find_cut(window, nominal - start, eol, start == 0, end == len) {
                            Cut::NeedMore => size *= 2,
                            Cut::End => break None,
                            Cut::At(q) => break Some(start + q),
                        }
                    };
                    match cut {
                        Some(c) => cuts.push(c as u64),
                        None => break,
                    }
                    i += 1;
                }
                let mut got: Vec<Range<u64>> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
                got.push(*cuts.last().unwrap()..len as u64);
                assert_eq!(got, want, "n={n} window={w}");
            }
        }
    }
}
