//! Conversation threads from `References` and `In-Reply-To`, with ids that
//! do not depend on the order messages are seen in.
//!
//! # The rule
//!
//! Every Message-ID is a node. A message joins its own Message-ID to every
//! ID of its `References` and its `In-Reply-To`: a thread is a connected
//! component of that graph (a union-find, so the pass is linear in the
//! archive and the result cannot depend on the order of the unions). A
//! message without a Message-ID gets a node of its own, named by its key
//! `(source, offset)`; one with neither a Message-ID nor a parent is a
//! thread of one.
//!
//! A node *has a parent* when some message with that Message-ID names a
//! `References` or `In-Reply-To`. The thread's **root** is its node without
//! a parent; a parent missing from the archive is such a node, so the
//! replies to one lost message still share a thread, and the same thread
//! in another archive gets the same id. When several nodes qualify (two
//! branches that name different lost ancestors, joined by a later reply)
//! or none does (a cycle of forged headers), the root is the one with the
//! smallest key.
//!
//! `thread_id` is the first 16 hex digits of the sha256 of the root's
//! Message-ID as written (angle brackets included), or of
//! `source \0 offset` for a message without one. The node keys are those
//! sha256 prefixes, so "smallest key" is well defined everywhere and a
//! distributed run that collects the same `(message_id, in_reply_to,
//! references)` triples gets the same ids.
//!
//! # Memory
//!
//! The index grows with the archive: per message a node (a hash-table
//! entry of 16 + 4 bytes, a 16-byte key, a 4-byte parent link and a flag)
//! and its key (source number and offset), plus a node per referenced ID
//! not seen as a message; about 80 to 100 bytes a message
//! ([`ThreadIndex::heap_bytes`] reports it).
//!
//! # Provisional ids
//!
//! An output that stores the thread id in the message row (SQLite's
//! `messages.thread_id`) would rather write it once than rewrite every row
//! at the end. [`ThreadIndex::tracking`] keeps, per component, its
//! smallest parentless node and its smallest node (8 more bytes a node),
//! so [`ThreadIndex::provisional`] gives the id the rule gives on what was
//! pushed so far. It is final unless a later message joins the thread to
//! one with a smaller root, or names a parent for a node that had none
//! (a reply seen before the message it answers is not such a case: its
//! missing parent is the root either way). In an archive in date order
//! nearly every provisional id is final; the caller compares them with
//! [`ThreadIndex::finish`] and rewrites only the rows that differ. The
//! rule, and so the final ids, stay those above.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sha2::{Digest, Sha256};

/// A node's key: the first 16 bytes of a sha256.
type Key = u128;

/// Keys are sha256 prefixes already: their low 64 bits are the hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, k: u128) {
        self.0 = k as u64;
    }
}

fn key_of(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let d = h.finalize();
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

/// One message's node keys: its own (its Message-ID's, or its
/// `(source, offset)`'s without one) and its parents' (References, then
/// In-Reply-To; empty ones and its own id left out), in that order. The
/// sha256s are most of what adding a message costs, and
/// [`ThreadIndex::push_keys`] runs in archive order on one thread, so the
/// workers that parse the messages make them
/// ([`crate::batch`]'s rows carry them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageKeys {
    own: Key,
    parents: Vec<Key>,
}

impl MessageKeys {
    /// The keys of a message with these header values.
    pub fn new(
        source: &str,
        offset: u64,
        message_id: Option<&str>,
        in_reply_to: Option<&str>,
        references: &[String],
    ) -> MessageKeys {
        let own = match message_id.filter(|m| !m.is_empty()) {
            Some(id) => key_of(&[id.as_bytes()]),
            None => key_of(&[source.as_bytes(), b"\0", offset.to_string().as_bytes()]),
        };
        let parents = references
            .iter()
            .map(String::as_str)
            .chain(in_reply_to)
            .filter(|p| !p.is_empty() && Some(*p) != message_id)
            .map(|p| key_of(&[p.as_bytes()]))
            .collect();
        MessageKeys { own, parents }
    }
}

/// The thread id of a node key.
fn thread_id(k: Key) -> String {
    crate::message::hex(&((k >> 64) as u64).to_be_bytes())
}

