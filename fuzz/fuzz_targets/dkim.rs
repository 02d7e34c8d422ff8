//! DKIM on garbage: verifying a message, and reading the same bytes as a
//! key record, a zone file and a JSON key cache, must not panic.
//!
//! Oracle: a message stored with LF line ends verifies exactly as its CRLF
//! form (the verifier works on the wire form): when the input has no CR
//! outside CRLF pairs, turning every CRLF into LF changes no result. The
//! keys are the RFC 8463 example's, so the seeds (signed mail) reach the
//! cryptography.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::dkim::{self, keys::parse_zone, parse_key_record, KeyStore, VerifyOptions};

const RFC_ZONE: &[u8] = include_bytes!("../../testdata/dkim/rfc8463.zone");

fuzz_target!(|data: &[u8]| {
    let mut keys = KeyStore::new("fuzz");
    keys.add_zone(RFC_ZONE).expect("the RFC's zone");
    let opts = VerifyOptions {
        as_of: Some(1_600_000_000),
        allow_sha1: false,
    };
    let crlf = dkim::verify_message(data, &keys, &opts);
    let lone_cr = data
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && data.get(i + 1) != Some(&b'\n'));
    if !lone_cr {
        let lf: Vec<u8> = data.iter().copied().filter(|&b| b != b'\r').collect();
        let again = dkim::verify_message(&lf, &keys, &opts);
        let strip = |v: &[dkim::SigResult]| {
            v.iter()
                .map(|r| (r.result, r.reason.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&crlf), strip(&again));
    }
    let _ = parse_key_record(data);
    let _ = parse_zone(data);
    let _ = KeyStore::new("fuzz").add_json(data);
});
