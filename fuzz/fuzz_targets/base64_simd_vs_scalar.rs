//! Every vector backend gives exactly the scalar backend's result (bytes, or
//! error kind and offset) on arbitrary input, in every mode. The input is
//! remapped mostly into the Base64 alphabet plus whitespace and `=` so the
//! fuzzer reaches the vector loops and their exits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::base64::{Backend, DecodeMode, STANDARD, URL_SAFE_NO_PAD};

const ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\r\n \t=-_!\x80";

fn remap(data: &[u8]) -> Vec<u8> {
    data.iter()
        .map(|&b| {
            if b < 0xF0 {
                ALPHABET[b as usize % ALPHABET.len()]
            } else {
                b
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let text = remap(data);
    for codec in [STANDARD, URL_SAFE_NO_PAD] {
        let scalar = codec.with_backend(Backend::Scalar).unwrap();
        for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
            let expect = scalar.decode_to_vec(&text, mode);
            for backend in Backend::available() {
                let got = codec
                    .with_backend(backend)
                    .unwrap()
                    .decode_to_vec(&text, mode);
                assert_eq!(got, expect, "{backend:?} {mode:?}");
            }
        }
    }
});
