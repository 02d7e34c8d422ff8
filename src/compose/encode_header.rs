//! The encoding side of header fields: RFC 2047 encoded-words, RFC 2231
//! parameters, address lists and folding.
//!
//! Everything here writes one whole field (`Name: value` and its CRLF) and
//! folds it at 78 columns wherever a fold is possible: at blanks between
//! words, and between encoded-words, whose text is cut so that each fits the
//! room left on its line (never inside a UTF-8 character: a decoder that
//! joins adjacent words may still meet a client that does not). A token that
//! cannot be folded (a long ASCII word) gets a line of its own; one that
//! would pass 998 octets is written as encoded-words instead, so no line we
//! write exceeds the hard limit of RFC 5322 §2.1.1.
//!
//! Encoded-words are UTF-8, B or Q, whichever is shorter for the run being
//! encoded (ties go to Q, which stays readable). Q uses the restricted set of
//! RFC 2047 §5(3), valid in every context, phrases included.

/// Soft line limit (RFC 5322 §2.1.1).
pub const LINE_SOFT: usize = 78;
/// Hard line limit, line end excluded.
pub const LINE_HARD: usize = 998;
/// Longest encoded-word (RFC 2047 §2).
const WORD_MAX: usize = 75;
/// `=?utf-8?X?` + `?=`.
const WORD_OVERHEAD: usize = 12;
/// Plain words longer than this are encoded (so their line stays under 998).
const PLAIN_MAX: usize = 900;

/// One piece of a field value, separated from the previous one by a blank
/// (a place to fold) when `space` is set.
#[derive(Clone, Debug)]
pub(crate) enum Token {
    /// Written as is (ASCII, no line ends).
    Plain { text: String, space: bool },
    /// Text to write as one or more adjacent encoded-words.
    Encoded { text: String, space: bool },
}

/// Q or B for `text`, whichever gives the shorter output.
fn choose_b(text: &str) -> bool {
    let q: usize = text
        .bytes()
        .map(|b| if q_literal(b) || b == b' ' { 1 } else { 3 })
        .sum();
    let b = text.len().div_ceil(3) * 4;
    b < q
}

/// RFC 2047 §5(3): the characters a Q word may hold as themselves anywhere.
fn q_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
}

fn q_len(c: &str) -> usize {
    c.bytes()
        .map(|b| if q_literal(b) || b == b' ' { 1 } else { 3 })
        .sum()
}

fn push_q(out: &mut String, c: &str) {
    for b in c.bytes() {
        if q_literal(b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('_');
        } else {
            out.extend(crate::qp::escape(b).map(char::from));
        }
    }
}

/// Cuts `text` into encoded-words: the first must fit `first` columns, the
/// others `rest` (both at least 20, room for one 4-byte character). Cuts
/// fall between characters only.
pub(crate) fn encoded_words(text: &str, first: usize, rest: usize) -> Vec<String> {
    let b = choose_b(text);
    let mut words = Vec::new();
    let mut cap = first.min(WORD_MAX);
    let mut start = 0;
    let mut q = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        let fits = if b {
            WORD_OVERHEAD + (next - start).div_ceil(3) * 4 <= cap
        } else {
            WORD_OVERHEAD + q + q_len(&text[i..next]) <= cap
        };
        if !fits && end > start {
            words.push(make_word(&text[start..end], b));
            start = end;
            q = 0;
            cap = rest.min(WORD_MAX);
        }
        q += q_len(&text[i..next]);
        end = next;
    }
    if end > start || words.is_empty() {
        words.push(make_word(&text[start..end], b));
    }
    words
}

fn make_word(s: &str, b: bool) -> String {
    let mut w = String::with_capacity(WORD_MAX);
    if b {
        w.push_str("=?utf-8?B?");
        w.push_str(
            std::str::from_utf8(&crate::base64::STANDARD.encode_to_vec(s.as_bytes()))
                .expect("base64 is ASCII"),
        );
    } else {
        w.push_str("=?utf-8?Q?");
        push_q(&mut w, s);
    }
    w.push_str("?=");
    w
}

