//! Documented CLI behaviours that had no test: `MIMEFLOW_SIMD`, the
//! backends `--version` lists against the CPU's own flags (AVX-512 VBMI on a
//! CPU that has it), `convert -` from standard input, `convert --variant`,
//! `-o` for show, parse and cat, a closed stdout pipe ending quietly and
//! Ctrl-C giving status 130 for commands other than `b64`.
#![cfg(feature = "cli")]

#[path = "support/oracle.rs"]
mod oracle;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mimeflow::mbox::{read, ReadOptions};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/mbox/sample.mbox");

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mimeflow"));
    c.env_remove("MIMEFLOW_SIMD")
        .env_remove("MIMEFLOW_TEST_PAUSE_AFTER_WINDOW");
    c
}

fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-doc-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn ok(out: Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn version(simd: Option<&str>) -> String {
    let mut c = bin();
    if let Some(s) = simd {
        c.env("MIMEFLOW_SIMD", s);
    }
    String::from_utf8(ok(c.arg("--version").output().unwrap())).unwrap()
}

/// The "base64 backend: X (available: A, B)" line of `--version`.
fn backends(text: &str) -> (String, Vec<String>) {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("base64 backend: "))
        .unwrap_or_else(|| panic!("no backend line in {text:?}"));
    let (chosen, rest) = line.split_once(" (available: ").expect("available list");
    let available = rest
        .trim_end_matches(')')
        .split(", ")
        .map(String::from)
        .collect();
    (chosen.to_string(), available)
}

/// A message with a 1 MiB base64 attachment (section 2) and 3000 small
/// parts after it, so every command's output exceeds a pipe's buffer.
fn big_message(dir: &Path) -> PathBuf {
    let mut m = b"From: a@example.org\nSubject: big\nMIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nhello\n\
        --b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        .to_vec();
    let data: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    m.extend_from_slice(&mimeflow::base64::STANDARD.encode_wrapped_to_vec(
        &data,
        mimeflow::base64::Wrap::new(76, mimeflow::base64::LineEnding::Lf),
    ));
    for i in 0..3000 {
        write!(m, "--b\nContent-Type: text/plain\n\npart {i}\n").unwrap();
    }
    m.extend_from_slice(b"--b--\n");
    let p = dir.join("big.eml");
    fs::write(&p, m).unwrap();
    p
}

