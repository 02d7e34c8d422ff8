//! Whole-message parsing never panics: arbitrary bytes, half of the time
//! remapped into a MIME-ish alphabet (header names, delimiters, line ends,
//! encodings) so the fuzzer reaches nested multiparts and carried messages.
//! Then every entity is walked, its section looked up again (it must find
//! an entity with the same section), every body decoded, and the JSON and
//! tree serialisers run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::message::{write_tree, Kind, Limits, Message, ParseOptions};

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
    assert_eq!(msg.to_bytes(), msg.source());
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