/// Lays tokens out after `Name:` with folding; returns the field with CRLF.
pub(crate) fn fold(name: &str, tokens: &[Token]) -> String {
    let mut out = String::with_capacity(name.len() + 64);
    out.push_str(name);
    out.push(':');
    let mut col = out.len();
    for (n, tok) in tokens.iter().enumerate() {
        match tok {
            Token::Plain { text, space } => {
                let space = *space || n == 0;
                let need = text.len() + usize::from(space);
                if space && col + need > LINE_SOFT && col > 1 {
                    out.push_str("\r\n");
                    col = 0;
                }
                if space {
                    out.push(' ');
                    col += 1;
                }
                out.push_str(text);
                col += text.len();
            }
            Token::Encoded { text, space } => {
                let space = *space || n == 0;
                // Room on this line for a first word; if too little, fold first.
                let mut first = LINE_SOFT.saturating_sub(col + usize::from(space));
                if space && first < 20 {
                    out.push_str("\r\n");
                    col = 0;
                    first = LINE_SOFT - 1;
                }
                if !space {
                    // Glued to the previous token: no fold possible before it.
                    first = first.max(20);
                }
                let words = encoded_words(text, first, LINE_SOFT - 1);
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        out.push_str("\r\n ");
                        col = 1;
                    } else if space {
                        out.push(' ');
                        col += 1;
                    }
                    out.push_str(w);
                    col += w.len();
                }
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// Whether an ASCII word can be written as is in unstructured text.
fn plain_ok(word: &str, keep_words: bool) -> bool {
    word.len() <= PLAIN_MAX
        && word.bytes().all(|b| (0x21..0x7f).contains(&b))
        && (keep_words || !word.contains("=?"))
}

/// Tokens of an unstructured value (Subject, Comments, custom fields):
/// words kept as written where possible, runs of words that need encoding
/// joined into one encoded token (the blanks between them encoded too, as
/// blanks between two encoded-words are dropped by decoders).
pub(crate) fn unstructured_tokens(value: &str) -> Vec<Token> {
    tokens_of(value, false)
}

/// [`unstructured_tokens`] for text that came from a message: words that
/// look like encoded-words are kept as they are (they were meant as such).
pub(crate) fn unstructured_tokens_keep(value: &str) -> Vec<Token> {
    tokens_of(value, true)
}

fn tokens_of(value: &str, keep_words: bool) -> Vec<Token> {
    // Line breaks and other controls are not allowed raw: blanks instead
    // for breaks; other controls (tabs excepted) go through encoding.
    let clean: String = value
        .chars()
        .map(|c| {
            if c == '\r' || c == '\n' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut first = true;
    // Extra blanks (beyond the one that separates) stay glued to the word.
    let mut lead = String::new();
    for word in clean.split(' ') {
        if word.is_empty() {
            if !first {
                lead.push(' ');
            }
            first = false;
            continue;
        }
        let space = !first;
        first = false;
        let text = std::mem::take(&mut lead) + word;
        if plain_ok(word, keep_words) {
            tokens.push(Token::Plain { text, space });
        } else if let Some(Token::Encoded { text: prev, .. }) = tokens.last_mut().filter(|_| space)
        {
            prev.push(' ');
            prev.push_str(&text);
        } else {
            tokens.push(Token::Encoded { text, space });
        }
    }
    if !lead.is_empty() {
        // Trailing blanks: keep them inside an encoded word so they survive.
        tokens.push(Token::Encoded {
            text: lead,
            space: true,
        });
    }
    tokens
}

/// A whole unstructured field, folded (`Subject: ...\r\n`).
pub fn unstructured(name: &str, value: &str) -> String {
    let tokens = unstructured_tokens(value);
    if tokens.is_empty() {
        return format!("{name}:\r\n");
    }
    fold(name, &tokens)
}

/// RFC 5322 `atext`.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Tokens of a display name: atoms as they are, a quoted-string when ASCII
/// with specials, encoded-words when not ASCII.
pub(crate) fn phrase_tokens(name: &str, space: bool, out: &mut Vec<Token>) {
    let name = name.trim();
    let printable = name.bytes().all(|b| (0x20..0x7f).contains(&b));
    if printable
        && name
            .split(' ')
            .all(|w| !w.is_empty() && w.bytes().all(is_atext) && !w.contains("=?"))
    {
        for (i, w) in name.split(' ').enumerate() {
            out.push(Token::Plain {
                text: w.to_string(),
                space: space || i > 0,
            });
        }
    } else if printable && name.len() <= PLAIN_MAX && !name.contains("=?") {
        let mut q = String::with_capacity(name.len() + 2);
        q.push('"');
        for c in name.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        out.push(Token::Plain { text: q, space });
    } else {
        out.push(Token::Encoded {
            text: name.to_string(),
            space,
        });
    }
}

/// An addr-spec as written: the local part quoted when it is not a dot-atom.
pub fn addr_spec(address: &str) -> String {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    let dot_atom = !local.is_empty()
        && local
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(is_atext));
    let local = if dot_atom {
        local.to_string()
    } else {
        let mut q = String::from("\"");
        for c in local.chars() {
            if c == '"' || c == '\\' {
                q.push('\\');
            }
            q.push(c);
        }
        q.push('"');
        q
    };
    format!("{local}@{domain}")
}

/// A whole address-list field (`To: A <a@x>, b@y\r\n`), folded between
/// addresses and between the words of display names.
pub fn address_list<'a>(
    name: &str,
    list: impl IntoIterator<Item = (Option<&'a str>, &'a str)>,
) -> String {
    let mut tokens = Vec::new();
    let list: Vec<_> = list.into_iter().collect();
    let n = list.len();
    for (i, (display, address)) in list.into_iter().enumerate() {
        let comma = if i + 1 < n { "," } else { "" };
        let spec = addr_spec(address);
        match display.filter(|d| !d.trim().is_empty()) {
            Some(d) => {
                phrase_tokens(d, true, &mut tokens);
                tokens.push(Token::Plain {
                    text: format!("<{spec}>{comma}"),
                    space: true,
                });
            }
            None => tokens.push(Token::Plain {
                text: format!("{spec}{comma}"),
                space: true,
            }),
        }
    }
    fold(name, &tokens)
}

/// RFC 2045 token characters (parameter values that need no quotes).
fn is_token(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !crate::header::params::is_tspecial(b)
}

/// A non-empty run of RFC 2045 token characters (a MIME type's halves).
pub(crate) fn is_token_str(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token)
}

/// RFC 2231 attribute-char: percent-encode everything else.
fn is_attr_char(b: u8) -> bool {
    is_token(b) && !matches!(b, b'*' | b'\'' | b'%')
}

/// A header with a value and parameters (`Content-Type`,
/// `Content-Disposition`), one parameter per fold.
///
/// ASCII values that fit are written `name=value` or `name="value"`;
/// others as RFC 2231 `name*=utf-8''...` (cut into `name*0*=`, `name*1*=`
/// sections when they would not fit a line). When `fallback` names a
/// parameter (e.g. `name` for `filename`), values that needed RFC 2231 are
/// also written there as a quoted string of RFC 2047 encoded-words, which
/// older clients read.
pub fn with_params(name: &str, value: &str, params: &[(&str, &str)]) -> String {
    let mut out = format!("{name}: {value}");
    let mut col = out.len();
    for (attr, val) in params {
        for piece in param_pieces(attr, val) {
            out.push(';');
            col += 1;
            if col + 1 + piece.len() > LINE_SOFT {
                out.push_str("\r\n ");
                col = 1;
            } else {
                out.push(' ');
                col += 1;
            }
            col = if let Some(p) = piece.rfind('\n') {
                piece.len() - p - 1
            } else {
                col + piece.len()
            };
            out.push_str(&piece);
        }
    }
    out.push_str("\r\n");
    out
}

/// The `attr=value` pieces for one parameter (several for RFC 2231 sections).
fn param_pieces(attr: &str, val: &str) -> Vec<String> {
    // Room for `attr=` and the value on a continuation line (" " + ";").
    let room = LINE_SOFT - 2;
    if val.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        // Unquoted only without `*`, `'` and `%`, which RFC 2231 gives a
        // meaning: the stdlib reads `filename=*` as no name, `a*` as `a`.
        let piece = if !val.is_empty() && val.bytes().all(is_attr_char) {
            format!("{attr}={val}")
        } else {
            let mut q = format!("{attr}=\"");
            for c in val.chars() {
                if c == '"' || c == '\\' {
                    q.push('\\');
                }
                q.push(c);
            }
            q.push('"');
            q
        };
        if piece.len() <= room {
            return vec![piece];
        }
    }
    // RFC 2231 extended value, percent-encoded UTF-8, cut into sections of
    // whole characters (a `%XX` triple is never split either).
    let mut enc: Vec<String> = Vec::new();
    for c in val.chars() {
        let mut s = String::new();
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            if is_attr_char(b) {
                s.push(b as char);
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
        enc.push(s);
    }
    let whole: String = enc.concat();
    let single = format!("{attr}*=utf-8''{whole}");
    if single.len() <= room {
        return vec![single];
    }
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut n = 0;
    for s in enc {
        let head = if n == 0 {
            format!("{attr}*0*=utf-8''")
        } else {
            format!("{attr}*{n}*=")
        };
        if !cur.is_empty() && head.len() + cur.len() + s.len() > room {
            pieces.push(format!("{head}{cur}"));
            cur.clear();
            n += 1;
        }
        cur.push_str(&s);
    }
    let head = if n == 0 {
        format!("{attr}*0*=utf-8''")
    } else {
        format!("{attr}*{n}*=")
    };
    pieces.push(format!("{head}{cur}"));
    pieces
}

/// The RFC 2047 fallback for a parameter: `attr="=?utf-8?..?= =?..?="`,
/// folded between words. Used for `name=` beside an RFC 2231 `filename*`.
pub(crate) fn param_2047(attr: &str, val: &str) -> String {
    let words = encoded_words(val, LINE_SOFT - 4 - attr.len() - 3, LINE_SOFT - 3);
    format!("{attr}=\"{}\"", words.join("\r\n "))
}

/// Whether a parameter value needs RFC 2231 (non-ASCII, or too long).
pub(crate) fn needs_2231(attr: &str, val: &str) -> bool {
    let star = format!("{attr}*");
    param_pieces(attr, val).iter().any(|p| p.starts_with(&star))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_ok(s: &str) {
        for l in s.split("\r\n") {
            assert!(l.len() <= LINE_SOFT, "{l:?} too long");
        }
    }

    #[test]
    fn ascii_subject_folds() {
        let s = unstructured("Subject", &"word ".repeat(40));
        lines_ok(&s);
        assert!(s.ends_with("\r\n"));
    }

    #[test]
    fn utf8_words_fit() {
        let s = unstructured("Subject", &"Grüße aus Köln — 日本語のテキスト ".repeat(10));
        lines_ok(&s);
        assert!(s.contains("=?utf-8?"));
    }

    #[test]
    fn rfc2231_marks_are_quoted() {
        for v in ["*", "a*", "it's", "100%"] {
            let s = with_params("Content-Disposition", "attachment", &[("filename", v)]);
            assert!(s.contains(&format!("filename=\"{v}\"")), "{s}");
        }
        let s = with_params(
            "Content-Disposition",
            "attachment",
            &[("filename", "a.pdf")],
        );
        assert!(s.contains("filename=a.pdf"), "{s}");
    }

    #[test]
    fn params_2231() {
        let long = "ä".repeat(80);
        let s = with_params("Content-Disposition", "attachment", &[("filename", &long)]);
        lines_ok(&s);
        assert!(s.contains("filename*0*=utf-8''"));
        assert!(s.contains("filename*1*="));
    }

    #[test]
    fn header_encoding_rules() {
        // Many multi-byte characters: each encoded-word decodes alone (no
        // character split across words) and lines stay within 78.
        let s = unstructured("Subject", &"日本語のテキスト".repeat(20));
        for l in s.split("\r\n") {
            assert!(l.len() <= 78, "{l}");
        }
        let mut defects = Vec::new();
        for w in s
            .split(|c: char| c.is_whitespace())
            .filter(|w| w.starts_with("=?"))
        {
            let text = crate::header::decode_text(w.as_bytes(), 0, &mut defects);
            assert!(!text.contains('\u{fffd}'), "{w} decodes alone");
        }
        assert!(defects.is_empty());
        // Q when shorter.
        assert!(unstructured("Subject", "Wörterbuch au lait").contains("?Q?"));
        // Display names: atoms, quoted-string for specials, encoded-words.
        let a = address_list(
            "To",
            [
                (Some("Smith, John"), "j@x.org"),
                (Some("Ann"), "a@x.org"),
                (Some("Zoë"), "z@x.org"),
            ],
        );
        assert_eq!(
            a,
            "To: \"Smith, John\" <j@x.org>, Ann <a@x.org>, =?utf-8?Q?Zo=C3=AB?= <z@x.org>\r\n"
        );
        // An unbreakable ASCII token longer than 998 becomes encoded-words.
        let s = unstructured("X-Long", &"a".repeat(2000));
        assert!(s.split("\r\n").all(|l| l.len() <= 78));
        // RFC 2231 with continuations for long non-ASCII parameter values.
        let p = with_params(
            "Content-Disposition",
            "attachment",
            &[("filename", &"ö".repeat(60))],
        );
        assert!(p.contains("filename*0*=utf-8''%C3%B6"), "{p}");
        assert!(p.split("\r\n").all(|l| l.len() <= 78));
    }
}
