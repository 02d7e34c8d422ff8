//! normalize: any input gives output that is 7-bit clean (ASCII, no NUL, CR
//! and LF only as CRLF), has lines of at most 998 octets, and parses back
//! without structural defects (missing boundaries or close delimiters,
//! encoded composites, missing boundary parameters) that the input did not
//! already have. Input is also remapped into a MIME-ish alphabet so the
//! fuzzer reaches multiparts and 8bit leaves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::compose::normalize;
use mimeflow::defect::DefectCode;
use mimeflow::message::Message;

const ALPHABET: &[u8] = b"\r\n\r\n:; =\"-\x80\xc3\xa9\x00\tContent-Type: multipart/mixed; boundary=b\n--b\nContent-Transfer-Encoding: 8bit base64 quoted-printable message/rfc822\n";

const STRUCTURAL: [DefectCode; 4] = [
    DefectCode::MissingBoundaryParameter,
    DefectCode::MissingBoundary,
    DefectCode::MissingCloseDelimiter,
    DefectCode::EncodedCompositeEntity,
];

fn structural(msg: &Message) -> [usize; 4] {
    let mut n = [0; 4];
    for d in msg.defects() {
        if let Some(i) = STRUCTURAL.iter().position(|&c| c == d.code) {
            n[i] += 1;
        }
    }
    n
}

fn check(src: &[u8]) {
    let out = normalize(src);
    assert!(out.is_ascii(), "8-bit byte in output");
    assert!(!out.contains(&0), "NUL in output");
    for (i, &b) in out.iter().enumerate() {
        match b {
            b'\n' => assert!(i > 0 && out[i - 1] == b'\r', "bare LF at {i}"),
            b'\r' => assert!(out.get(i + 1) == Some(&b'\n'), "bare CR at {i}"),
            _ => {}
        }
    }
    for line in out.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.len() <= 998, "line of {} octets", line.len());
    }
    let before = structural(&Message::parse(src.to_vec()));
    let after = structural(&Message::parse(out));
    for i in 0..STRUCTURAL.len() {
        assert!(
            after[i] <= before[i],
            "new {:?}: {} before, {} after",
            STRUCTURAL[i],
            before[i],
            after[i]
        );
    }
}

fuzz_target!(|input: &[u8]| {
    check(input);
    let mapped: Vec<u8> = input
        .iter()
        .map(|&b| ALPHABET[b as usize % ALPHABET.len()])
        .collect();
    check(&mapped);
});
