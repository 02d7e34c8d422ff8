//! Content-Type and Content-Disposition values: a token (or type/subtype)
//! and RFC 2045 parameters, with RFC 2231 extensions.
//!
//! RFC 2231 lets a parameter be split into numbered sections (`name*0`,
//! `name*1`, ... in any order: they are sorted numerically) and carry a
//! charset and language (`name*=utf-8'en'%E2%82%AC`, or on the first section
//! `name*0*=`). Encoded and plain sections may be mixed; the percent-decoded
//! bytes of adjacent encoded sections are joined before charset decoding. A
//! sectioned parameter wins over `name*=`, which wins over plain `name=`.
//! RFC 2047 encoded-words inside values are decoded too, since real mail
//! writes them (`filename="=?utf-8?b?...?="`). Comments and blanks are
//! allowed wherever RFC 5322 CFWS is, and an unquoted value runs to the
//! next ';' or comment (real mail puts blanks and '=' in unquoted values).

use std::borrow::Cow;

use super::{encoded_word, unfold_mapped, OffsetMap};
use crate::charset;
use crate::defect::{Defect, DefectCode};

/// Parameters in the order they appear (RFC 2231 sections merged): name
/// and value, each borrowed from a static table when it is a common one
/// ([`lower`], [`known_value`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(pub Vec<(Cow<'static, str>, Cow<'static, str>)>);

impl Params {
    /// The first value of parameter `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
    }

    /// Every parameter as `(name, value)`, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(n, v)| (&**n, &**v))
    }
}

/// A parsed Content-Type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    /// Lowercase type ("text"); borrowed from a static table when it is one
    /// of the common tokens ([`lower`]).
    pub type_: Cow<'static, str>,
    /// Lowercase subtype ("plain"), borrowed the same way.
    pub subtype: Cow<'static, str>,
    /// The parameters.
    pub params: Params,
}

impl ContentType {
    /// "type/subtype".
    pub fn mime_type(&self) -> String {
        format!("{}/{}", self.type_, self.subtype)
    }

    /// Whether the type is "multipart".
    pub fn is_multipart(&self) -> bool {
        self.type_ == "multipart"
    }

    /// The boundary parameter.
    pub fn boundary(&self) -> Option<&str> {
        self.params.get("boundary")
    }

    /// The charset parameter.
    pub fn charset(&self) -> Option<&str> {
        self.params.get("charset")
    }
}

/// A parsed Content-Disposition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDisposition {
    /// Lowercase: inline, attachment, ... (borrowed as [`ContentType`]'s
    /// names are).
    pub kind: Cow<'static, str>,
    /// The parameters.
    pub params: Params,
}

/// Parses a Content-Type value. `None` when there is no type/subtype (the
/// caller uses the default and records `BadContentType`).
pub fn parse_content_type(
    value: &[u8],
    base: u64,
    defects: &mut Vec<Defect>,
) -> Option<ContentType> {
    let (v, map) = unfold_mapped(value);
    let mut c = Cursor { s: &v, i: 0 };
    c.skip_cfws();
    let type_ = c.token();
    c.skip_cfws();
    if type_.is_empty() || !c.eat(b'/') {
        return None;
    }
    c.skip_cfws();
    let subtype = c.token();
    if subtype.is_empty() {
        return None;
    }
    let params = parse_params(&mut c, base, &map, defects);
    Some(ContentType {
        type_: lower(type_),
        subtype: lower(subtype),
        params,
    })
}

/// Parses a Content-Disposition value. `None` when there is no
/// disposition token.
pub fn parse_content_disposition(
    value: &[u8],
    base: u64,
    defects: &mut Vec<Defect>,
) -> Option<ContentDisposition> {
    let (v, map) = unfold_mapped(value);
    let mut c = Cursor { s: &v, i: 0 };
    c.skip_cfws();
    let kind = c.token();
    if kind.is_empty() {
        return None;
    }
    let params = parse_params(&mut c, base, &map, defects);
    Some(ContentDisposition {
        kind: lower(kind),
        params,
    })
}

