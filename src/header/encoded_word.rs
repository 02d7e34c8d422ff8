//! RFC 2047 encoded-words: `=?charset?Q|B?text?=`.
//!
//! [`find`] recognises one word; [`decode_mapped`] (behind
//! [`super::decode_text`]) decodes a whole unfolded value. Like Python's
//! `email` package (policy.default) we are lenient where real mail needs it:
//! words glued to other text ("foo=?utf-8?q?bar?=") and blanks inside the
//! encoded text are accepted, B text may lack its padding, and the charset
//! may carry an RFC 2231 language ("us-ascii*en"). Adjacent words separated
//! only by blanks are joined without those blanks, and their decoded bytes
//! are concatenated before charset decoding when the charsets agree, so a
//! multi-byte character split across two words still decodes.
//!
//! Scanning is linear: the search for the closing "?=" is memoised, so a
//! value full of unterminated "=?" openers is not rescanned for each one.

use std::ops::Range;

use super::OffsetMap;
use crate::base64::{DecodeMode, STANDARD_NO_PAD};
use crate::charset;
use crate::defect::{Defect, DefectCode};

/// The transfer encoding of a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// "Q": like quoted-printable, "_" is a space.
    Q,
    /// "B": Base64.
    B,
}

/// A syntactically recognised encoded-word inside some text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The whole word, "=?" through "?=".
    pub range: Range<usize>,
    /// The charset label, language suffix included.
    pub charset: Range<usize>,
    /// Q or B.
    pub encoding: Encoding,
    /// The encoded text.
    pub text: Range<usize>,
}

/// Memoised position of the next "?=" (keeps scanning linear).
#[derive(Clone, Copy, Debug, Default)]
pub struct Finder {
    from: usize,
    found: Option<Option<usize>>,
}

impl Finder {
    fn close(&mut self, s: &[u8], from: usize) -> Option<usize> {
        if let Some(found) = self.found {
            if from >= self.from {
                match found {
                    None => return None,
                    Some(p) if p >= from => return Some(p),
                    _ => {}
                }
            }
        }
        let r = memchr::memmem::find(&s[from.min(s.len())..], b"?=").map(|k| from + k);
        *self = Finder {
            from,
            found: Some(r),
        };
        r
    }
}

/// Recognises an encoded-word starting at `p` (where `s[p..]` starts with
/// "=?"). Blanks inside the text are tolerated; a '?' inside it is not.
pub fn find(s: &[u8], p: usize, finder: &mut Finder) -> Option<Word> {
    if !s[p..].starts_with(b"=?") {
        return None;
    }
    let cs = p + 2;
    let q = cs + memchr::memchr(b'?', &s[cs..])?;
    let label = &s[cs..q];
    if label.is_empty() || label.iter().any(|&b| b <= b' ' || b >= 0x7f) {
        return None;
    }
    let encoding = match s.get(q + 1)? {
        b'q' | b'Q' => Encoding::Q,
        b'b' | b'B' => Encoding::B,
        _ => return None,
    };
    if s.get(q + 2) != Some(&b'?') {
        return None;
    }
    let t = q + 3;
    let close = finder.close(s, t)?;
    if memchr::memchr(b'?', &s[t..close]).is_some() {
        return None;
    }
    Some(Word {
        range: p..close + 2,
        charset: cs..q,
        encoding,
        text: t..close,
    })
}

