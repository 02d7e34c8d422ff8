//! `convert --resume` after a kill, made deterministic: every killed run is
//! started with `MIMEFLOW_TEST_PAUSE_AFTER_WINDOW=1` (see `batch::drive`),
//! so it is stopped right after its first committed window and killed
//! there, and the resume path always runs (the tests of `tests/convert.rs`
//! these replace returned early when the conversion won the race). Also a
//! CI-sized run of the bounded-memory claim for compressed archives.
#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/memory.rs"]
mod memory;
#[allow(unused_imports)]
use cli::*;

#[path = "support/oracle.rs"]
mod oracle;

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const PAUSE: &str = "MIMEFLOW_TEST_PAUSE_AFTER_WINDOW";

/// Messages committed according to a state file, if it is there.
fn committed(state: &Path) -> Option<u64> {
    let s = fs::read_to_string(state).ok()?;
    let v: serde_json::Value = serde_json::from_str(&s).ok()?;
    v["messages"].as_u64()
}

/// Starts `convert SRC --to TO DEST` paused after its first window, waits
/// until that window is committed, checks the run is still going and kills
/// it. Returns the messages the state file says were committed.
fn convert_and_kill(src: &Path, to: &str, dest: &Path, state: &Path) -> u64 {
    let mut child: Child = bin()
        .env(PAUSE, "1")
        // Parquet parts small enough that the first window closes one.
        .env("MIMEFLOW_TEST_PARQUET_PART_BYTES", "1000000")
        .args(["-q", "-j1", "convert"])
        .arg(src)
        .args(["--to", to])
        .arg(dest)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let n = loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{to}: the paused run ended ({status}) before it was killed");
        }
        if let Some(n) = committed(state).filter(|&n| n > 0) {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "{to}: no window committed in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "{to}: the run did not pause after its first window"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        committed(state),
        Some(n),
        "{to}: the state moved while paused"
    );
    n
}

/// Supersedes `resume_after_a_kill_has_no_duplicates` of tests/convert.rs.
/// A window of a mapped archive is 8 ranges of 4 MiB per worker, so the
/// mapped source needs more than 32 MiB to have a second window at -j1; a
/// streamed (gzip) source has windows of 2 x 1024 messages. Both kinds of
/// source, every output format.
#[test]
fn resume_after_a_kill_has_no_duplicates() {
    let d = scratch("resume");
    let mapped = d.join("big.mbox");
    big_archive(&mapped, 850); // ~36 MB: two windows at -j1
    let small = d.join("small.mbox");
    big_archive(&small, 200); // 5600 messages: three streamed windows
    let gz = d.join("small.mbox.gz");
    fs::write(&gz, gzip_stored(&fs::read(&small).unwrap())).unwrap();
    let cases = [
        (&mapped, "mbox"),
        (&mapped, "maildir"),
        (&gz, "eml"),
        (&gz, "jsonl"),
        (&gz, "mbox"),
        (&mapped, "sqlite"),
        (&gz, "sqlite"),
        (&mapped, "parquet"),
    ];
    for (i, (src, to)) in cases.into_iter().enumerate() {
        let want = messages(if src == &gz { &small } else { src });
        let total = want.len();
        let dest = d.join(format!("out-{i}-{to}"));
        let state = d.join(format!(".out-{i}-{to}.mimeflow-state"));
        let n = convert_and_kill(src, to, &dest, &state);
        assert!(
            (n as usize) < total,
            "{to}: the first window held every message ({n}): nothing left to resume"
        );
        assert!(
            !dest.exists() || to == "maildir" && !dest.join("cur").exists(),
            "{to}: partial output visible"
        );
        // Without --resume the leftover run is pointed out.
        let refused = run(&[&"-q", &"convert", src, &"--to", &to, &dest]);
        assert_eq!(refused.status.code(), Some(1), "{to}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("--resume"), "{to}: {stderr}");
        let out = ok(&[&"-j2", &"convert", src, &"--to", &to, &"--resume", &dest]);
        assert!(out.contains(&format!("resumed after {n}")), "{to}: {out}");
        assert!(!state.exists(), "{to}: state file left");
        if to == "sqlite" || to == "parquet" {
            assert_eq!(
                table_rows(&dest),
                (0..total as u64).collect::<Vec<_>>(),
                "{to}"
            );
            continue;
        }
        if to == "jsonl" {
            let lines = fs::read_to_string(&dest).unwrap();
            let ids: Vec<u64> = lines
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["index"].as_u64().expect("an index field")
                })
                .collect();
            assert_eq!(ids, (0..total as u64).collect::<Vec<_>>(), "{to}");
            continue;
        }
        let back = if to == "mbox" {
            messages(&dest)
        } else {
            let again = d.join(format!("again-{i}.mbox"));
            ok(&[&"-q", &"convert", &dest, &"--to", &"mbox", &again]);
            messages(&again)
        };
        assert_eq!(back.len(), total, "{to}: messages lost or duplicated");
        assert!(back == want, "{to}: not the source's messages in order");
    }
}

