//! Splitting an mbox archive: the serial reader, plan_splits + read_range
//! on rayon, and a bare `memmem` count of `\nFrom ` as the ceiling.
//!
//! The archive is generated (>= 64 MiB; `MIMEFLOW_MBOX_BENCH_MIB` changes
//! it): mixed messages, a third with base64 attachments, some with quoted
//! and unquoted From lines. The expected message count is asserted inside
//! each loop, so a wrong answer fails the bench.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mimeflow::mbox::{
    plan_splits, read, read_range, write_mboxrd, LineEnding, ReadOptions, Variant,
};
use rayon::prelude::*;

fn archive(min_bytes: usize) -> (Vec<u8>, usize) {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let b64: String = (0..76)
        .map(|i| (b'A' + (i % 26) as u8) as char)
        .collect::<String>()
        + "\n";
    let mut out = Vec::with_capacity(min_bytes + (1 << 20));
    let mut n = 0;
    while out.len() < min_bytes {
        let mut m = format!(
            "From: sender{n}@example.com\nTo: list@example.org\nSubject: message {n}\n\
             Date: Mon, 1 Jan 2001 10:00:00 +0000\nMessage-ID: <{n}@example.com>\nMIME-Version: 1.0\n"
        );
        if rnd(3) == 0 {
            m.push_str("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSee attached.\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n");
            for _ in 0..(50 + rnd(1500)) {
                m.push_str(&b64);
            }
            m.push_str("--b--\n");
        } else {
            m.push_str("Content-Type: text/plain\n\n");
            for i in 0..(5 + rnd(80)) {
                match rnd(40) {
                    0 => m.push_str("From the archives, a quote:\n"),
                    1 => m.push_str(">From an earlier message\n"),
                    _ => m.push_str(&format!(
                        "Line {i} of an ordinary message body, with some words in it.\n"
                    )),
                }
            }
        }
        write_mboxrd(
            &mut out,
            Some(format!("sender{n}@example.com Mon Jan  1 10:00:00 2001").as_bytes()),
            m.as_bytes(),
            LineEnding::Lf,
        )
        .unwrap();
        n += 1;
    }
    (out, n)
}

fn split(c: &mut Criterion) {
    let mib: usize = std::env::var("MIMEFLOW_MBOX_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let (data, count) = archive(mib << 20);
    let opts = ReadOptions {
        variant: Some(Variant::Mboxrd),
        unquote_mboxo: false,
    };
    let mut g = c.benchmark_group("mbox_split");
    g.throughput(Throughput::Bytes(data.len() as u64));
    let size = format!("{}MiB", data.len() >> 20);
    g.bench_with_input(BenchmarkId::new("memmem_count", &size), &data, |b, d| {
        b.iter(|| {
            let k = memchr::memmem::find_iter(d, b"\nFrom ").count();
            assert!(k >= count - 1);
            k
        })
    });
    g.bench_with_input(BenchmarkId::new("serial_read", &size), &data, |b, d| {
        b.iter(|| {
            let k = read(d, &opts)
                .map(|e| e.message.len())
                .filter(|&l| l > 0)
                .count();
            assert_eq!(k, count);
            k
        })
    });
    let threads = rayon::current_num_threads();
    g.bench_with_input(
        BenchmarkId::new(format!("ranges_rayon_{threads}t"), &size),
        &data,
        |b, d| {
            b.iter(|| {
                let plan = plan_splits(d, threads * 4, Variant::Mboxrd).unwrap();
                let k: usize = plan
                    .into_par_iter()
                    .map(|r| {
                        read_range(d, r, &opts)
                            .map(|e| e.message.len())
                            .filter(|&l| l > 0)
                            .count()
                    })
                    .sum();
                assert_eq!(k, count);
                k
            })
        },
    );
    g.finish();
}

criterion_group!(benches, split);
criterion_main!(benches);
