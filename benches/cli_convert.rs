//! `mimeflow convert` end to end, as a user runs it: the binary named by
//! `MIMEFLOW_GUARD_BIN` converts the archive named by
//! `MIMEFLOW_GUARD_ARCHIVE` to jsonl and to a Maildir, one job (`-j 1`, so
//! a shared 2-core machine gives steady figures), into a fresh path each
//! iteration. Only the command is timed; removing its output is not.
//!
//! The bench drives a binary rather than the library so that the same
//! bench, built once, measures two builds of the CLI: `scripts/guard_bench.sh`
//! runs it on the old binary with `--save-baseline` and on the new one with
//! `--baseline`, alternating. Skipped (with a note) when either variable is
//! unset:
//!
//! ```text
//! scripts/gen_archive.py mixed 20 /tmp/guard.mbox
//! MIMEFLOW_GUARD_BIN=target/release/mimeflow MIMEFLOW_GUARD_ARCHIVE=/tmp/guard.mbox \
//!     cargo bench --bench cli_convert
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn convert_once(bin: &Path, archive: &Path, to: &str, dest: &Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(bin)
        .args(["-q", "-j", "1", "convert"])
        .arg(archive)
        .args(["--to", to])
        .arg(dest)
        .output()
        .expect("run the mimeflow binary");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "mimeflow convert --to {to}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn remove(path: &Path) {
    let _ = std::fs::remove_dir_all(path).or_else(|_| std::fs::remove_file(path));
}

fn cli_convert(c: &mut Criterion) {
    let (Some(bin), Some(archive)) = (
        std::env::var_os("MIMEFLOW_GUARD_BIN"),
        std::env::var_os("MIMEFLOW_GUARD_ARCHIVE"),
    ) else {
        eprintln!("cli_convert: set MIMEFLOW_GUARD_BIN and MIMEFLOW_GUARD_ARCHIVE to run it");
        return;
    };
    let (bin, archive) = (PathBuf::from(bin), PathBuf::from(archive));
    let size = std::fs::metadata(&archive)
        .expect("the guard archive")
        .len();
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let mut g = c.benchmark_group("convert");
    g.throughput(Throughput::Bytes(size));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    for to in ["jsonl", "maildir"] {
        let mut n = 0u64;
        g.bench_function(BenchmarkId::new(to, size), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let dest = scratch.path().join(format!("{to}-{n}"));
                    total += convert_once(&bin, &archive, to, &dest);
                    remove(&dest);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, cli_convert);
criterion_main!(benches);
