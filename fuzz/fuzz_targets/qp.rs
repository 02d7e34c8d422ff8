//! Quoted-printable: decode(encode(x)) == x in binary mode at any width,
//! text-mode round trip (line ends normalised) on inputs without a bare CR,
//! and decoding arbitrary input never panics and never grows it; the vector
//! encoder (where the CPU has it) writes what the scalar one writes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::base64::LineEnding;
use mimeflow::qp::{self, EncodeOptions};

fn binary_opts(crlf: bool, cols: usize) -> EncodeOptions {
    EncodeOptions {
        binary: true,
        line_ending: if crlf { LineEnding::Crlf } else { LineEnding::Lf },
        cols,
    }
}

fuzz_target!(|input: &[u8]| {
    let mut out = Vec::new();
    let bad = qp::decode_append(input, &mut out);
    assert!(out.len() <= input.len());
    assert!(bad.iter().all(|&o| input[o] == b'='));
    let _ = mimeflow::uu::find_blocks(input);

    let Some((&knobs, data)) = input.split_first() else {
        return;
    };
    let crlf = knobs & 0x80 != 0;
    let line_length = [76, 4, 49, 10, 75, 50, 1000, 0][(knobs & 7) as usize];
    let binary = binary_opts(crlf, line_length);
    assert_eq!(qp::decode_to_vec(&qp::encode_to_vec(data, binary)), data);
    for binary in [true, false] {
        let o = EncodeOptions {
            binary,
            ..binary_opts(crlf, line_length)
        };
        let mut scalar = Vec::new();
        qp::encode_append_on(qp::Backend::Scalar, data, o, &mut scalar);
        for b in qp::Backend::available() {
            let mut fast = Vec::new();
            qp::encode_append_on(b, data, o, &mut fast);
            assert_eq!(fast, scalar, "backend {b}");
        }
    }

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
