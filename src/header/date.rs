//! RFC 5322 §3.3 dates, with the obsolete forms of §4.3 and what real mail
//! writes: 2-digit (00-49 -> 20xx, 50-99 -> 19xx) and 3-digit (+1900)
//! years, named zones (UT, GMT, UTC, Z, EST/EDT, CST/CDT, MST/MDT, PST/PDT;
//! unknown names and military letters read as +0000), missing seconds, a
//! missing weekday, comments anywhere ("+0000 (UTC)"), single-digit days,
//! any case, "16-Sep-2016", and asctime ("Fri Sep 16 22:26:51 2016").
//! A missing time reads as 00:00:00.
//!
//! A zone that is neither a numeric offset nor a known name reads as -0000,
//! "local offset unknown", as RFC 5322 §4.3 asks of unknown zones (the
//! stdlib `email` does the same). That includes "GMT+0100": no RFC defines
//! it, and readers disagree on its sign (POSIX "GMT+1" is one hour *west*),
//! so [`parse_date_zone`] reports it as [`Zone::Unknown`] and the message
//! parser records `unknown_time_zone`.

/// A point in time with the offset it was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since the Unix epoch, UTC.
    pub timestamp: i64,
    /// The zone offset the date was written in, in minutes east of UTC.
    pub offset_minutes: i32,
}

