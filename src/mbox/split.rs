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
