//! End-to-end tests of `mimeflow b64 encode|decode`: the built binary run as
//! a child process, checked for output bytes, exit status and stderr.
//!
//! GNU coreutils' `base64` is the reference for encoded output; those
//! comparisons are skipped when `/usr/bin/base64` is absent.

#[path = "support/memory.rs"]
mod memory;
#[path = "support/oracle.rs"]
mod oracle;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const GNU_BASE64: &str = "/usr/bin/base64";

fn mimeflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimeflow"))
}

/// Runs `mimeflow ARGS` with `stdin` fed from another thread (no deadlock on
/// large inputs).
fn run(args: &[&str], stdin: &[u8]) -> Output {
    run_cmd(mimeflow().args(args), stdin)
}

fn run_cmd(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // The child may stop reading early (errors); that is not our failure.
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    feeder.join().expect("feeder");
    out
}

/// Output of a run that must succeed.
#[track_caller]
fn ok(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "mimeflow {args:?} failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Stderr of a run that must fail with `code`; checks it is a single line.
#[track_caller]
fn fails(args: &[&str], stdin: &[u8], code: i32) -> String {
    let out = run(args, stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "mimeflow {args:?}: {:?}",
        out.status
    );
    String::from_utf8(out.stderr).expect("utf-8 stderr")
}

#[track_caller]
fn one_line(stderr: &str) -> &str {
    assert!(
        stderr.ends_with('\n'),
        "stderr not newline-terminated: {stderr:?}"
    );
    let line = &stderr[..stderr.len() - 1];
    assert!(
        !line.contains('\n'),
        "stderr is more than one line: {stderr:?}"
    );
    assert!(line.starts_with("mimeflow: "), "stderr: {stderr:?}");
    line
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        v.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A scratch folder under Cargo's per-target temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cli_b64-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.path(name);
        fs::write(&p, data).expect("write scratch file");
        p.to_str().expect("utf-8 path").to_string()
    }

    /// File names in the folder, sorted.
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .expect("read scratch dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn gnu_available() -> bool {
    Path::new(GNU_BASE64).exists()
}

fn gnu_encode(data: &[u8], cols: usize) -> Vec<u8> {
    let out = run_cmd(Command::new(GNU_BASE64).arg(format!("-w{cols}")), data);
    assert!(out.status.success(), "GNU base64 failed");
    out.stdout
}

fn lf_to_crlf(s: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() * 2);
    for &b in s {
        if b == b'\n' {
            v.push(b'\r');
        }
        v.push(b);
    }
    v
}

#[test]
fn round_trip_small_sizes() {
    for n in 0..300 {
        let data = random_bytes(n, n as u64);
        // Defaults: stdin without a FILE argument.
        let enc = ok(&["b64", "encode"], &data);
        assert_eq!(ok(&["b64", "decode"], &enc), data, "size {n}");
        // A rotating mix of options; decode must undo each.
        let wrap = ["0", "1", "3", "4", "5", "64", "76", "100"][n % 8];
        let mut eargs = vec!["b64", "encode", "-w", wrap];
        let mut dargs = vec!["b64", "decode", "-"];
        if n % 3 == 1 {
            eargs.push("--url");
            dargs.push("--url");
        }
        if n % 5 == 2 {
            eargs.push("--no-pad");
            dargs.push("--no-pad");
        }
        if n % 2 == 1 {
            eargs.push("--crlf");
        }
        let enc = ok(&eargs, &data);
        assert_eq!(ok(&dargs, &enc), data, "size {n}, {eargs:?}");
    }
}