impl DateTime {
    /// "2016-09-16T22:26:51+00:00", in the date's own offset.
    pub fn to_iso8601(&self) -> String {
        let local = self.timestamp + self.offset_minutes as i64 * 60;
        let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let off = self.offset_minutes.unsigned_abs();
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{}{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            if self.offset_minutes < 0 { '-' } else { '+' },
            off / 60,
            off % 60
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`; floor division throughout, so dates before 1970
/// work too). The crate's one calendar, with [`civil_from_days`]: the mbox
/// envelope and the dates compose writes use it too.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day counted from 1970-01-01, the inverse
/// of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The months' abbreviations, January first.
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let k = MONTHS.iter().position(|n| word.starts_with(n))?;
    const FULL: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    (word.len() == 3 || FULL[k].starts_with(word) || word == "sept").then_some(k as u32 + 1)
}

fn zone(word: &str) -> Option<i32> {
    Some(match word {
        "ut" | "utc" | "gmt" | "z" | "uct" | "wet" => 0,
        "edt" => -4 * 60,
        "est" | "cdt" => -5 * 60,
        "cst" | "mdt" => -6 * 60,
        "mst" | "pdt" => -7 * 60,
        "pst" => -8 * 60,
        "bst" | "cet" | "met" => 60,
        "cest" | "mest" | "eet" => 120,
        "eest" => 180,
        "jst" | "kst" => 540,
        _ => return None,
    })
}

/// The weekdays' abbreviations.
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn is_weekday(word: &str) -> bool {
    word.len() >= 3 && WEEKDAYS.iter().any(|d| word.starts_with(d))
}

/// How the zone of a parsed date was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// A numeric offset or a known zone name.
    Known,
    /// No zone at all: read as +0000.
    Missing,
    /// A zone that is not understood: read as -0000 (RFC 5322 §4.3).
    Unknown,
}

/// Parses a date. `None` when there is no day, month and year, or a field
/// is out of range.
pub fn parse_date(value: &[u8]) -> Option<DateTime> {
    parse_date_zone(value).map(|(d, _)| d)
}

/// [`parse_date`], also saying how the zone was read.
///
/// Allocation-free: every message's Date header goes through here (the
/// parser's entities, convert's rows, `mbox.open` in Python), and a
/// `String` per token plus the token lists were eleven allocations a text
/// message, a third of a parse's (a counting allocator over 5,000 list
/// messages).
pub fn parse_date_zone(value: &[u8]) -> Option<(DateTime, Zone)> {
    canonical(value).or_else(|| parse_general(value))
}

/// The form nearly all mail writes, `[Fri, ]14 Jul 2017 03:37:22 +0000
/// [(UTC)]`, read in one pass: a sixth of a parse's instructions went to
/// [`parse_general`]'s tokens for it (3.1k a Date; all the dates of the
/// generated archives and 86% of the shared corpora's are in this form).
/// `None` for anything else, a value out of range included, which
/// [`parse_general`] then reads (or rejects) as before; where this returns
/// a date, it is the one [`parse_general`] returns (a test compares them).
fn canonical(v: &[u8]) -> Option<(DateTime, Zone)> {
    let mut c = Bytes(v, 0);
    c.blanks();
    if v.get(c.1 + 3) == Some(&b',') {
        let day = v.get(c.1..c.1 + 3)?;
        if !WEEKDAYS
            .iter()
            .any(|d| day.eq_ignore_ascii_case(d.as_bytes()))
        {
            return None;
        }
        c.1 += 4;
        c.blanks();
    }
    let d = match c.digits(2) {
        Some(d) => d,
        None => c.digits(1)?,
    };
    c.blank()?;
    let name = v.get(c.1..c.1 + 3)?;
    let m = MONTHS
        .iter()
        .position(|n| name.eq_ignore_ascii_case(n.as_bytes()))? as u32
        + 1;
    c.1 += 3;
    c.blank()?;
    let y = c.digits(4)? as i64;
    c.blank()?;
    let h = c.digits(2)?;
    c.byte(b':')?;
    let mi = c.digits(2)?;
    let s = if c.byte(b':').is_some() {
        c.digits(2)?
    } else {
        0
    };
    c.blank()?;
    let sign = match v.get(c.1)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    c.1 += 1;
    let z = c.digits(4)? as i32;
    let (zh, zm) = (z / 100, z % 100);
    c.blanks();
    if c.byte(b'(').is_some() {
        // One comment without nesting or quoted-pairs, then the end.
        let close = c.1
            + v[c.1..]
                .iter()
                .position(|&b| matches!(b, b'(' | b')' | b'\\'))?;
        if v[close] != b')' {
            return None;
        }
        c.1 = close + 1;
        c.blanks();
    }
    if c.1 != v.len() || h > 23 || mi > 59 || s > 60 || zh > 23 || zm > 59 {
        return None;
    }
    let at = date_time((y, m, d), (h, mi, s), sign * (zh * 60 + zm))?;
    Some((at, Zone::Known))
}

/// A position in a date value, for [`canonical`].
struct Bytes<'a>(&'a [u8], usize);

impl Bytes<'_> {
    /// Skips blanks (space, tab).
    fn blanks(&mut self) {
        while matches!(self.0.get(self.1), Some(b' ' | b'\t')) {
            self.1 += 1;
        }
    }

    /// At least one blank, skipped.
    fn blank(&mut self) -> Option<()> {
        let at = self.1;
        self.blanks();
        (self.1 > at).then_some(())
    }

    /// `b`, skipped.
    fn byte(&mut self, b: u8) -> Option<()> {
        (self.0.get(self.1) == Some(&b)).then(|| self.1 += 1)
    }

    /// Exactly `n` digits (no more follow), as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let run = self.0.get(self.1..self.1 + n)?;
        if !run.iter().all(u8::is_ascii_digit)
            || self.0.get(self.1 + n).is_some_and(u8::is_ascii_digit)
        {
            return None;
        }
        self.1 += n;
        Some(run.iter().fold(0, |a, &b| a * 10 + u32::from(b - b'0')))
    }
}

