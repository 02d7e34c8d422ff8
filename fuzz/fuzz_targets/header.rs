//! Header parsing on garbage: split_header, parse_block, decode_text,
//! parse_content_type, parse_address_list and parse_date must not panic,
//! and field ranges must lie inside the block. The first byte selects
//! whether the rest is remapped into a MIME-ish alphabet, so the fuzzer
//! reaches deep parser states (encoded-words, RFC 2231 sections, groups);
//! a first byte of 0 passes the rest as it is (the seeds: real header
//! blocks).
//!
//! Oracle: the input read as UTF-8 text (controls made blanks), written as
//! the Subject of a message by `compose::MessageBuilder` (its unstructured
//! header encoder), must decode back to the same text (blank runs
//! collapsed, as folding may change them) with no defect, and every line
//! of the header block fits RFC 5322's 998 octets.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::compose::MessageBuilder;
use mimeflow::header::{
    decode_text, parse_address_list, parse_block, parse_content_disposition, parse_content_type,
    parse_date, split_header, unfold,
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

/// Blank runs collapsed to one space, trimmed: what folding preserves.
fn words(s: &str) -> String {
    s.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// compose's encoder, then the parser's decoder: the text comes back.
fn round_trip(text: &str) {
    let bytes = MessageBuilder::new()
        .subject(text)
        .text("")
        .to_vec()
        .expect("a message with only a subject builds");
    let split = split_header(&bytes);
    let block = &bytes[..split.header_len];
    for line in block.split(|&b| b == b'\n') {
        assert!(line.len() <= 999, "encoded line of {} octets", line.len());
    }
    let mut defects = Vec::new();
    let field = parse_block(block, 0, 1000, &mut defects)
        .into_iter()
        .find(|f| block[f.name.clone()].eq_ignore_ascii_case(b"subject"))
        .expect("the Subject field");
    let value = &block[field.value.clone()];
    let back = decode_text(&unfold(value), 0, &mut defects);
    assert!(defects.is_empty(), "{value:?}: {defects:?}");
    assert_eq!(words(&back), words(text), "{value:?}");
}

fuzz_target!(|data: &[u8]| {
    let input = match data.split_first() {
        Some((&k, rest)) if k & 1 == 1 => into_alphabet(rest),
        Some((0, rest)) => rest.to_vec(),
        _ => data.to_vec(),
    };
    run(&input);
    // Line breaks and other controls cannot be in an unstructured value.
    let text: String = String::from_utf8_lossy(&input)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    round_trip(&text);
});
