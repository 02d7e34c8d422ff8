//! Tag lists (RFC 6376 §3.2): the `tag=value; tag=value` syntax of both
//! the DKIM-Signature field and the key record, and the one place where
//! the signature's `b=` value is blanked for hashing.
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC
//! ```
//!
//! A tag named twice, a name that is not `ALPHA *(ALNUM / "_")`, or a spec
//! without `=` makes the whole list invalid: the signature or key that
//! carries it is a permerror.

/// Folding white space: blanks and the line ends of folded fields.
pub(crate) fn is_fws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Where the first FWS byte of `v` is. Every FWS byte is at most 0x20 and
/// nearly every other byte of a header or a base64 value is above it, so
/// the search skips 16 bytes at a time while none is (a branch-free test
/// the compiler vectorizes), then looks byte by byte.
pub(crate) fn find_fws(v: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let chunks = v[at..].chunks_exact(16);
        let skipped = chunks
            .take_while(|c| c.iter().fold(true, |clear, &b| clear & (b > b' ')))
            .count();
        at += skipped * 16;
        let near = (v.len() - at).min(16);
        match v[at..at + near].iter().position(|&b| b <= b' ') {
            Some(i) if is_fws(v[at + i]) => return Some(at + i),
            // A control byte that is not FWS: look on after it.
            Some(i) => at += i + 1,
            None if at + near == v.len() => return None,
            None => at += near,
        }
    }
}

/// Tag text as error messages quote it: each run of folding white space
/// as one space, so that a message stored with LF line ends gets the same
/// reason as its CRLF wire form; at most 255 bytes.
pub(crate) fn shown(v: &[u8]) -> String {
    // Most tag values (d=, s=, a=, a header name) are short, unfolded
    // ASCII: one copy.
    if v.len() <= 255 && !v.iter().any(|&b| is_fws(b)) {
        return utf8_or_lossy(v);
    }
    let mut out = Vec::with_capacity(v.len().min(255));
    let mut blank = false;
    for &b in v {
        if out.len() == 255 {
            break;
        }
        if is_fws(b) {
            blank = true;
            continue;
        }
        if blank && !out.is_empty() {
            out.push(b' ');
            if out.len() == 255 {
                break;
            }
        }
        blank = false;
        out.push(b);
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `v` as text, invalid UTF-8 replaced. Tag values are ASCII: the check
/// of valid UTF-8 reads a word at a time, where the lossy conversion's
/// chunking reads a byte at a time.
pub(crate) fn utf8_or_lossy(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(v).into_owned(),
    }
}

fn trim_fws(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_fws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_fws(b)).map_or(start, |e| e + 1);
    &s[start..end]
}

/// Tag names are equal. They are a byte or two long, so compared inline:
/// `==` on slices calls memcmp, and the lookups and the check for a
/// repeated tag compare names about a hundred times per signature.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Most tags in one list; real signatures carry about a dozen.
const MAX_TAGS: usize = 64;

/// A parsed tag list: (name, value) pairs in order, names as written, values
/// with the FWS around them trimmed (inner FWS stays; callers that need it
/// gone, as for base64, strip it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagList<'a> {
    tags: Vec<(&'a [u8], &'a [u8])>,
}

impl<'a> TagList<'a> {
    /// Parses `value`, or says why it is not a tag list.
    pub fn parse(value: &'a [u8]) -> Result<TagList<'a>, String> {
        // A signature has about a dozen tags: one allocation.
        let mut tags: Vec<(&'a [u8], &'a [u8])> = Vec::with_capacity(16);
        // memchr finds the separators; a byte-at-a-time split cost more
        // than the rest of the parse on a signature's long b= value.
        let mut from = 0;
        let ends = memchr::memchr_iter(b';', value).chain([value.len()]);
        for end in ends {
            let spec = &value[from..end];
            from = end + 1;
            // One pass over the usual spec: blanks, a name of letters,
            // digits and '_' starting with a letter, blanks, '='. Anything
            // else is an error or an empty spec, told apart below.
            let start = spec.iter().position(|&b| !is_fws(b)).unwrap_or(spec.len());
            let name_end = spec[start..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                .map_or(spec.len(), |n| start + n);
            let eq = spec[name_end..]
                .iter()
                .position(|&b| !is_fws(b))
                .map(|n| name_end + n)
                .filter(|&e| spec[e] == b'=');
            let name = &spec[start..name_end];
            let Some(eq) = eq.filter(|_| name.first().is_some_and(u8::is_ascii_alphabetic)) else {
                if start == spec.len() {
                    // Only the last spec may be empty (a trailing `;`); an
                    // empty one in the middle (`;;`) is tolerated as real
                    // signers write it and it carries nothing.
                    continue;
                }
                return Err(match spec.iter().position(|&b| b == b'=') {
                    None => format!("tag without '=': {:?}", shown(spec)),
                    Some(e) => format!("bad tag name {:?}", shown(trim_fws(&spec[..e]))),
                });
            };
            if tags.iter().any(|&(n, _)| same_name(n, name)) {
                return Err(format!("tag {} given twice", shown(name)));
            }
            if tags.len() == MAX_TAGS {
                return Err(format!("more than {MAX_TAGS} tags"));
            }
            tags.push((name, trim_fws(&spec[eq + 1..])));
        }
        Ok(TagList { tags })
    }

    /// The value of tag `name` (names are case-sensitive, §3.2).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.tags
            .iter()
            .find(|&&(n, _)| same_name(n, name.as_bytes()))
            .map(|(_, v)| *v)
    }
}

/// `value` with every FWS byte removed (base64 values, `h=` lists);
/// borrowed when it has none, copied a run at a time when it is folded.
pub(crate) fn strip_fws(value: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let Some(first) = find_fws(value) else {
        return value.into();
    };
    let mut out = Vec::with_capacity(value.len());
    let mut rest = value;
    let mut at = first;
    loop {
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at..];
        let blanks = rest.iter().position(|&b| !is_fws(b)).unwrap_or(rest.len());
        rest = &rest[blanks..];
        match find_fws(rest) {
            Some(next) => at = next,
            None => {
                out.extend_from_slice(rest);
                return out.into();
            }
        }
    }
}

