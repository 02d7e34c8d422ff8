//! The splitting kernel shared by the in-memory reader, the range reader
//! and the streaming reader.
//!
//! A From_ boundary is a *local* property of a position `f`: the line at `f`
//! starts `From `, it is an envelope ([`is_from_line`]) and the line before
//! it is blank (or `f` is the start of the archive). Because nothing else
//! decides it, any reader that starts at a boundary and looks for the next
//! one finds the same boundaries as a serial pass from the start of the
//! file: that is what makes byte-range splitting agree with the serial
//! reader for every range count (mboxcl2, whose Content-Length walk is not
//! local, is read serially only).
//!
//! The hot loop is one `memmem` search for `From `. Each hit is classified
//! by the byte before it: a line end makes it a boundary candidate, `>`
//! makes it a possibly quoted line (so the message is only rescanned for
//! unquoting when it has one), anything else is text. Every function takes
//! `eof`: with `eof == false` a question that needs bytes past the end of
//! the buffer answers [`Scan::NeedMore`], which is how the streaming reader
//! reuses this code.

use std::borrow::Cow;

use memchr::memmem::Finder;

use super::from_line::{is_from_line, MAX_FROM_LINE};
use super::{SuspiciousKind, Variant};

/// Resumable per-message search state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ScanState {
    /// Where the next search starts (buffer index).
    pub pos: usize,
    /// A `^>+From ` line was seen in the message.
    pub quoted: bool,
}

/// The outcome of a search for the next boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// A boundary (From_ line start) at this buffer index.
    Boundary(usize),
    /// No boundary before the end of the (complete) data.
    End,
    /// More input is needed to decide.
    NeedMore,
}

/// What a scan knows about its buffer.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'f> {
    pub finder: &'f Finder<'static>,
    /// `\n` or `\r` (see `newline_byte`).
    pub nl: u8,
    /// Buffer index 0 is byte 0 of the archive.
    pub archive_start: bool,
    /// No more input follows the buffer.
    pub eof: bool,
}

/// A suspicious line found while scanning (buffer index).
pub(crate) type Found = (usize, SuspiciousKind);

/// Whether the line before the line start `f` (> 0) is blank: empty, or
/// `\r` alone in an LF/CRLF archive.
#[inline]
pub(crate) fn blank_before(buf: &[u8], f: usize, nl: u8, archive_start: bool) -> bool {
    debug_assert!(f > 0 && buf[f - 1] == nl);
    let pe = f - 1; // the previous line's terminator
    if pe == 0 {
        return archive_start;
    }
    if buf[pe - 1] == nl {
        return true;
    }
    if nl == b'\n' && buf[pe - 1] == b'\r' {
        let ls = pe - 1;
        return if ls == 0 {
            archive_start
        } else {
            buf[ls - 1] == b'\n'
        };
    }
    false
}

/// Classification of a line starting `From ` at a line start.
pub(crate) enum FromLine {
    Envelope,
    NotEnvelope,
    NeedMore,
}

/// Whether the line at `f` (which starts `From `) is an envelope. Lines are
/// looked at up to [`MAX_FROM_LINE`] bytes, so the answer never needs more.
#[inline]
pub(crate) fn classify_from(buf: &[u8], f: usize, ctx: &Ctx<'_>) -> FromLine {
    let window = &buf[f..buf.len().min(f + MAX_FROM_LINE)];
    let line = match memchr::memchr(ctx.nl, window) {
        Some(i) => &window[..i],
        None if window.len() == MAX_FROM_LINE => return FromLine::NotEnvelope,
        None if !ctx.eof => return FromLine::NeedMore,
        None => window,
    };
    if is_from_line(line) {
        FromLine::Envelope
    } else {
        FromLine::NotEnvelope
    }
}

/// Whether a boundary stands at the line start `f`. `NeedMore` when the
/// line is not complete in the buffer yet.
pub(crate) fn boundary_at(buf: &[u8], f: usize, ctx: &Ctx<'_>) -> Option<bool> {
    if !buf[f..].starts_with(b"From ") {
        if !ctx.eof && buf.len() - f < 5 && b"From "[..buf.len() - f] == buf[f..] {
            return None;
        }
        return Some(false);
    }
    let blank = if f == 0 {
        ctx.archive_start
    } else {
        blank_before(buf, f, ctx.nl, ctx.archive_start)
    };
    if !blank {
        return Some(false);
    }
    match classify_from(buf, f, ctx) {
        FromLine::Envelope => Some(true),
        FromLine::NotEnvelope => Some(false),
        FromLine::NeedMore => None,
    }
}