#[test]
fn round_trip_mebibytes() {
    let s = Scratch::new("mib");
    let data = random_bytes(3 * 1024 * 1024 + 17, 42);
    let input = s.write("data.bin", &data);
    let enc_path = s.path("data.b64");
    let dec_path = s.path("data.out");
    let (enc_s, dec_s) = (enc_path.to_str().unwrap(), dec_path.to_str().unwrap());
    for opts in [
        &["-w", "76"][..],
        &["-w", "0"],
        &["--crlf"],
        &["-w", "1000"],
        &["--url", "--no-pad", "-w", "0"],
    ] {
        let mut eargs = vec!["b64", "encode", &input, "-o", enc_s];
        eargs.extend_from_slice(opts);
        assert!(ok(&eargs, b"").is_empty());
        let mut dargs = vec!["b64", "decode", enc_s, "--out", dec_s];
        if opts.contains(&"--url") {
            dargs.extend_from_slice(&["--url", "--no-pad", "--strict"]);
        }
        assert!(ok(&dargs, b"").is_empty());
        assert!(fs::read(&dec_path).unwrap() == data, "{opts:?}");
        // The same through pipes.
        let enc = ok(
            &eargs[..3]
                .iter()
                .copied()
                .chain(opts.iter().copied())
                .collect::<Vec<_>>(),
            b"",
        );
        assert!(enc == fs::read(&enc_path).unwrap(), "{opts:?}");
    }
    assert_eq!(s.entries(), ["data.b64", "data.bin", "data.out"]);
}

#[test]
fn encode_matches_gnu_base64() {
    if !gnu_available() {
        oracle::missing(&format!("{GNU_BASE64} not found"));
        return;
    }
    // Around line and quantum edges, and around the stream's 192 KiB blocks.
    let sizes = [
        0, 1, 2, 3, 4, 5, 56, 57, 58, 76, 100, 1000, 65_537, 196_607, 196_608, 196_609, 600_001,
    ];
    for (i, &n) in sizes.iter().enumerate() {
        let data = random_bytes(n, 1000 + i as u64);
        for cols in [0, 1, 3, 4, 76, 100] {
            let want = gnu_encode(&data, cols);
            let w = cols.to_string();
            let got = ok(&["b64", "encode", "-w", &w], &data);
            assert!(
                got == want,
                "size {n}, -w {cols}: output differs from GNU base64"
            );
            let got = ok(&["b64", "encode", "--wrap", &w, "--crlf"], &data);
            assert!(got == lf_to_crlf(&want), "size {n}, -w {cols} --crlf");
        }
    }
    // The default is 76 columns, as GNU's.
    let data = random_bytes(5000, 7);
    assert_eq!(ok(&["b64", "encode"], &data), gnu_encode(&data, 76));
}

#[test]
fn decodes_crlf_and_whitespace() {
    let data = random_bytes(10_000, 3);
    let enc = ok(&["b64", "encode", "--crlf"], &data);
    assert!(enc.windows(2).any(|w| w == b"\r\n"));
    assert_eq!(ok(&["b64", "decode"], &enc), data);
    // Spaces and tabs anywhere, ragged lines, no final newline.
    assert_eq!(
        ok(&["b64", "decode"], b" aGVs\tbG8s\r\nIHdv\r\n\r\ncmxk \r"),
        b"hello, world"
    );
    assert_eq!(
        ok(&["b64", "decode"], b"aGVsbG8sIH\ndvcmxk"),
        b"hello, world"
    );
    // RFC 4648 strict refuses line breaks.
    let err = fails(&["b64", "decode", "--strict"], &enc, 1);
    assert!(
        one_line(&err).contains("0x0d") && err.contains("at byte offset 76"),
        "{err}"
    );
}

#[test]
fn url_alphabet() {
    let data = [0xfb, 0xff, 0xbf, 0xfb, 0xef];
    assert_eq!(ok(&["b64", "encode"], &data), b"+/+/++8=\n");
    assert_eq!(ok(&["b64", "encode", "--url"], &data), b"-_-_--8=\n");
    assert_eq!(ok(&["b64", "decode", "--url"], b"-_-_--8="), data);
    let err = fails(&["b64", "decode"], b"-_-_--8=", 1);
    assert!(
        one_line(&err).contains("invalid byte '-' (0x2d) at byte offset 0"),
        "{err}"
    );
    let err = fails(&["b64", "decode", "--url"], b"+/+/", 1);
    assert!(
        one_line(&err).contains("invalid byte '+' (0x2b) at byte offset 0"),
        "{err}"
    );
}

