//! Deciding the variant of an archive from a bounded sample of its start,
//! and telling an mbox from something else.
//!
//! The evidence, strongest first: Content-Length headers that span From_
//! lines (only mboxcl2 leaves those unquoted), Content-Length headers that
//! check out everywhere (mboxcl if bodies show `>From` quoting, else mboxcl2,
//! whose Content-Length walk is the safe reading), `>>From` lines (mboxrd's
//! reversible quoting). Without evidence the answer is mboxrd: on an mboxo
//! archive it only differs in turning `>From` back into `From`.

use memchr::memmem::Finder;

use super::from_line::{detect_eol, newline_byte};
use super::scan::{self, Ctx, ScanState, Step};
use super::{LineEnding, MboxError, Variant};

/// How much of the archive [`sniff`] looks at.
pub const SNIFF_SAMPLE: usize = 4 << 20;

/// What [`sniff`] decided, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sniffed {
    /// The variant to read the archive as.
    pub variant: Variant,
    /// The archive's line ending (of its first line).
    pub line_ending: LineEnding,
    /// A short human-readable explanation (`>>From lines`, ...).
    pub reason: String,
    /// Whether the evidence was clear (false: a default or a guess).
    pub confident: bool,
    /// False when the data is not an mbox (the reason says why).
    pub is_mbox: bool,
}

impl Sniffed {
    /// `Err(NotMbox)` when the data is not an mbox.
    pub fn check(&self) -> Result<(), MboxError> {
        if self.is_mbox {
            Ok(())
        } else {
            Err(MboxError::NotMbox {
                reason: self.reason.clone(),
            })
        }
    }
}

/// Where the first message starts.
pub(crate) enum First {
    Record(usize),
    /// Nothing but blank lines: an empty archive.
    Empty,
    NeedMore,
    NotMbox(String),
}

/// Finds the first From_ line: the first non-blank line must be one.
pub(crate) fn first_record(data: &[u8], eof: bool) -> First {
    let nl = newline_byte(detect_eol(data));
    let mut i = 0;
    loop {
        match data.get(i) {
            None => return if eof { First::Empty } else { First::NeedMore },
            Some(&b) if b == nl => i += 1,
            Some(b'\r') if nl == b'\n' && data.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'\r') if nl == b'\n' && i + 1 == data.len() && !eof => return First::NeedMore,
            Some(_) => break,
        }
    }
    let finder = Finder::new(b"From ");
    let ctx = Ctx {
        finder: &finder.into_owned(),
        nl,
        archive_start: true,
        eof,
    };
    match scan::boundary_at(data, i, &ctx) {
        Some(true) => First::Record(i),
        None => First::NeedMore,
        Some(false) => {
            let end = memchr::memchr2(b'\n', b'\r', &data[i..]).map_or(data.len(), |k| i + k);
            let line = &data[i..end.min(i + 60)];
            First::NotMbox(format!(
                "the first non-empty line (at byte {i}) is not a From_ line: {:?}",
                String::from_utf8_lossy(line)
            ))
        }
    }
}

/// Looks at (at most the first 4 MiB of) the archive once and decides its
/// variant and line ending. Falls back to mboxrd when in doubt.
/// Content-Length is trusted only where it checks out: it lands on a blank
/// line followed by a From_ line or the end of the file.
pub fn sniff(data: &[u8]) -> Sniffed {
    let complete = data.len() <= SNIFF_SAMPLE;
    sniff_sample(
        &data[..data.len().min(SNIFF_SAMPLE)],
        complete,
        detect_eol(data),
    )
}

/// [`sniff`] of the first bytes of an archive held elsewhere (a planner
/// reading remote storage): `head` should be the first 4 MiB
/// ([`SNIFF_SAMPLE`]), or the whole archive (`complete`), for the answer to
/// equal `sniff`'s of the whole.
pub fn sniff_head(head: &[u8], complete: bool) -> Sniffed {
    sniff_sample(
        &head[..head.len().min(SNIFF_SAMPLE)],
        complete,
        detect_eol(head),
    )
}