/// The `row` column of a sqlite or parquet (folder) output, in order.
fn table_rows(dest: &Path) -> Vec<u64> {
    if dest.is_dir() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::UInt64Type;
        let mut parts: Vec<_> = fs::read_dir(dest.join("messages"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        parts.sort();
        let mut rows = Vec::new();
        for p in parts {
            let f = fs::File::open(p).unwrap();
            let r =
                parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(f, 1024).unwrap();
            for b in r {
                let b = b.unwrap();
                let col = b
                    .column_by_name("row")
                    .unwrap()
                    .as_primitive::<UInt64Type>();
                rows.extend(col.iter().map(Option::unwrap));
            }
        }
        rows
    } else {
        let db = rusqlite::Connection::open(dest).unwrap();
        let mut q = db
            .prepare("SELECT \"row\" FROM messages ORDER BY id")
            .unwrap();
        q.query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as u64)
            .collect()
    }
}

/// A run killed while writing its first window, before any state past the
/// start was saved, resumes from the start (it was refused: the saved
/// fingerprint had no bytes before the resume point to compare).
#[test]
fn resume_after_a_kill_in_the_first_window() {
    let d = scratch("resume-first");
    let src = d.join("a.mbox");
    big_archive(&src, 40);
    let total = messages(&src).len() as u64;
    for to in ["jsonl", "sqlite", "parquet"] {
        let dest = d.join(format!("out-{to}"));
        let mut child = bin()
            .env("MIMEFLOW_TEST_PAUSE_BEFORE_SAVE", "1")
            .args(["-q", "-j1", "convert"])
            .arg(&src)
            .args(["--to", to])
            .arg(&dest)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(line.contains("paused at window 1"), "{to}: {line}");
        child.kill().unwrap();
        child.wait().unwrap();
        let out = ok(&[&"-q", &"convert", &src, &"--to", &to, &"--resume", &dest]);
        assert!(out.is_empty(), "{to}: {out}");
        if to == "jsonl" {
            assert_eq!(
                fs::read_to_string(&dest).unwrap().lines().count() as u64,
                total
            );
        } else {
            assert_eq!(table_rows(&dest), (0..total).collect::<Vec<_>>(), "{to}");
        }
    }
}

/// A state file of another version (a run interrupted before an upgrade
/// that changed, say, Maildir names) is refused with one line saying so,
/// and the partial output is left as it was.
#[test]
fn resume_refuses_a_state_of_another_version() {
    let d = scratch("resume-version");
    let src = d.join("big.mbox");
    big_archive(&src, 850); // two windows at -j1
    let dest = d.join("out");
    let partial = d.join("out.partial");
    let state = d.join(".out.mimeflow-state");
    convert_and_kill(&src, "maildir", &dest, &state);
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&state).unwrap()).unwrap();
    let version = v["version"].as_u64().expect("the state has a version");
    v["version"] = serde_json::json!(version + 1);
    fs::write(&state, serde_json::to_vec(&v).unwrap()).unwrap();
    let before = tree(&partial);
    let out = run(&[
        &"-q",
        &"convert",
        &src,
        &"--to",
        &"maildir",
        &"--resume",
        &dest,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("was written by another version of mimeflow")
            && err.contains(&format!("state version {}", version + 1)),
        "{err}"
    );
    assert!(tree(&partial) == before, "the partial output changed");
    assert!(!dest.exists());
}

/// `data` gzipped with stored (level 0) deflate blocks: cheap in a debug
/// build, and still a compressed archive to the reader, which streams it.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    std::io::Write::write_all(&mut gz, data).unwrap();
    gz.finish().unwrap()
}

