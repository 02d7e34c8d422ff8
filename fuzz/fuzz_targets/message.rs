//! Whole-message parsing never panics: arbitrary bytes, half of the time
//! remapped into a MIME-ish alphabet (header names, delimiters, line ends,
//! encodings) so the fuzzer reaches nested multiparts and carried messages.
//! Then every entity is walked, its section looked up again (it must find
//! an entity with the same section), every body decoded, and the JSON and
//! tree serialisers run. An even first byte passes the rest as it is (the
//! seeds: real messages after a 0 byte).
//!
//! Oracle: the tree must rebuild the source. Each entity is its header
//! block, line ends, then its body; a carried message is the whole body; a
//! multipart's body is its preamble and delimiter line, its parts separated
//! by a line end and delimiter lines, then a line end and the close
//! delimiter (unless a defect says it is missing) and the epilogue. The
//! pieces concatenated in tree order must give the source back
//! (`to_bytes()` is the source itself, so comparing it proves nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::message::{write_tree, DefectCode, EntityRef, Kind, Limits, Message, ParseOptions};

/// Tokens that steer the parser; a byte >= 0x80 picks one of them.
const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\r",
    b"--",
    b"--b\n",
    b"--b--\n",
    b"--c\n",
    b"--c--\n",
    b"Content-Type: multipart/mixed; boundary=b\n",
    b"Content-Type: multipart/alternative; boundary=\"c\"\n",
    b"Content-Type: multipart/digest; boundary=b\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: message/global\n",
    b"Content-Type: text/plain; charset=utf-8\n",
    b"Content-Type: application/octet-stream; name*0*=utf-8''%E2%82; name*1*=%AC\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"Content-Transfer-Encoding: x-uuencode\n",
    b"Content-Disposition: attachment; filename=\"=?utf-8?B?w7w=?=\"\n",
    b"Subject: =?utf-8?Q?a=C3?= =?utf-8?Q?=A9?=\n",
    b"From: a <b@c>, g: d@e;\n",
    b"Date: 1 Jan 99 00:00 EST\n",
    b"begin 644 f\nM86)C\n`\nend\n",
    b"=3D=\n",
    b"aGVsbG8=\n",
    b": ",
    b" ",
    b"\t",
    b"=?",
    b"?=",
    b"\"",
];

/// Bytes below 0x80 stay; bytes from 0x80 become a token.
fn into_alphabet(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 4);
    for &b in data {
        if b < 0x80 {
            out.push(b);
        } else {
            out.extend_from_slice(TOKENS[(b as usize - 0x80) % TOKENS.len()]);
        }
    }
    out
}

