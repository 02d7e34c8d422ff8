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
/// the archive has fewer boundaries. Refuses Mboxcl2 and data that is not
/// an mbox.
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
    let n = n.max(1);
    let mut cuts = vec![0usize];
    for i in 1..n {
        let approx = (len as u128 * i as u128 / n as u128) as usize;
        let last = *cuts.last().unwrap();
        if approx <= last {
            continue;
        }
        let mut st = ScanState {
            pos: approx,
            quoted: false,
        };
        match scan::next_boundary(data, approx, &mut st, &ctx, None) {
            Scan::Boundary(q) if q > last => cuts.push(q),
            Scan::Boundary(_) => {}
            Scan::End | Scan::NeedMore => break,
        }
    }
    let mut ranges: Vec<Range<u64>> = cuts.windows(2).map(|w| w[0] as u64..w[1] as u64).collect();
    ranges.push(*cuts.last().unwrap() as u64..len as u64);
    Ok(ranges)
}
