//! Sources that are not regular files, and archives that change under a
//! run: `mimeflow convert | split | count` (and the one-message commands)
//! on FIFOs, process substitution, devices and endless streams, and on an
//! archive truncated while it is being read.
#![cfg(all(feature = "cli", target_os = "linux"))]

#[path = "support/cli.rs"]
mod cli;
#[allow(unused_imports)]
use cli::*;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A named pipe at `path`.
fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Writes `data` into the FIFO from a thread (the open blocks until the
/// reader opens it). Call [`release`] after the reader is gone.
fn feed(fifo: &Path, data: Vec<u8>) -> JoinHandle<()> {
    let fifo = fifo.to_path_buf();
    std::thread::spawn(move || {
        let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        // The reader may stop early (errors, a kill): not our failure.
        let _ = w.write_all(&data);
    })
}

/// Lets a writer still blocked opening `fifo` (the reader never opened it)
/// go on, then joins it.
fn release(fifo: &Path, writer: JoinHandle<()>) {
    let r = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
        .unwrap();
    drop(r);
    writer.join().unwrap();
}

/// Waits for `child` at most `limit`, killing it after that.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Runs `cmd` to its end within `limit` (else fails), collecting output.
#[track_caller]
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let status = wait_at_most(&mut child, limit);
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let Some(status) = status else {
        panic!(
            "{cmd:?} still running after {limit:?}: {}",
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// The one stderr line of a failed run (exit 1).
#[track_caller]
fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{:?}", out.status);
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(
        err.ends_with('\n') && err.matches('\n').count() == 1,
        "not one line: {err:?}"
    );
    assert!(err.starts_with("mimeflow: "), "{err:?}");
    err
}

const LIMIT: Duration = Duration::from_secs(60);

/// A FIFO is read as a stream, as `-` is (it used to fail with "Illegal
/// seek"), by every command that opens an archive: same messages, same
/// output as the regular file, compressed or not.
#[test]
fn fifo_sources_are_streamed() {
    let dir = scratch("fifo");
    let sample = fs::read(SAMPLE).unwrap();
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&sample).unwrap();
        e.finish().unwrap()
    };
    for (label, bytes) in [("plain", sample.clone()), ("gzip", gz)] {
        let fifo = dir.join(format!("in-{label}"));
        mkfifo(&fifo);
        // count
        let w = feed(&fifo, bytes.clone());
        let out = run_within(bin().args(["count", "--json"]).arg(&fifo), LIMIT);
        release(&fifo, w);
        assert!(out.status.success(), "{label}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["messages"], SAMPLE_MESSAGES, "{label}");
        assert_eq!(v["bytes"], sample.len(), "{label}");
        // convert to every format, and split: the same bytes as from the file.
        for to in ["mbox", "jsonl", "eml", "maildir"] {
            let from_file = dir.join(format!("file-{label}.{to}"));
            let from_fifo = dir.join(format!("fifo-{label}.{to}"));
            let out = run_within(
                bin()
                    .args(["-q", "convert", "--to", to, SAMPLE])
                    .arg(&from_file),
                LIMIT,
            );
            assert!(out.status.success(), "{out:?}");
            let w = feed(&fifo, bytes.clone());
            let out = run_within(
                bin()
                    .args(["-q", "convert", "--to", to])
                    .arg(&fifo)
                    .arg(&from_fifo),
                LIMIT,
            );
            release(&fifo, w);
            assert!(out.status.success(), "{label} --to {to}: {out:?}");
            if from_file.is_dir() {
                assert!(tree(&from_fifo) == tree(&from_file), "{label} --to {to}");
                assert_eq!(tree(&from_fifo).len(), SAMPLE_MESSAGES);
            } else if to == "jsonl" {
                assert!(
                    jsonl_records(&from_fifo) == jsonl_records(&from_file),
                    "{label} --to {to}"
                );
                assert_eq!(jsonl_records(&from_file).len(), SAMPLE_MESSAGES);
            } else {
                assert!(
                    fs::read(&from_fifo).unwrap() == fs::read(&from_file).unwrap(),
                    "{label} --to {to}"
                );
            }
        }
        let split = dir.join(format!("split-{label}"));
        let w = feed(&fifo, bytes.clone());
        let out = run_within(bin().args(["-q", "split"]).arg(&fifo).arg(&split), LIMIT);
        release(&fifo, w);
        assert!(out.status.success(), "{label} split: {out:?}");
        assert!(tree(&split) == tree(&dir.join(format!("file-{label}.eml"))));
    }
    // Process substitution is a pipe too (`/dev/fd/N`).
    let out = run_within(
        Command::new("bash").arg("-c").arg(format!(
            "exec {:?} count --json <(cat {SAMPLE:?})",
            env!("CARGO_BIN_EXE_mimeflow")
        )),
        LIMIT,
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["messages"], SAMPLE_MESSAGES);
    // The one-message commands read FIFOs too.
    let fifo = dir.join("one");
    mkfifo(&fifo);
    let first = mimeflow::mbox::read(&sample, &Default::default())
        .next()
        .unwrap()
        .message
        .into_owned();
    let w = feed(&fifo, first.clone());
    let out = run_within(bin().arg("show").arg(&fifo), LIMIT);
    release(&fifo, w);
    assert!(out.status.success(), "{out:?}");
    let from_file = dir.join("one.eml");
    fs::write(&from_file, &first).unwrap();
    let want = run_within(bin().arg("show").arg(&from_file), LIMIT);
    assert_eq!(out.stdout, want.stdout);
    fs::remove_dir_all(&dir).unwrap();
}

/// `/dev/zero` and `/dev/urandom` are streams, not empty archives (they
/// used to count as "0 messages", exit 0): not an mbox, said at once on one
/// line, exit 1, nothing written.
#[test]
fn devices_are_read_not_taken_for_empty() {
    let dir = scratch("devices");
    for dev in ["/dev/zero", "/dev/urandom"] {
        let out = run_within(bin().args(["count", dev]), LIMIT);
        let err = one_error_line(&out);
        assert!(err.contains("not an mbox"), "{dev}: {err}");
        let dest = dir.join("out.jsonl");
        let out = run_within(
            bin().args(["convert", "--to", "jsonl", dev]).arg(&dest),
            LIMIT,
        );
        let err = one_error_line(&out);
        assert!(err.contains("not an mbox"), "{dev}: {err}");
        assert!(
            fs::read_dir(&dir).unwrap().next().is_none(),
            "{dev}: left output behind"
        );
    }
    // `head -c 10M /dev/zero |`: the same through standard input.
    let out = run_within(
        Command::new("bash").arg("-c").arg(format!(
            "head -c 10M /dev/zero | {:?} count -",
            env!("CARGO_BIN_EXE_mimeflow")
        )),
        LIMIT,
    );
    let err = one_error_line(&out);
    assert!(err.contains("not an mbox"), "{err}");
    fs::remove_dir_all(&dir).unwrap();
}

/// The anonymous resident memory (heap, stacks) of a running process, in KiB.
fn rss_anon_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// An mbox whose one message never ends (a From_ line, then endless
/// bytes from a FIFO: `/dev/zero` or `/dev/urandom` after a header) is
/// spooled, not held: the heap (RssAnon) stays bounded while it runs, and
/// killing it publishes nothing. (The spooled message is mapped for reading:
/// those pages are the page cache's, counted in VmRSS but not RssAnon.)
/// After 1 GiB (so that a runaway test cannot fill the disk) the writer
/// trickles a byte every 10 ms: the message still has no end when a fast
/// build has read it all within the test's three seconds.
#[test]
fn endless_message_stays_bounded() {
    let dir = scratch("endless");
    let fifo = dir.join("in");
    mkfifo(&fifo);
    let spool = dir.join("spool");
    fs::create_dir(&spool).unwrap();
    for (label, random) in [("zeros", false), ("random", true)] {
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                let head = b"From a@example.org Thu Jan  1 00:00:00 1970\nSubject: x\n\n";
                if w.write_all(head).is_err() {
                    return;
                }
                let mut block = vec![0u8; 1 << 20];
                let mut x = 0x9E37_79B9_7F4A_7C15u64;
                for _ in 0..1024 {
                    if random {
                        for b in block.chunks_mut(8) {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
                        }
                    }
                    if w.write_all(&block).is_err() {
                        return; // the reader was killed
                    }
                }
                while w.write_all(b"x").is_ok() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let dest = dir.join(format!("{label}.mbox"));
        let mut child = bin()
            .args([
                "-q",
                "-j2",
                "convert",
                "--to",
                "mbox",
                "--spool-threshold",
                "1048576",
            ])
            .arg(&fifo)
            .arg(&dest)
            .env("TMPDIR", &spool)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut peak = 0;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if let Some(anon) = rss_anon_kib(child.id()) {
                peak = peak.max(anon);
            }
            assert!(child.try_wait().unwrap().is_none(), "{label}: ended early");
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        release(&fifo, writer);
        assert!(peak > 0, "{label}: no RSS sample");
        assert!(peak < 96 * 1024, "{label}: peak RssAnon {peak} KiB");
        assert!(!dest.exists(), "{label}: killed run published its output");
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// An archive of about `mb` megabytes of small text messages.
fn archive_of_mb(path: &Path, mb: usize) {
    let mut out = std::io::BufWriter::new(fs::File::create(path).unwrap());
    let line = "The quick brown fox jumps over the lazy dog, again and again.\n".repeat(60);
    let mut n = 0;
    let mut written = 0;
    while written < mb * 1_000_000 {
        let msg = format!(
            "From a{n}@example.org Thu Jan  1 00:00:00 1970\nFrom: a{n}@example.org\n\
             Subject: message {n}\nMessage-ID: <{n}@example.org>\n\n{line}\n"
        );
        out.write_all(msg.as_bytes()).unwrap();
        written += msg.len();
        n += 1;
    }
    out.flush().unwrap();
}

/// An archive truncated while a conversion maps it (a mail client
/// compacting it): one line on stderr naming the archive, exit 1 (it used
/// to die of SIGBUS, status 135, without a word), and the output left
/// unpublished: DEST does not exist, its `.partial` and the resume state
/// do. For a single-file and a folder output.
#[test]
fn archive_truncated_during_a_run() {
    let dir = scratch("truncated");
    let pristine = dir.join("pristine.mbox");
    archive_of_mb(&pristine, 64);
    for to in ["jsonl", "eml"] {
        let archive = dir.join(format!("{to}.mbox"));
        fs::copy(&pristine, &archive).unwrap();
        let dest = dir.join(format!("out-{to}"));
        let partial = dir.join(format!("out-{to}.partial"));
        let mut child = bin()
            .args(["-q", "-j1", "convert", "--to", to])
            .arg(&archive)
            .arg(&dest)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Truncate once the run is under way: its partial output exists,
        // which it makes after mapping the archive. At once, not after a
        // pause: a 64 MB archive converts in under 0.2 s, so a pause of
        // 200 ms let some runs finish first.
        let start = Instant::now();
        while !partial.exists() {
            assert!(start.elapsed() < LIMIT, "{to}: no {partial:?}");
            assert!(child.try_wait().unwrap().is_none(), "{to}: ended early");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "{to}: finished before the truncation; make the archive bigger"
        );
        fs::OpenOptions::new()
            .write(true)
            .open(&archive)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        let status = wait_at_most(&mut child, LIMIT).expect("the run did not end");
        assert_eq!(status.code(), Some(1), "{to}: {status:?}, stderr {err:?}");
        let want = format!(
            "mimeflow: {} changed size while being read (truncated by another program?); \
             stopped before finishing {}",
            archive.display(),
            dest.display()
        );
        assert!(
            err.starts_with(&want) && err.ends_with('\n') && err.matches('\n').count() == 1,
            "{to}: {err:?}"
        );
        assert!(!dest.exists(), "{to}: a torn output was published");
        assert!(partial.exists(), "{to}: the partial output is gone");
        assert!(
            dir.join(format!(".out-{to}.mimeflow-state")).exists(),
            "{to}: no resume state"
        );
    }
    fs::remove_dir_all(&dir).unwrap();
}

/// The one-message commands read a pipe of unknown length in bounded
/// memory: past the spool threshold (64 MiB) the message goes to an
/// unnamed temp file, not the heap (it used to be read whole into a
/// growing `Vec`: 300 MB of input took 894 MB of anonymous memory).
#[test]
fn one_message_from_a_pipe_is_spooled() {
    let dir = scratch("spooled");
    let fifo = dir.join("in");
    mkfifo(&fifo);
    let spool = dir.join("spool");
    fs::create_dir(&spool).unwrap();
    const BODY: usize = 200 << 20;
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let _ = w.write_all(b"Subject: big\n\n");
            let block = vec![b'x'; 1 << 20];
            for _ in 0..BODY >> 20 {
                if w.write_all(&block).is_err() {
                    return;
                }
            }
        })
    };
    let mut child = bin()
        .args(["cat", "--raw"])
        .arg(&fifo)
        .arg("1")
        .env("TMPDIR", &spool)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let mut peak_anon = 0;
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < LIMIT, "cat still running after {LIMIT:?}");
        if let Ok(status) = fs::read_to_string(format!("/proc/{}/status", child.id())) {
            let anon = status
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok());
            peak_anon = peak_anon.max(anon.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    release(&fifo, writer);
    assert!(status.success(), "{status:?}");
    assert_eq!(counter.join().unwrap().unwrap(), BODY as u64);
    assert!(
        peak_anon < 128 * 1024,
        "peak RssAnon {peak_anon} KiB for a {} MiB message",
        BODY >> 20
    );
    fs::remove_dir_all(&dir).unwrap();
}