#[test]
fn padding_options() {
    assert_eq!(ok(&["b64", "encode", "--no-pad"], b"ab"), b"YWI\n");
    assert_eq!(ok(&["b64", "encode", "--no-pad", "-w", "0"], b"a"), b"YQ");
    assert_eq!(ok(&["b64", "encode", "-w", "0"], b"a"), b"YQ==");
    // MIME mode: padding optional, but right when present.
    assert_eq!(ok(&["b64", "decode"], b"YWI"), b"ab");
    assert_eq!(ok(&["b64", "decode"], b"YWI=\n"), b"ab");
    let err = fails(&["b64", "decode"], b"YQ=", 1);
    assert!(one_line(&err).contains("incomplete padding"), "{err}");
    // Strict: padding required, or forbidden with --no-pad.
    assert_eq!(ok(&["b64", "decode", "--strict"], b"YWI="), b"ab");
    let err = fails(&["b64", "decode", "--strict"], b"YWI", 1);
    assert!(
        one_line(&err).contains("missing padding at byte offset 3"),
        "{err}"
    );
    assert_eq!(
        ok(&["b64", "decode", "--strict", "--no-pad"], b"YWI"),
        b"ab"
    );
    let err = fails(&["b64", "decode", "--strict", "--no-pad"], b"YWI=", 1);
    assert!(one_line(&err).contains("at byte offset 3"), "{err}");
    // Strict checks the unused bits; MIME ignores them.
    let err = fails(&["b64", "decode", "--strict"], b"YWJ=", 1);
    assert!(one_line(&err).contains("trailing bits"), "{err}");
    assert_eq!(ok(&["b64", "decode"], b"YWJ="), b"ab");
}

#[test]
fn lenient_mode() {
    let garbage = b"YW*I!\x00=\n";
    let err = fails(&["b64", "decode"], garbage, 1);
    assert!(
        one_line(&err).contains("invalid byte '*' (0x2a) at byte offset 2"),
        "{err}"
    );
    assert_eq!(ok(&["b64", "decode", "-i"], garbage), b"ab");
    assert_eq!(ok(&["b64", "decode", "--lenient"], garbage), b"ab");
    // Stops at the end of the padding, like binascii.
    assert_eq!(ok(&["b64", "decode", "-i"], b"YQ==YWJj"), b"a");
    // A padded codec still wants the last quantum padded...
    let err = fails(&["b64", "decode", "-i"], b"YW.I", 1);
    assert!(one_line(&err).contains("missing padding"), "{err}");
    // ...unless --no-pad.
    assert_eq!(ok(&["b64", "decode", "-i", "--no-pad"], b"YW.I"), b"ab");
}

#[test]
fn stdin_dash_and_file_agree() {
    let s = Scratch::new("stdin");
    let data = random_bytes(1234, 5);
    let file = s.write("in.bin", &data);
    let from_file = ok(&["b64", "encode", &file], b"");
    assert_eq!(ok(&["b64", "encode", "-"], &data), from_file);
    assert_eq!(ok(&["b64", "encode"], &data), from_file);
    let b64 = s.write("in.b64", &from_file);
    assert_eq!(ok(&["b64", "decode", &b64], b""), data);
    assert_eq!(ok(&["b64", "decode", "-"], &from_file), data);
    assert_eq!(ok(&["b64", "decode"], &from_file), data);
    // Empty input: empty output, in every wrapping.
    assert_eq!(ok(&["b64", "encode"], b""), b"");
    assert_eq!(ok(&["b64", "encode", "-w", "0"], b""), b"");
    assert_eq!(ok(&["b64", "decode"], b""), b"");
    // `-o -` is standard output.
    assert_eq!(ok(&["b64", "encode", "-o", "-"], b"hi"), b"aGk=\n");
}