pub(crate) fn sniff_sample(sample: &[u8], complete: bool, line_ending: LineEnding) -> Sniffed {
    let nl = newline_byte(line_ending);
    let mk = |variant, reason: String, confident, is_mbox| Sniffed {
        variant,
        line_ending,
        reason,
        confident,
        is_mbox,
    };
    let mut p = match first_record(sample, complete) {
        First::Record(p) => p,
        First::Empty => return mk(Variant::Mboxrd, "empty archive".into(), false, true),
        First::NotMbox(r) => return mk(Variant::Mboxrd, r, false, false),
        First::NeedMore => {
            return mk(
                Variant::Mboxrd,
                format!("no From_ line in the first {} bytes", sample.len()),
                false,
                false,
            )
        }
    };
    let finder = Finder::new(b"From ").into_owned();
    let ctx = Ctx {
        finder: &finder,
        nl,
        archive_start: true,
        eof: complete,
    };
    let (mut msgs, mut cl_msgs, mut cl_ok, mut span) = (0u64, 0u64, 0u64, 0u64);
    let mut scratch = Vec::new();
    loop {
        let mut st = ScanState::default();
        scratch.clear();
        let Step::Record(r) =
            scan::next_record(sample, p, &mut st, Variant::Mboxo, &ctx, &mut scratch)
        else {
            break; // the sample cut this message: leave it out
        };
        msgs += 1;
        if let Ok((body, Some(n))) =
            scan::content_length(&sample[..r.content_end], r.content, nl, true)
        {
            cl_msgs += 1;
            if body.checked_add(n as usize) == Some(r.content_end) {
                cl_ok += 1;
            } else if let scan::ClWalk::Ok(_, q) =
                scan::walk_content_length(sample, r.content, &ctx)
            {
                if q > r.end {
                    span += 1;
                }
            }
        }
        if r.end >= sample.len() {
            break;
        }
        p = r.end;
    }
    // Quoted From lines, by depth.
    let (mut single, mut multi) = (0u64, 0u64);
    for h in finder.find_iter(sample) {
        if h == 0 || sample[h - 1] != b'>' {
            continue;
        }
        let mut j = h - 1;
        while j > 0 && sample[j - 1] == b'>' {
            j -= 1;
        }
        if j == 0 || sample[j - 1] == nl {
            if h - j == 1 {
                single += 1;
            } else {
                multi += 1;
            }
        }
    }
    if span > 0 {
        return mk(
            Variant::Mboxcl2,
            format!("Content-Length spans unquoted From_ lines in {span} of {msgs} messages"),
            true,
            true,
        );
    }
    if msgs > 0 && cl_msgs == msgs && cl_ok == msgs {
        return if single + multi > 0 {
            mk(
                Variant::Mboxcl,
                format!("Content-Length checks out in all {msgs} messages, >From quoting"),
                true,
                true,
            )
        } else {
            mk(
                Variant::Mboxcl2,
                format!("Content-Length checks out in all {msgs} messages, no quoted From lines"),
                false,
                true,
            )
        };
    }
    let cl_note = if cl_msgs > 0 {
        format!(
            "; Content-Length in {cl_msgs} of {msgs} messages, {} not checking out: ignored",
            cl_msgs - cl_ok
        )
    } else {
        String::new()
    };
    if multi > 0 {
        mk(
            Variant::Mboxrd,
            format!(">>From lines{cl_note}"),
            true,
            true,
        )
    } else if single > 0 {
        mk(
            Variant::Mboxrd,
            format!(">From lines only, no >>From: mboxo or mboxrd, read as mboxrd{cl_note}"),
            false,
            true,
        )
    } else {
        mk(
            Variant::Mboxrd,
            format!("no quoted From lines: default{cl_note}"),
            false,
            true,
        )
    }
}
