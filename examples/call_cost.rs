//! Per-call cost of the codec at small sizes, and its dependence on where
//! the output sits relative to the input (4 KiB aliasing).
//!
//! `cargo run --release --features bench-peers --example call_cost -- OP SIZE
//! [STEP]` with OP one of encode, decode, mime-encode, mime-encode-lf,
//! mime-decode: places the input at a page start and the output at every offset
//! `k * STEP` (default 64) within the following 4 KiB, runs the process-default
//! backend there, and prints the median ns per call at each offset, the offsets
//! interleaved round by round so that a machine whose speed changes over time
//! slows them alike. A flat column says the placement does not matter; slow
//! offsets say the loads of the input wait on stores to the output whose
//! addresses match in their low 12 bits (4 KiB aliasing). Run it a few times:
//! on the shared Zen 4 VM, 4 KiB MIME encode took 97-117 ns a call across
//! placements in one process and 100 or 170-210 ns in others at the same
//! placement, a difference between processes that placement modulo 4 KiB does
//! not explain.
//! `OFFSET=any` runs one offset only (for `perf stat` / `perf record`).

use std::hint::black_box;
use std::time::Instant;

use mimeflow::base64::{DecodeMode, LineEnding, Wrap, STANDARD};
use mimeflow::bench::input::random_bytes;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let op = args
        .first()
        .map_or("mime-encode", String::as_str)
        .to_string();
    let size: usize = args.get(1).map_or(4096, |s| s.parse().expect("SIZE"));
    let step: usize = args.get(2).map_or(64, |s| s.parse().expect("STEP"));
    let only: Option<usize> = std::env::var("OFFSET")
        .ok()
        .map(|s| s.parse().expect("OFFSET"));
    let data = random_bytes(size, 1);
    let lf = Wrap::new(76, LineEnding::Lf);
    let input = match op.as_str() {
        "decode" => STANDARD.encode_to_vec(&data),
        "mime-decode" => STANDARD.encode_wrapped_to_vec(&data, Wrap::MIME),
        _ => data.clone(),
    };
    let room = input.len() * 2 + 64;
    // One arena: the input at a page start, the output 8 KiB + offset later.
    let mut arena = vec![0u8; 4096 + 8192 + 4096 + room + 4096];
    let base = arena.as_ptr() as usize;
    let page = (4096 - base % 4096) % 4096;
    arena[page..page + input.len()].copy_from_slice(&input);
    let out_base = page + 8192 + input.len().div_ceil(4096) * 4096;
    let run = |arena: &mut [u8], off: usize| -> usize {
        let (head, tail) = arena.split_at_mut(out_base + off);
        let src = &head[page..page + input.len()];
        let dst = &mut tail[..room];
        match op.as_str() {
            "encode" => STANDARD.encode(src, dst),
            "decode" => STANDARD.decode(src, dst, DecodeMode::Strict).unwrap(),
            "mime-decode" => STANDARD.decode(src, dst, DecodeMode::Mime).unwrap(),
            "mime-encode" => STANDARD.encode_wrapped(src, Wrap::MIME, dst),
            "mime-encode-lf" => STANDARD.encode_wrapped(src, lf, dst),
            other => panic!("unknown op {other}"),
        }
    };
    let offsets: Vec<usize> = match only {
        Some(o) => vec![o],
        None => (0..4096).step_by(step).collect(),
    };
    let calls = (200_000 / input.len().max(1)).clamp(100, 20_000);
    let rounds = if only.is_some() { 4000 } else { 150 };
    println!(
        "op {op} size {size} input {} bytes, {calls} calls x {rounds} rounds",
        input.len()
    );
    println!("offset  ns/call(median)  ns/call(min)");
    // Rounds outside, offsets inside: a machine whose speed changes over
    // time (other jobs, a busy sibling core) slows every offset alike.
    let mut times = vec![Vec::with_capacity(rounds); offsets.len()];
    for _ in 0..rounds {
        for (k, &off) in offsets.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..calls {
                black_box(run(black_box(&mut arena[..]), off));
            }
            times[k].push(t.elapsed().as_secs_f64() * 1e9 / calls as f64);
        }
    }
    for (k, off) in offsets.into_iter().enumerate() {
        let t = &mut times[k];
        t.sort_by(f64::total_cmp);
        println!("{off:6}  {:15.1}  {:12.1}", t[rounds / 2], t[0]);
    }
}
