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

use super::{escape, Backend, Encoder, HEX_VALUE};

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
/// latin-1 `body`, appended to `out`, on the process default [`Backend`].
///
/// # Panics
/// When `maxlinelen` is below 4 (the stdlib's `ValueError`, checked by the
/// caller).
pub fn quoprimime_body_encode(body: &[u8], maxlinelen: usize, eol: &[u8], out: &mut Vec<u8>) {
    quoprimime_body_encode_on(Backend::default_for_process(), body, maxlinelen, eol, out);
}

/// [`quoprimime_body_encode`] on `backend`; every backend gives the same
/// bytes.
///
/// The stdlib translates the body with `_QUOPRI_BODY_ENCODE_MAP`, splits the
/// result into lines and cuts each. Only CR and LF are left to break lines
/// after the translation (every other character `str.splitlines` breaks at
/// is escaped), and no escape holds one, so the lines of the translation
/// are the translations of the body's lines, split at CR, LF and CRLF.
/// Inside a line, the map escapes what the parent module's encoder escapes
/// (controls but tab, DEL and above, `=`), so each line is translated by
/// [`Encoder::run`] (SWAR, or the vector kernel) with no column limit, into
/// a scratch buffer that [`encode_line`] cuts.
///
/// # Panics
/// When `maxlinelen` is below 4, or this CPU lacks `backend`
/// ([`Backend::is_available`]).
pub fn quoprimime_body_encode_on(
    backend: Backend,
    body: &[u8],
    maxlinelen: usize,
    eol: &[u8],
    out: &mut Vec<u8>,
) {
    assert!(maxlinelen >= 4, "maxlinelen must be at least 4");
    let simd = backend
        .kernel()
        .unwrap_or_else(|()| panic!("this CPU cannot run the {backend} QP backend"));
    out.reserve(body.len() + body.len() / 4 + 8);
    let mut scratch = Vec::new();
    // No soft break ever: a column limit no line reaches.
    let mut translate = Encoder::new(&mut scratch, usize::MAX / 8, false, simd);
    let soft: Vec<u8> = [b"=".as_slice(), eol].concat();
    let mut pieces = Joined {
        out,
        eol,
        first: true,
    };
    let mut i = 0;
    while i < body.len() {
        let e = memchr2(b'\r', b'\n', &body[i..]).map_or(body.len(), |k| i + k);
        translate.o = 0;
        translate.col = 0;
        translate.run(&body[i..e]);
        encode_line(
            &translate.out[..translate.o],
            maxlinelen,
            &soft,
            &mut pieces,
        );
        i = if e + 1 < body.len() && body[e] == b'\r' && body[e + 1] == b'\n' {
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
    // A limit past the line's length + 4 acts as that (no cut, and the
    // trailing-space room stays >= 3): clamped, a limit of 2**63 from
    // Python cannot overflow the index arithmetic below.
    let maxlinelen = maxlinelen.min(line.len() + 4) as isize;
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

    /// The encoding of `s`, the same on every backend (checked here).
    fn body(s: &[u8], maxlinelen: usize, eol: &[u8]) -> Vec<u8> {
        let mut want = Vec::new();
        quoprimime_body_encode_on(Backend::Scalar, s, maxlinelen, eol, &mut want);
        for b in Backend::available() {
            let mut got = Vec::new();
            quoprimime_body_encode_on(b, s, maxlinelen, eol, &mut got);
            assert_eq!(
                got, want,
                "backend {b}, maxlinelen {maxlinelen}, input {s:?}"
            );
        }
        want
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
        // Lines long enough for the vector kernel, with escapes everywhere.
        let long: Vec<u8> = (0..3000u32).map(|i| (i * 37 % 256) as u8).collect();
        for w in [4, 5, 76, 200] {
            body(&long, w, b"\r\n");
        }
        // Limits past any line (Python passes 2**63 and up as usize):
        // no cut, trailing blanks escaped, no index arithmetic overflow.
        let wide = body(&long, 1 << 20, b"\n");
        for w in [1 << 32, 1 << 63, usize::MAX] {
            assert_eq!(body(&long, w, b"\n"), wide);
            assert_eq!(body(b"xx \nyy\t", w, b"\n"), b"xx=20\nyy=09");
        }
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