/// `b` lowercased. The tokens most mail uses come back borrowed from
/// [`known`], so a parse allocates nothing for `text/plain; charset=...` or
/// `inline` (these were a third of a plain message's allocations).
fn lower(b: &[u8]) -> Cow<'static, str> {
    let mut buf = [0u8; 32];
    if let (Some(l), true) = (buf.get_mut(..b.len()), b.is_ascii()) {
        l.copy_from_slice(b);
        l.make_ascii_lowercase();
        if let Some(k) = std::str::from_utf8(l).ok().and_then(known) {
            return Cow::Borrowed(k);
        }
    }
    Cow::Owned(String::from_utf8_lossy(b).to_ascii_lowercase())
}

/// One list of the names, made into a `match` (each arm a length test and a
/// compare of constant size, no `memcmp` calls) and, for the tests, a table.
macro_rules! known_names {
    ($($name:literal),* $(,)?) => {
        /// Media types, subtypes, dispositions and parameter names common
        /// enough to be worth a lookup: `l` itself, borrowed, if it is one.
        fn known(l: &str) -> Option<&'static str> {
            match l {
                $($name => Some($name),)*
                _ => None,
            }
        }

        #[cfg(test)]
        const KNOWN: &[&str] = &[$($name),*];
    };
}

known_names!(
    "alternative",
    "application",
    "attachment",
    "audio",
    "boundary",
    "calendar",
    "charset",
    "delivery-status",
    "delsp",
    "digest",
    "disposition-notification",
    "encrypted",
    "filename",
    "format",
    "gif",
    "html",
    "image",
    "inline",
    "jpeg",
    "message",
    "method",
    "micalg",
    "mixed",
    "multipart",
    "name",
    "octet-stream",
    "pdf",
    "pgp-signature",
    "pkcs7-mime",
    "pkcs7-signature",
    "plain",
    "png",
    "protocol",
    "related",
    "report",
    "report-type",
    "rfc822",
    "signed",
    "size",
    "text",
    "type",
    "video",
    "x-pkcs7-signature",
    "xml",
    "zip",
);

/// RFC 2045 tspecials, the one copy of the list (compose's token test
/// uses it too).
pub(crate) fn is_tspecial(b: u8) -> bool {
    // A match, not `contains` on the list: that was a `memchr` call for
    // every byte of every token (6% of a header parse's instructions).
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.i += hit as usize;
        hit
    }

    /// Skips blanks and (nested) comments, iteratively.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => self.i += 1,
                b'(' => self.skip_comment(),
                _ => break,
            }
        }
    }

    fn skip_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' => self.i = (self.i + 1).min(self.s.len()),
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// An RFC 2045 token (8-bit bytes tolerated).
    fn token(&mut self) -> &'a [u8] {
        let start = self.i;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7f || is_tspecial(b) {
                break;
            }
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A quoted string after its opening quote: the content, unescaped, and
    /// whether it was closed.
    fn quoted(&mut self) -> (Cow<'a, [u8]>, bool) {
        let rest = &self.s[self.i..];
        match memchr::memchr2(b'"', b'\\', rest) {
            // No quoted-pair: the value as it stands (most values).
            Some(k) if rest[k] == b'"' => {
                self.i += k + 1;
                return (Cow::Borrowed(&rest[..k]), true);
            }
            None => {
                self.i = self.s.len();
                return (Cow::Borrowed(rest), false);
            }
            Some(_) => {}
        }
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return (Cow::Owned(out), true),
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        (Cow::Owned(out), false)
    }
}

/// One `name=value` as written.
struct Raw<'a> {
    name: Cow<'static, str>,
    section: Option<u32>,
    extended: bool,
    /// Borrowed from the unfolded header value unless unquoting changed it.
    value: Cow<'a, [u8]>,
    at: u64,
}

