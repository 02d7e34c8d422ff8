//! Criterion benches: every mimeflow backend against the peers and a memcpy,
//! one group per operation, sizes from 16 B to 16 MiB; the parallel paths
//! against one thread, and their 1 -> 2 thread scaling (`scaling`). The
//! operations are those of `mimeflow::peers`: encode, decode, mime-encode
//! (CRLF, against CRLF writers), mime-encode-lf (LF, against simdutf's
//! wrapped encode) and mime-decode.
//!
//! Run all: `cargo bench --bench base64`; one group and size:
//! `cargo bench --bench base64 -- 'mime-decode/.*/65536'`.
//! Every contender's output is checked against its declared reference (the
//! scalar output, with an optional last LF for `simdutf (LF lines)`, or the
//! input for the memcpy ceilings) before timing, and each timed call asserts its
//! output length.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mimeflow::base64::{Backend, DecodeMode, Wrap, STANDARD};
use mimeflow::peers::{contenders, Op};

/// Raw sizes: the every-size targets' steps of 4x from 256 B to 16 MiB
/// (256, 1K, 4K, 16K, 64K, 1M, 16M; 256K and 4M in between add little
/// beside 64K and 1M), with 16 and 64 B below them for the fixed cost.
const SIZES: [usize; 9] = [
    16,
    64,
    256,
    1024,
    4096,
    16 << 10,
    64 << 10,
    1 << 20,
    16 << 20,
];

fn raw(n: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn codecs(c: &mut Criterion) {
    for op in Op::ALL {
        let mut group = c.benchmark_group(op.name());
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_secs(1));
        group.sample_size(20);
        for size in SIZES {
            // `size` is the raw byte count; decoders get its encoding.
            let input = op.input(&raw(size));
            let expected = op.expected(&input);
            group.throughput(Throughput::Bytes(input.len() as u64));
            for contender in contenders(op) {
                let mut out = vec![0u8; op.output_room(&input)];
                let n = (contender.run)(&input, &mut out);
                assert!(
                    contender.accepts(&input, &expected, &out[..n]),
                    "{} gives a wrong {} result",
                    contender.name,
                    op.name()
                );
                group.bench_with_input(
                    BenchmarkId::new(&contender.name, size),
                    &input,
                    |b, input| {
                        b.iter(|| {
                            let w = (contender.run)(black_box(input), black_box(&mut out));
                            assert_eq!(w, n);
                        })
                    },
                );
            }
        }
        group.finish();
    }
}

/// The parallel entry points against one thread, to place `PARALLEL_THRESHOLD`.
fn parallel(c: &mut Criterion) {
    let mut group = c.benchmark_group("parallel");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    group.sample_size(10);
    for size in [64 << 10, 256 << 10, 512 << 10, 1 << 20, 4 << 20, 64 << 20] {
        let data = raw(size);
        let text = STANDARD.encode_wrapped_to_vec(&data, Wrap::MIME);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("mime-decode/1-thread", size),
            &text,
            |b, t| {
                b.iter(|| {
                    assert_eq!(
                        STANDARD.decode_to_vec(t, DecodeMode::Mime).unwrap().len(),
                        size
                    )
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("mime-decode/par", size), &text, |b, t| {
            b.iter(|| {
                assert_eq!(
                    STANDARD
                        .par_decode_to_vec(t, DecodeMode::Mime)
                        .unwrap()
                        .len(),
                    size
                )
            })
        });
        group.bench_with_input(
            BenchmarkId::new("mime-encode/1-thread", size),
            &data,
            |b, d| {
                b.iter(|| {
                    assert_eq!(
                        STANDARD.encode_wrapped_to_vec(d, Wrap::MIME).len(),
                        text.len()
                    )
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("mime-encode/par", size), &data, |b, d| {
            b.iter(|| {
                assert_eq!(
                    STANDARD.par_encode_wrapped_to_vec(d, Wrap::MIME).len(),
                    text.len()
                )
            })
        });
    }
    group.finish();
}

/// How the parallel encode scales from 1 to 2 threads (64 MiB, MIME lines,
/// into a reused buffer so page faults are out of it), next to the bounds:
/// the same split with the compute-bound scalar kernel (what the parallel
/// machinery itself allows), and a memcpy of the input split the same way
/// (what the memory system allows the vector kernels).
fn scaling(c: &mut Criterion) {
    const N: usize = 64 << 20;
    let data = raw(N);
    let mut group = c.benchmark_group("scaling");
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    group.sample_size(10);
    group.throughput(Throughput::Bytes(N as u64));
    let scalar = STANDARD
        .with_backend(Backend::Scalar)
        .expect("scalar always exists");
    let want = STANDARD.encode_wrapped_to_vec(&data, Wrap::MIME);
    let mut out = Vec::with_capacity(want.len());
    let mut copy = vec![0u8; N];
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool");
        for (name, codec) in [(STANDARD.backend().name(), STANDARD), ("scalar", scalar)] {
            out.clear();
            pool.install(|| codec.par_encode_wrapped_append(&data, Wrap::MIME, &mut out));
            assert!(out == want, "{name} on {threads} threads");
            group.bench_function(BenchmarkId::new(format!("encode-{name}"), threads), |b| {
                b.iter(|| {
                    out.clear();
                    pool.install(|| {
                        codec.par_encode_wrapped_append(black_box(&data), Wrap::MIME, &mut out)
                    });
                    assert_eq!(out.len(), want.len());
                })
            });
        }
        group.bench_function(BenchmarkId::new("memcpy", threads), |b| {
            b.iter(|| {
                pool.install(|| {
                    use rayon::prelude::*;
                    copy.par_chunks_mut(N / threads)
                        .zip(data.par_chunks(N / threads))
                        .for_each(|(d, s)| d.copy_from_slice(black_box(s)));
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, codecs, parallel, scaling);
criterion_main!(benches);