/// Any date [`parse_date_zone`] reads: tokens, each read for what it can be.
fn parse_general(value: &[u8]) -> Option<(DateTime, Zone)> {
    // Tokens: runs of [A-Za-z0-9:+-.]; blanks, commas and comments separate.
    const MAX_TOKENS: usize = 16;
    let mut toks: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
    let mut ntoks = 0;
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'(' => {
                let mut depth = 0usize;
                while i < value.len() {
                    match value[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b if is_token_byte(b) => {
                let start = i;
                while i < value.len() && is_token_byte(value[i]) {
                    i += 1;
                }
                if ntoks >= MAX_TOKENS {
                    return None;
                }
                toks[ntoks] = &value[start..i];
                ntoks += 1;
            }
            _ => i += 1,
        }
    }
    let mut f = DateFields::default();
    for &t in &toks[..ntoks] {
        // "16-Sep-2016": split on inner '-' when a letter is next to one.
        if t.len() > 1 && t[1..].contains(&b'-') && t.iter().any(|b| b.is_ascii_alphabetic()) {
            let (head, tail) = t.split_at(1);
            let mut parts = tail.split(|&b| b == b'-');
            let first = parts.next().unwrap_or(&[]);
            f.word(&t[..head.len() + first.len()])?;
            for p in parts.filter(|p| !p.is_empty()) {
                f.word(p)?;
            }
        } else {
            f.word(t)?;
        }
    }
    let DateFields {
        day,
        mon,
        year,
        time,
        off,
        unknown_zone,
    } = f;
    let zone = match off {
        None => Zone::Missing,
        Some(_) if unknown_zone => Zone::Unknown,
        Some(_) => Zone::Known,
    };
    let at = date_time(
        (year?, mon?, day?),
        time.unwrap_or((0, 0, 0)),
        off.unwrap_or(0),
    )?;
    Some((at, zone))
}

/// The instant of a date read by either reader, with the checks they
/// share: the day within its month, the year within 1-9999. The time's
/// and the offset's ranges are each reader's own.
fn date_time(
    (y, m, d): (i64, u32, u32),
    (h, mi, s): (u32, u32, u32),
    off: i32,
) -> Option<DateTime> {
    if d == 0 || d > days_in_month(y, m) || !(1..=9999).contains(&y) {
        return None;
    }
    let local = days_from_civil(y, m, d) * 86_400 + (h * 3600 + mi * 60 + s) as i64;
    Some(DateTime {
        timestamp: local - off as i64 * 60,
        offset_minutes: off,
    })
}

/// A byte of a date token: [A-Za-z0-9:+-.].
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'+' | b'-' | b'.')
}

/// What [`parse_date_zone`] has read so far, word by word.
#[derive(Default)]
struct DateFields {
    day: Option<u32>,
    mon: Option<u32>,
    year: Option<i64>,
    time: Option<(u32, u32, u32)>,
    off: Option<i32>,
    unknown_zone: bool,
}

