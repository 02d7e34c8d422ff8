//! RFC 5322 §3.4 address lists, with the obsolete syntax of §4.4.
//!
//! The value is cut into tokens (atoms, quoted strings, comments, domain
//! literals, specials) and a small state machine assembles mailboxes from
//! them, all iteratively: display names (quoted strings and encoded-words
//! decoded), angle addresses, bare addr-specs, groups ("Undisclosed: a@b,
//! c@d;", whose members carry the group's name), comments ("a@b (Name)"
//! gives the name when there is no display name), obsolete routes
//! ("<@x,@y:a@b>", dropped) and blanks or comments inside addr-specs
//! ("jdoe@test  . example"). What does not parse is kept as well as it can
//! be and reported as `BadAddress`.

use super::{encoded_word, unfold_mapped};
use crate::defect::{Defect, DefectCode};

/// One mailbox of an address list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    /// The display name (or the comment after a bare address), decoded.
    pub name: Option<String>,
    /// The addr-spec, without comments and blanks; may be empty when
    /// unparseable.
    pub address: String,
    /// The name of the group this mailbox belongs to.
    pub group: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// An atom (dots excluded) or a domain literal, as written.
    Atom(Vec<u8>),
    /// A quoted string's content, unescaped.
    Quoted(Vec<u8>),
    /// A comment's content, unescaped (nested parentheses kept).
    Comment(Vec<u8>),
    /// One of `< > , : ; @ .`.
    Special(u8),
}

/// A token with whether blanks or comments came before it, and its position.
struct Item {
    tok: Tok,
    space: bool,
    at: usize,
}

/// Cuts `s` into tokens, handing each to `emit` as it is found: a long
/// list is never held as tokens (about 60 bytes each, a dozen per address).
fn tokenize(
    s: &[u8],
    defects: &mut Vec<Defect>,
    pos: &dyn Fn(usize) -> u64,
    mut emit: impl FnMut(Item),
) {
    let mut i = 0;
    let mut space = false;
    // One memoised finder for the whole value keeps the word checks linear.
    let mut finder = encoded_word::Finder::default();
    while i < s.len() {
        let b = s[i];
        let at = i;
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => {
                space = true;
                i += 1;
                continue;
            }
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < s.len() {
                    let c = s[i];
                    i += 1;
                    match c {
                        b'\\' if i < s.len() => {
                            text.push(s[i]);
                            i += 1;
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(c);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        _ => text.push(c),
                    }
                }
                if depth > 0 {
                    defects.push(Defect::new(DefectCode::BadAddress, pos(at)));
                }
                emit(Item {
                    tok: Tok::Comment(text),
                    space,
                    at,
                });
                space = true;
                continue;
            }
            b'"' => {
                i += 1;
                let mut text = Vec::new();
                let mut closed = false;
                while i < s.len() {
                    let c = s[i];
                    i += 1;
                    match c {
                        b'"' => {
                            closed = true;
                            break;
                        }
                        b'\\' if i < s.len() => {
                            text.push(s[i]);
                            i += 1;
                        }
                        _ => text.push(c),
                    }
                }
                if !closed {
                    defects.push(Defect::new(DefectCode::BadAddress, pos(at)));
                }
                emit(Item {
                    tok: Tok::Quoted(text),
                    space,
                    at,
                });
            }
            b'[' => {
                let end = memchr::memchr(b']', &s[i..]).map_or(s.len(), |k| i + k + 1);
                emit(Item {
                    tok: Tok::Atom(s[i..end].to_vec()),
                    space,
                    at,
                });
                i = end;
            }
            b'<' | b'>' | b',' | b':' | b';' | b'@' | b'.' => {
                emit(Item {
                    tok: Tok::Special(b),
                    space,
                    at,
                });
                i += 1;
            }
            _ => {
                let start = i;
                while i < s.len()
                    && !matches!(
                        s[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'('
                            | b'"'
                            | b'['
                            | b'<'
                            | b'>'
                            | b','
                            | b':'
                            | b';'
                            | b'@'
                            | b'.'
                    )
                {
                    i += 1;
                }
                // Keep an encoded-word whole even when its text holds a '.'
                // or other special (real mail writes "=?utf-8?q?J.?=").
                if s[start..].starts_with(b"=?") {
                    if let Some(w) = encoded_word::find(s, start, &mut finder) {
                        if !s[start..w.range.end].contains(&b'"') {
                            i = i.max(w.range.end);
                        }
                    }
                }
                emit(Item {
                    tok: Tok::Atom(s[start..i].to_vec()),
                    space,
                    at,
                });
            }
        }
        space = false;
    }
}

