//! Every vector backend gives exactly the scalar backend's result (bytes, or
//! error kind and offset) on arbitrary input, in every mode. The input is
//! remapped mostly into the Base64 alphabet plus whitespace and `=` so the
//! fuzzer reaches the vector loops and their exits. Encoding is compared
//! too, on the raw input, unwrapped and wrapped at a width the input picks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::base64::{Backend, DecodeMode, LineEnding, Wrap, STANDARD, URL_SAFE_NO_PAD};

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
    let cols = data.first().map_or(0, |&b| b as usize % 80);
    let line_ending = if cols % 2 == 0 {
        LineEnding::Lf
    } else {
        LineEnding::Crlf
    };
    for codec in [STANDARD, URL_SAFE_NO_PAD] {
        let scalar = codec.with_backend(Backend::Scalar).unwrap();
        let plain = scalar.encode_to_vec(data);
        let wrapped = scalar.encode_wrapped_to_vec(data, Wrap::new(cols, line_ending));
        for backend in Backend::available() {
            let v = codec.with_backend(backend).unwrap();
            assert_eq!(v.encode_to_vec(data), plain, "{backend:?} encode");
            assert_eq!(
                v.encode_wrapped_to_vec(data, Wrap::new(cols, line_ending)),
                wrapped,
                "{backend:?} encode wrapped at {cols}"
            );
        }
    }
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
