//! The quoted-printable of Python's `email.quoprimime`, byte for byte:
//! `body_encode`, `decode`, `header_encode` and `header_decode`.
//!
//! The stdlib works on `str` whose characters are bytes (latin-1); these
//! functions take and return those bytes, and the Python layer converts
//! (falling back to the stdlib for text outside latin-1, whose line breaks
//! `str.splitlines` would see differently). Every quirk is kept, since
//! Python code compares the output with the stdlib's: `body_encode` cuts
//! lines by its own arithmetic (an escape is never split; a blank ending a
//! line is escaped, or moved after a soft break when there is no room), and
//! a final line break of the input ends the output; `decode` strips
//! trailing whitespace per line, drops the last character when the input
//! does not end with CR or LF and the output ends with `eol`, and reads
//! `=XX` only where both digits are on the line; `header_decode` reads `_`
//! as a space and every `=XX` left to right. The hex escape is the parent
//! module's ([`escape`]), with its digits ([`HEX_VALUE`]).

use memchr::memchr2;

use super::{escape, HEX_VALUE};

/// `_QUOPRI_BODY_ENCODE_MAP`'s bytes that stay as they are: printable ASCII
/// but `=`, space, tab, CR and LF.
const BODY_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b' ';
    while b <= b'~' {
        t[b as usize] = true;
        b += 1;
    }
    t[b'=' as usize] = false;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// `_QUOPRI_HEADER_MAP`'s bytes that stay as they are (the space becomes
/// `_`).
const HEADER_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'!' | b'*' | b'+' | b'/');
        b += 1;
    }
    t
};

/// The pieces of an output joined by `eol`, as `eol.join(list)` does.
struct Joined<'a> {
    out: &'a mut Vec<u8>,
    eol: &'a [u8],
    first: bool,
}

impl Joined<'_> {
    fn append(&mut self, parts: &[&[u8]]) {
        if !self.first {
            self.out.extend_from_slice(self.eol);
        }
        self.first = false;
        for p in parts {
            self.out.extend_from_slice(p);
        }
    }
}

/// `email.quoprimime.body_encode(body, maxlinelen, eol)` of a non-empty
/// latin-1 `body`, appended to `out`.
///
/// # Panics
/// When `maxlinelen` is below 4 (the stdlib's `ValueError`, checked by the
/// caller).
pub fn quoprimime_body_encode(body: &[u8], maxlinelen: usize, eol: &[u8], out: &mut Vec<u8>) {
    assert!(maxlinelen >= 4, "maxlinelen must be at least 4");
    // body.translate(_QUOPRI_BODY_ENCODE_MAP), a run of safe bytes at a time.
    let mut t = Vec::with_capacity(body.len() + body.len() / 4 + 8);
    let mut i = 0;
    while i < body.len() {
        let run = body[i..].iter().position(|&b| !BODY_SAFE[b as usize]);
        let end = run.map_or(body.len(), |k| i + k);
        t.extend_from_slice(&body[i..end]);
        if end < body.len() {
            t.extend_from_slice(&escape(body[end]));
        }
        i = end + 1;
    }
    let soft: Vec<u8> = [b"=".as_slice(), eol].concat();
    let mut pieces = Joined {
        out,
        eol,
        first: true,
    };
    // str.splitlines() of the translated text: only CR, LF and CRLF are
    // left to break lines (every other break character was escaped).
    let mut i = 0;
    while i < t.len() {
        let e = memchr2(b'\r', b'\n', &t[i..]).map_or(t.len(), |k| i + k);
        encode_line(&t[i..e], maxlinelen, &soft, &mut pieces);
        i = if e + 1 < t.len() && t[e] == b'\r' && t[e + 1] == b'\n' {
            e + 2
        } else {
            e + 1
        };
    }
    if matches!(body.last(), Some(b'\r' | b'\n')) {
        pieces.append(&[]);
    }
}

/// One line of `body_encode`'s loop (indices as the stdlib computes them).
fn encode_line(line: &[u8], maxlinelen: usize, soft: &[u8], pieces: &mut Joined<'_>) {
    let n = line.len() as isize;
    let maxlinelen = maxlinelen as isize;
    let mut start: isize = 0;
    let laststart = n - 1 - maxlinelen;
    let at = |k: isize| line[k as usize];
    let sl = |a: isize, b: isize| &line[a as usize..b as usize];
    while start <= laststart {
        let stop = start + maxlinelen - 1;
        if at(stop - 2) == b'=' {
            pieces.append(&[sl(start, stop - 1)]);
            start = stop - 2;
        } else if at(stop - 1) == b'=' {
            pieces.append(&[sl(start, stop)]);
            start = stop - 1;
        } else {
            pieces.append(&[sl(start, stop), b"="]);
            start = stop;
        }
    }
    match line.last() {
        Some(&last) if last == b' ' || last == b'\t' => {
            let room = start - laststart;
            let rest = sl(start, n - 1);
            let q = escape(last);
            if room >= 3 {
                pieces.append(&[rest, &q]);
            } else if room == 2 {
                pieces.append(&[rest, &[last], soft]);
            } else {
                pieces.append(&[rest, soft, &q]);
            }
        }
        _ => pieces.append(&[sl(start, n)]),
    }
}

/// The characters `str.splitlines()` breaks ASCII text at.
fn is_ascii_line_break(b: u8) -> bool {
    matches!(b, b'\n' | b'\r' | 0x0B | 0x0C | 0x1C..=0x1E)
}