#[test]
fn out_file_is_written_atomically() {
    let s = Scratch::new("out");
    let target = s.path("out.txt");
    let t = target.to_str().unwrap();
    // New file.
    assert!(ok(&["b64", "decode", "-o", t], b"aGVsbG8=").is_empty());
    assert_eq!(fs::read(&target).unwrap(), b"hello");
    assert_eq!(s.entries(), ["out.txt"]);
    // Replacing an existing file, keeping its mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(ok(&["b64", "encode", "-w0", "--out", t], b"hello").is_empty());
        assert_eq!(fs::read(&target).unwrap(), b"aGVsbG8=");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(s.entries(), ["out.txt"]);
    }
    // Input and output the same file: read whole before the rename.
    let same = s.write("same.bin", &random_bytes(500_000, 9));
    let want = ok(&["b64", "encode", &same], b"");
    assert!(ok(&["b64", "encode", &same, "-o", &same], b"").is_empty());
    assert!(fs::read(&same).unwrap() == want);
    fs::remove_file(&same).unwrap();
    // A relative path (no folder part) works too.
    let out = run_cmd(
        mimeflow()
            .current_dir(&s.0)
            .args(["b64", "encode", "-o", "rel.b64"]),
        b"x",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(s.path("rel.b64")).unwrap(), b"eA==\n");
    fs::remove_file(s.path("rel.b64")).unwrap();
    // -o naming a folder is an error up front.
    let err = fails(&["b64", "encode", "-o", s.0.to_str().unwrap()], b"x", 1);
    assert!(one_line(&err).contains("is a directory"), "{err}");
    assert_eq!(s.entries(), ["out.txt"]);
}