/// Searches for the next boundary at or after `st.pos` (which must be > 0
/// unless `ctx.archive_start`). `lo` is the start of the current message's
/// content (quoted lines are only tracked from there); `report` collects
/// suspicious lines when given.
pub(crate) fn next_boundary(
    buf: &[u8],
    lo: usize,
    st: &mut ScanState,
    ctx: &Ctx<'_>,
    mut report: Option<&mut Vec<Found>>,
) -> Scan {
    loop {
        let Some(i) = ctx.finder.find(&buf[st.pos..]) else {
            if ctx.eof {
                st.pos = buf.len();
                return Scan::End;
            }
            st.pos = st.pos.max(buf.len().saturating_sub(4));
            return Scan::NeedMore;
        };
        let f = st.pos + i;
        let prev = if f == 0 { None } else { Some(buf[f - 1]) };
        if f == 0 || prev == Some(ctx.nl) {
            let blank = if f == 0 {
                ctx.archive_start
            } else {
                blank_before(buf, f, ctx.nl, ctx.archive_start)
            };
            match classify_from(buf, f, ctx) {
                FromLine::NeedMore => {
                    st.pos = f;
                    return Scan::NeedMore;
                }
                FromLine::Envelope if blank => {
                    st.pos = f;
                    return Scan::Boundary(f);
                }
                FromLine::Envelope => {
                    if let Some(r) = report.as_deref_mut() {
                        r.push((f, SuspiciousKind::NoBlankLine));
                    }
                }
                FromLine::NotEnvelope if blank => {
                    if let Some(r) = report.as_deref_mut() {
                        r.push((f, SuspiciousKind::NotEnvelope));
                    }
                }
                FromLine::NotEnvelope => {}
            }
        } else if prev == Some(b'>') && f > lo {
            let mut j = f - 1;
            while j > lo && buf[j - 1] == b'>' {
                j -= 1;
            }
            if j == lo || buf[j - 1] == ctx.nl {
                st.quoted = true;
            }
        }
        st.pos = f + 1;
    }
}

/// Where the content of the message whose From_ line starts at `p` begins:
/// after the From_ line's terminator. `None` when the line is incomplete
/// and more input may come.
pub(crate) fn content_start(buf: &[u8], p: usize, nl: u8, eof: bool) -> Option<usize> {
    match memchr::memchr(nl, &buf[p..]) {
        Some(i) => Some(p + i + 1),
        None if eof => Some(buf.len()),
        None => None,
    }
}

/// The envelope of the From_ line at `p` whose content starts at `c`.
pub(crate) fn envelope(buf: &[u8], p: usize, c: usize, nl: u8) -> &[u8] {
    let mut e = &buf[(p + 5).min(c)..c];
    e = e.strip_suffix(&[nl]).unwrap_or(e);
    if nl == b'\n' {
        e = e.strip_suffix(b"\r").unwrap_or(e);
    }
    e
}

/// The end of the content of a message whose content starts at `c`, given
/// where its record ends: at the next boundary `q` (`at_boundary`, so a
/// blank line precedes `q`) or at the end of the data. The blank separator
/// line is not content.
pub(crate) fn content_end(buf: &[u8], c: usize, q: usize, nl: u8, at_boundary: bool) -> usize {
    if q <= c {
        return q; // empty (q == c: the From_ line ends the data)
    }
    if at_boundary {
        // buf[q-1] is the blank line's terminator.
        if q >= 2 && q - 2 >= c && buf[q - 2] == nl {
            return q - 1;
        }
        if nl == b'\n' && q >= 2 && q - 2 >= c && buf[q - 2] == b'\r' {
            return q - 2;
        }
        return (q - 1).max(c);
    }
    if buf[q - 1] != nl {
        return q; // last line without a terminator: truncated, keep it all
    }
    // The last line is [ls, q-1).
    let ls = memchr::memrchr(nl, &buf[c..q - 1]).map_or(c, |i| c + i + 1);
    let line = &buf[ls..q - 1];
    if line.is_empty() || (nl == b'\n' && line == b"\r") {
        ls
    } else {
        q
    }
}

