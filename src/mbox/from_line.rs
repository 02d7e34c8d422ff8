//! The From_ line: what an envelope looks like (RFC 4155 and the forms
//! real archives use), which line ending an archive uses, and the asctime
//! date written into synthesized envelopes.
//!
//! Recognising an envelope is deliberately structural rather than a strict
//! asctime parser: after `From ` and a sender token we want a month name, a
//! `hh:mm[:ss]` time and a four-digit year somewhere in the rest of the line.
//! That admits RFC 4155's `From sender Www Mmm dd hh:mm:ss yyyy [zone]`,
//! Google Takeout's `From 1545668983435175434@xxx Fri Sep 16 22:26:51 +0000
//! 2016` and Thunderbird's `From - Mon Jan  1 00:00:00 2001`, and rejects
//! prose such as `From here on we ...`.

use super::LineEnding;
use crate::header::date::civil_from_days;

/// Longest From_ line we look at (RFC 5322's 998 plus the line end): a
/// longer line is never an envelope. Bounding it keeps the streaming
/// reader's look-ahead bounded too.
pub(crate) const MAX_FROM_LINE: usize = 1024;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];

/// Whether `line` (starting `From `, without its line end; a trailing `\r`
/// is ignored) looks like an mbox envelope line. See the module docs for the
/// accepted forms.
pub fn is_from_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    if rest.len() + 5 > MAX_FROM_LINE {
        return false;
    }
    let mut tokens = rest
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty());
    if tokens.next().is_none() {
        return false; // no sender
    }
    let (mut month, mut time, mut year) = (false, false, false);
    for t in tokens {
        let t = t.strip_suffix(b",").unwrap_or(t);
        if !month && month_index(t).is_some() {
            month = true;
        } else if !time && is_time(t) {
            time = true;
        } else if !year && t.len() == 4 && t.iter().all(u8::is_ascii_digit) {
            year = true;
        }
    }
    month && time && year
}

fn month_index(t: &[u8]) -> Option<usize> {
    if t.len() != 3 {
        return None;
    }
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(t))
}

/// `h:mm`, `hh:mm`, `hh:mm:ss`.
fn is_time(t: &[u8]) -> bool {
    let mut parts = t.split(|&b| b == b':');
    let ok = |p: Option<&[u8]>, min: usize, max: usize| {
        p.is_some_and(|p| (min..=max).contains(&p.len()) && p.iter().all(u8::is_ascii_digit))
    };
    if !ok(parts.next(), 1, 2) || !ok(parts.next(), 2, 2) {
        return false;
    }
    match parts.next() {
        None => true,
        s => ok(s, 2, 2) && parts.next().is_none(),
    }
}

/// The line ending of an archive, judged by the end of its first line (the
/// From_ line, after any leading blank lines: they end the same way).
pub(crate) fn detect_eol(data: &[u8]) -> LineEnding {
    match memchr::memchr2(b'\n', b'\r', data) {
        Some(i) if data[i] == b'\r' => {
            if data.get(i + 1) == Some(&b'\n') {
                LineEnding::Crlf
            } else if i + 1 == data.len() {
                LineEnding::Lf // a lone trailing CR says nothing; read as LF
            } else {
                LineEnding::Cr
            }
        }
        _ => LineEnding::Lf,
    }
}

/// The byte that ends lines for the splitter: `\n` for LF and CRLF archives
/// (a line holding only `\r` counts as blank there), `\r` for CR-only ones.
pub(crate) fn newline_byte(eol: LineEnding) -> u8 {
    match eol {
        LineEnding::Cr => b'\r',
        LineEnding::Lf | LineEnding::Crlf => b'\n',
    }
}

/// `MAILER-DAEMON Www Mmm dd hh:mm:ss yyyy` for a message without an
/// envelope: the date from its `Date:` header converted to UTC, or the epoch
/// when there is none that parses.
pub(crate) fn synthesize_envelope(message: &[u8]) -> Vec<u8> {
    let secs = date_header(message)
        .and_then(parse_rfc2822_date)
        .unwrap_or(0);
    let mut out = b"MAILER-DAEMON ".to_vec();
    out.extend_from_slice(asctime(secs).as_bytes());
    out
}

/// The value of the first `Date:` header in the header block.
fn date_header(message: &[u8]) -> Option<&[u8]> {
    let mut rest = message;
    loop {
        let end = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        if line.is_empty() {
            return None; // end of the header block
        }
        if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:") {
            return Some(&line[5..]);
        }
        if end == rest.len() {
            return None;
        }
        let mut next = end + 1;
        if rest[end] == b'\r' && rest.get(next) == Some(&b'\n') {
            next += 1;
        }
        rest = &rest[next..];
    }
}

/// Seconds since the epoch (UTC) of an RFC 5322 date: the crate's one
/// date reader, `header::date`.
fn parse_rfc2822_date(v: &[u8]) -> Option<i64> {
    crate::header::date::parse_date(v).map(|d| d.timestamp)
}

/// `Www Mmm dd hh:mm:ss yyyy` (C asctime, day padded with a space).
pub(crate) fn asctime(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let tod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let wd = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        String::from_utf8_lossy(DAYS[wd]),
        String::from_utf8_lossy(MONTHS[(m - 1) as usize]),
        d,
        tod / 3600,
        tod % 3600 / 60,
        tod % 60,
        y
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes() {
        assert!(is_from_line(b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970"));
        assert!(is_from_line(b"From a@b Sat Jan  3 01:05:34 1996 +0000\r"));
        assert!(is_from_line(
            b"From 1545668983435175434@xxx Fri Sep 16 22:26:51 +0000 2016"
        ));
        assert!(is_from_line(b"From - Mon Jan  1 00:00:00 2001"));
        assert!(!is_from_line(b"From here on we meet at 10:30 in 2024"));
        assert!(!is_from_line(b"From "));
        assert!(!is_from_line(b"From a"));
    }

    #[test]
    fn dates() {
        assert_eq!(asctime(0), "Thu Jan  1 00:00:00 1970");
        let s = parse_rfc2822_date(b" Fri, 16 Sep 2016 23:26:51 +0100").unwrap();
        assert_eq!(asctime(s), "Fri Sep 16 22:26:51 2016");
        assert_eq!(
            synthesize_envelope(b"Subject: x\nDate: Sat, 29 Feb 2020 12:00:00 -0000\n\nbody\n"),
            b"MAILER-DAEMON Sat Feb 29 12:00:00 2020"
        );
    }
}