#[test]
fn mimeflow_simd_sets_the_process_backend() {
    let (best, available) = backends(&version(None));
    assert!(available.contains(&"scalar".to_string()), "{available:?}");
    assert_eq!(
        &best,
        available.last().unwrap(),
        "the default is the fastest"
    );
    let d = scratch("simd");
    let input = d.join("in.bin");
    fs::write(
        &input,
        (0..100_003u32)
            .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut outputs = Vec::new();
    for name in &available {
        let (chosen, _) = backends(&version(Some(name)));
        assert_eq!(&chosen, name, "MIMEFLOW_SIMD={name}");
        let enc = ok(bin()
            .env("MIMEFLOW_SIMD", name)
            .args(["b64", "encode"])
            .arg(&input)
            .output()
            .unwrap());
        outputs.push((name.clone(), enc));
    }
    for (name, enc) in &outputs[1..] {
        assert!(
            enc == &outputs[0].1,
            "{name} encodes differently from scalar"
        );
    }
    // An unknown or unavailable name falls back to the fastest.
    assert_eq!(backends(&version(Some("no-such-backend"))).0, best);
    if !available.contains(&"avx512vbmi".to_string()) {
        assert_eq!(backends(&version(Some("avx512vbmi"))).0, best);
    }
}

#[test]
fn avx512_vbmi_is_listed_exactly_when_the_cpu_has_it() {
    if !cfg!(target_arch = "x86_64") {
        return oracle::missing("not an x86-64 CPU: no AVX backends to check");
    }
    let Ok(cpuinfo) = fs::read_to_string("/proc/cpuinfo") else {
        return oracle::missing("no /proc/cpuinfo: the CPU's flags are unknown");
    };
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    let has = |f: &str| flags.contains(&f);
    let (best, available) = backends(&version(None));
    let vbmi = has("avx512f") && has("avx512bw") && has("avx512vbmi");
    assert_eq!(
        available.iter().any(|b| b == "avx512vbmi"),
        vbmi,
        "cpu flags avx512f/bw/vbmi: {vbmi}; --version lists {available:?}"
    );
    assert_eq!(
        available.iter().any(|b| b == "avx2"),
        has("avx2") && has("popcnt"),
        "{available:?}"
    );
    if vbmi {
        assert_eq!(best, "avx512vbmi");
    }
    eprintln!("cpu: avx512vbmi {vbmi}; backends {available:?}, default {best}");
}

/// `convert - --to mbox DEST` with `input` on standard input: the messages.
fn convert_stdin(input: Vec<u8>, dest: &Path) -> Output {
    let mut child = bin()
        .args(["-q", "convert", "-", "--to", "mbox"])
        .arg(dest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join().unwrap();
    out
}

fn sample_messages(data: &[u8]) -> Vec<Vec<u8>> {
    read(data, &ReadOptions::default())
        .map(|e| e.message.into_owned())
        .collect()
}

#[test]
fn convert_reads_standard_input() {
    let d = scratch("stdin");
    let plain = fs::read(SAMPLE).unwrap();
    let dest = d.join("plain.mbox");
    ok(convert_stdin(plain.clone(), &dest));
    let got = sample_messages(&fs::read(&dest).unwrap());
    assert_eq!(got.len(), 28);
    assert!(got == sample_messages(&plain), "not the sample's messages");
}

/// The README: "SOURCE is an mbox file (plain, or .gz/.zst/.xz detected by
/// magic bytes; `-` reads standard input)". A gzip archive on standard
/// input was refused as "not an mbox archive" while the magic bytes were
/// looked at for files only.
#[test]
fn convert_reads_compressed_standard_input() {
    let d = scratch("stdin-gz");
    let plain = fs::read(SAMPLE).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let dest = d.join("gz.mbox");
    ok(convert_stdin(gz.finish().unwrap(), &dest));
    assert!(sample_messages(&fs::read(&dest).unwrap()) == sample_messages(&plain));
}

#[test]
fn convert_variant_chooses_the_unquoting() {
    // ">>From" lines: mboxrd removes one '>', mboxo (no unquoting) none.
    let d = scratch("variant");
    let src = d.join("q.mbox");
    fs::write(
        &src,
        b"From a@example.org Mon Jan  1 10:00:00 2001\nSubject: q\n\n>>From here\n>From there\n\n",
    )
    .unwrap();
    let body = |variant: &str| {
        let dest = d.join(format!("out-{variant}"));
        ok(bin()
            .args(["-q", "convert"])
            .arg(&src)
            .args(["--to", "eml", "--variant", variant])
            .arg(&dest)
            .output()
            .unwrap());
        let files: Vec<_> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{variant}: {files:?}");
        String::from_utf8(fs::read(&files[0]).unwrap()).unwrap()
    };
    let rd = body("mboxrd");
    assert!(rd.ends_with("\n>From here\nFrom there\n"), "{rd:?}");
    let o = body("mboxo");
    assert!(o.ends_with("\n>>From here\n>From there\n"), "{o:?}");
    let bad = bin()
        .args(["convert"])
        .arg(&src)
        .args(["--to", "eml", "--variant", "mboxzz"])
        .arg(d.join("bad"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("mboxzz"));
    assert!(!d.join("bad").exists());
}

#[test]
fn output_flag_writes_what_stdout_would_for_show_parse_and_cat() {
    let d = scratch("out");
    let msg = big_message(&d);
    let cases: [&[&str]; 4] = [&["show"], &["parse", "--json"], &["cat"], &["cat"]];
    for (i, args) in cases.iter().enumerate() {
        let mut extra: Vec<&str> = Vec::new();
        if args[0] == "cat" {
            extra.push(["2", "1"][i - 2]);
        }
        let mut c = bin();
        c.args(*args).arg(&msg).args(&extra);
        let stdout = ok(c.output().unwrap());
        assert!(!stdout.is_empty());
        let file = d.join(format!("out-{i}"));
        let mut c = bin();
        c.args(*args).arg(&msg).args(&extra).arg("-o").arg(&file);
        let out = c.output().unwrap();
        assert!(ok(out).is_empty(), "{args:?} -o also wrote stdout");
        assert!(fs::read(&file).unwrap() == stdout, "{args:?}: -o differs");
    }
    // Only the output file is left: no temp file beside it.
    let left: Vec<String> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn closed_stdout_pipe_ends_quietly() {
    let d = scratch("pipe");
    let msg = big_message(&d);
    let m = msg.to_str().unwrap();
    let cases: [&[&str]; 5] = [
        &["show", m],
        &["parse", "--json", m],
        &["cat", m, "2"],
        &["normalize", m],
        &["smtp-data", "encode", m],
    ];
    for args in cases {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, then hang up: the next write gets EPIPE.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        let _ = std::io::Read::read(&mut stdout, &mut first);
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", out.status);
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[cfg(unix)]
fn interrupt(pid: u32) {
    // SAFETY: kill(2) with a pid we spawned and a valid signal number.
    #[allow(unsafe_code)]
    let r = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
}

/// Ctrl-C in `convert` stops after the current window with status 130,
/// keeps the state file and names `--resume`; the resumed run finishes. The
/// run is paused after its first window (see `batch::drive`), so the signal
/// always lands mid-run.
#[cfg(unix)]
#[test]
fn ctrl_c_in_convert_exits_130_and_resumes() {
    let d = scratch("sigint");
    let src = d.join("big.mbox.gz");
    let plain: Vec<u8> = (0..100).flat_map(|_| fs::read(SAMPLE).unwrap()).collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    fs::write(&src, gz.finish().unwrap()).unwrap();
    let dest = d.join("out.mbox");
    let state = d.join(".out.mbox.mimeflow-state");
    let child = bin()
        .env("MIMEFLOW_TEST_PAUSE_AFTER_WINDOW", "1")
        .args(["-q", "-j1", "convert"])
        .arg(&src)
        .args(["--to", "mbox"])
        .arg(&dest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The state file is there from the start; wait for a committed window.
    let committed = || {
        fs::read_to_string(&state)
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v["messages"].as_u64())
            .unwrap_or(0)
    };
    while committed() == 0 {
        assert!(Instant::now() < deadline, "no window committed in 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{}: {stderr}", out.status);
    assert!(stderr.contains("--resume"), "{stderr}");
    // The test hook's own marker aside, one line.
    let lines = stderr.lines().filter(|l| !l.contains("paused at window"));
    assert_eq!(lines.count(), 1, "{stderr}");
    assert!(state.exists() && !dest.exists());
    let resumed = ok(bin()
        .args(["convert"])
        .arg(&src)
        .args(["--to", "mbox", "--resume"])
        .arg(&dest)
        .output()
        .unwrap());
    let resumed = String::from_utf8_lossy(&resumed).into_owned();
    assert!(resumed.contains("resumed after"), "{resumed}");
    let n = read(&fs::read(&dest).unwrap(), &ReadOptions::default()).count();
    assert_eq!(n, read(&plain, &ReadOptions::default()).count());
}

/// Ctrl-C while `show`/`parse` wait on standard input with `-o FILE`: the
/// shell sees status 130 (an exit with 130, or death by SIGINT, which it
/// reports as 128 + 2) and neither FILE nor a temp file is left.
#[cfg(unix)]
#[test]
fn ctrl_c_while_reading_leaves_no_output() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let d = scratch("sigint-read");
    for cmd in [&["show"][..], &["parse", "--json"]] {
        let file = d.join(format!("{}.out", cmd[0]));
        let mut c = bin();
        c.args(cmd)
            .args(["-", "-o"])
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A test runner started in the background (`cmd &` in a script)
        // inherits SIGINT ignored, and so would the child: give it the
        // default disposition, as a terminal's foreground job has.
        // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
        #[allow(unsafe_code)]
        unsafe {
            c.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"Subject: x\n\nbody\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        interrupt(child.id());
        // Never hang the suite: a child that survives the signal fails.
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{cmd:?}: still running 20 s after SIGINT");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let shell_status = out.status.code().or(out.status.signal().map(|s| 128 + s));
        assert_eq!(shell_status, Some(130), "{cmd:?}: {}", out.status);
        let left: Vec<_> = fs::read_dir(&d).unwrap().collect();
        assert!(left.is_empty(), "{cmd:?}: {left:?}");
    }
}
