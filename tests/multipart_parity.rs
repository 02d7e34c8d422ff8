//! The differential test of issue 10 §1: for single-level multipart bodies,
//! the part ranges the message parser finds (`Message::parse`, which watches
//! every open boundary through its table) equal those of `multipart::split`
//! and of the streaming `multipart::Scanner` fed random chunkings. All three
//! run on `multipart`'s one delimiter grammar; this test is what keeps a
//! change to one reader from drifting from the others.

use std::ops::Range;

use mimeflow::message::Message;
use mimeflow::multipart::{split, Event, Scanner};
use proptest::prelude::*;

const BOUNDARIES: [&str; 4] = ["b", "ab", "simple boundary", "=_Part_0_12.34"];

/// Pieces of bodies: delimiter lines, near misses, line ends, text.
fn fragment(b: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(format!("--{b}")),
        2 => Just(format!("--{b}--")),
        1 => Just(format!("--{b}X")),
        1 => Just(format!("--{}", &b[..b.len() - 1])),
        1 => Just(format!(" --{b}")),
        1 => Just(format!("---{b}")),
        1 => Just(format!("--{b}-")),
        1 => Just(format!("--{b} \t")),
        1 => Just(format!("--{b}-- ")),
        6 => Just("\r\n".to_string()),
        5 => Just("\n".to_string()),
        1 => Just("\r".to_string()),
        2 => Just(" ".to_string()),
        2 => Just("-".to_string()),
        2 => Just("text".to_string()),
        1 => Just("X-Note: y".to_string()),
    ]
    .prop_map(String::into_bytes)
}

/// The parts of a message whose body is `body`, as ranges into `body`.
fn parser_parts(body: &[u8], boundary: &str) -> Vec<Range<usize>> {
    let head = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n");
    let mut src = head.clone().into_bytes();
    src.extend_from_slice(body);
    let msg = Message::parse(src);
    msg.root()
        .children()
        .map(|c| {
            let r = c.range();
            r.start - head.len()..r.end - head.len()
        })
        .collect()
}

/// The parts the scanner reports for `body` cut into `sizes` (cycled).
fn scanner_parts(body: &[u8], boundary: &str, sizes: &[usize]) -> Vec<Range<usize>> {
    let mut sc = Scanner::new(boundary.as_bytes());
    let mut events = Vec::new();
    let (mut rest, mut k) = (body, 0);
    while !rest.is_empty() {
        let n = sizes[k % sizes.len()].clamp(1, rest.len());
        sc.push(&rest[..n], &mut events);
        rest = &rest[n..];
        k += 1;
    }
    sc.finish(&mut events);
    let (mut parts, mut start) = (Vec::new(), None);
    for e in events {
        match e {
            Event::PartStart { offset } => start = Some(offset as usize),
            Event::PartEnd { offset } => {
                parts.push(start.take().expect("PartStart before PartEnd")..offset as usize)
            }
            Event::Close { .. } => {}
        }
    }
    parts
}

fn check(body: &[u8], boundary: &str, sizes: &[usize]) {
    let split = split(body, boundary.as_bytes()).parts;
    let show = String::from_utf8_lossy(body);
    assert_eq!(
        parser_parts(body, boundary),
        split,
        "parser vs split, boundary {boundary:?}, body {show:?}"
    );
    assert_eq!(
        scanner_parts(body, boundary, sizes),
        split,
        "scanner vs split, chunks {sizes:?}, body {show:?}"
    );
}

#[test]
fn the_rules_each_reader_must_share() {
    for body in [
        &b"--b\n--b\nx\n--b--\n"[..], // a repeated delimiter opens no part
        b"--b\n--b--\n",              // a close right after: one empty part
        b"--b\n\n--b--\n",            // two line ends: one empty part
        b"--b \t\r\nx\r\n--b-- \r\nepilogue\r\n--b\r\n",
        b"pre\n--b\nno close",
        b"--b--\n",
        b"--b\r",
        b"--bX\n--b-\n",
    ] {
        for n in 1..=body.len() {
            check(body, "b", &[n]);
        }
    }
    // A boundary parameter's trailing blanks are transport padding.
    check(b"--b\nx\n--b--\n", "b  ", &[1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parser_split_and_scanner_find_the_same_parts(
        (bi, frags) in (0..BOUNDARIES.len()).prop_flat_map(|i| {
            (Just(i), proptest::collection::vec(fragment(BOUNDARIES[i]), 0..40))
        }),
        sizes in proptest::collection::vec(prop_oneof![1..3usize, 1..20usize, 20..200usize], 1..8),
    ) {
        check(&frags.concat(), BOUNDARIES[bi], &sizes);
    }
}
