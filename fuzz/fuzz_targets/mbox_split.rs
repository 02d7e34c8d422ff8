//! mbox splitting: the serial reader against a naive line-by-line reference
//! splitter written here, range reads (a few n) against the serial reader,
//! and the streaming reader against the serial reader. Input bytes are
//! partly remapped into an mbox-ish alphabet so separators appear often
//! (not after a first byte 0xFF: the seeds are real mailboxes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimeflow::mbox::{is_from_line, plan_splits, read, read_range, stream, ReadOptions, Variant};

const ALPHABET: &[u8] = b"From \n\n>\r -:0123456789 Mon Jan 1970 Thu\n";

fn into_alphabet(data: &[u8]) -> Vec<u8> {
    // First byte chooses how much is remapped: 0xFF none (the seeds, real
    // mailboxes), odd bytes below 0xC0, even all.
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    if mode == 0xFF {
        return rest.to_vec();
    }
    rest.iter()
        .map(|&b| {
            if mode & 1 == 0 || b < 0xC0 {
                ALPHABET[b as usize % ALPHABET.len()]
            } else {
                b
            }
        })
        .collect()
}

/// Line-by-line reference for mboxo without unquoting, `\n` line ends
/// (with `\r` lines counting as blank). Returns (offset, envelope, message).
fn naive(data: &[u8]) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    // Lines with their start offsets (the last may lack its terminator).
    let mut lines = vec![];
    let mut s = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            lines.push((s, &data[s..=i]));
            s = i + 1;
        }
    }
    if s < data.len() {
        lines.push((s, &data[s..]));
    }
    let body = |l: &[u8]| -> Vec<u8> { l.strip_suffix(b"\n").unwrap_or(l).to_vec() };
    let blank = |l: &[u8]| matches!(l, b"\n" | b"\r\n");
    let is_sep = |k: usize, lines: &[(usize, &[u8])]| {
        let (_, l) = lines[k];
        let text = body(l);
        let text = text.strip_suffix(b"\r").unwrap_or(&text).to_vec();
        (k == 0 || blank(lines[k - 1].1)) && text.len() + 1 <= 1024 && is_from_line(&text)
    };
    let seps: Vec<usize> = (0..lines.len()).filter(|&k| is_sep(k, &lines)).collect();
    // Everything before the first separator must be blank lines.
    if let Some(&f) = seps.first() {
        if !lines[..f].iter().all(|(_, l)| blank(l)) {
            return vec![];
        }
    }
    let mut out = vec![];
    for (i, &k) in seps.iter().enumerate() {
        let end_line = seps.get(i + 1).copied().unwrap_or(lines.len());
        let env_line = body(lines[k].1);
        let env = env_line.strip_suffix(b"\r").unwrap_or(&env_line)[5..].to_vec();
        let mut content_lines = &lines[k + 1..end_line];
        let ends_with_nl = content_lines
            .last()
            .is_some_and(|(_, l)| l.ends_with(b"\n"));
        if let Some((_, last)) = content_lines.last() {
            if blank(last) && (i + 1 < seps.len() || ends_with_nl) {
                content_lines = &content_lines[..content_lines.len() - 1];
            }
        }
        let msg: Vec<u8> = content_lines
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        out.push((lines[k].0, env, msg));
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let data = into_alphabet(data);
    let data = &data[..];
    let o = ReadOptions {
        variant: Some(Variant::Mboxo),
        unquote_mboxo: false,
    };
    let serial: Vec<_> = read(data, &o).map(|e| e.to_owned_entry()).collect();
    // CR-only archives are not covered by the naive reference.
    let first_eol = data.iter().position(|&b| b == b'\n' || b == b'\r');
    let cr_only = first_eol
        .is_some_and(|i| data[i] == b'\r' && data.get(i + 1) != Some(&b'\n') && i + 1 < data.len());
    if !cr_only {
        let reference = naive(data);
        let got: Vec<_> = serial
            .iter()
            .map(|e| (e.offset as usize, e.envelope.clone(), e.message.to_vec()))
            .collect();
        assert_eq!(got, reference);
    }
    for v in [Variant::Mboxo, Variant::Mboxrd] {
        let o = ReadOptions {
            variant: Some(v),
            unquote_mboxo: false,
        };
        let serial: Vec<_> = read(data, &o).map(|e| e.to_owned_entry()).collect();
        for n in [2, 3, 7] {
            if let Ok(plan) = plan_splits(data, n, v) {
                let got: Vec<_> = plan
                    .into_iter()
                    .flat_map(|r| {
                        read_range(data, r, &o)
                            .map(|e| e.to_owned_entry())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                assert_eq!(got, serial);
            }
        }
        let streamed: Vec<_> = stream(data, &o).filter_map(Result::ok).collect();
        assert_eq!(streamed, serial);
    }
    // Auto sniffing (and mboxcl2) must not panic.
    let _ = read(data, &ReadOptions::default()).count();
    let _ = read(
        data,
        &ReadOptions {
            variant: Some(Variant::Mboxcl2),
            unquote_mboxo: false,
        },
    )
    .count();
    let _ = stream(data, &ReadOptions::default()).count();
});