/// Where the header block of content starting at `c` ends and what its
/// Content-Length says: `Ok((body_start, Some(n)))`, `Ok((_, None))` without
/// the header, `Err(())` when more input is needed.
pub(crate) fn content_length(
    buf: &[u8],
    c: usize,
    nl: u8,
    eof: bool,
) -> Result<(usize, Option<u64>), ()> {
    let mut i = c;
    let mut cl = None;
    loop {
        let Some(le) = memchr::memchr(nl, &buf[i..]).map(|k| i + k) else {
            return if eof { Ok((buf.len(), cl)) } else { Err(()) };
        };
        let line = &buf[i..le];
        let line = if nl == b'\n' {
            line.strip_suffix(b"\r").unwrap_or(line)
        } else {
            line
        };
        if line.is_empty() {
            return Ok((le + 1, cl));
        }
        if cl.is_none() && line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            let v = line[15..].trim_ascii();
            if !v.is_empty() && v.len() <= 18 && v.iter().all(u8::is_ascii_digit) {
                cl = Some(v.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0')));
            }
        }
        i = le + 1;
    }
}

/// The outcome of following a Content-Length header.
pub(crate) enum ClWalk {
    /// It checks out: content ends at `.0`, the next record starts at `.1`
    /// (a boundary, or the end of the data).
    Ok(usize, usize),
    /// It does not land on a blank line followed by a From_ line or the
    /// end of the data.
    Bad,
    /// No Content-Length header.
    Missing,
    NeedMore,
}

/// Follows the Content-Length of the message whose content starts at `c`.
pub(crate) fn walk_content_length(buf: &[u8], c: usize, ctx: &Ctx<'_>) -> ClWalk {
    let (body, n) = match content_length(buf, c, ctx.nl, ctx.eof) {
        Err(()) => return ClWalk::NeedMore,
        Ok((b, Some(n))) => (b, n),
        Ok((_, None)) => return ClWalk::Missing,
    };
    let Some(e) = usize::try_from(n).ok().and_then(|n| body.checked_add(n)) else {
        return ClWalk::Bad;
    };
    let len = buf.len();
    if e >= len {
        return match (e == len, ctx.eof) {
            (true, true) => ClWalk::Ok(e, e),
            (false, true) => ClWalk::Bad,
            (_, false) => ClWalk::NeedMore,
        };
    }
    let bl_end = if buf[e] == ctx.nl {
        e + 1
    } else if ctx.nl == b'\n' && buf[e] == b'\r' {
        match buf.get(e + 1) {
            Some(b'\n') => e + 2,
            Some(_) => return ClWalk::Bad,
            None if ctx.eof => return ClWalk::Bad,
            None => return ClWalk::NeedMore,
        }
    } else {
        return ClWalk::Bad;
    };
    // The separator must be a line of its own.
    if e > c && buf[e - 1] != ctx.nl {
        return ClWalk::Bad;
    }
    if bl_end == len {
        return if ctx.eof {
            ClWalk::Ok(e, len)
        } else {
            ClWalk::NeedMore
        };
    }
    match boundary_at(buf, bl_end, ctx) {
        Some(true) => ClWalk::Ok(e, bl_end),
        Some(false) => ClWalk::Bad,
        None => ClWalk::NeedMore,
    }
}

/// Undoes the variant's quoting of `From ` lines: mboxrd drops one `>` from
/// every `^>+From ` line (exact); with `mboxo` set (mboxo/mboxcl, asked
/// for) one `>` is dropped from `^>From ` lines (one `>` only: an mboxo
/// writer leaves `>From` alone, so `>>From` is literal). Borrowed when
/// nothing changes.
pub(crate) fn unquote<'a>(
    msg: &'a [u8],
    nl: u8,
    mboxo: bool,
    finder: &Finder<'_>,
) -> Cow<'a, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for j in unquote_cuts(msg, nl, mboxo, finder) {
        let o = out.get_or_insert_with(|| Vec::with_capacity(msg.len()));
        o.extend_from_slice(&msg[copied..j]);
        copied = j + 1; // drop the first '>'
    }
    match out {
        None => Cow::Borrowed(msg),
        Some(mut o) => {
            o.extend_from_slice(&msg[copied..]);
            Cow::Owned(o)
        }
    }
}