/// The thread index of one run (see the module docs).
#[derive(Default)]
pub struct ThreadIndex {
    nodes: HashMap<Key, u32, BuildHasherDefault<KeyHasher>>,
    keys: Vec<Key>,
    link: Vec<u32>,
    has_parent: Vec<bool>,
    /// Per message in the order pushed: its node, source number and offset.
    messages: Vec<(u32, u32, u64)>,
    sources: Vec<String>,
    /// `sources` by name: a folder source names every message's file, so
    /// a scan of `sources` would make the pass quadratic.
    source_numbers: HashMap<String, u32>,
    /// [`ThreadIndex::tracking`]: per representative, its component's
    /// smallest parentless node ([`NONE`] when it has none)...
    best: Vec<u32>,
    /// ...and its smallest node. Empty when not tracking.
    least: Vec<u32>,
    tracking: bool,
}

/// No node.
const NONE: u32 = u32::MAX;

/// One message's thread, as [`ThreadIndex::finish`] gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRow<'a> {
    /// The message's key: its source...
    pub source: &'a str,
    /// ...and offset.
    pub offset: u64,
    /// Its thread (see the module docs).
    pub thread_id: String,
}

impl ThreadIndex {
    /// An empty index.
    pub fn new() -> ThreadIndex {
        ThreadIndex::default()
    }

    /// An empty index that also keeps what [`ThreadIndex::provisional`]
    /// needs (8 bytes a node more).
    pub fn tracking() -> ThreadIndex {
        ThreadIndex {
            tracking: true,
            ..ThreadIndex::default()
        }
    }

    fn node(&mut self, k: Key) -> u32 {
        let next = self.keys.len() as u32;
        let n = *self.nodes.entry(k).or_insert(next);
        if n == next {
            self.keys.push(k);
            self.link.push(n);
            self.has_parent.push(false);
            if self.tracking {
                self.best.push(n);
                self.least.push(n);
            }
        }
        n
    }

    /// Of two nodes (either may be [`NONE`]), the one with the smaller key.
    fn smaller(&self, a: u32, b: u32) -> u32 {
        match (a, b) {
            (NONE, x) | (x, NONE) => x,
            _ if self.keys[b as usize] < self.keys[a as usize] => b,
            _ => a,
        }
    }