/// Does an addr-spec local part need quoting to be written back?
fn needs_quotes(q: &[u8]) -> bool {
    q.is_empty()
        || q.iter()
            .any(|&b| b <= b' ' || b"()<>[]:;@\\,.\"".contains(&b) || b == 0x7f)
}

/// Appends a token of an addr-spec (blanks and comments dropped).
fn push_spec(spec: &mut Vec<u8>, tok: &Tok) {
    match tok {
        Tok::Atom(a) => spec.extend_from_slice(a),
        Tok::Quoted(q) if needs_quotes(q) => {
            spec.push(b'"');
            for &b in q {
                if b == b'"' || b == b'\\' {
                    spec.push(b'\\');
                }
                spec.push(b);
            }
            spec.push(b'"');
        }
        Tok::Quoted(q) => spec.extend_from_slice(q),
        Tok::Special(c) => spec.push(*c),
        Tok::Comment(_) => {}
    }
}

/// The mailbox being assembled.
#[derive(Default)]
struct Mailbox {
    /// Tokens outside angle brackets (display name or bare addr-spec).
    outer: Vec<(Tok, bool)>,
    /// The addr-spec inside angle brackets.
    angle: Option<Vec<u8>>,
    in_angle: bool,
    /// The last comment outside angle brackets.
    comment: Option<Vec<u8>>,
    at: usize,
}

impl Mailbox {
    fn is_empty(&self) -> bool {
        self.outer.is_empty() && self.angle.is_none() && self.comment.is_none()
    }
}

