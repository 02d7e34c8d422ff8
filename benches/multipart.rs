//! Criterion benches for the multipart boundary scanner: a body with one
//! 10 MiB base64 attachment (76-column CRLF lines) and a small text part,
//! scanned by `split`, by the `Scanner` fed 64 KiB chunks, and by a bare
//! `memmem::Finder` pass for `"--" boundary` over the same bytes (the
//! baseline: the target is >= 0.9x its throughput).
//!
//! Run: `cargo bench --bench multipart`; short:
//! `cargo bench --bench multipart -- --warm-up-time 1 --measurement-time 3`.
//! Every timed call asserts its result, so a wrong answer fails the bench.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use memchr::memmem::Finder;
use mimeflow::multipart::{split, Event, Scanner};

const BOUNDARY: &[u8] = b"----=_Part_1234_567890.1700000000000";
const ATTACHMENT: usize = 10 << 20;
const CHUNK: usize = 64 << 10;

/// Base64 of pseudo-random bytes, wrapped at 76 columns with CRLF.
fn base64_lines(n: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(n + n / 38 + 2);
    let mut col = 0;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(ALPHABET[(x >> 58) as usize]);
        col += 1;
        if col == 76 {
            out.extend_from_slice(b"\r\n");
            col = 0;
        }
    }
    out
}

fn body() -> Vec<u8> {
    let mut b = Vec::new();
    let delim = |b: &mut Vec<u8>, close: bool| {
        b.extend_from_slice(b"--");
        b.extend_from_slice(BOUNDARY);
        if close {
            b.extend_from_slice(b"--");
        }
        b.extend_from_slice(b"\r\n");
    };
    b.extend_from_slice(b"This is a multi-part message in MIME format.\r\n");
    delim(&mut b, false);
    b.extend_from_slice(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\nthe report is attached.\r\n",
    );
    delim(&mut b, false);
    b.extend_from_slice(
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\
          Content-Disposition: attachment; filename=\"report.pdf\"\r\n\r\n",
    );
    b.extend_from_slice(&base64_lines(ATTACHMENT));
    b.extend_from_slice(b"\r\n");
    delim(&mut b, true);
    b
}

fn scan_chunks(body: &[u8], events: &mut Vec<Event>) -> bool {
    let mut sc = Scanner::new(BOUNDARY);
    events.clear();
    for chunk in body.chunks(CHUNK) {
        sc.push(chunk, events);
    }
    sc.finish(events)
}

fn multipart(c: &mut Criterion) {
    let body = body();
    let len = body.len();
    let mut needle = b"--".to_vec();
    needle.extend_from_slice(BOUNDARY);

    // Check every contender once before timing.
    let want = split(&body, BOUNDARY);
    assert_eq!(want.parts.len(), 2);
    assert!(want.closed);
    let mut events = Vec::new();
    assert!(scan_chunks(&body, &mut events));
    assert_eq!(events.len(), 5);
    assert_eq!(
        events[3],
        Event::PartEnd {
            offset: want.parts[1].end as u64
        }
    );

    let mut g = c.benchmark_group("multipart-10MiB");
    g.throughput(Throughput::Bytes(len as u64));
    g.sample_size(20);
    g.bench_function(BenchmarkId::new("memmem-baseline", len), |b| {
        let finder = Finder::new(&needle);
        b.iter(|| {
            let n = finder.find_iter(black_box(&body)).count();
            assert_eq!(n, 3);
            n
        })
    });
    g.bench_function(BenchmarkId::new("split", len), |b| {
        b.iter(|| {
            let s = split(black_box(&body), BOUNDARY);
            assert_eq!(s.parts.len(), 2);
            s
        })
    });
    g.bench_function(BenchmarkId::new("scanner-64KiB", len), |b| {
        let mut events = Vec::with_capacity(8);
        b.iter(|| {
            assert!(scan_chunks(black_box(&body), &mut events));
            assert_eq!(events.len(), 5);
        })
    });
    g.finish();
}

criterion_group!(benches, multipart);
criterion_main!(benches);
