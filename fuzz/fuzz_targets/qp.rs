//! Quoted-printable: decode(encode(x)) == x in binary mode at any width,
//! text-mode round trip (line ends normalised) on inputs without a bare CR,
//! and decoding arbitrary input never panics and never grows it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::qp::{self, EncodeOptions};

fuzz_target!(|input: &[u8]| {
    let mut out = Vec::new();
    let bad = qp::decode(input, &mut out);
    assert!(out.len() <= input.len());
    assert!(bad.iter().all(|&o| input[o] == b'='));
    let _ = mimeflow::uu::find_blocks(input);

    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let crlf = knobs & 0x80 != 0;
    let line_length = [76, 4, 5, 10, 75, 77, 1000, 0][(knobs & 7) as usize];
    let binary = EncodeOptions {
        binary: true,
        crlf,
        line_length,
    };
    assert_eq!(qp::decode_to_vec(&qp::encode_to_vec(data, binary)), data);

    let bare_cr = data
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\r' && data.get(i + 1) != Some(&b'\n'));
    if !bare_cr {
        let text = EncodeOptions {
            binary: false,
            ..binary
        };
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut want = Vec::with_capacity(data.len() * 2);
        for &b in data {
            match b {
                b'\r' => {}
                b'\n' => want.extend_from_slice(eol),
                _ => want.push(b),
            }
        }
        assert_eq!(qp::decode_to_vec(&qp::encode_to_vec(data, text)), want);
    }
});
