//! decode(encode(x)) == x for every backend, alphabet, padding, wrap width
//! and decode mode that accepts the encoder's output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::base64::{Alphabet, Backend, Base64, DecodeMode, LineEnding, Wrap};

fuzz_target!(|input: &[u8]| {
    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let cols = [0, 4, 64, 76, 75, 1][knobs as usize % 6];
    let ending = if knobs & 0x40 != 0 {
        LineEnding::Crlf
    } else {
        LineEnding::Lf
    };
    let alphabet = if knobs & 0x80 != 0 {
        Alphabet::UrlSafe
    } else {
        Alphabet::Standard
    };
    for backend in Backend::available() {
        for pad in [true, false] {
            let c = Base64::new(alphabet, pad).with_backend(backend).unwrap();
            let plain = c.encode_to_vec(data);
            assert_eq!(c.decode_to_vec(&plain, DecodeMode::Strict).unwrap(), data);
            assert_eq!(c.decode_to_vec(&plain, DecodeMode::Lenient).unwrap(), data);
            let wrapped = c.encode_wrapped_to_vec(data, Wrap::new(cols, ending));
            assert_eq!(
                wrapped.len(),
                c.encoded_length_wrapped(data.len(), Wrap::new(cols, ending))
            );
            assert_eq!(c.decode_to_vec(&wrapped, DecodeMode::Mime).unwrap(), data);
            assert_eq!(
                c.decode_to_vec(&wrapped, DecodeMode::Lenient).unwrap(),
                data
            );
        }
    }
});