/// The indexes of the `>` bytes that [`unquote`] drops, in order: what the
/// streaming reader needs to unquote a spooled message into a file without
/// holding it in memory.
pub(crate) fn unquote_cuts<'a>(
    msg: &'a [u8],
    nl: u8,
    mboxo: bool,
    finder: &'a Finder<'a>,
) -> impl Iterator<Item = usize> + 'a {
    finder.find_iter(msg).filter_map(move |h| {
        if h == 0 || msg[h - 1] != b'>' {
            return None;
        }
        let mut j = h - 1;
        while j > 0 && msg[j - 1] == b'>' {
            j -= 1;
        }
        if j > 0 && msg[j - 1] != nl {
            return None;
        }
        if mboxo && h - j != 1 {
            return None;
        }
        Some(j)
    })
}

/// Which unquoting a message of `variant` gets: `Some(mboxo)` for
/// [`unquote`], `None` when its bytes are kept as they are.
pub(crate) fn quoting(variant: Variant, unquote_mboxo: bool) -> Option<bool> {
    match variant {
        Variant::Mboxrd => Some(false),
        Variant::Mboxo | Variant::Mboxcl if unquote_mboxo => Some(true),
        _ => None,
    }
}

/// Bounds of one record in a buffer (buffer indexes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Record {
    pub content: usize,
    pub content_end: usize,
    pub end: usize,
    pub quoted: bool,
}

/// The message bytes of a record with the variant's quoting undone.
pub(crate) fn message_of<'a>(
    buf: &'a [u8],
    r: &Record,
    variant: Variant,
    unquote_mboxo: bool,
    nl: u8,
    quote_finder: &Finder<'_>,
) -> Cow<'a, [u8]> {
    let msg = &buf[r.content..r.content_end];
    if !r.quoted {
        return Cow::Borrowed(msg);
    }
    match quoting(variant, unquote_mboxo) {
        Some(mboxo) => unquote(msg, nl, mboxo, quote_finder),
        None => Cow::Borrowed(msg),
    }
}

/// Step result of [`next_record`].
pub(crate) enum Step {
    Record(Record),
    NeedMore,
}

/// Finds the end of the record whose From_ line starts at `p` (a boundary).
/// `st` carries the search across `NeedMore` (reset it to `Default` for a
/// new record). Suspicious lines go to `report`.
pub(crate) fn next_record(
    buf: &[u8],
    p: usize,
    st: &mut ScanState,
    variant: Variant,
    ctx: &Ctx<'_>,
    report: &mut Vec<Found>,
) -> Step {
    let Some(c) = content_start(buf, p, ctx.nl, ctx.eof) else {
        return Step::NeedMore;
    };
    if st.pos == 0 {
        st.pos = c;
        if variant == Variant::Mboxcl2 {
            match walk_content_length(buf, c, ctx) {
                ClWalk::NeedMore => {
                    st.pos = 0;
                    return Step::NeedMore;
                }
                ClWalk::Ok(e, q) => {
                    return Step::Record(Record {
                        content: c,
                        content_end: e,
                        end: q,
                        quoted: false,
                    })
                }
                ClWalk::Bad => report.push((p, SuspiciousKind::ContentLength)),
                ClWalk::Missing => {}
            }
        }
    }
    let (q, at) = match next_boundary(buf, c, st, ctx, Some(report)) {
        Scan::NeedMore => return Step::NeedMore,
        Scan::Boundary(q) => (q, true),
        Scan::End => (buf.len(), false),
    };
    let ce = content_end(buf, c, q, ctx.nl, at);
    if variant == Variant::Mboxcl {
        // mboxcl splits at From_ lines; its Content-Length is only checked.
        if let Ok((body, Some(n))) = content_length(&buf[..ce], c, ctx.nl, true) {
            if body.checked_add(n as usize) != Some(ce) {
                report.push((p, SuspiciousKind::ContentLength));
            }
        }
    }
    Step::Record(Record {
        content: c,
        content_end: ce,
        end: q,
        quoted: st.quoted,
    })
}
