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
//! `OFFSET=N` runs the one offset N only (for `perf stat` / `perf record`).
//!
//! `PAGES=N` asks another question: does the *page* the output lands on
//! matter? It puts the output at the start of each of N pages after the
//! input (the same offset modulo 4 KiB every time), and times mimeflow's
//! backend, simdutf and memcpy at each page, pages interleaved round by round.
//! On the Zen 4 guests, 1 KiB encode: 18 of 256 pages slow for all three
//! (mimeflow 23-27 -> 64 ns, simdutf 30 -> 97, memcpy 11.5 -> 16), other
//! pages in each process, with or without ASLR (`setarch -R`): a property
//! of the physical pages. Hence `mimeflow bench` spreads its outputs over
//! pages (`bench::PAGES`).
//!
//! `GUARD=1` puts the input at the end of a page followed by a page in use,
//! then by a mapped page never touched, then by an unmapped page, and times
//! the same three: a masked load whose masked-off lanes reach a page with
//! nothing behind it costs a fault-suppression assist (the essay on masked
//! loads in `base64/x86_64/avx512vbmi.rs`).

use std::hint::black_box;
use std::time::Instant;

use mimeflow::base64::{Backend, DecodeMode, LineEnding, Wrap, STANDARD};
use mimeflow::bench::input::random_bytes;
use mimeflow::bench::Op;
use mimeflow::peers::{self, Contender};

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
    // (Room for the input itself too: inputs past a few KiB overran it.)
    let mut arena = vec![0u8; 4096 + input.len().div_ceil(4096) * 4096 + 8192 + 4096 + room + 4096];
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
    if std::env::var_os("GUARD").is_some() {
        return at_guard(&op, &input);
    }
    if let Ok(pages) = std::env::var("PAGES") {
        let pages: usize = pages.parse().expect("PAGES");
        return by_page(&op, &input, pages);
    }
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

/// mimeflow's process-default backend, simdutf and memcpy on `op`.
fn three(op: &str) -> Vec<Contender> {
    let op = Op::from_name(op).and_then(Op::base64).expect("a Base64 OP");
    let ours = format!("mimeflow/{}", Backend::default_for_process().name());
    peers::contenders(op)
        .into_iter()
        .filter(|c| c.name == ours || c.name.starts_with("simdutf") || c.name == "memcpy")
        .collect()
}

/// The `GUARD=1` mode (module docs).
fn at_guard(op: &str, input: &[u8]) {
    let contenders = three(op);
    let page = 4096;
    // Input pages, the page after them (mapped, then not), and the output.
    let in_pages = input.len().div_ceil(page);
    let room = input.len() * 2 + 64;
    let len = (in_pages + 1) * page + room;
    // SAFETY: an anonymous private mapping of `len` bytes, used only inside it below, and
    // unmapped at the end; the page after the input is made inaccessible and back.
    unsafe {
        let base = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(base, libc::MAP_FAILED);
        let base = base.cast::<u8>();
        let end = base.add(in_pages * page);
        let src = std::slice::from_raw_parts_mut(end.sub(input.len()), input.len());
        src.copy_from_slice(input);
        let dst = std::slice::from_raw_parts_mut(end.add(page), room);
        println!("input ending at a page followed by  (median ns per call)");
        for label in ["a page in use", "a page not touched", "an unmapped page"] {
            match label {
                "a page in use" => end.write(1),
                // Dropped: mapped, but with no page behind it until touched.
                "a page not touched" => {
                    assert_eq!(libc::madvise(end.cast(), page, libc::MADV_DONTNEED), 0)
                }
                _ => assert_eq!(libc::mprotect(end.cast(), page, libc::PROT_NONE), 0),
            }
            for c in &contenders {
                let mut t: Vec<f64> = (0..51)
                    .map(|_| {
                        let start = Instant::now();
                        for _ in 0..1000 {
                            black_box((c.run)(black_box(&*src), black_box(&mut *dst)));
                        }
                        start.elapsed().as_secs_f64() * 1e6
                    })
                    .collect();
                t.sort_by(f64::total_cmp);
                println!("{label:20} {:28} {:8.1}", c.name, t[25]);
            }
        }
        libc::munmap(base.cast(), len);
    }
}

/// The `PAGES=N` mode (module docs).
fn by_page(op: &str, input: &[u8], pages: usize) {
    let contenders = three(op);
    let room = input.len() * 2 + 64;
    let mut arena = vec![0u8; (pages + 2) * 4096 + room];
    let page = (4096 - arena.as_ptr() as usize % 4096) % 4096;
    let (src, out) = arena.split_at_mut(page + 4096);
    let src = &mut src[page..];
    src[..input.len()].copy_from_slice(input);
    let src = &src[..input.len()];
    let calls = (200_000 / input.len().max(1)).clamp(100, 2_000);
    let rounds = 31;
    let mut times = vec![vec![Vec::with_capacity(rounds); contenders.len()]; pages];
    for _ in 0..rounds {
        for (p, per_page) in times.iter_mut().enumerate() {
            let dst = &mut out[p * 4096..p * 4096 + room];
            for (c, t) in contenders.iter().zip(per_page.iter_mut()) {
                let start = Instant::now();
                for _ in 0..calls {
                    black_box((c.run)(black_box(src), black_box(&mut *dst)));
                }
                t.push(start.elapsed().as_secs_f64() * 1e9 / calls as f64);
            }
        }
    }
    print!("page");
    for c in &contenders {
        print!("  {}", c.name);
    }
    println!("   (median ns per call)");
    let mut medians = vec![Vec::with_capacity(pages); contenders.len()];
    for (p, per_page) in times.iter_mut().enumerate() {
        print!("{p:4}");
        for (j, t) in per_page.iter_mut().enumerate() {
            t.sort_by(f64::total_cmp);
            print!("  {:8.1}", t[rounds / 2]);
            medians[j].push(t[rounds / 2]);
        }
        println!();
    }
    for (c, m) in contenders.iter().zip(&mut medians) {
        m.sort_by(f64::total_cmp);
        let slow = m.iter().filter(|&&t| t > 1.5 * m[pages / 2]).count();
        println!(
            "{}: median page {:.1} ns, {slow} of {pages} pages over 1.5x that",
            c.name,
            m[pages / 2]
        );
    }
}