impl DateFields {
    /// Reads one word (a token or a part of a dashed one, ASCII by
    /// construction); `None` when it makes the whole date invalid.
    fn word(&mut self, t: &[u8]) -> Option<()> {
        // Lowercased on the stack: tokens longer than this are only ever
        // a long fraction of seconds or garbage, and take the heap.
        let mut buf = [0u8; 32];
        let owned;
        let s: &str = if t.len() <= buf.len() {
            let b = &mut buf[..t.len()];
            b.copy_from_slice(t);
            b.make_ascii_lowercase();
            std::str::from_utf8(b).ok()?
        } else {
            owned = std::str::from_utf8(t).ok()?.to_ascii_lowercase();
            &owned
        };
        let s = s.trim_end_matches('.');
        if s.is_empty() {
            return Some(());
        }
        let first = s.as_bytes()[0];
        if first == b'+' || first == b'-' {
            // The digits after the sign, colons skipped: an offset when
            // there are exactly 4 (hhmm) or 2 (hh) and nothing else.
            let (mut n, mut len, mut all_digits) = (0i32, 0usize, true);
            for b in s[1..].bytes().filter(|&b| b != b':') {
                len += 1;
                if !b.is_ascii_digit() {
                    all_digits = false;
                } else if len <= 4 {
                    n = n * 10 + i32::from(b - b'0');
                }
            }
            if self.off.is_none() && (len == 4 || len == 2) && all_digits {
                let (h, m) = if len == 4 { (n / 100, n % 100) } else { (n, 0) };
                if h > 23 || m > 59 {
                    return None;
                }
                let o = h * 60 + m;
                self.off = Some(if first == b'-' { -o } else { o });
            }
        } else if s.contains(':') {
            if self.time.is_some() {
                return Some(());
            }
            let mut it = s.split(':');
            let h: u32 = it.next()?.parse().ok()?;
            let m: u32 = it.next()?.parse().ok()?;
            let sec: u32 = match it.next() {
                Some(x) => x.split('.').next()?.parse().ok()?,
                None => 0,
            };
            if h > 23 || m > 59 || sec > 60 {
                return None;
            }
            self.time = Some((h, m, sec));
        } else if first.is_ascii_digit() {
            if !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 4 {
                return Some(());
            }
            let n: i64 = s.parse().ok()?;
            if s.len() <= 2
                && self.day.is_none()
                && self.mon.is_none_or(|_| self.year.is_none())
                && n >= 1
            {
                self.day = Some(n as u32);
            } else if self.year.is_none() {
                self.year = Some(match s.len() {
                    1 | 2 if n < 50 => 2000 + n,
                    1 | 2 => 1900 + n,
                    3 => 1900 + n,
                    _ => n,
                });
            } else if self.day.is_none() && s.len() <= 2 {
                self.day = Some(n as u32);
            }
        } else if let Some(m) = month(s) {
            self.mon.get_or_insert(m);
        } else if is_weekday(s) || s == "am" {
            return Some(());
        } else if s == "pm" {
            if let Some((h, _, _)) = self.time.as_mut() {
                if *h < 12 {
                    *h += 12;
                }
            }
        } else if self.off.is_none() {
            let z = zone(s);
            self.unknown_zone = z.is_none();
            self.off = Some(z.unwrap_or(0));
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_agrees_with_the_general_reader() {
        // Dates built from parts at and past every limit of the one-pass
        // reader; wherever it reads one, the general reader must read the
        // same, and it must read most of the well-formed ones.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        // Each part: one of the well-formed choices three times in four,
        // else one of the others.
        let parts: [(&[&str], &[&str]); 10] = [
            (&["", " ", "\t "], &["\r\n "]),
            (
                &["", "Fri, ", "sun,", "MON,\t"],
                &["Fxi, ", "Fri ,", "Friday, ", "Mon "],
            ),
            (
                &["1", "07", "14", "29", "30", "31"],
                &["0", "00", "32", "123", "1a"],
            ),
            (&[" ", "  ", "\t"], &["", "-", ","]),
            (
                &["Jan", "feb", "FEB", "Sep", "dec", "apr"],
                &["Sept", "Foo", "Ju", "Februar"],
            ),
            (&[" ", " \t"], &["", "-"]),
            (
                &["2017", "1999", "2000", "2024", "1900", "9999"],
                &["0000", "98", "100", "20171"],
            ),
            (
                &[" 03:37:22 ", " 23:59:60 ", " 12:00\t", " 00:00:00 "],
                &[
                    " 24:00:00 ",
                    " 12:60:00 ",
                    " 9:05:00 ",
                    " 00:00:61 ",
                    " 12:34:56.7 ",
                    " 12:3 ",
                    "",
                ],
            ),
            (
                &["+0000", "-0000", "-0500", "+2359", "+1130"],
                &["+2400", "+0060", "+05:30", "+005", "GMT", "+00000", ""],
            ),
            (
                &["", " (UTC)", "(PDT) ", "  "],
                &[" (a (b))", " (x\\)y)", " junk", "\r\n", " (", ")"],
            ),
        ];
        let (mut read, mut total) = (0, 0);
        for _ in 0..300_000 {
            let mut v = String::new();
            for (good, odd) in parts {
                v += if next(4) < 3 {
                    good[next(good.len())]
                } else {
                    odd[next(odd.len())]
                };
            }
            total += 1;
            if let Some(got) = canonical(v.as_bytes()) {
                read += 1;
                assert_eq!(Some(got), parse_general(v.as_bytes()), "{v:?}");
            }
        }
        // About 1 in 20 is well formed in every part (0.75^10, less the
        // days past the end of their month).
        assert!(
            read * 40 > total,
            "the one-pass reader read {read} of {total}"
        );
        for v in [
            "Fri, 14 Jul 2017 03:37:22 +0000",
            " Thu, 29 Feb 2024 23:59:60 -1130 (EST)",
            "5 Jan 1999 00:00 +0100",
            "sat,1 DEC 9999 12:00:00 -0000  ",
        ] {
            assert!(canonical(v.as_bytes()).is_some(), "{v:?}");
            assert_eq!(
                canonical(v.as_bytes()),
                parse_general(v.as_bytes()),
                "{v:?}"
            );
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 10_957, 17_060, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
