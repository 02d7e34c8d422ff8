//! Charset decoding of mail text.
//!
//! Mail names its charsets with labels that are a superset of the WHATWG
//! Encoding Standard's: [`encoding_rs`] knows the WHATWG labels, and
//! [`lookup`] adds the aliases mail clients really write ("utf8", "latin-1",
//! "cp936", "x-mac-roman", RFC 2231 language suffixes such as
//! "us-ascii*en"). UTF-7, which encoding_rs does not implement, is decoded
//! here by a small decoder.
//!
//! The documented fallback, used for a missing or unknown label: the bytes
//! are read as UTF-8 when they are valid UTF-8, else as windows-1252 (which
//! maps every byte, so nothing is ever lost).

use std::borrow::Cow;

use encoding_rs::Encoding;

/// Text decoded from some charset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// The text (borrowed when the input already was valid UTF-8 text).
    pub text: Cow<'a, str>,
    /// False when a label was given but is not known (the fallback was used).
    /// True for `None`, which asks for the fallback.
    pub known_charset: bool,
    /// Bytes invalid in their charset were replaced by U+FFFD.
    pub had_errors: bool,
}

/// Finds the encoding for a charset label: WHATWG labels, case-insensitive,
/// plus the usual mail aliases. `None` for unknown labels and for UTF-7
/// (which [`decode`] handles itself).
pub fn lookup(label: &str) -> Option<&'static Encoding> {
    let norm = normalize(label);
    if norm.is_empty() {
        return None;
    }
    if let Some(e) = Encoding::for_label_no_replacement(norm.as_bytes()) {
        return Some(e);
    }
    let alias: &[u8] = match norm.as_str() {
        "utf8" | "utf-8" | "unicode-1-1-utf-8" | "x-utf-8" => b"utf-8",
        "latin-1" | "latin_1" | "l1" | "iso8859" | "iso-8859" | "8859-1" | "cp819" => {
            b"windows-1252"
        }
        "ascii" | "us-ascii" | "ansi_x3.4-1968" | "iso646-us" | "us" | "cp367" | "646"
        | "x-ascii" | "7bit" | "8bit" => b"windows-1252",
        "cp936" | "ms936" | "windows-936" | "euc-cn" | "gb2312-80" | "x-euc-cn" | "hz-gb-2312" => {
            b"gbk"
        }
        "cp949" | "ms949" | "uhc" | "ks_c_5601" | "ks_c_5601-1989" | "ksc5601" | "ksc_5601"
        | "x-windows-949" | "euc_kr" | "windows-949" => b"euc-kr",
        "cp932" | "ms932" | "windows-932" | "sjis" | "shift-jis" | "x-sjis-cp932" | "mskanji" => {
            b"shift_jis"
        }
        "cp950" | "ms950" | "windows-950" | "big5hkscs" => b"big5",
        "eucjp" | "euc_jp" | "x-euc-jp" => b"euc-jp",
        "iso2022jp" | "iso-2022-jp-1" | "iso-2022-jp-2" | "csiso2022jp" => b"iso-2022-jp",
        "cp874" | "tis620" | "iso-8859-11" | "iso8859-11" => b"windows-874",
        "koi8r" | "koi8_r" => b"koi8-r",
        "koi8u" | "koi8_u" => b"koi8-u",
        "x-mac-roman" | "mac" | "macroman" | "mac-roman" | "macintosh" => b"macintosh",
        "x-mac-cyrillic" | "maccyrillic" | "mac-cyrillic" | "x-mac-ukrainian" => b"x-mac-cyrillic",
        "utf16" | "ucs-2" | "ucs2" => b"utf-16le",
        "utf-16be" | "utf16be" | "unicodefffe" => b"utf-16be",
        "cp1250" | "cp1251" | "cp1252" | "cp1253" | "cp1254" | "cp1255" | "cp1256" | "cp1257"
        | "cp1258" => {
            let mut s = b"windows-125".to_vec();
            s.push(*norm.as_bytes().last().unwrap_or(&b'2'));
            return Encoding::for_label_no_replacement(&s);
        }
        "cp866" | "ibm866" | "866" => b"ibm866",
        "gb18030-2000" | "gb18030-2005" => b"gb18030",
        _ => {
            // "iso8859-15", "iso_8859-15", "iso 8859-15", "iso-8859-15:1998".
            let rest = norm
                .strip_prefix("iso")
                .map(|r| r.trim_start_matches(['-', '_', ' ']))
                .and_then(|r| r.strip_prefix("8859"))
                .map(|r| r.trim_start_matches(['-', '_', ' ']));
            if let Some(rest) = rest {
                let num: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                if !num.is_empty() {
                    // WHATWG reads latin-1 and latin-5 as their windows supersets.
                    let full = format!("iso-8859-{num}");
                    return Encoding::for_label_no_replacement(full.as_bytes());
                }
            }
            // "windows1252", "win-1251".
            if let Some(r) = norm
                .strip_prefix("windows")
                .or_else(|| norm.strip_prefix("win"))
            {
                let r = r.trim_start_matches(['-', '_']);
                if r.len() == 4 && r.bytes().all(|b| b.is_ascii_digit()) {
                    return Encoding::for_label_no_replacement(format!("windows-{r}").as_bytes());
                }
            }
            return None;
        }
    };
    Encoding::for_label_no_replacement(alias)
}

/// Lowercases, trims blanks and quotes, drops an RFC 2231 "*language" suffix.
fn normalize(label: &str) -> String {
    let l = label.trim_matches(|c: char| c.is_ascii_whitespace() || c == '"' || c == '\'');
    let l = l.split('*').next().unwrap_or("");
    l.to_ascii_lowercase()
}

