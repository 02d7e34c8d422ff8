//! IMAP section numbers (RFC 3501 §6.4.5), computed from the arena on demand.
//!
//! Each entity records its ordinal among its siblings at parse time, so one
//! section costs O(depth): numbering every part of a message with 100,000
//! attachments one by one is linear, not quadratic.

use super::{Kind, Message, NO_PARENT};

/// The section of entity `idx`: built from its ancestors, root first.
pub(super) fn of(msg: &Message, idx: usize) -> String {
    let mut chain = Vec::new();
    let mut i = idx;
    loop {
        chain.push(i);
        let p = msg.entity(i).parent;
        if p == NO_PARENT {
            break;
        }
        i = p as usize;
    }
    let mut section = String::new();
    let mut prev: Option<usize> = None;
    for &i in chain.iter().rev() {
        step(msg, prev, i, &mut section);
        prev = Some(i);
    }
    section
}

/// Extends `section` (the parent's) to entity `i`'s.
fn step(msg: &Message, parent: Option<usize>, i: usize, section: &mut String) {
    let e = msg.entity(i);
    let parent_kind = parent.map(|p| msg.entity(p).kind);
    if let Some(n) = child_component(parent_kind, e.kind, e.ordinal) {
        if !section.is_empty() {
            section.push('.');
        }
        section.push_str(&n.to_string());
    }
}

/// The component an entity of `kind`, the `ordinal`-th child of a parent of
/// `parent` kind (`None`: the root), adds to its parent's section, if any:
/// a part of a multipart adds its ordinal; the root and a carried message
/// are numbered as if they stood alone, so they add `1` unless they are
/// multiparts (whose parts are numbered from their own section on).
pub(super) fn child_component(parent: Option<Kind>, kind: Kind, ordinal: u32) -> Option<u32> {
    match parent {
        Some(Kind::Multipart) => Some(ordinal),
        _ => (kind != Kind::Multipart).then_some(1),
    }
}

/// Serialisers print at most this many components of a section; see [`all`].
pub(super) const MAX_PRINTED_COMPONENTS: usize = 128;

/// Sections of every entity in walk order, in one pass (for serialisers).
///
/// The numbers live on a stack of components, so each entity costs O(1) to
/// number, and rendering costs its length. A section has one component per
/// level (about), so printing every section of a message nested `d` deep is
/// O(d²): 10^10 bytes at the 100,000 levels `Limits::unlimited()` admits.
/// Serialised sections are therefore cut: one with more than
/// [`MAX_PRINTED_COMPONENTS`] components prints its first 64, then
/// `[+N]` for the `N` left out, then its last 63 (`1.1.….1.[+99808].1.….2`).
/// Such a string is not a section number and `Message::section` does not
/// find it; [`EntityRef::section`](super::EntityRef::section) always
/// returns the whole number. With the default depth limit (100) nothing is
/// ever cut.
pub(super) fn all(msg: &Message) -> Vec<String> {
    each(msg, |comps| render(comps, MAX_PRINTED_COMPONENTS))
}

/// Calls `f` with the section components of every entity in walk order.
fn each(msg: &Message, mut f: impl FnMut(&[u32]) -> String) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(msg.len());
    // Components of the current entity's section.
    let mut comps: Vec<u32> = Vec::new();
    // Per depth on the current path: how many components the entity there
    // has, and how many children it has had so far.
    let mut comps_at: Vec<usize> = Vec::new();
    let mut children: Vec<u32> = Vec::new();
    for i in 0..msg.len() {
        let e = msg.entity(i);
        let depth = e.depth as usize;
        comps_at.truncate(depth);
        children.truncate(depth);
        if depth == 0 {
            comps.clear();
            comps.extend(child_component(None, e.kind, 1));
        } else {
            comps.truncate(comps_at[depth - 1]);
            let c = &mut children[depth - 1];
            *c += 1;
            let parent = msg.entity(e.parent as usize).kind;
            comps.extend(child_component(Some(parent), e.kind, *c));
        }
        comps_at.push(comps.len());
        children.push(0);
        out.push(f(&comps));
    }
    out
}

pub(super) fn render(comps: &[u32], max: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let put = |s: &mut String, n: &u32| {
        if !s.is_empty() {
            s.push('.');
        }
        let _ = write!(s, "{n}");
    };
    if comps.len() <= max {
        comps.iter().for_each(|n| put(&mut s, n));
    } else {
        let (head, tail) = (64, 63);
        comps[..head].iter().for_each(|n| put(&mut s, n));
        let _ = write!(s, ".[+{}]", comps.len() - head - tail);
        comps[comps.len() - tail..]
            .iter()
            .for_each(|n| put(&mut s, n));
    }
    s
}

