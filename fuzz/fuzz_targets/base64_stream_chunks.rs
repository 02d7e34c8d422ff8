//! Streaming with fuzzer-chosen chunk sizes equals one-shot, for encoding
//! (line state across chunks) and decoding (errors and offsets included).
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use mimeflow::base64::stream::{DecoderWriter, EncoderWriter};
use mimeflow::base64::{DecodeMode, LineEnding, Wrap, STANDARD};

fn pieces<'a>(mut data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut v = Vec::new();
    for &s in sizes.iter().cycle().take(64) {
        if data.is_empty() {
            break;
        }
        let n = (s as usize * 7 + 1).min(data.len());
        v.push(&data[..n]);
        data = &data[n..];
    }
    v.push(data);
    v
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 4 {
        return;
    }
    let (sizes, data) = input.split_at(4);
    let wrap = Wrap::new([0, 76, 5][sizes[0] as usize % 3], LineEnding::Crlf);
    let mut enc = EncoderWriter::new(Vec::new(), STANDARD, wrap);
    for p in pieces(data, sizes) {
        enc.write_all(p).unwrap();
    }
    assert_eq!(
        enc.finish().unwrap(),
        STANDARD.encode_wrapped_to_vec(data, wrap)
    );

    for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
        let one_shot = STANDARD.decode_to_vec(data, mode);
        let mut dec = DecoderWriter::new(Vec::new(), STANDARD, mode);
        let mut failed = None;
        for p in pieces(data, sizes) {
            if let Err(e) = dec.write_all(p) {
                failed = Some(
                    *e.into_inner()
                        .unwrap()
                        .downcast::<mimeflow::DecodeError>()
                        .unwrap(),
                );
                break;
            }
        }
        let streamed = match failed {
            Some(e) => Err(e),
            None => dec.finish().map_err(|e| match e {
                mimeflow::base64::StreamError::Decode(d) => d,
                e => panic!("{e}"),
            }),
        };
        assert_eq!(streamed, one_shot, "{mode:?}");
    }
});
