//! Criterion benches for message composition.
//!
//! - `compose_64MiB`: composing a message with a 64 MiB attachment
//!   (`MessageBuilder::to_vec`, base64 on rayon's threads) against the codec
//!   alone, one thread, same data, in two forms: `codec_encode_wrapped`
//!   into a preallocated buffer (the kernel's speed, no allocation) and
//!   `codec_encode_wrapped_to_vec` into a fresh `Vec` (allocation and first
//!   touch of the output pages included, as `to_vec` pays them). The
//!   like-for-like pairs are `compose_to_vec` vs `codec_encode_wrapped_to_vec`
//!   and `compose_write_into_reused` vs `codec_encode_wrapped`. Target:
//!   compose >= 0.8x the codec's wrapped encode.
//! - `compose_threads`: the same compose inside a 1-thread and a 2-thread
//!   rayon pool. Target: >= 1.8x.
//! - `normalize`: an archive of 8bit mail (UTF-8 and Latin-1 headers and
//!   bodies, multiparts with 8bit and binary leaves), in MB/s.
//!
//! Run: `cargo bench --bench compose`; quick:
//! `cargo bench --bench compose -- --warm-up-time 1 --measurement-time 3`.
//! Each timed call asserts its output length.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mimeflow::base64::{Wrap, STANDARD};
use mimeflow::compose::{normalize, Attachment, MessageBuilder};

const BIG: usize = 64 << 20;

fn data(n: usize) -> Bytes {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    Bytes::from(v)
}

fn builder(att: &Bytes) -> MessageBuilder {
    MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.org")
        .unwrap()
        .subject("big")
        .text("see attachment\n")
        .attach(Attachment::bytes("big.bin", att.clone()))
}

fn compose_big(c: &mut Criterion) {
    let att = data(BIG);
    let enc_len = STANDARD.encoded_length_wrapped(BIG, Wrap::MIME);
    let mut g = c.benchmark_group("compose_64MiB");
    g.throughput(Throughput::Bytes(BIG as u64)).sample_size(10);
    let mut buf = vec![0u8; enc_len];
    g.bench_function(BenchmarkId::new("codec_encode_wrapped", BIG), |b| {
        b.iter(|| {
            let n = STANDARD.encode_wrapped(black_box(&att), Wrap::MIME, &mut buf);
            assert_eq!(n, enc_len);
        })
    });
    g.bench_function(BenchmarkId::new("codec_encode_wrapped_to_vec", BIG), |b| {
        b.iter(|| {
            let v = STANDARD.encode_wrapped_to_vec(black_box(&att), Wrap::MIME);
            assert_eq!(v.len(), enc_len);
        })
    });
    let msg = builder(&att);
    g.bench_function(BenchmarkId::new("compose_to_vec", BIG), |b| {
        b.iter(|| {
            let v = black_box(&msg).to_vec().unwrap();
            assert!(v.len() > enc_len);
        })
    });
    let mut reuse = Vec::with_capacity(enc_len + 4096);
    g.bench_function(BenchmarkId::new("compose_write_into_reused", BIG), |b| {
        b.iter(|| {
            reuse.clear();
            black_box(&msg).write_into(&mut reuse).unwrap();
            assert!(reuse.len() > enc_len);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("compose_threads");
    g.throughput(Throughput::Bytes(BIG as u64)).sample_size(10);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        g.bench_function(BenchmarkId::new("compose_to_vec", threads), |b| {
            b.iter(|| {
                reuse.clear();
                pool.install(|| black_box(&msg).write_into(&mut reuse).unwrap());
                assert!(reuse.len() > enc_len);
            })
        });
    }
    g.finish();
}

/// An archive of 8bit mail, about `n` bytes.
pub fn archive(n: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut i = 0u32;
    let para =
        "Schöne Grüße aus Köln, the quick brown fox jumps over the lazy dog. Ça va très bien.\n";
    while total < n {
        let m = match i % 3 {
            0 => format!(
                "From: Jürgen Müller <j{i}@example.de>\nTo: a@example.org\nSubject: Grüße Nummer {i}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{}",
                para.repeat(40)
            )
            .into_bytes(),
            1 => {
                let mut m = format!("From: a@example.org\nSubject: caf{i}\nContent-Type: text/plain\n\n").into_bytes();
                m.extend(para.repeat(40).bytes().map(|b| if b >= 0x80 { 0xE9 } else { b }));
                m
            }
            _ => format!(
                "From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n--b{i}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b{i}--\r\n",
                para.repeat(20),
                "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n".repeat(40)
            )
            .into_bytes(),
        };
        total += m.len();
        out.push(m);
        i += 1;
    }
    out
}

fn normalize_archive(c: &mut Criterion) {
    let mails = archive(8 << 20);
    let total: usize = mails.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Bytes(total as u64))
        .sample_size(10);
    g.bench_function(BenchmarkId::new("mimeflow_seq", total), |b| {
        b.iter(|| {
            let n: usize = mails.iter().map(|m| normalize(black_box(m)).len()).sum();
            assert!(n >= total);
        })
    });
    g.bench_function(BenchmarkId::new("mimeflow_rayon", total), |b| {
        use rayon::prelude::*;
        b.iter(|| {
            let n: usize = mails
                .par_iter()
                .map(|m| normalize(black_box(m)).len())
                .sum();
            assert!(n >= total);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = compose_big, normalize_archive
}
criterion_main!(benches);