/// `-o` naming something that is not a regular file writes into it: a rename
/// over a device or FIFO would replace it with a plain file (as root, that
/// turns `/dev/null` into a file that collects everyone's output).
#[cfg(unix)]
#[test]
fn out_to_fifo_or_symlink_writes_through() {
    use std::os::unix::fs::FileTypeExt;
    let s = Scratch::new("special");
    // A named pipe, read by a thread while mimeflow writes into it.
    let fifo = s.path("pipe");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo does not keep the pointer.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    assert!(ok(&["b64", "encode", "-o", fifo.to_str().unwrap()], b"hello").is_empty());
    // Checked before joining: had the FIFO been renamed over, the reader
    // would wait for a writer forever.
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(reader.join().unwrap(), b"aGVsbG8=\n");
    // /dev/null stays a device (harmless to check: the fix keeps it one;
    // skipped where it is already a plain file, which is replaced as such).
    let is_device = |p: &str| fs::metadata(p).is_ok_and(|m| m.file_type().is_char_device());
    if is_device("/dev/null") {
        assert!(ok(&["b64", "encode", "-o", "/dev/null"], b"x").is_empty());
        assert!(fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }
    // A symbolic link: the file it names is replaced, the link kept.
    let real = s.write("real.txt", b"old");
    let link = s.path("link.txt");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert!(ok(&["b64", "decode", "-o", link.to_str().unwrap()], b"aGk=").is_empty());
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(fs::read(&real).unwrap(), b"hi");
    // A dangling link: refused (no file is created through a link, see
    // files.rs), the link left as it is.
    let target = s.path("made.txt");
    let dangling = s.path("dangling.txt");
    std::os::unix::fs::symlink(&target, &dangling).unwrap();
    let err = fails(
        &["b64", "decode", "-o", dangling.to_str().unwrap()],
        b"aGk=",
        1,
    );
    assert!(one_line(&err).contains("dangling symbolic link"), "{err}");
    assert!(!target.exists());
    assert!(fs::symlink_metadata(&dangling)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn failed_run_leaves_no_output_file() {
    let s = Scratch::new("fail");
    let existing = s.write("keep.txt", b"precious");
    let fresh = s.path("fresh.bin");
    let fresh_s = fresh.to_str().unwrap();
    // MiBs of good input (unpadded: a multiple of 3 bytes), then a bad byte:
    // output blocks were written to the temp file before the error.
    let mut bad = ok(&["b64", "encode"], &random_bytes(3 << 20, 11));
    let at = bad.len();
    bad.extend_from_slice(b"QUJD!");
    for target in [existing.as_str(), fresh_s] {
        let err = fails(&["b64", "decode", "-o", target], &bad, 1);
        assert!(
            one_line(&err).contains(&format!("at byte offset {}", at + 4)),
            "{err}"
        );
    }
    // A missing input creates nothing either.
    let err = fails(
        &[
            "b64",
            "encode",
            s.path("nope").to_str().unwrap(),
            "-o",
            fresh_s,
        ],
        b"",
        1,
    );
    assert!(one_line(&err).contains("nope"), "{err}");
    assert_eq!(fs::read(&existing).unwrap(), b"precious");
    assert!(!fresh.exists());
    assert_eq!(s.entries(), ["keep.txt"]);
}

#[test]
fn invalid_input_reports_offset() {
    // Well past the first 256 KiB read block: offsets are absolute.
    let mut text = ok(&["b64", "encode"], &random_bytes(300_000, 13));
    let at = text.len() - 10;
    text[at] = b'!';
    let err = fails(&["b64", "decode"], &text, 1);
    let line = one_line(&err);
    assert_eq!(
        line,
        format!("mimeflow: invalid base64 input: invalid byte '!' (0x21) at byte offset {at}")
    );
    // Non-printable bytes are shown in hex; a file input is named.
    let s = Scratch::new("invalid");
    let file = s.write("bad.b64", b"QUJD\x01");
    let err = fails(&["b64", "decode", &file], b"", 1);
    assert_eq!(
        one_line(&err),
        format!("mimeflow: {file}: invalid base64 input: invalid byte 0x01 at byte offset 4")
    );
    // Truncated input is reported at its end.
    let err = fails(&["b64", "decode"], b"QUJDR", 1);
    assert!(one_line(&err).ends_with("at byte offset 5"), "{err}");
}

#[test]
fn missing_file_is_exit_1() {
    let err = fails(
        &["b64", "encode", "/nonexistent/mimeflow-test-input"],
        b"",
        1,
    );
    let line = one_line(&err);
    assert!(line.contains("/nonexistent/mimeflow-test-input"), "{line}");
    let err = fails(
        &["b64", "decode", "/nonexistent/mimeflow-test-input"],
        b"",
        1,
    );
    one_line(&err);
    // Reading a folder fails at the first read, naming it.
    let err = fails(&["b64", "encode", "/"], b"", 1);
    assert!(one_line(&err).contains("reading /"), "{err}");
}

#[test]
fn usage_errors_are_exit_2() {
    for args in [
        &["b64", "encode", "--bogus"][..],
        &["b64", "decode", "--strict", "-i"],
        &["b64", "encode", "--strict"],
        &["b64", "decode", "-w", "76"],
        &["b64", "encode", "-w", "abc"],
        &["b64", "encode", "-w", "-1"],
        &["b64", "encode", "a", "b"],
        &["b64"],
        &["b64", "frobnicate"],
        &["-j", "0", "b64", "encode"],
        &[],
    ] {
        let out = run(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[test]
fn global_options() {
    let data = random_bytes(1 << 20, 17);
    let want = ok(&["b64", "encode"], &data);
    assert_eq!(ok(&["-j", "1", "b64", "encode"], &data), want);
    assert_eq!(ok(&["b64", "encode", "--jobs", "3", "-q"], &data), want);
    assert_eq!(ok(&["--quiet", "b64", "decode", "-j2"], &want), data);
}

#[test]
fn version_names_backend() {
    let out = ok(&["--version"], b"");
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(concat!("mimeflow ", env!("CARGO_PKG_VERSION"), "\n")),
        "{text}"
    );
    assert!(text.contains("base64 backend: "), "{text}");
    assert!(text.contains("cpu features: "), "{text}");
    let short = ok(&["-V"], b"");
    assert_eq!(
        short,
        concat!("mimeflow ", env!("CARGO_PKG_VERSION"), "\n").as_bytes()
    );
}

#[test]
fn broken_pipe_is_a_quiet_success() {
    let s = Scratch::new("pipe");
    let big = s.write("big.bin", &random_bytes(8 << 20, 19));
    let encoded = ok(&["b64", "encode", &big], b"");
    let big_b64 = s.write("big.b64", &encoded);
    for args in [["b64", "encode", &big], ["b64", "decode", &big_b64]] {
        let mut child = mimeflow()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        stdout.read_exact(&mut byte).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Ctrl-C during `-o` removes the temp file and exits 130.
#[cfg(unix)]
#[test]
fn sigint_removes_temp_file() {
    let s = Scratch::new("sigint");
    let target = s.path("out.b64");
    let mut child = mimeflow()
        .args(["b64", "encode", "-o", target.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&random_bytes(1 << 20, 23)).unwrap();
    // Wait until the temp file exists (the handler is installed before).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // safe_fs temp names: `.mimeflow-PID-SEQ-RANDOM.tmp`.
    while !s
        .entries()
        .iter()
        .any(|e| e.starts_with(".mimeflow-") && e.ends_with(".tmp"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no temp file appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(out.status.code(), Some(130));
    assert!(s.entries().is_empty(), "left behind: {:?}", s.entries());
}

/// Every width GNU accepts, the ones that overflow `cols * 4` and `u64`
/// included, gives GNU's bytes: input sizes around the stream's 192 KiB
/// block and around the lines of the widest widths that still come out
/// whole from one block (262,144 columns) and the first that do not.
#[test]
fn encode_matches_gnu_base64_at_any_width() {
    assert!(
        gnu_available(),
        "{GNU_BASE64} is needed for this comparison"
    );
    let widths = [
        "0",
        "1",
        "3",
        "4",
        "75",
        "76",
        "77",
        "87382",
        "262144",
        "262145",
        "1000000001",
        "2147483647",
        "4294967296",
        "4294967297",
        "4611686018427387905",
        "9223372036854775807",
        // Over i64::MAX: GNU reads these as "no wrapping" (no final newline).
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999",
        // GNU's spellings: leading space and sign.
        " 76",
        "+76",
        "-0",
    ];
    let sizes = [
        0, 1, 2, 3, 4, 196_607, 196_608, 196_609, 196_610, 393_217, 600_001,
    ];
    for (i, &n) in sizes.iter().enumerate() {
        let data = random_bytes(n, 77 + i as u64);
        for w in widths {
            let gnu = run_cmd(Command::new(GNU_BASE64).arg(format!("--wrap={w}")), &data);
            assert!(gnu.status.success(), "GNU base64 -w {w:?} failed");
            let got = ok(&["b64", "encode", &format!("--wrap={w}")], &data);
            assert!(
                got == gnu.stdout,
                "size {n}, -w {w:?}: {} bytes, {} lines; GNU: {} bytes, {} lines",
                got.len(),
                got.iter().filter(|&&b| b == b'\n').count(),
                gnu.stdout.len(),
                gnu.stdout.iter().filter(|&&b| b == b'\n').count(),
            );
            let got = ok(&["b64", "encode", &format!("--wrap={w}"), "--crlf"], &data);
            assert!(got == lf_to_crlf(&gnu.stdout), "size {n}, -w {w:?} --crlf");
        }
    }
    // What GNU refuses is refused (usage errors here).
    for w in ["-1", "12x", "", "0x10", "-99999999999999999999999"] {
        let err = fails(&["b64", "encode", &format!("--wrap={w}")], b"x", 2);
        assert!(err.contains("invalid wrap size"), "-w {w:?}: {err}");
    }
}

/// A width far beyond the input streams in constant memory: the peak RSS
/// of encoding 64 MiB piped with `-w 1000000001` stays far below the input
/// (a whole line of input used to be buffered: 2.47 GB for 1 GiB).
#[cfg(target_os = "linux")]
#[test]
fn huge_width_streams_in_constant_memory() {
    const INPUT: usize = 64 << 20;
    let mut child = mimeflow()
        .args(["b64", "encode", "-w", "1000000001"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut pipe = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let block = random_bytes(1 << 20, 5);
        for _ in 0..INPUT >> 20 {
            pipe.write_all(&block).expect("feed");
        }
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let counter = std::thread::spawn(move || {
        let (mut total, mut newlines, mut buf) = (0u64, 0u64, vec![0u8; 1 << 16]);
        loop {
            let n = stdout.read(&mut buf).expect("read stdout");
            if n == 0 {
                return (total, newlines);
            }
            total += n as u64;
            newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
    });
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let (anon, _, status) = memory::peak_memory(child);
    feeder.join().expect("feeder");
    let (total, newlines) = counter.join().expect("counter");
    assert!(status.success(), "{status:?}: {stderr}");
    assert_eq!((total, newlines), ((INPUT / 3 * 4 + 4 + 1) as u64, 1));
    assert!(
        anon < 32 << 20,
        "peak RssAnon {anon} bytes for {} MiB of input",
        INPUT >> 20
    );
}