    fn find(&mut self, mut n: u32) -> u32 {
        while self.link[n as usize] != n {
            let up = self.link[self.link[n as usize] as usize];
            self.link[n as usize] = up; // path halving
            n = up;
        }
        n
    }

    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Deterministic whatever the order: the smaller node number
            // becomes the representative (ids come from keys, not from it).
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.link[hi as usize] = lo;
            if self.tracking {
                let (l, h) = (lo as usize, hi as usize);
                self.best[l] = self.smaller(self.best[l], self.best[h]);
                self.least[l] = self.smaller(self.least[l], self.least[h]);
            }
        }
    }

    /// Adds one message ([`MessageKeys::new`], then [`ThreadIndex::push_keys`]).
    pub fn push(
        &mut self,
        source: &str,
        offset: u64,
        message_id: Option<&str>,
        in_reply_to: Option<&str>,
        references: &[String],
    ) {
        let keys = MessageKeys::new(source, offset, message_id, in_reply_to, references);
        self.push_keys(source, offset, &keys);
    }

    /// Adds one message whose node keys were made already (by the worker
    /// that parsed it).
    pub fn push_keys(&mut self, source: &str, offset: u64, keys: &MessageKeys) {
        let src = match self.sources.last() {
            Some(s) if s == source => (self.sources.len() - 1) as u32,
            _ => match self.source_numbers.get(source) {
                Some(&i) => i,
                None => {
                    let i = self.sources.len() as u32;
                    self.sources.push(source.to_string());
                    self.source_numbers.insert(source.to_string(), i);
                    i
                }
            },
        };
        let fresh = self.keys.len();
        let n = self.node(keys.own);
        if self.tracking && n as usize == fresh && !keys.parents.is_empty() {
            // A new node is a component of its own until the unions below:
            // it stops being a root candidate exactly. (An older node that
            // gains a parent may stay its component's candidate: then its
            // provisional id is wrong, and finish() says so.)
            self.best[n as usize] = NONE;
        }
        for &p in &keys.parents {
            let pn = self.node(p);
            self.has_parent[n as usize] = true;
            self.union(n, pn);
        }
        self.messages.push((n, src, offset));
    }

    /// The thread id of the last message pushed, on what is known so far
    /// (see the module docs); `None` when the index is not
    /// [`tracking`](ThreadIndex::tracking) or empty.
    pub fn provisional(&mut self) -> Option<String> {
        if !self.tracking {
            return None;
        }
        let &(n, _, _) = self.messages.last()?;
        let r = self.find(n) as usize;
        let root = match self.best[r] {
            NONE => self.least[r],
            b => b,
        };
        Some(thread_id(self.keys[root as usize]))
    }

    /// Messages pushed so far.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// No message pushed yet.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Bytes the index holds on the heap (capacities, not lengths).
    pub fn heap_bytes(&self) -> usize {
        // hashbrown: one control byte per bucket besides the entry.
        self.nodes.capacity() * (std::mem::size_of::<(Key, u32)>() + 1)
            + self.keys.capacity() * std::mem::size_of::<Key>()
            + self.link.capacity() * 4
            + self.has_parent.capacity()
            + self.messages.capacity() * std::mem::size_of::<(u32, u32, u64)>()
            + self.sources.iter().map(|s| s.capacity()).sum::<usize>()
            + self.source_numbers.capacity() * (std::mem::size_of::<(String, u32)>() + 1)
            + self
                .source_numbers
                .keys()
                .map(|s| s.capacity())
                .sum::<usize>()
            + (self.best.capacity() + self.least.capacity()) * 4
    }

    /// The thread of every message, in the order pushed.
    pub fn finish(&mut self) -> Vec<ThreadRow<'_>> {
        let count = self.keys.len();
        // Each node's representative, found once (`find` halves paths, so
        // it needs `&mut`); then per representative, as node numbers: the
        // node of the smallest parentless key, and of the smallest key of
        // all (for a component with no parentless node). Node numbers
        // rather than keys: this runs after the last window, on one
        // thread, and three arrays of 4-byte numbers fault in fewer fresh
        // pages than two of `Option<Key>` (32 bytes) and a copy of
        // `messages` did (2-4 ms of page faults for 27,000 messages).
        let rep: Vec<u32> = (0..count as u32).map(|n| self.find(n)).collect();
        let keys = &self.keys;
        let least = |best: u32, n: u32| {
            if best == NONE || keys[n as usize] < keys[best as usize] {
                n
            } else {
                best
            }
        };
        let mut root = vec![NONE; count];
        let mut any = vec![NONE; count];
        for n in 0..count as u32 {
            let r = rep[n as usize] as usize;
            any[r] = least(any[r], n);
            if !self.has_parent[n as usize] {
                root[r] = least(root[r], n);
            }
        }
        self.messages
            .iter()
            .map(|&(n, s, offset)| {
                let r = rep[n as usize] as usize;
                let k = if root[r] == NONE { any[r] } else { root[r] };
                ThreadRow {
                    source: &self.sources[s as usize],
                    offset,
                    thread_id: thread_id(keys[k as usize]),
                }
            })
            .collect()
    }
}

