//! Differential (issue 10 §1): for a single-level multipart body, the part
//! ranges of the message parser (`Message::parse`, which finds delimiters
//! through its table of open boundaries) equal those of the streaming
//! `Scanner` (fuzzer-chosen chunk sizes) and of `split`. All three run on
//! `multipart`'s one grammar; this target hunts for a body where they part.
//!
//! Input layout, shared with the `multipart` target so the two share seeds:
//! byte 0 = boundary length (low 3 bits) and whether to remap (high bit),
//! bytes 1-2 = chunk sizes, then the boundary, then the body. The boundary
//! is mapped into `bchars` so the Content-Type parameter reads back as it is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::message::{Kind, Message};
use mimeflow::multipart::{split, Event, Scanner};

fn remap(b: u8) -> u8 {
    b"--\r\n\n- \tbX"[b as usize % 10]
}

/// RFC 2046 `bchars` stay; any other byte is mapped onto one.
fn bchar(b: u8) -> u8 {
    const BCHARS: &[u8] = b"bX-09'()+_,./:=? ";
    if b.is_ascii_alphanumeric() || BCHARS.contains(&b) {
        b
    } else {
        BCHARS[b as usize % BCHARS.len()]
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (head, rest) = input.split_at(3);
    let blen = ((head[0] % 8) as usize).max(1);
    let sizes = &head[1..];
    let (boundary, body) = rest.split_at(blen.min(rest.len()));
    let boundary: Vec<u8> = boundary.iter().map(|&b| bchar(b)).collect();
    let body: Vec<u8> = if head[0] & 0x80 != 0 {
        body.iter().map(|&b| remap(b)).collect()
    } else {
        body.to_vec()
    };
    let want = split(&body, &boundary).parts;

    // The scanner, fed the fuzzer's chunk sizes.
    let mut sc = Scanner::new(&boundary);
    let mut events = Vec::new();
    let (mut rest, mut k) = (&body[..], 0);
    while !rest.is_empty() {
        let n = (sizes[k % 2] as usize % 17).clamp(1, rest.len());
        sc.push(&rest[..n], &mut events);
        rest = &rest[n..];
        k += 1;
    }
    sc.finish(&mut events);
    let (mut got, mut start) = (Vec::new(), None);
    for e in events {
        match e {
            Event::PartStart { offset } => start = Some(offset as usize),
            Event::PartEnd { offset } => got.push(start.take().unwrap()..offset as usize),
            Event::Close { .. } => {}
        }
    }
    assert_eq!(got, want, "scanner vs split");

    // The parser, on a message whose body is `body`.
    let mut src = b"Content-Type: multipart/mixed; boundary=\"".to_vec();
    src.extend_from_slice(&boundary);
    src.extend_from_slice(b"\"\r\n\r\n");
    let at = src.len();
    src.extend_from_slice(&body);
    let msg = Message::parse(src);
    let root = msg.root();
    // Single level only: a part that is itself a composite may reuse the
    // boundary and then rightly takes the delimiters (innermost wins), even
    // when it ends up read as a leaf (a multipart that saw only its close
    // delimiter).
    if root.children().any(|c| {
        c.kind() != Kind::Leaf || matches!(&*c.content_type().type_, "multipart" | "message")
    }) {
        return;
    }
    let parsed: Vec<_> = root
        .children()
        .map(|c| c.range().start - at..c.range().end - at)
        .collect();
    assert_eq!(parsed, want, "parser vs split");
});