/// The first entity (in walk order) numbered `section`: walks down from the
/// root, so the cost is the path length, not the message size.
pub(super) fn find(msg: &Message, section: &str) -> Option<usize> {
    let section = section.trim();
    let root = msg.entity(0);
    if section.is_empty() {
        return (root.kind == Kind::Multipart).then_some(0);
    }
    let mut cur = 0;
    // Whether `cur` is a message numbered as if it stood alone (the root, or
    // one carried by a message part) rather than a part of a multipart.
    let mut standalone = true;
    for n in section.split('.') {
        let n: u32 = n.parse().ok().filter(|&n| n > 0)?;
        let e = msg.entity(cur);
        if !standalone && e.kind == Kind::Message {
            // A message part's numbers continue inside the message it carries.
            cur += 1;
            standalone = true;
        }
        let e = msg.entity(cur);
        if e.kind == Kind::Multipart {
            cur = nth(msg, cur, n)?;
        } else if standalone && n == 1 {
            // A non-multipart message's body is its part 1: the entity itself.
        } else {
            return None;
        }
        standalone = false;
    }
    Some(cur)
}

/// The `n`-th (1-based) child of `p`.
fn nth(msg: &Message, p: usize, n: u32) -> Option<usize> {
    let end = p + msg.entity(p).subtree as usize;
    let mut c = p + 1;
    for _ in 1..n {
        if c >= end {
            return None;
        }
        c += msg.entity(c).subtree as usize;
    }
    (c < end).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Limits, ParseOptions};

    /// A multipart/mixed with `n` parts, an empty part dropped between two
    /// delimiter lines in a row (it must not take a number), a nested
    /// multipart and a carried message.
    fn wide(n: usize) -> Vec<u8> {
        let mut m = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for i in 0..n {
            m.extend_from_slice(b"--b\r\n");
            if i == 3 {
                // Repeated delimiter: no body part between the two lines.
                m.extend_from_slice(b"--b\r\n");
            }
            match i % 1000 {
                7 => m.extend_from_slice(
                    b"Content-Type: multipart/alternative; boundary=c\r\n\r\n\
                      --c\r\n\r\nx\r\n--c\r\n\r\ny\r\n--c--\r\n",
                ),
                8 => m.extend_from_slice(
                    b"Content-Type: message/rfc822\r\n\r\n\
                      Content-Type: multipart/mixed; boundary=d\r\n\r\n\
                      --d\r\n\r\nx\r\n--d\r\n\r\ny\r\n--d--\r\n",
                ),
                _ => m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nx\r\n"),
            }
        }
        m.extend_from_slice(b"--b--\r\n");
        m
    }

    /// Each entity's own section (from the ordinals recorded at parse time)
    /// equals the one-pass numbering, and finds the first entity so numbered, at 100,000
    /// parts. Before the ordinals, this test walked 5·10⁹ siblings.
    #[test]
    fn ordinals_match_one_pass_numbering() {
        let n = 100_000;
        let opts = ParseOptions {
            limits: Limits::unlimited(),
            ..ParseOptions::default()
        };
        let msg = Message::parse_with(wide(n), &opts).unwrap();
        // Two levels deep: `all` cuts nothing.
        let all = all(&msg);
        assert_eq!(all.len(), msg.len());
        assert_eq!(msg.root().children().count(), n);
        for (e, s) in msg.walk().zip(&all) {
            assert_eq!(e.section(), *s, "entity {}", e.index());
            // The first entity with that number (a carried multipart
            // message shares its part's). `find` walks siblings, so only
            // a sample is looked up.
            if e.index() % 997 != 0 && e.index() + 1 != msg.len() {
                continue;
            }
            let first = find(&msg, s).unwrap_or_else(|| panic!("{s} not found"));
            assert!(first <= e.index() && all[first] == *s, "section {s}");
        }
        assert_eq!(all[4], "4");
        assert_eq!(all.last().map(String::as_str), Some("100000"));
        let nested = msg.root().children().nth(7).unwrap();
        let kids: Vec<String> = nested.children().map(|c| c.section()).collect();
        assert_eq!(kids, ["8.1", "8.2"]);
        let carried = msg.root().children().nth(8).unwrap();
        let inner: Vec<String> = carried
            .children()
            .next()
            .unwrap()
            .children()
            .map(|c| c.section())
            .collect();
        assert_eq!(inner, ["9.1", "9.2"]);
    }
}