/// The thread id of a Message-ID that is a thread's root.
pub fn thread_id_of(message_id: &str) -> String {
    thread_id(key_of(&[message_id.as_bytes()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    /// (message_id, in_reply_to, references)
    type Msg<'a> = (Option<&'a str>, Option<&'a str>, &'a [&'a str]);

    fn ids(msgs: &[Msg<'_>]) -> Vec<String> {
        let mut t = ThreadIndex::new();
        for (i, (id, irt, r)) in msgs.iter().enumerate() {
            t.push("a", i as u64, *id, *irt, &refs(r));
        }
        t.finish().into_iter().map(|r| r.thread_id).collect()
    }

    #[test]
    fn replies_share_their_roots_id_in_any_order() {
        let msgs: Vec<Msg<'_>> = vec![
            (Some("<a>"), None, &[]),
            (Some("<b>"), Some("<a>"), &["<a>"]),
            (Some("<c>"), Some("<b>"), &["<a>", "<b>"]),
            (Some("<x>"), None, &[]),
        ];
        let got = ids(&msgs);
        assert_eq!(got[0], thread_id_of("<a>"));
        assert_eq!(got[1], got[0]);
        assert_eq!(got[2], got[0]);
        assert_eq!(got[3], thread_id_of("<x>"));
        let mut rev = msgs.clone();
        rev.reverse();
        let mut back = ids(&rev);
        back.reverse();
        assert_eq!(back, got);
    }

    #[test]
    fn a_lost_parent_is_the_root() {
        let got = ids(&[
            (Some("<b>"), Some("<lost>"), &[]),
            (Some("<c>"), None, &["<lost>", "<b>"]),
        ]);
        assert_eq!(got, vec![thread_id_of("<lost>"); 2]);
    }

    #[test]
    fn no_id_and_no_parent_is_a_thread_of_one() {
        let got = ids(&[(None, None, &[]), (None, None, &[])]);
        assert_ne!(got[0], got[1]);
        // A reply without a Message-ID still joins its parent.
        let got = ids(&[(Some("<p>"), None, &[]), (None, Some("<p>"), &[])]);
        assert_eq!(got, vec![thread_id_of("<p>"); 2]);
    }

    #[test]
    fn a_cycle_still_gets_one_id() {
        let got = ids(&[
            (Some("<a>"), Some("<b>"), &[]),
            (Some("<b>"), Some("<a>"), &[]),
        ]);
        assert_eq!(got[0], got[1]);
        assert!(got[0] == thread_id_of("<a>") || got[0] == thread_id_of("<b>"));
    }

    /// Provisional ids from the pushes so far, and the final ones.
    fn provisional_and_final(msgs: &[Msg<'_>]) -> (Vec<String>, Vec<String>) {
        let mut t = ThreadIndex::tracking();
        let mut early = Vec::new();
        for (i, (id, irt, r)) in msgs.iter().enumerate() {
            t.push("a", i as u64, *id, *irt, &refs(r));
            early.push(t.provisional().expect("tracking"));
        }
        let fin = t.finish().into_iter().map(|r| r.thread_id).collect();
        (early, fin)
    }

    #[test]
    fn provisional_ids_are_final_when_parents_come_first() {
        let msgs: Vec<Msg<'_>> = vec![
            (Some("<a>"), None, &[]),
            (Some("<b>"), Some("<a>"), &["<a>"]),
            (Some("<x>"), None, &[]),
            (Some("<c>"), Some("<b>"), &["<a>", "<b>"]),
            // A reply to a lost message: the lost one is the root at once.
            (Some("<r>"), Some("<lost>"), &[]),
            (None, None, &[]),
        ];
        let (early, fin) = provisional_and_final(&msgs);
        assert_eq!(early, fin);
        assert_eq!(fin, ids(&msgs), "tracking changes no final id");
    }

    #[test]
    fn provisional_ids_may_change_but_final_ones_do_not() {
        // <c> names two parents not seen yet; <b> then turns out to have a
        // parent, so only <a> is a root.
        let msgs: Vec<Msg<'_>> = vec![
            (Some("<c>"), Some("<b>"), &["<a>", "<b>"]),
            (Some("<b>"), Some("<a>"), &["<a>"]),
            (Some("<a>"), None, &[]),
        ];
        let (early, fin) = provisional_and_final(&msgs);
        assert_eq!(fin, vec![thread_id_of("<a>"); 3]);
        assert_eq!(fin, ids(&msgs));
        assert_eq!(early.len(), 3);
        // Two threads joined by a later reply: the earlier messages of the
        // one with the larger root change.
        let msgs: Vec<Msg<'_>> = vec![
            (Some("<p>"), None, &[]),
            (Some("<q>"), None, &[]),
            (Some("<j>"), Some("<p>"), &["<q>", "<p>"]),
        ];
        let (early, fin) = provisional_and_final(&msgs);
        assert_eq!(fin, ids(&msgs));
        assert_eq!(early[2], fin[2]);
        assert_eq!(early[..2], [thread_id_of("<p>"), thread_id_of("<q>")]);
    }

    #[test]
    fn heap_is_about_a_hundred_bytes_a_message() {
        let mut t = ThreadIndex::new();
        let n = 100_000;
        for i in 0..n {
            let id = format!("<{i}@x>");
            let parent = format!("<{}@x>", i / 2);
            t.push("archive.mbox", i * 1000, Some(&id), Some(&parent), &[]);
        }
        let per = t.heap_bytes() / n as usize;
        eprintln!("thread index: {per} bytes a message");
        assert!(per <= 120, "{per} bytes a message");
    }
}
