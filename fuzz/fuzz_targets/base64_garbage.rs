//! Arbitrary bytes through every entry point: nothing may panic, and decoded
//! output never exceeds the advertised bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::base64::{Backend, DecodeMode, LineEnding, Wrap, STANDARD, URL_SAFE};

fuzz_target!(|data: &[u8]| {
    for backend in Backend::available() {
        for codec in [STANDARD, URL_SAFE] {
            let c = codec.with_backend(backend).unwrap();
            for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
                if let Ok(v) = c.decode_to_vec(data, mode) {
                    assert!(v.len() <= c.estimated_decoded_length(data.len()));
                }
                let _ = c.par_decode_to_vec(data, mode);
            }
            let cols = data.first().map_or(0, |&b| b as usize);
            let _ = c.encode_wrapped_to_vec(data, Wrap::new(cols, LineEnding::Lf));
        }
    }
});
