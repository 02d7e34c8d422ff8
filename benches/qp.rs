//! Criterion benches: quoted-printable encode and decode, mimeflow against
//! the `quoted_printable` crate, 1 KiB to 1 MiB, on: English-like text with
//! a rare 8-bit character (`text`); German prose in UTF-8, mostly ASCII with
//! an escape every few words (`german`); Cyrillic in UTF-8, nearly every
//! byte escaped (`cyrillic`); random bytes in binary mode (`binary`).
//!
//! Run: `cargo bench --bench qp`; quick: `cargo bench --bench qp -- --quick`.
//! Before timing, each contender's output is checked (the peer decodes our
//! encoding and we decode the peer's to the input); each timed call asserts
//! its output length.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mimeflow::qp::{self, EncodeOptions};
use quoted_printable::ParseMode;

const SIZES: [usize; 3] = [1 << 10, 64 << 10, 1 << 20];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// English-like text in CRLF lines of 40 to 100 characters, about one word
/// in 30 with a Latin-1-in-UTF-8 letter, some `=`.
fn text(n: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the",
        "of",
        "and",
        "message",
        "to",
        "in",
        "quoted",
        "printable",
        "is",
        "that",
        "for",
        "mail",
        "it",
        "with",
        "as",
        "boundary",
    ];
    prose(n, 0x2545_F491_4F6C_DD1D, |r, out| match r % 30 {
        0 => out.extend_from_slice("café".as_bytes()),
        1 => out.extend_from_slice(b"a=b"),
        _ => out.extend_from_slice(WORDS[(r >> 8) as usize % 16].as_bytes()),
    })
}

/// German prose in UTF-8: about a third of the words hold an umlaut or ß
/// (two escapes each).
fn german(n: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "über",
        "Straße",
        "und",
        "der",
        "die",
        "Mädchen",
        "größer",
        "für",
        "Nachricht",
        "ist",
        "nicht",
        "Grüße",
        "wäre",
        "das",
        "mit",
        "auch",
    ];
    prose(n, 0x6A09_E667_F3BC_C908, |r, out| {
        out.extend_from_slice(WORDS[(r >> 8) as usize % 16].as_bytes())
    })
}

/// Cyrillic in UTF-8: every letter is two escapes.
fn cyrillic(n: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = [
        "привет",
        "мир",
        "и",
        "почта",
        "сообщение",
        "это",
        "для",
        "кодировка",
    ];
    prose(n, 0xBB67_AE85_84CA_A73B, |r, out| {
        out.extend_from_slice(WORDS[(r >> 8) as usize % 8].as_bytes())
    })
}

/// Words from `word` separated by blanks, in CRLF lines of 9 to 18 words;
/// at most `n` bytes, cut on a character boundary, without a trailing blank.
fn prose(n: usize, seed: u64, word: impl Fn(u64, &mut Vec<u8>)) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n + 32);
    let mut line = 0;
    while out.len() < n {
        let r = rng.next();
        word(r, &mut out);
        line += 1;
        if line > 8 + (r >> 20) as usize % 10 {
            out.extend_from_slice(b"\r\n");
            line = 0;
        } else {
            out.push(b' ');
        }
    }
    out.truncate(n);
    // Keep characters and CRLF pairs whole and the last line free of a
    // trailing blank.
    while matches!(out.last(), Some(b'\r' | b' ' | 0x80..)) {
        out.pop();
    }
    out
}

fn binary(n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n).map(|_| rng.next() as u8).collect()
}

fn bench(c: &mut Criterion) {
    type Kind = (&'static str, fn(usize) -> Vec<u8>);
    let kinds: [Kind; 4] = [
        ("text", text),
        ("german", german),
        ("cyrillic", cyrillic),
        ("binary", binary),
    ];
    for (kind, make) in kinds {
        let is_binary = kind == "binary";
        let opts = EncodeOptions {
            binary: is_binary,
            ..EncodeOptions::default()
        };
        let peer_encode = |x: &[u8]| {
            if is_binary {
                quoted_printable::encode_binary(x)
            } else {
                quoted_printable::encode(x)
            }
        };

        let mut group = c.benchmark_group(format!("qp-encode-{kind}"));
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
        group.sample_size(20);
        for size in SIZES {
            let input = make(size);
            let ours = qp::encode_to_vec(&input, opts);
            let peers = peer_encode(&input);
            assert_eq!(
                quoted_printable::decode(&ours, ParseMode::Robust).unwrap(),
                input
            );
            assert_eq!(qp::decode_to_vec(&peers), input);
            group.throughput(Throughput::Bytes(input.len() as u64));
            group.bench_with_input(BenchmarkId::new("mimeflow", size), &input, |b, input| {
                let mut out = Vec::with_capacity(ours.len());
                b.iter(|| {
                    out.clear();
                    qp::encode_append(black_box(input), opts, &mut out);
                    assert_eq!(out.len(), ours.len());
                })
            });
            // The same encoder without its vector kernel (a no-op where the
            // CPU has none): what the kernel is worth.
            group.bench_with_input(
                BenchmarkId::new("mimeflow-scalar", size),
                &input,
                |b, input| {
                    let mut out = Vec::with_capacity(ours.len());
                    b.iter(|| {
                        out.clear();
                        qp::encode_append_on(qp::Backend::Scalar, black_box(input), opts, &mut out);
                        assert_eq!(out.len(), ours.len());
                    })
                },
            );
            group.bench_with_input(
                BenchmarkId::new("quoted_printable", size),
                &input,
                |b, input| b.iter(|| assert_eq!(peer_encode(black_box(input)).len(), peers.len())),
            );
        }
        group.finish();

        let mut group = c.benchmark_group(format!("qp-decode-{kind}"));
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
        group.sample_size(20);
        for size in SIZES {
            let raw = make(size);
            let input = qp::encode_to_vec(&raw, opts);
            group.throughput(Throughput::Bytes(input.len() as u64));
            group.bench_with_input(BenchmarkId::new("mimeflow", size), &input, |b, input| {
                let mut out = Vec::with_capacity(raw.len());
                b.iter(|| {
                    out.clear();
                    assert!(qp::decode_append(black_box(input), &mut out).is_empty());
                    assert_eq!(out.len(), raw.len());
                })
            });
            group.bench_with_input(
                BenchmarkId::new("quoted_printable", size),
                &input,
                |b, input| {
                    b.iter(|| {
                        let out =
                            quoted_printable::decode(black_box(input), ParseMode::Robust).unwrap();
                        assert_eq!(out.len(), raw.len());
                    })
                },
            );
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
