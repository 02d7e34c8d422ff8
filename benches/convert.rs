//! Split an archive (group `split_*`), and parse and decode every part of
//! every message of it (group `parse_decode_*`), on one core:
//! mimeflow (split + `Message::parse` + `EntityRef::decoded` of every leaf)
//! against the `mail-parser` crate (split + `MessageParser::parse`, which
//! decodes eagerly, + touching every part's decoded body).
//!
//! The archives come from `scripts/gen_archive.py` (deterministic):
//!
//! ```text
//! scripts/gen_archive.py mixed 320 /tmp/mixed.mbox
//! scripts/gen_archive.py text 60 /tmp/text.mbox
//! MIMEFLOW_BENCH_MIXED=/tmp/mixed.mbox MIMEFLOW_BENCH_TEXT=/tmp/text.mbox \
//!     cargo bench --bench convert
//! ```
//!
//! An archive whose variable is unset is skipped. Only its first
//! `MIMEFLOW_BENCH_MB` MB (default 64) are used, cut at a From_ line, so one
//! iteration stays short. Both contenders must find the same number of
//! leaves and decoded bytes of the same order; the counts are asserted
//! inside the loops, so a wrong answer fails the bench.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mimeflow::mbox::{read, ReadOptions, Variant};
use mimeflow::message::{Kind, Message};

fn load(var: &str) -> Option<Bytes> {
    let path = std::env::var_os(var)?;
    let mb: usize = std::env::var("MIMEFLOW_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.to_string_lossy()));
    let limit = mb * 1_000_000;
    let cut = if data.len() <= limit {
        data.len()
    } else {
        memchr::memmem::find(&data[limit..], b"\n\nFrom ").map_or(data.len(), |i| limit + i + 2)
    };
    let mut data = data;
    data.truncate(cut);
    Some(Bytes::from(data))
}

const OPTS: ReadOptions = ReadOptions {
    variant: Some(Variant::Mboxrd),
    unquote_mboxo: false,
};

/// The messages as zero-copy slices of `archive` (mboxrd quoting undone
/// where there was any: then an owned copy).
fn messages(archive: &Bytes) -> impl Iterator<Item = Bytes> + '_ {
    let base = archive.as_ptr() as usize;
    read(archive, &OPTS).map(move |e| match e.message {
        std::borrow::Cow::Borrowed(m) => {
            let start = m.as_ptr() as usize - base;
            archive.slice(start..start + m.len())
        }
        std::borrow::Cow::Owned(v) => Bytes::from(v),
    })
}

/// (messages, leaves, decoded bytes) by mimeflow.
fn mimeflow_job(archive: &Bytes) -> (usize, usize, usize) {
    let (mut n, mut leaves, mut bytes) = (0, 0, 0);
    for m in messages(archive) {
        let msg = Message::parse(m);
        n += 1;
        for e in msg.walk().filter(|e| e.kind() == Kind::Leaf) {
            leaves += 1;
            bytes += e.decoded().len();
        }
    }
    (n, leaves, bytes)
}

/// (messages, leaves, decoded bytes) by mail-parser.
fn mail_parser_job(archive: &Bytes) -> (usize, usize, usize) {
    use mail_parser::{MessageParser, PartType};
    let parser = MessageParser::default();
    let (mut n, mut leaves, mut bytes) = (0, 0, 0);
    for m in messages(archive) {
        let Some(msg) = parser.parse(&m[..]) else {
            continue;
        };
        n += 1;
        for part in &msg.parts {
            let len = match &part.body {
                PartType::Text(t) | PartType::Html(t) => t.len(),
                PartType::Binary(b) | PartType::InlineBinary(b) => b.len(),
                PartType::Message(_) | PartType::Multipart(_) => continue,
            };
            leaves += 1;
            bytes += len;
        }
    }
    (n, leaves, bytes)
}

fn parse_decode(c: &mut Criterion) {
    for (name, var) in [
        ("mixed", "MIMEFLOW_BENCH_MIXED"),
        ("text", "MIMEFLOW_BENCH_TEXT"),
    ] {
        let Some(archive) = load(var) else {
            eprintln!("convert bench: {var} unset, skipping the {name} archive");
            continue;
        };
        let ours = mimeflow_job(&archive);
        let theirs = mail_parser_job(&archive);
        eprintln!(
            "{name}: {} bytes, {} messages; mimeflow {} leaves / {} decoded bytes, mail-parser {} leaves / {} decoded bytes",
            archive.len(), ours.0, ours.1, ours.2, theirs.1, theirs.2
        );
        assert_eq!(ours.0, theirs.0, "message counts differ");
        let size = format!("{}MB-{}msgs", archive.len() / 1_000_000, ours.0);
        // Splitting alone (the serial reader, one core), on the same bytes.
        let mut g = c.benchmark_group(format!("split_{name}"));
        g.throughput(Throughput::Bytes(archive.len() as u64));
        g.sample_size(20);
        g.bench_with_input(BenchmarkId::new("mbox_read", &size), &archive, |b, a| {
            b.iter(|| {
                let k = read(a, &OPTS)
                    .map(|e| e.message.len())
                    .filter(|&l| l > 0)
                    .count();
                assert_eq!(k, ours.0);
                k
            })
        });
        g.finish();
        let mut g = c.benchmark_group(format!("parse_decode_{name}"));
        g.throughput(Throughput::Bytes(archive.len() as u64));
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("mimeflow", &size), &archive, |b, a| {
            b.iter(|| {
                let r = mimeflow_job(a);
                assert_eq!(r, ours);
                r
            })
        });
        g.bench_with_input(BenchmarkId::new("mail-parser", &size), &archive, |b, a| {
            b.iter(|| {
                let r = mail_parser_job(a);
                assert_eq!(r, theirs);
                r
            })
        });
        g.finish();
    }
}

criterion_group!(benches, parse_decode);
criterion_main!(benches);