fn parse_params(
    c: &mut Cursor<'_>,
    base: u64,
    map: &OffsetMap,
    defects: &mut Vec<Defect>,
) -> Params {
    let mut raws: Vec<Raw<'_>> = Vec::new();
    loop {
        c.skip_cfws();
        let Some(b) = c.peek() else { break };
        if b != b';' {
            // Junk after a value: skip to the next ';'.
            defects.push(Defect::new(DefectCode::BadParameter, base + map.orig(c.i)));
            match memchr::memchr(b';', &c.s[c.i..]) {
                Some(k) => c.i += k,
                None => break,
            }
        }
        c.i += 1;
        c.skip_cfws();
        let at = base + map.orig(c.i);
        let start = c.i;
        while let Some(b) = c.peek() {
            if b == b'=' || b == b';' || b == b'(' || b == b'"' || b <= b' ' {
                break;
            }
            c.i += 1;
        }
        let name = &c.s[start..c.i];
        c.skip_cfws();
        if name.is_empty() || !c.eat(b'=') {
            if !name.is_empty() || c.peek().is_some() {
                defects.push(Defect::new(DefectCode::BadParameter, at));
            }
            continue;
        }
        c.skip_cfws();
        let value = if c.eat(b'"') {
            let (v, closed) = c.quoted();
            if !closed {
                defects.push(Defect::new(DefectCode::BadParameter, at));
            }
            v
        } else {
            let vs = c.i;
            while let Some(b) = c.peek() {
                if b == b';' || b == b'(' {
                    break;
                }
                c.i += 1;
            }
            let mut v = &c.s[vs..c.i];
            while let [rest @ .., b' ' | b'\t'] = v {
                v = rest;
            }
            Cow::Borrowed(v)
        };
        let (name, section, extended) = split_name(name);
        raws.push(Raw {
            name,
            section,
            extended,
            value,
            at,
        });
    }
    merge(raws, defects)
}

/// "Name*2*" -> ("name", Some(2), true).
fn split_name(name: &[u8]) -> (Cow<'static, str>, Option<u32>, bool) {
    let n = lower(name);
    if !n.contains('*') {
        return (n, None, false);
    }
    let mut n = n.into_owned();
    let extended = n.ends_with('*');
    if extended {
        n.pop();
    }
    let mut section = None;
    if let Some(star) = n.rfind('*') {
        let digits = &n[star + 1..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(k) = digits.parse::<u32>() {
                section = Some(k);
                n.truncate(star);
            }
        }
    }
    (n.into(), section, extended)
}

fn percent_decode(v: &[u8], bad: &mut bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            let h = v.get(i + 1).and_then(|&b| (b as char).to_digit(16));
            let l = v.get(i + 2).and_then(|&b| (b as char).to_digit(16));
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            *bad = true;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// A plain (not RFC 2231-encoded) value: encoded-words decoded, 8-bit text
/// read as UTF-8 else windows-1252; a common value borrowed
/// ([`known_value`]).
fn plain(v: &[u8], at: u64, defects: &mut Vec<Defect>) -> Cow<'static, str> {
    if memchr::memmem::find(v, b"=?").is_some() {
        return encoded_word::decode_words(v, at, defects).into();
    }
    let text = charset::decode(v, None).text;
    match known_value(&text) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text.into_owned()),
    }
}

/// `v` borrowed from a table of the parameter values most mail carries (the
/// charsets of `charset=`, as they are spelled, and `format=flowed`,
/// `delsp=yes`), if it is one; values keep their case, so each spelling is
/// its own entry. With the names of [`lower`], a `text/plain;
/// charset=utf-8` part allocates nothing for its parameter but the list.
/// It matters most where the parsed message is freed on another thread
/// than the one that parsed it (`mimeflow.mbox.open` hands it to Python),
/// where glibc takes the parsing thread's arena lock for each free:
/// iterating the 100 MB text archive of `scripts/scaling.py` went from
/// 6.2 to 5.2 mallocs a message (`perf stat` on a uprobe of glibc's
/// `malloc`).
fn known_value(v: &str) -> Option<&'static str> {
    Some(match v {
        "utf-8" => "utf-8",
        "UTF-8" => "UTF-8",
        "us-ascii" => "us-ascii",
        "US-ASCII" => "US-ASCII",
        "iso-8859-1" => "iso-8859-1",
        "ISO-8859-1" => "ISO-8859-1",
        "iso-8859-15" => "iso-8859-15",
        "ISO-8859-15" => "ISO-8859-15",
        "windows-1252" => "windows-1252",
        "Windows-1252" => "Windows-1252",
        "flowed" => "flowed",
        "fixed" => "fixed",
        "yes" => "yes",
        "no" => "no",
        _ => return None,
    })
}