/// Builds a phrase (display name) from tokens: words joined by single
/// spaces where the source had blanks, then encoded-words decoded.
fn phrase(toks: &[(Tok, bool)], at: u64, defects: &mut Vec<Defect>) -> Option<String> {
    let mut raw = Vec::new();
    for (t, space) in toks {
        let bytes: &[u8] = match t {
            Tok::Atom(a) | Tok::Quoted(a) => a,
            Tok::Special(c) => std::slice::from_ref(c),
            Tok::Comment(_) => continue,
        };
        if *space && !raw.is_empty() {
            raw.push(b' ');
        }
        raw.extend_from_slice(bytes);
    }
    let text = encoded_word::decode_words(&raw, at, defects);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn finish(
    mb: Mailbox,
    group: &Option<String>,
    out: &mut dyn FnMut(Address),
    pos: &dyn Fn(usize) -> u64,
    defects: &mut Vec<Defect>,
) {
    if mb.outer.is_empty() && mb.angle.is_none() {
        // Nothing, or only a comment (e.g. "...; (the end of the group)").
        return;
    }
    let at = pos(mb.at);
    if mb.in_angle {
        defects.push(Defect::new(DefectCode::BadAddress, at));
    }
    let comment_name = |defects: &mut Vec<Defect>| {
        mb.comment
            .as_ref()
            .and_then(|c| phrase(&[(Tok::Atom(c.clone()), false)], at, defects))
    };
    let (name, address) = if let Some(spec) = &mb.angle {
        let name = if mb.outer.is_empty() {
            comment_name(defects)
        } else {
            phrase(&mb.outer, at, defects)
        };
        (name, String::from_utf8_lossy(spec).into_owned())
    } else {
        // A bare addr-spec; tokens join across blanks next to '.' and '@'
        // (obsolete syntax). Separate words mean a name without brackets.
        let toks: Vec<&(Tok, bool)> = mb
            .outer
            .iter()
            .filter(|(t, _)| !matches!(t, Tok::Comment(_)))
            .collect();
        let mut word_starts = vec![0];
        for k in 1..toks.len() {
            let joiner = |t: &Tok| matches!(t, Tok::Special(b'.' | b'@'));
            if toks[k].1 && !joiner(&toks[k].0) && !joiner(&toks[k - 1].0) {
                word_starts.push(k);
            }
        }
        let last = *word_starts.last().unwrap_or(&0);
        let has_at = |r: &[&(Tok, bool)]| r.iter().any(|(t, _)| *t == Tok::Special(b'@'));
        if word_starts.len() == 1 {
            let mut spec = Vec::new();
            toks.iter().for_each(|(t, _)| push_spec(&mut spec, t));
            if !has_at(&toks) && !toks.is_empty() {
                // A lone word: Python reads it as a local part too.
                defects.push(Defect::new(DefectCode::BadAddress, at));
            }
            (
                comment_name(defects),
                String::from_utf8_lossy(&spec).into_owned(),
            )
        } else {
            defects.push(Defect::new(DefectCode::BadAddress, at));
            if has_at(&toks[last..]) {
                let mut spec = Vec::new();
                toks[last..]
                    .iter()
                    .for_each(|(t, _)| push_spec(&mut spec, t));
                let name_toks: Vec<(Tok, bool)> = toks[..last].iter().map(|&x| x.clone()).collect();
                (
                    phrase(&name_toks, at, defects),
                    String::from_utf8_lossy(&spec).into_owned(),
                )
            } else {
                (phrase(&mb.outer, at, defects), String::new())
            }
        }
    };
    out(Address {
        name,
        address,
        group: group.clone(),
    });
}

/// Parses an address list (To, Cc, From, ...).
pub fn parse_address_list(value: &[u8], base: u64, defects: &mut Vec<Defect>) -> Vec<Address> {
    let mut list = Vec::new();
    for_each_address(value, base, defects, |a| list.push(a));
    list
}

/// [`parse_address_list`], handing each address to `emit` as it is parsed
/// (a list of a million addresses is never held).
pub fn for_each_address(
    value: &[u8],
    base: u64,
    defects: &mut Vec<Defect>,
    mut emit: impl FnMut(Address),
) {
    let (v, map) = unfold_mapped(value);
    let pos = |i: usize| base + map.orig(i);
    // Tokenizer defects come first, then the parser's, as when the tokens
    // were all cut before parsing.
    let mut token_defects = Vec::new();
    let mut parse_defects = Vec::new();
    let defects_out = defects;
    let defects = &mut parse_defects;
    let out: &mut dyn FnMut(Address) = &mut emit;
    let mut group: Option<String> = None;
    let mut mb = Mailbox::default();
    tokenize(&v, &mut token_defects, &pos, |Item { tok, space, at }| {
        if mb.is_empty() && !mb.in_angle {
            mb.at = at;
        }
        if mb.in_angle {
            let spec = mb.angle.get_or_insert_with(Vec::new);
            match tok {
                Tok::Special(b'>') => mb.in_angle = false,
                // Obsolete route "<@a,@b:user@host>": drop it.
                Tok::Special(b':') if spec.first() == Some(&b'@') => spec.clear(),
                Tok::Special(b',') if spec.first() == Some(&b'@') => spec.push(b','),
                Tok::Special(c @ (b',' | b';' | b'<')) => {
                    // Unclosed angle address: close it here.
                    finish(std::mem::take(&mut mb), &group, out, &pos, defects);
                    match c {
                        b';' => group = None,
                        b'<' => {
                            mb.at = at;
                            mb.in_angle = true;
                            mb.angle = Some(Vec::new());
                        }
                        _ => {}
                    }
                }
                t => push_spec(spec, &t),
            }
            return;
        }
        match tok {
            Tok::Special(b'<') => {
                if mb.angle.is_some() {
                    defects.push(Defect::new(DefectCode::BadAddress, pos(at)));
                }
                mb.in_angle = true;
                mb.angle = Some(Vec::new());
            }
            Tok::Special(b'>') => defects.push(Defect::new(DefectCode::BadAddress, pos(at))),
            Tok::Special(b',') => finish(std::mem::take(&mut mb), &group, out, &pos, defects),
            Tok::Special(b';') => {
                finish(std::mem::take(&mut mb), &group, out, &pos, defects);
                if group.take().is_none() {
                    defects.push(Defect::new(DefectCode::BadAddress, pos(at)));
                }
            }
            Tok::Special(b':')
                if group.is_none()
                    && mb.angle.is_none()
                    && !mb.outer.iter().any(|(t, _)| *t == Tok::Special(b'@')) =>
            {
                group = Some(phrase(&mb.outer, pos(mb.at), defects).unwrap_or_default());
                mb = Mailbox::default();
            }
            Tok::Comment(c) => {
                mb.comment = Some(c);
            }
            t => mb.outer.push((t, space)),
        }
    });
    finish(mb, &group, out, &pos, defects);
    defects_out.append(&mut token_defects);
    defects_out.append(&mut parse_defects);
}