/// Decodes the text of a word into bytes. `None` when it cannot be decoded
/// (B text with one character left over).
pub fn decode_payload(encoding: Encoding, text: &[u8]) -> Option<Vec<u8>> {
    match encoding {
        Encoding::B => STANDARD_NO_PAD
            .decode_to_vec(text, DecodeMode::Lenient)
            .ok(),
        Encoding::Q => Some(decode_q(text)),
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Q decoding: "_" is a space, "=XX" a byte (either case); anything else,
/// including a stray "=", is kept as written.
pub fn decode_q(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'_' => out.push(b' '),
            b'=' => {
                if let (Some(h), Some(l)) = (
                    text.get(i + 1).and_then(|&b| hex(b)),
                    text.get(i + 2).and_then(|&b| hex(b)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                out.push(b'=');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The charset label without its RFC 2231 "*language" suffix.
fn label_of(s: &[u8]) -> &str {
    let s = std::str::from_utf8(s).unwrap_or("");
    s.split('*').next().unwrap_or("")
}

/// Decoded bytes of adjacent words sharing a charset, waiting to be decoded.
struct Pending<'a> {
    label: &'a str,
    bytes: Vec<u8>,
    at: u64,
}

fn flush(p: &mut Option<Pending<'_>>, out: &mut String, defects: &mut Vec<Defect>) {
    if let Some(p) = p.take() {
        let d = charset::decode_header_text(&p.bytes, Some(p.label));
        if !d.known_charset {
            defects.push(Defect::new(DefectCode::UnknownCharset, p.at));
        } else if d.had_errors {
            defects.push(Defect::new(DefectCode::InvalidCharsetData, p.at));
        }
        out.push_str(&d.text);
    }
}

/// Decodes unfolded text `s`; `map` turns positions in `s` back into
/// positions in the folded original (which starts at `base`).
pub(crate) fn decode_mapped(
    s: &[u8],
    base: u64,
    map: &OffsetMap,
    defects: &mut Vec<Defect>,
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut finder = Finder::default();
    let mut pending: Option<Pending<'_>> = None;
    let mut lit = 0; // start of the literal text not yet written
    let mut last_word_end: Option<usize> = None;
    let mut i = 0;
    while let Some(k) = memchr::memmem::find(&s[i..], b"=?") {
        let p = i + k;
        let Some(w) = find(s, p, &mut finder) else {
            i = p + 1;
            continue;
        };
        let at = base + map.orig(p);
        let text = &s[w.text.clone()];
        let Some(bytes) = decode_payload(w.encoding, text) else {
            defects.push(Defect::new(DefectCode::BadEncodedWord, at));
            i = w.range.end;
            continue;
        };
        if w.encoding == Encoding::B
            && STANDARD_NO_PAD
                .decode_to_vec(text, DecodeMode::Mime)
                .is_err()
        {
            // Decoded leniently (stray bytes skipped), as readers do, but flagged.
            defects.push(Defect::new(DefectCode::BadEncodedWord, at));
        }
        let label = label_of(&s[w.charset.clone()]);
        let gap = &s[lit..p];
        let joined = last_word_end == Some(lit) && gap.iter().all(|&b| b == b' ' || b == b'\t');
        match pending.as_mut() {
            Some(pd) if joined && pd.label.eq_ignore_ascii_case(label) => {
                pd.bytes.extend_from_slice(&bytes)
            }
            _ => {
                flush(&mut pending, &mut out, defects);
                if !joined {
                    out.push_str(&charset::decode(gap, None).text);
                }
                pending = Some(Pending { label, bytes, at });
            }
        }
        lit = w.range.end;
        last_word_end = Some(lit);
        i = lit;
    }
    flush(&mut pending, &mut out, defects);
    out.push_str(&charset::decode(&s[lit..], None).text);
    out
}

/// Decodes encoded-words in a piece of already unfolded text (a display
/// name, a parameter value) whose defects are reported at `at`.
pub(crate) fn decode_words(s: &[u8], at: u64, defects: &mut Vec<Defect>) -> String {
    let mut local = Vec::new();
    let text = decode_mapped(s, 0, &OffsetMap::default(), &mut local);
    defects.extend(
        local
            .into_iter()
            .map(|d| Defect::new(d.code, at + d.offset)),
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> String {
        let mut d = Vec::new();
        super::super::decode_text(s.as_bytes(), 0, &mut d)
    }

    #[test]
    fn q_and_b() {
        assert_eq!(
            decode_q(b"a_b=3D=3d=zz="),
            b"a b==".iter().copied().chain(*b"=zz=").collect::<Vec<_>>()
        );
        assert_eq!(dec("=?utf-8?b?w6k=?="), "é");
        assert_eq!(dec("=?utf-8?B?w6k?="), "é");
        assert_eq!(dec("=?UTF-8?Q?=C3=A9?="), "é");
    }

    #[test]
    fn a_leading_feff_is_text_in_a_header() {
        // CPython: str(message['subject']) == '\ufeffa'; a BOM is a body's
        // affair, not an encoded word's.
        assert_eq!(dec("=?utf-8?B?77u/YQ==?="), "\u{feff}a");
    }

    #[test]
    fn finder_is_memoised() {
        let s = "=?a?q?".repeat(10_000);
        assert_eq!(dec(&s), s);
    }
}