/// Decodes an RFC 2231 value: sections in order, the first of which may
/// carry "charset'language'".
fn decode_2231(parts: &[&Raw<'_>], defects: &mut Vec<Defect>) -> String {
    let mut label: Option<String> = None;
    let mut out = String::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut bytes_at = 0;
    let flush = |bytes: &mut Vec<u8>,
                 label: &Option<String>,
                 at: u64,
                 out: &mut String,
                 defects: &mut Vec<Defect>| {
        if bytes.is_empty() {
            return;
        }
        let d = charset::decode_header_text(bytes, label.as_deref().filter(|l| !l.is_empty()));
        if !d.known_charset {
            defects.push(Defect::new(DefectCode::UnknownCharset, at));
        } else if d.had_errors {
            defects.push(Defect::new(DefectCode::InvalidCharsetData, at));
        }
        out.push_str(&d.text);
        bytes.clear();
    };
    for (k, r) in parts.iter().enumerate() {
        if !r.extended {
            flush(&mut bytes, &label, bytes_at, &mut out, defects);
            out.push_str(&plain(&r.value, r.at, defects));
            continue;
        }
        let mut v = &r.value[..];
        // charset'language'value; without the two quotes, all value.
        let q1 = memchr::memchr(b'\'', v);
        let q2 = q1.and_then(|a| memchr::memchr(b'\'', &v[a + 1..]).map(|b| a + 1 + b));
        match (q1, q2) {
            (Some(a), Some(b)) if k == 0 => {
                label = Some(String::from_utf8_lossy(&v[..a]).into_owned());
                v = &v[b + 1..];
            }
            // Only the first section may name a charset, but senders put
            // one on a later section too (`name*2*=utf-8''%e2%98%95`). A
            // quote is not an attribute-char, so two of them can only be
            // that prefix: drop it (its charset serves if none was named),
            // as the stdlib does.
            (Some(a), Some(b)) => {
                defects.push(Defect::new(DefectCode::BadParameter, r.at));
                if label.as_deref().is_none_or(str::is_empty) {
                    flush(&mut bytes, &label, bytes_at, &mut out, defects);
                    label = Some(String::from_utf8_lossy(&v[..a]).into_owned());
                }
                v = &v[b + 1..];
            }
            _ if k == 0 => defects.push(Defect::new(DefectCode::BadParameter, r.at)),
            _ => {}
        }
        if bytes.is_empty() {
            bytes_at = r.at;
        }
        let mut bad = false;
        bytes.extend(percent_decode(v, &mut bad));
        if bad {
            defects.push(Defect::new(DefectCode::BadParameter, r.at));
        }
    }
    flush(&mut bytes, &label, bytes_at, &mut out, defects);
    out
}

/// Merges RFC 2231 sections; keeps the order of first appearance.
fn merge(raws: Vec<Raw<'_>>, defects: &mut Vec<Defect>) -> Params {
    if raws.iter().all(|r| r.section.is_none() && !r.extended) {
        // No RFC 2231 form: every parameter as it came, duplicates kept,
        // which is what the general path below gives, without its three
        // maps and a copy of each name (most mail: `charset=...`).
        return Params(
            raws.into_iter()
                .map(|r| {
                    let value = plain(&r.value, r.at, defects);
                    (r.name, value)
                })
                .collect(),
        );
    }
    use std::collections::HashMap;
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (k, r) in raws.iter().enumerate() {
        if r.section.is_none() && !r.extended {
            // Plain parameter: its own entry unless a 2231 form of it exists.
            order.push(&r.name);
            groups.entry(&r.name).or_default().push(k);
            continue;
        }
        let e = groups.entry(&r.name).or_default();
        if e.is_empty() {
            order.push(&r.name);
        }
        e.push(k);
    }
    let mut out = Vec::new();
    let mut done: HashMap<&str, ()> = HashMap::new();
    let mut emitted: HashMap<&str, usize> = HashMap::new();
    for name in order {
        let idx = &groups[name];
        let any_2231 = idx
            .iter()
            .any(|&k| raws[k].section.is_some() || raws[k].extended);
        if !any_2231 {
            // Duplicates of a plain parameter are all kept, in order.
            let n = emitted.entry(name).or_insert(0);
            *n += 1;
            if let Some(&k) = idx.get(*n - 1) {
                out.push((
                    raws[k].name.clone(),
                    plain(&raws[k].value, raws[k].at, defects),
                ));
            }
            continue;
        }
        if done.insert(name, ()).is_some() {
            continue;
        }
        let mut sections: Vec<&Raw<'_>> = idx
            .iter()
            .map(|&k| &raws[k])
            .filter(|r| r.section.is_some())
            .collect();
        let value = if !sections.is_empty() {
            sections.sort_by_key(|r| r.section);
            let mut uniq: Vec<&Raw<'_>> = Vec::with_capacity(sections.len());
            for r in sections {
                match uniq.last() {
                    Some(l) if l.section == r.section => {
                        defects.push(Defect::new(DefectCode::BadParameter, r.at))
                    }
                    _ => {
                        if r.section != Some(uniq.len() as u32) {
                            defects.push(Defect::new(DefectCode::BadParameter, r.at));
                        }
                        uniq.push(r)
                    }
                }
            }
            decode_2231(&uniq, defects).into()
        } else if let Some(r) = idx.iter().map(|&k| &raws[k]).find(|r| r.extended) {
            decode_2231(&[r], defects).into()
        } else {
            let r = &raws[idx[0]];
            plain(&r.value, r.at, defects)
        };
        // Every raw of the group carries `name`; a clone of a borrowed
        // (common) name allocates nothing.
        out.push((raws[idx[0]].name.clone(), value));
    }
    Params(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(s: &str) -> ContentType {
        parse_content_type(s.as_bytes(), 0, &mut Vec::new()).unwrap()
    }

    #[test]
    fn split_names() {
        assert_eq!(split_name(b"Name*2*"), ("name".into(), Some(2), true));
        assert_eq!(split_name(b"name*"), ("name".into(), None, true));
        assert_eq!(split_name(b"name*0"), ("name".into(), Some(0), false));
        assert_eq!(split_name(b"a*b"), ("a*b".into(), None, false));
    }

    #[test]
    fn charset_on_a_later_section() {
        // Only `*0*` may name a charset; a later one's prefix is dropped
        // (and names the charset when the first section did not).
        let c = ct("image/gif; name*1=\"about \"; name*0=\"Book \"; name*2*=utf-8''%e2%98%95");
        assert_eq!(c.params.get("name"), Some("Book about \u{2615}"));
        let c = ct("a/b; name*0=\"p0\"; name*1*=utf-8''%ZZbad; name*2=\"p2\"");
        assert_eq!(c.params.get("name"), Some("p0%ZZbadp2"));
    }

    #[test]
    fn known_tokens_are_lowercase_and_borrowed() {
        for k in KNOWN {
            assert_eq!(*k, k.to_ascii_lowercase());
            assert!(
                matches!(lower(k.to_ascii_uppercase().as_bytes()), Cow::Borrowed(b) if b == *k)
            );
        }
        // Anything else is lowercased as before, 8-bit bytes as U+FFFD.
        assert!(matches!(lower(b"X-Custom"), Cow::Owned(s) if s == "x-custom"));
        assert!(matches!(lower(b"T\xffxt"), Cow::Owned(s) if s == "t\u{fffd}xt"));
        let long = "A".repeat(40);
        assert_eq!(lower(long.as_bytes()), long.to_ascii_lowercase());
        assert_eq!(lower(b""), "");
    }

    #[test]
    fn common_values_are_borrowed_and_keep_their_case() {
        for (v, borrowed) in [
            ("utf-8", true),
            ("UTF-8", true),
            ("\"us-ascii\"", true),
            ("Windows-1252", true),
            ("flowed", true),
            ("Utf-8", false),
            ("koi8-r", false),
            ("=?us-ascii?q?utf-8?=", false),
        ] {
            let c = ct(&format!("text/plain; charset={v}"));
            let got = &c.params.0[0].1;
            assert_eq!(matches!(got, Cow::Borrowed(_)), borrowed, "{v}");
            let plain = v.trim_matches('"');
            if !plain.starts_with("=?") {
                assert_eq!(got, plain);
            }
        }
        // An encoded-word decodes to a table value's text, owned.
        assert_eq!(
            ct("a/b; x=\"=?us-ascii?q?utf-8?=\"").params.get("x"),
            Some("utf-8")
        );
    }

    #[test]
    fn basics() {
        let c = ct("Text/Plain; charset=us-ascii (Plain text)");
        assert_eq!(c.mime_type(), "text/plain");
        assert_eq!(c.charset(), Some("us-ascii"));
        let c = ct("multipart/mixed; boundary=\"a b\\\"c\"");
        assert!(c.is_multipart());
        assert_eq!(c.boundary(), Some("a b\"c"));
    }
}
