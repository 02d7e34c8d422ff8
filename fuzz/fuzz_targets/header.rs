//! Header parsing on garbage: split_header, parse_block, decode_text,
//! parse_content_type, parse_address_list and parse_date must not panic,
//! and field ranges must lie inside the block. The first byte selects
//! whether the rest is remapped into a MIME-ish alphabet, so the fuzzer
//! reaches deep parser states (encoded-words, RFC 2231 sections, groups).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::header::{
    decode_text, parse_address_list, parse_block, parse_content_disposition, parse_content_type,
    parse_date, split_header,
};

const ALPHABET: &[u8] = b"abcqQbBe8-u0123456789:;=?\"<>,()\r\n \t*'%@._\\/[]";

fn into_alphabet(data: &[u8]) -> Vec<u8> {
    data.iter()
        .map(|&b| {
            if b >= 0x80 {
                b
            } else {
                ALPHABET[b as usize % ALPHABET.len()]
            }
        })
        .collect()
}

fn run(data: &[u8]) {
    let mut defects = Vec::new();
    let split = split_header(data);
    assert!(split.header_len <= split.body_start && split.body_start <= data.len());
    let block = &data[..split.header_len];
    for f in parse_block(block, 7, 1000, &mut defects) {
        assert!(f.line.start <= f.name.start && f.name.end < f.value.start.max(1));
        assert!(f.value.end <= f.line.end && f.line.end <= block.len());
        let v = &block[f.value.clone()];
        let _ = decode_text(v, 0, &mut defects);
    }
    let _ = decode_text(data, 0, &mut defects);
    if let Some(ct) = parse_content_type(data, 0, &mut defects) {
        let _ = (ct.mime_type(), ct.boundary(), ct.charset());
    }
    let _ = parse_content_disposition(data, 0, &mut defects);
    let _ = parse_address_list(data, 0, &mut defects);
    if let Some(d) = parse_date(data) {
        let _ = d.to_iso8601();
    }
    for d in &defects {
        assert!(d.offset <= data.len() as u64 + 7);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&k, rest)) if k & 1 == 1 => run(&into_alphabet(rest)),
        _ => run(data),
    }
});