/// The DKIM-Signature value `value` with the value of its `b=` tag removed
/// (RFC 6376 §3.7: "the value of the b= tag ... treated as though it were
/// an empty string"), everything else byte for byte, FWS included;
/// appended to `out`.
pub(crate) fn blank_b_tag(value: &[u8], out: &mut Vec<u8>) {
    let mut rest = value;
    loop {
        let (spec, more) = match memchr::memchr(b';', rest) {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        match spec.iter().position(|&b| b == b'=') {
            Some(eq) if trim_fws(&spec[..eq]) == b"b" => out.extend_from_slice(&spec[..=eq]),
            _ => out.extend_from_slice(spec),
        }
        match more {
            Some(m) => {
                out.push(b';');
                rest = &m[1..];
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_folded_lists() {
        let t =
            TagList::parse(b" v=1; a=rsa-sha256;\r\n\t d = example.com ;bh=ab\r\n cd=;").unwrap();
        assert_eq!(t.get("v"), Some(&b"1"[..]));
        assert_eq!(t.get("d"), Some(&b"example.com"[..]));
        assert_eq!(t.get("bh"), Some(&b"ab\r\n cd="[..]));
        assert_eq!(t.get("x"), None);
    }

    #[test]
    fn rejects_bad_lists() {
        for bad in [&b"v=1; v=1"[..], b"v", b"1v=2", b"a b=c", b"=x"] {
            assert!(TagList::parse(bad).is_err(), "{bad:?}");
        }
        let many: Vec<u8> = (0..100)
            .flat_map(|i| format!("t{i}=x;").into_bytes())
            .collect();
        assert!(TagList::parse(&many).is_err());
    }

    proptest::proptest! {
        /// `find_fws` finds what a byte-at-a-time search finds, whatever
        /// the length and wherever the FWS and other control bytes stand.
        #[test]
        fn find_fws_equals_bytewise(
            v in proptest::collection::vec(proptest::sample::select(&b"aZ+/=\x01\x1f !\t\r\n"[..]), 0..80),
            pad in 0usize..40,
        ) {
            let mut long = vec![b'x'; pad];
            long.extend_from_slice(&v);
            for s in [&v[..], &long[..]] {
                proptest::prop_assert_eq!(find_fws(s), s.iter().position(|&b| is_fws(b)));
            }
        }
    }

    #[test]
    fn strips_folding_white_space() {
        for (v, want) in [
            (&b""[..], &b""[..]),
            (b"abc", b"abc"),
            (b" a\r\n\tb c ", b"abc"),
            (b"\r\n ", b""),
            (b"ab\r\n cd=", b"abcd="),
        ] {
            assert_eq!(&*strip_fws(v), want, "{v:?}");
        }
    }

    #[test]
    fn blanks_only_the_b_tag() {
        let blanked = |v: &[u8]| {
            let mut out = b"DKIM-Signature:".to_vec();
            blank_b_tag(v, &mut out);
            out
        };
        assert_eq!(
            blanked(b"v=1; bh=abc; b = de\r\n f; d=x"),
            b"DKIM-Signature:v=1; bh=abc; b =; d=x"
        );
        assert_eq!(blanked(b"b=xyz"), b"DKIM-Signature:b=");
    }
}
