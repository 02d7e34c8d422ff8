//! SMTP DATA framing: unstuff(stuff(x)) == x (plus a final CRLF when x does
//! not end with one), whatever the chunking of either side, and un-stuffing
//! arbitrary input never panics nor grows it.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use mimeflow::compose::smtp::{stuff, unstuff, DotStuffer, DotUnstuffer};

fuzz_target!(|input: &[u8]| {
    // Garbage in: no panic, output never longer than the input.
    let mut u = DotUnstuffer::new();
    let mut out = Vec::new();
    let p = u.push(input, &mut out);
    assert!(out.len() <= p.consumed);

    // Two header bytes pick the chunk sizes of each side independently.
    let [a, b, data @ ..] = input else {
        return;
    };
    let (step, ustep) = (usize::from(a % 16) + 1, usize::from(b % 16) + 1);
    let mut stuffed = Vec::new();
    let mut s = DotStuffer::new(&mut stuffed);
    for chunk in data.chunks(step) {
        s.write_all(chunk).unwrap();
    }
    s.finish().unwrap();
    assert_eq!(stuffed, stuff(data));
    let mut expected = data.to_vec();
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        expected.extend_from_slice(b"\r\n");
    }
    let mut u = DotUnstuffer::new();
    let mut back = Vec::new();
    for chunk in stuffed.chunks(ustep) {
        u.push(chunk, &mut back);
    }
    assert!(u.is_done());
    assert_eq!(back, expected);
    assert_eq!(unstuff(&stuffed).unwrap(), (expected, stuffed.len()));
});