/// A fresh Maildir is built in DEST.partial with files written in place: a
/// kill can leave a short file of the unfinished window there, and
/// --resume must rewrite it, leaving exactly the tree of an uninterrupted
/// run. Supersedes `resume_rewrites_a_short_file_left_in_the_partial_maildir`
/// of tests/convert.rs.
#[test]
fn resume_rewrites_a_short_file_left_in_the_partial_maildir() {
    let d = scratch("resume-short");
    let src = d.join("big.mbox");
    big_archive(&src, 850); // ~36 MB: two windows at -j1
    let reference = d.join("ref");
    ok(&[
        &"-q", &"-j2", &"convert", &src, &"--to", &"maildir", &reference,
    ]);
    let want = tree(&reference);
    let dest = d.join("out");
    let partial = d.join("out.partial");
    let state = d.join(".out.mimeflow-state");
    let n = convert_and_kill(&src, "maildir", &dest, &state);
    // Plant a short copy of the first uncommitted message, as a kill in the
    // middle of its write would leave it.
    let prefix = format!("{n:08}.");
    let (name, bytes) = want
        .iter()
        .find(|(k, _)| k.rsplit('/').next().is_some_and(|f| f.starts_with(&prefix)))
        .expect("the first uncommitted message is in the reference");
    fs::write(partial.join(name), &bytes[..bytes.len() / 2]).unwrap();
    ok(&[
        &"-q",
        &"-j2",
        &"convert",
        &src,
        &"--to",
        &"maildir",
        &"--resume",
        &dest,
    ]);
    assert!(
        tree(&dest) == want,
        "resumed Maildir differs from an uninterrupted run"
    );
}

/// The CI-sized companion of `huge_streamed_message_keeps_memory_bounded`
/// (tests/convert.rs, ignored: 300 MB): a gzip archive holding one 48 MB
/// message converts, with the spool threshold lowered to 1 MiB, in far less
/// anonymous memory than the message. Stored (level 0) deflate keeps the
/// debug build's compression cheap; the reader still streams it.
#[test]
fn streamed_message_keeps_memory_bounded() {
    const SIZE: usize = 48 << 20;
    let d = scratch("bounded");
    let gz = d.join("big.mbox.gz");
    {
        use std::io::Write as _;
        let file = std::io::BufWriter::new(fs::File::create(&gz).unwrap());
        let mut w = flate2::write::GzEncoder::new(file, flate2::Compression::none());
        w.write_all(
            b"From big@example.org Mon Jan  1 10:00:00 2001\nFrom: big@example.org\n\
              Subject: big\nMessage-ID: <big@example.org>\n\n",
        )
        .unwrap();
        let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVpBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWgAB\n";
        let block = line.repeat((1 << 20) / line.len());
        let mut size = 0;
        while size < SIZE {
            w.write_all(&block).unwrap();
            size += block.len();
        }
        w.write_all(b"\nFrom small@example.org Mon Jan  1 10:00:00 2001\nSubject: after\n\nbye\n")
            .unwrap();
        w.finish().unwrap().flush().unwrap();
    }
    let dest = d.join("out");
    let spool = d.join("spool");
    fs::create_dir_all(&spool).unwrap();
    let child = bin()
        .env("TMPDIR", &spool)
        .args(["-q", "convert"])
        .arg(&gz)
        .args(["--to", "eml", "--spool-threshold", "1048576"])
        .arg(&dest)
        .spawn()
        .unwrap();
    let (peak, _, status) = memory::peak_memory(child);
    assert!(status.success(), "{status}");
    let sizes: Vec<u64> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 2, "{sizes:?}");
    assert!(sizes.iter().any(|&n| n > SIZE as u64), "{sizes:?}");
    assert_eq!(fs::read_dir(&spool).unwrap().count(), 0, "spool files left");
    let Some(peak) = (peak > 0).then_some(peak) else {
        return oracle::missing("no /proc/PID/status: memory not measured");
    };
    eprintln!(
        "48 MB streamed message: peak RssAnon {:.1} MiB",
        peak as f64 / (1 << 20) as f64
    );
    // Holding the message would take its 48 MB; the streamed run took 12.9
    // MiB on its own branch and 18.9 MiB once merged with the source and
    // window changes of issue 9 (cause not yet found; see the issue's
    // closing note), so the bound is half the message.
    assert!(peak < (SIZE / 2) as u64, "peak RssAnon {peak} bytes");
}