/// Whether `line` is "--boundary" (then "--" when `close`) and transport
/// padding only.
fn is_delimiter(line: &[u8], boundary: &[u8], close: bool) -> bool {
    // A boundary cannot end in a blank (bcharsnospace): trailing blanks of
    // the parameter are transport padding on the line.
    let end = boundary
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    let boundary = &boundary[..end];
    let Some(mut rest) = line
        .strip_prefix(b"--")
        .and_then(|l| l.strip_prefix(boundary))
    else {
        return false;
    };
    if close {
        match rest.strip_prefix(b"--") {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

fn eol_len(b: &[u8]) -> usize {
    if b.starts_with(b"\r\n") {
        2
    } else {
        usize::from(b.starts_with(b"\n"))
    }
}

/// Appends entity `e` rebuilt from the tree to `out`, checking each piece.
fn rebuild(e: EntityRef<'_>, out: &mut Vec<u8>) {
    let src = &e.message().source()[..];
    let (range, body) = (e.range(), e.body_range());
    let header = e.header_bytes();
    let header_at = header.as_ptr() as usize - src.as_ptr() as usize;
    assert_eq!(header_at, range.start);
    assert_eq!(body.end, range.end);
    // Exactly the one empty line that ends the block (none when the entity
    // is all header): a body starting a byte early or late into the line end
    // would otherwise go through (as tests/message.rs checks).
    let sep = &src[header_at + header.len()..body.start];
    assert!(matches!(sep, b"" | b"\n" | b"\r\n"), "{sep:?}");
    assert!(!sep.is_empty() || body.is_empty(), "a body after no separator");
    out.extend_from_slice(&src[range.start..body.start]);
    let children: Vec<EntityRef<'_>> = e.children().collect();
    match e.kind() {
        Kind::Leaf => {
            assert!(children.is_empty());
            out.extend_from_slice(&src[body]);
        }
        Kind::Message => {
            assert_eq!(children.len(), 1);
            assert_eq!(children[0].range(), body);
            rebuild(children[0], out);
        }
        Kind::Multipart => {
            let boundary = e.content_type().boundary().expect("boundary").as_bytes();
            let mut at = body.start;
            for (i, c) in children.iter().enumerate() {
                let gap = &src[at..c.range().start];
                let lines: Vec<&[u8]> = if i == 0 {
                    gap.split_inclusive(|&b| b == b'\n')
                        .next_back()
                        .into_iter()
                        .collect()
                } else {
                    let eol = eol_len(gap);
                    assert!(eol > 0, "no line end before part {}: {gap:?}", c.index());
                    gap[eol..].split_inclusive(|&b| b == b'\n').collect()
                };
                assert!(
                    !lines.is_empty() && lines.iter().all(|l| is_delimiter(l, boundary, false)),
                    "{gap:?} before part {} is no delimiter",
                    c.index()
                );
                out.extend_from_slice(gap);
                rebuild(*c, out);
                at = c.range().end;
            }
            let tail = &src[at..body.end];
            let eol = eol_len(tail);
            // A close delimiter right after a delimiter line ends an empty
            // part: the one line end between them ended the first line.
            let last_empty_at_close = children
                .last()
                .is_some_and(|c| c.range().is_empty() && c.range().start == at)
                && is_delimiter(
                    tail.split_inclusive(|&b| b == b'\n').next().unwrap_or(b""),
                    boundary,
                    true,
                );
            let closed = last_empty_at_close
                || eol > 0
                    && is_delimiter(
                    tail[eol..]
                        .split_inclusive(|&b| b == b'\n')
                        .next()
                        .unwrap_or(b""),
                    boundary,
                    true,
                );
            let cut = e.defects().iter().any(|d| {
                matches!(
                    d.code,
                    DefectCode::MissingCloseDelimiter | DefectCode::PartsLimit
                )
            });
            assert!(closed || cut, "{tail:?} holds no close delimiter");
            out.extend_from_slice(tail);
        }
    }
}

fn check(msg: &Message) {
    for e in msg.walk() {
        let s = e.section();
        let found = msg.section(&s).expect("an entity's own section is found");
        assert_eq!(found.section(), s);
        assert!(found.index() <= e.index());
        assert!(e.range().end <= msg.source().len());
        if let Some(p) = e.parent() {
            assert!(p.range().start <= e.range().start && e.range().end <= p.range().end);
            assert_eq!(e.depth(), p.depth() + 1);
        }
        if e.kind() == Kind::Message {
            assert_eq!(e.children().count(), 1);
        }
        let _ = e.decoded_with_defects();
        let _ = e.filename();
        let _ = e.header_text("subject");
        let _ = e.uu_blocks();
        let _ = e.text();
    }
    assert_eq!(msg.sections().len(), msg.len());
    let _ = msg.to_json();
    write_tree(msg, &mut std::io::sink()).unwrap();
    let mut rebuilt = Vec::with_capacity(msg.source().len());
    assert_eq!(msg.root().range(), 0..msg.source().len());
    rebuild(msg.root(), &mut rebuilt);
    assert!(
        rebuilt == msg.source()[..],
        "the rebuilt tree differs from the source"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&knobs, rest)) = data.split_first() else {
        return;
    };
    let src = if knobs & 1 == 1 {
        into_alphabet(rest)
    } else {
        rest.to_vec()
    };
    let msg = Message::parse(src.clone());
    check(&msg);

    // Tight limits and strict mode exercise the cut-off paths.
    let limits = Limits {
        max_depth: (knobs >> 1 & 3) as usize + 1,
        max_parts: (knobs >> 3 & 7) as usize + 1,
        max_header_fields: 4,
        max_header_bytes: 200,
        max_line_length: 40,
        max_decoded_bytes: 64,
    };
    let opts = ParseOptions {
        limits,
        strict: knobs & 0x80 != 0,
    };
    if let Ok(msg) = Message::parse_with(src, &opts) {
        assert!(msg.len() <= limits.max_parts);
        assert!(msg.walk().all(|e| e.depth() <= limits.max_depth));
        check(&msg);
    }
});
