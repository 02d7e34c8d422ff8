//! Byte-range plans for parallel reading: cut points found by searching
//! forward from approximate positions (`len * i / n`) for the next From_
//! boundary, never by a serial pass over the file. Each search reads only
//! up to the next boundary, so planning costs about one message per cut.

use std::ops::Range;

use memchr::memmem::Finder;

use super::from_line::{detect_eol, newline_byte};
use super::scan::{self, Ctx, Scan, ScanState};
use super::sniff::{first_record, First};
use super::{MboxError, Variant};

/// Cuts the archive into at most `n` ranges at From_ boundaries (a range
/// owns the messages whose From_ line starts inside it). The ranges cover
/// the whole file, in order, without overlap; fewer than `n` come back when
/// the archive has fewer boundaries. Any `n` is fine: the work is one short
/// search per cut actually made, at most one pass over the data, and an `n`
/// beyond the data's length is treated as that length. Refuses Mboxcl2 and
/// data that is not an mbox.
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
    // be; and after each cut the loop jumps to the first approximate
    // position past it, so it runs once per cut found, never `n` times
    // (n = 2**63 from Python used to spin for ever).
    let n = n.clamp(1, len.max(1));
    let approx = |i: usize| (len as u128 * i as u128 / n as u128) as usize;
    let mut cuts = vec![0usize];
    let mut i = 1;
    while i < n {
        let at = approx(i);
        let mut st = ScanState {
            pos: at,
            quoted: false,
        };
        let q = match scan::next_boundary(data, at, &mut st, &ctx, None) {
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
    let mut ranges: Vec<Range<u64>> = cuts.windows(2).map(|w| w[0] as u64..w[1] as u64).collect();
    ranges.push(*cuts.last().unwrap() as u64..len as u64);
    Ok(ranges)
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