fn is_utf7(label: &str) -> bool {
    matches!(
        normalize(label).as_str(),
        "utf-7" | "utf7" | "unicode-1-1-utf-7" | "x-unicode-2-0-utf-7" | "csunicode11utf7"
    )
}

/// Decodes `bytes` in the charset `label`. `None` or an unknown label: UTF-8
/// if valid, else windows-1252 (`known_charset` is false for unknown labels).
/// "us-ascii" is read as windows-1252, its superset, so 8-bit bytes in
/// mislabelled text stay readable.
pub fn decode<'a>(bytes: &'a [u8], label: Option<&str>) -> Decoded<'a> {
    decode_bom(bytes, label, true)
}

/// [`decode`] for header text (RFC 2047 encoded words, RFC 2231 values): a
/// leading U+FEFF is text there, not a byte-order mark, and is kept, as
/// CPython's `email` keeps it (UTF-16 still reads its BOM for the byte
/// order).
pub fn decode_header_text<'a>(bytes: &'a [u8], label: Option<&str>) -> Decoded<'a> {
    decode_bom(bytes, label, false)
}

fn decode_bom<'a>(bytes: &'a [u8], label: Option<&str>, remove_bom: bool) -> Decoded<'a> {
    let Some(label) = label else {
        return Decoded {
            text: fallback(bytes),
            known_charset: true,
            had_errors: false,
        };
    };
    if is_utf7(label) {
        let (text, had_errors) = decode_utf7(bytes);
        return Decoded {
            text,
            known_charset: true,
            had_errors,
        };
    }
    match lookup(label) {
        Some(enc) => {
            let (text, had_errors) = if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE
            {
                let (t, _, e) = enc.decode(bytes);
                (t, e)
            } else if remove_bom {
                enc.decode_with_bom_removal(bytes)
            } else {
                enc.decode_without_bom_handling(bytes)
            };
            Decoded {
                text,
                known_charset: true,
                had_errors,
            }
        }
        None => Decoded {
            text: fallback(bytes),
            known_charset: false,
            had_errors: false,
        },
    }
}

/// UTF-8 if valid, else windows-1252.
fn fallback(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => {
            encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
        }
    }
}

/// RFC 2152 UTF-7: "+" starts modified Base64 of UTF-16BE, ended by "-"
/// (absorbed) or any other non-Base64 byte; "+-" is "+".
fn decode_utf7(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    if !bytes.contains(&b'+') && bytes.is_ascii() {
        return (
            Cow::Borrowed(std::str::from_utf8(bytes).unwrap_or_default()),
            false,
        );
    }
    fn val(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = String::with_capacity(bytes.len());
    let mut errors = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'+' {
            if b < 0x80 {
                out.push(b as char);
            } else {
                out.push('\u{FFFD}');
                errors = true;
            }
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'-') {
            out.push('+');
            i += 1;
            continue;
        }
        let (mut acc, mut nbits) = (0u32, 0u32);
        let mut units: Vec<u16> = Vec::new();
        while let Some(v) = bytes.get(i).and_then(|&c| val(c)) {
            acc = (acc << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push((acc >> nbits) as u16);
                acc &= (1 << nbits) - 1;
            }
            i += 1;
        }
        for c in char::decode_utf16(units.iter().copied()) {
            out.push(c.unwrap_or_else(|_| {
                errors = true;
                '\u{FFFD}'
            }));
        }
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    (Cow::Owned(out), errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        let cases = [
            ("utf8", "UTF-8"),
            ("UTF-8", "UTF-8"),
            ("latin1", "windows-1252"),
            ("Latin-1", "windows-1252"),
            ("iso8859-1", "windows-1252"),
            ("ISO_8859-15", "ISO-8859-15"),
            ("iso-8859-8-i", "ISO-8859-8-I"),
            ("x-mac-roman", "macintosh"),
            ("x-mac-cyrillic", "x-mac-cyrillic"),
            ("cp1252", "windows-1252"),
            ("cp1251", "windows-1251"),
            ("ks_c_5601-1987", "EUC-KR"),
            ("gb2312", "GBK"),
            ("cp936", "GBK"),
            ("ascii", "windows-1252"),
            ("us-ascii", "windows-1252"),
            ("US-ASCII*EN", "windows-1252"),
            ("sjis", "Shift_JIS"),
            ("windows1250", "windows-1250"),
        ];
        for (label, name) in cases {
            assert_eq!(lookup(label).map(|e| e.name()), Some(name), "{label}");
        }
        assert!(lookup("x-unknown").is_none());
        assert!(lookup("").is_none());
        assert!(lookup("unicode-1-1-utf-7").is_none());
    }

    #[test]
    fn fallback_rules() {
        let d = decode("é".as_bytes(), None);
        assert_eq!(d.text, "é");
        assert!(d.known_charset && matches!(d.text, Cow::Borrowed(_)));
        let d = decode(b"caf\xe9", Some("x-unknown"));
        assert_eq!(d.text, "café");
        assert!(!d.known_charset);
        let d = decode(b"\x80", None);
        assert_eq!(d.text, "€");
        let d = decode(b"\xff", Some("utf-8"));
        assert!(d.had_errors);
        assert_eq!(d.text, "\u{FFFD}");
        assert_eq!(decode(b"\xa4", Some("iso-8859-15")).text, "€");
    }

    #[test]
    fn utf7() {
        let d = decode(b"Hi Mom -+Jjo--!", Some("unicode-1-1-utf-7"));
        assert_eq!(d.text, "Hi Mom -\u{263A}-!");
        assert!(d.known_charset);
        assert_eq!(
            decode(b"A+ImIDkQ.", Some("utf-7")).text,
            "A\u{2262}\u{391}."
        );
        assert_eq!(decode(b"1 +- 1", Some("UTF-7")).text, "1 + 1");
    }
}
