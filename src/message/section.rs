//! IMAP section numbers (RFC 3501 §6.4.5), computed from the arena on demand.

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
    let push = |s: &mut String, n: u32| {
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(&n.to_string());
    };
    match parent {
        None => {
            if e.kind != Kind::Multipart {
                section.push('1');
            }
        }
        Some(p) => match msg.entity(p).kind {
            Kind::Multipart => push(section, nth_child(msg, p, i)),
            // The carried message, numbered as if it stood alone.
            _ => {
                if e.kind != Kind::Multipart {
                    push(section, 1);
                }
            }
        },
    }
}

/// 1-based position of child `i` among the children of `p`.
fn nth_child(msg: &Message, p: usize, i: usize) -> u32 {
    let mut n = 1;
    let mut c = p + 1;
    while c < i {
        c += msg.entity(c).subtree as usize;
        n += 1;
    }
    n
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

/// Like [`all`] but never cut: O(d²) for a message nested `d` deep.
#[allow(dead_code)]
pub(super) fn all_exact(msg: &Message) -> Vec<String> {
    each(msg, |comps| render(comps, usize::MAX))
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
            if e.kind != Kind::Multipart {
                comps.push(1);
            }
        } else {
            comps.truncate(comps_at[depth - 1]);
            let c = &mut children[depth - 1];
            *c += 1;
            match msg.entity(e.parent as usize).kind {
                Kind::Multipart => comps.push(*c),
                // The carried message, numbered as if it stood alone.
                _ if e.kind != Kind::Multipart => comps.push(1),
                _ => {}
            }
        }
        comps_at.push(comps.len());
        children.push(0);
        out.push(f(&comps));
    }
    out
}

fn render(comps: &[u32], max: usize) -> String {
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