/// The characters `str.rstrip()` removes from ASCII text.
fn is_ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C | 0x1C..=0x1F)
}

/// `email.quoprimime.decode(encoded, eol)` of a non-empty ASCII `encoded`,
/// appended to `out` (latin-1 bytes).
pub fn quoprimime_decode(encoded: &[u8], eol: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let mut i = 0;
    while i < encoded.len() {
        let e = encoded[i..]
            .iter()
            .position(|&b| is_ascii_line_break(b))
            .map_or(encoded.len(), |k| i + k);
        let mut line = &encoded[i..e];
        i = if e + 1 < encoded.len() && encoded[e] == b'\r' && encoded[e + 1] == b'\n' {
            e + 2
        } else {
            e + 1
        };
        while let Some((&last, rest)) = line.split_last() {
            if !is_ascii_space(last) {
                break;
            }
            line = rest;
        }
        if line.is_empty() {
            out.extend_from_slice(eol);
            continue;
        }
        let n = line.len();
        let mut j = 0;
        while j < n {
            let c = line[j];
            if c != b'=' {
                out.push(c);
                j += 1;
            } else if j + 1 == n {
                // A soft line break.
                j += 1;
                continue;
            } else if j + 2 < n
                && HEX_VALUE[line[j + 1] as usize] != 0xFF
                && HEX_VALUE[line[j + 2] as usize] != 0xFF
            {
                out.push(HEX_VALUE[line[j + 1] as usize] << 4 | HEX_VALUE[line[j + 2] as usize]);
                j += 3;
            } else {
                out.push(c);
                j += 1;
            }
            if j == n {
                out.extend_from_slice(eol);
            }
        }
    }
    // "Special case if original string did not end with eol": one
    // character goes, whatever the length of eol.
    if !matches!(encoded.last(), Some(b'\r' | b'\n'))
        && out[start..].ends_with(eol)
        && out.len() > start
    {
        out.pop();
    }
}

/// `email.quoprimime.header_encode`'s encoded text (without the
/// `=?charset?q?...?=` around it), appended to `out`.
pub fn quoprimime_header_encode(src: &[u8], out: &mut Vec<u8>) {
    out.reserve(src.len() + src.len() / 2);
    for &b in src {
        if HEADER_SAFE[b as usize] {
            out.push(b);
        } else if b == b' ' {
            out.push(b'_');
        } else {
            out.extend_from_slice(&escape(b));
        }
    }
}

/// `email.quoprimime.header_decode(s)` of ASCII `s`, appended to `out`
/// (latin-1 bytes): `_` is a space, `=XX` (either case) a byte.
pub fn quoprimime_header_decode(s: &[u8], out: &mut Vec<u8>) {
    out.reserve(s.len());
    let n = s.len();
    let mut i = 0;
    while i < n {
        let c = s[i];
        if c == b'='
            && i + 2 < n
            && HEX_VALUE[s[i + 1] as usize] != 0xFF
            && HEX_VALUE[s[i + 2] as usize] != 0xFF
        {
            out.push(HEX_VALUE[s[i + 1] as usize] << 4 | HEX_VALUE[s[i + 2] as usize]);
            i += 3;
        } else {
            out.push(if c == b'_' { b' ' } else { c });
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &[u8], maxlinelen: usize, eol: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        quoprimime_body_encode(s, maxlinelen, eol, &mut out);
        out
    }

    fn decode(s: &[u8], eol: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        quoprimime_decode(s, eol, &mut out);
        out
    }

    #[test]
    fn body_encode_matches_cpython_corners() {
        // Expected values from CPython 3.13's email.quoprimime.
        assert_eq!(body(b"hello\n", 76, b"\n"), b"hello\n");
        assert_eq!(body(b"a \nb\t", 76, b"\n"), b"a=20\nb=09");
        assert_eq!(body(b"caf\xe9 = \x0c", 76, b"\r\n"), b"caf=E9 =3D =0C");
        assert_eq!(body(b".\r\nx\ry", 76, b"\n"), b".\nx\ny");
        assert_eq!(body(b"xxxxxxx", 4, b"\n"), b"xxx=\nxxxx");
        assert_eq!(body(b"\xe9\xe9\xe9", 4, b"\n"), b"=E9=\n=E9=\n=E9");
        assert_eq!(body(b"xx \n", 4, b"\n"), b"xx =\n\n");
        assert_eq!(body(b"xxx \n", 4, b"\n"), b"xxx=\n=20\n");
    }

    #[test]
    fn decode_matches_cpython_corners() {
        assert_eq!(decode(b"a=41b  \r\nc=\nd", b"\n"), b"aAb\ncd");
        assert_eq!(decode(b"x=4", b"\n"), b"x=4");
        assert_eq!(decode(b"x=41", b"\n"), b"xA");
        assert_eq!(decode(b"x\n\n", b"\r\n"), b"x\r\n\r\n");
        assert_eq!(decode(b"x", b"\r\n"), b"x\r");
        assert_eq!(decode(b"x\x0by", b"\n"), b"x\ny");
    }

    #[test]
    fn header_corners() {
        let mut out = Vec::new();
        quoprimime_header_encode(b"a b_c=\xe9", &mut out);
        assert_eq!(out, b"a_b=5Fc=3D=E9");
        out.clear();
        quoprimime_header_decode(b"a_b=5f==41=4", &mut out);
        assert_eq!(out, b"a b_=A=4");
    }
}
