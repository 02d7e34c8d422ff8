//! Hostile folders around every output path of every command: planted
//! symlinks (to a victim file and to a victim folder), dangling links,
//! FIFOs, folders swapped for links, trailing slashes and names at the
//! 255-byte limit. Whatever is planted, a command either refuses with one
//! line on stderr (exit 1) or writes only inside its destination; the
//! victims outside never change.
//!
//! This file is a standing gate: every new output (SQLite and its journal
//! files, Parquet parts, Dask shards, key caches) adds its cases here.
#![cfg(all(feature = "cli", unix))]

#[path = "support/cli.rs"]
mod cli;
#[allow(unused_imports)]
use cli::*;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Asserts a clean refusal: exit 1, one line on stderr.
fn refused(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}: {err}", shown(args));
    assert_eq!(err.trim_end().lines().count(), 1, "{}: {err}", shown(args));
    err
}

/// A victim file and a victim folder outside every destination.
struct Victims {
    file: PathBuf,
    dir: PathBuf,
}

impl Victims {
    fn new(root: &Path) -> Victims {
        let file = root.join("victim.txt");
        fs::write(&file, b"precious\n").unwrap();
        let dir = root.join("victim-dir");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("keep"), b"keep\n").unwrap();
        Victims { file, dir }
    }

    fn untouched(&self) {
        assert_eq!(fs::read(&self.file).unwrap(), b"precious\n");
        let t = tree(&self.dir);
        assert_eq!(t.len(), 1, "files appeared in the victim folder: {t:?}");
    }
}

/// One message with the given attachments (name, bytes).
fn message_with(attachments: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = b"From: a@example.org\nSubject: t\nMessage-ID: <m@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n".to_vec();
    m.extend_from_slice(b"--b\nContent-Type: text/plain\n\nbody\n");
    for (name, data) in attachments {
        let b64 =
            mimeflow::base64::STANDARD.encode_wrapped_to_vec(data, mimeflow::base64::Wrap::MIME);
        write!(
            m,
            "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"{name}\"\nContent-Transfer-Encoding: base64\n\n"
        )
        .unwrap();
        m.extend_from_slice(&b64);
        m.push(b'\n');
    }
    m.extend_from_slice(b"--b--\n");
    m
}

/// An mbox of `n` messages, each with one attachment: message `i` carries
/// content `i % distinct`, so later messages repeat earlier contents.
fn attachment_archive(path: &Path, n: usize, distinct: usize) {
    let mut out = Vec::new();
    for i in 0..n {
        let content = format!("content {} {}\n", i % distinct, "x".repeat(200));
        let name = format!("file{}.txt", i % distinct);
        out.extend_from_slice(b"From a@example.org Thu Jan  1 00:00:00 2015\n");
        let m = message_with(&[(&name, content.as_bytes())]);
        let m = String::from_utf8(m)
            .unwrap()
            .replace("<m@example.org>", &format!("<m{i}@example.org>"));
        out.extend_from_slice(m.as_bytes());
        out.push(b'\n');
    }
    fs::write(path, out).unwrap();
}

/// A Maildir of `n` copies of the sample's first message, so that a
/// conversion at -j1 spans several windows (128 files each).
fn maildir_source(root: &Path, n: usize, distinct: usize) -> PathBuf {
    let md = root.join("src-maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(md.join(sub)).unwrap();
    }
    for i in 0..n {
        let m = message_with(&[(
            &format!("a{}.bin", i % distinct),
            format!("data {}", i % distinct).as_bytes(),
        )]);
        let m = String::from_utf8(m)
            .unwrap()
            .replace("<m@example.org>", &format!("<m{i}@example.org>"));
        fs::write(md.join("new").join(format!("{i:06}.host")), m).unwrap();
    }
    md
}

#[test]
fn attachments_folder_with_planted_links_never_writes_through_them() {
    let root = scratch("att-links");
    let v = Victims::new(&root);
    let att = root.join("att");
    fs::create_dir(&att).unwrap();
    // Every fixed name the run ever used or uses for its index.
    symlink(&v.file, att.join(".attachments.jsonl.partial")).unwrap();
    symlink(&v.file, att.join("attachments.jsonl")).unwrap();
    symlink(&v.dir, att.join("sub")).unwrap();
    let archive = root.join("a.mbox");
    attachment_archive(&archive, 20, 5);
    // Without --force the planted folder is refused, with --force it is
    // added to; neither touches the victims.
    refused(&[
        &"convert",
        &archive,
        &"--to",
        &"jsonl",
        &root.join("o1.jsonl"),
        &"--attachments",
        &att,
    ]);
    v.untouched();
    ok(&[
        &"convert",
        &archive,
        &"--to",
        &"jsonl",
        &root.join("o2.jsonl"),
        &"--attachments",
        &att,
        &"--force",
        &"-q",
    ]);
    v.untouched();
    let t = tree(&att);
    assert_eq!(
        t["attachments.jsonl"],
        format!("-> {}", v.file.display()).into_bytes()
    );
    let index = String::from_utf8(t["attachments-1.jsonl"].clone()).unwrap();
    assert_eq!(index.lines().count(), 20);
    // Five distinct contents, each a plain file; no temp file is left.
    let files: Vec<_> = t
        .keys()
        .filter(|k| k.len() > 17 && k.as_bytes()[16] == b'-')
        .collect();
    assert_eq!(files.len(), 5, "{t:?}");
    assert!(!t.keys().any(|k| k.ends_with(".tmp")), "{t:?}");
}

#[test]
fn attachment_file_names_are_planted_links_too() {
    let root = scratch("att-name-links");
    let v = Victims::new(&root);
    let archive = root.join("a.mbox");
    attachment_archive(&archive, 3, 3);
    // A first run tells the names; plant links at them for a second run.
    let att = root.join("att");
    ok(&[
        &"convert",
        &archive,
        &"--to",
        &"jsonl",
        &root.join("o1.jsonl"),
        &"--attachments",
        &att,
        &"-q",
    ]);
    let names: Vec<String> = tree(&att)
        .into_keys()
        .filter(|k| k != "attachments.jsonl")
        .collect();
    assert_eq!(names.len(), 3);
    let att2 = root.join("att2");
    fs::create_dir(&att2).unwrap();
    for n in &names {
        symlink(&v.file, att2.join(n)).unwrap();
    }
    ok(&[
        &"convert",
        &archive,
        &"--to",
        &"jsonl",
        &root.join("o2.jsonl"),
        &"--attachments",
        &att2,
        &"--force",
        &"-q",
    ]);
    v.untouched();
    let index = fs::read_to_string(att2.join("attachments.jsonl")).unwrap();
    for line in index.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let p = att2.join(v["path"].as_str().unwrap());
        assert!(
            fs::symlink_metadata(&p).unwrap().is_file(),
            "{}",
            p.display()
        );
    }
}

#[test]
fn long_attachment_names_do_not_fail_the_run() {
    let root = scratch("att-long");
    let archive = root.join("a.mbox");
    let long = format!("{}.pdf", "n".repeat(250));
    let mut out = b"From a@example.org Thu Jan  1 00:00:00 2015\n".to_vec();
    out.extend_from_slice(&message_with(&[(&long, b"long name")]));
    fs::write(&archive, out).unwrap();
    let att = root.join("att");
    for resume in [false, true] {
        let dest = root.join(format!("o-{resume}.jsonl"));
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![
            &"convert",
            &archive,
            &"--to",
            &"jsonl",
            &dest,
            &"--attachments",
            &att,
            &"-q",
        ];
        if resume {
            args.push(&"--resume");
        }
        ok(&args);
    }
    let t = tree(&att);
    let file = t
        .keys()
        .find(|k| k.ends_with(".pdf"))
        .expect("the attachment");
    assert!(file.len() <= 255, "{file}");
    assert_eq!(t[file], b"long name");
}

#[test]
fn resume_state_temp_names_cannot_be_planted() {
    let root = scratch("state-tmp");
    let v = Victims::new(&root);
    // The old state temp was `.DEST.mimeflow-state.tmp-PID`: plant it for
    // the next few hundred PIDs the kernel may hand out.
    let last: u32 = fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    for pid in last..last + 400 {
        let _ = symlink(&v.file, root.join(format!(".out.mimeflow-state.tmp-{pid}")));
    }
    symlink(&v.file, root.join(".out.mimeflow-state.tmp")).unwrap();
    ok(&[
        &"convert",
        &SAMPLE,
        &"--to",
        &"maildir",
        &root.join("out"),
        &"-q",
    ]);
    v.untouched();
    // The state file itself, planted as a link, is refused on resume and
    // never followed.
    symlink(&v.file, root.join(".out2.mimeflow-state")).unwrap();
    refused(&[
        &"convert",
        &SAMPLE,
        &"--to",
        &"maildir",
        &root.join("out2"),
        &"--resume",
    ]);
    v.untouched();
}

#[test]
fn force_into_a_maildir_with_linked_subfolders_is_refused() {
    let root = scratch("maildir-links");
    let v = Victims::new(&root);
    for sub in ["new", "cur", "tmp"] {
        let md = root.join(format!("md-{sub}"));
        fs::create_dir(&md).unwrap();
        for other in ["new", "cur", "tmp"] {
            if other == sub {
                symlink(&v.dir, md.join(other)).unwrap();
            } else {
                fs::create_dir(md.join(other)).unwrap();
            }
        }
        let err = refused(&[&"convert", &SAMPLE, &"--to", &"maildir", &md, &"--force"]);
        assert!(err.contains("symbolic link"), "{err}");
        v.untouched();
    }
}

#[test]
fn trailing_slash_on_dest_works_and_resumes() {
    let root = scratch("slash");
    for (cmd, to) in [
        ("convert", Some("maildir")),
        ("convert", Some("eml")),
        ("split", None),
    ] {
        let dest = root.join(format!("out-{cmd}-{}", to.unwrap_or("split")));
        let shown = format!("{}/", dest.display());
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&cmd, &SAMPLE];
        if let Some(to) = &to {
            args.push(&"--to");
            args.push(to);
        }
        args.push(&shown);
        args.push(&"-q");
        ok(&args);
        assert!(dest.is_dir(), "{shown}");
        assert!(!dest.join(".partial").exists(), "{shown}");
        assert!(!root
            .join(format!(
                ".{}.mimeflow-state",
                dest.file_name().unwrap().to_string_lossy()
            ))
            .exists());
    }
    // Single-file outputs named with a slash are refused, not stranded.
    let out = run(&[
        &"convert",
        &SAMPLE,
        &"--to",
        &"jsonl",
        &format!("{}/x.jsonl/", root.display()),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!root.join("x.jsonl").exists());
}

#[test]
fn dest_at_the_name_length_limit() {
    let root = scratch("long-dest");
    let name = "d".repeat(255);
    for to in ["maildir", "jsonl"] {
        let sub = root.join(to);
        fs::create_dir(&sub).unwrap();
        ok(&[&"convert", &SAMPLE, &"--to", &to, &sub.join(&name), &"-q"]);
        assert!(sub.join(&name).exists());
        // jsonl also writes its threads file beside DEST, under a name cut
        // to fit.
        let names: Vec<_> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), if to == "jsonl" { 2 } else { 1 }, "{names:?}");
    }
    // -o with a 255-byte name: the temp file's name is bounded.
    let o = root.join("o");
    fs::create_dir(&o).unwrap();
    ok(&[&"b64", &"encode", &SAMPLE, &"-o", &o.join(&name)]);
    assert!(o.join(&name).is_file());
}

/// Starts a conversion that pauses after its first window; kills it there.
fn kill_after_first_window(args: &[&dyn AsRef<std::ffi::OsStr>]) {
    kill_at("MIMEFLOW_TEST_PAUSE_AFTER_WINDOW", 1, args)
}

/// Starts a conversion that pauses at hook `var` in window `n`; kills it
/// there (SIGKILL: no cleanup runs).
fn kill_at(var: &str, n: u32, args: &[&dyn AsRef<std::ffi::OsStr>]) {
    let mut c = bin();
    for a in args {
        c.arg(a);
    }
    let mut child = c
        .env(var, n.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    loop {
        line.clear();
        let got = err.read_line(&mut line).unwrap();
        assert!(got > 0, "the run ended before it paused");
        if line.contains(&format!("paused at window {n}")) {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn resume_with_another_source_is_refused() {
    let root = scratch("resume-other");
    let a = maildir_source(&root, 300, 7);
    let b = root.join("src-b");
    fs::create_dir(&b).unwrap();
    // B: the same file names, one of them with another size.
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(b.join(sub)).unwrap();
    }
    for e in fs::read_dir(a.join("new")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), b.join("new").join(e.file_name())).unwrap();
    }
    fs::write(b.join("new/000299.host"), b"Subject: other\n\nx\n").unwrap();
    let dest = root.join("out.jsonl");
    kill_after_first_window(&[&"convert", &a, &"--to", &"jsonl", &dest, &"-j1", &"-q"]);
    let err = refused(&[
        &"convert",
        &b,
        &"--to",
        &"jsonl",
        &dest,
        &"--resume",
        &"-j1",
    ]);
    assert!(err.contains("not the source"), "{err}");
    // A mapped archive of the same size but other bytes is refused too.
    let m1 = root.join("m1.mbox");
    let m2 = root.join("m2.mbox");
    attachment_archive(&m1, 2000, 2000);
    let mut other = fs::read(&m1).unwrap();
    let at = other.len() / 2;
    other[at] ^= 1;
    fs::write(&m2, &other).unwrap();
    let dest = root.join("out2.jsonl");
    kill_after_first_window(&[&"convert", &m1, &"--to", &"jsonl", &dest, &"-j1", &"-q"]);
    let err = refused(&[
        &"convert",
        &m2,
        &"--to",
        &"jsonl",
        &dest,
        &"--resume",
        &"-j1",
    ]);
    assert!(err.contains("not the source"), "{err}");
    // The right source resumes and completes.
    ok(&[
        &"convert",
        &m1,
        &"--to",
        &"jsonl",
        &dest,
        &"--resume",
        &"-j1",
        &"-q",
    ]);
    assert_eq!(fs::read_to_string(&dest).unwrap().lines().count(), 2000);
}

#[test]
fn resume_of_a_stream_checks_what_was_committed() {
    let root = scratch("resume-stream");
    let a = root.join("a.mbox");
    attachment_archive(&a, 6000, 6000);
    let data = fs::read(&a).unwrap();
    let mut other = data.clone();
    other[100] ^= 1;
    let dest = root.join("out.jsonl");
    let feed = |input: &[u8], extra: &[&str], pause: bool| {
        let mut c = bin();
        c.args(["convert", "-", "--to", "jsonl"])
            .arg(&dest)
            .args(["-j1", "-q"])
            .args(extra);
        if pause {
            c.env("MIMEFLOW_TEST_PAUSE_AFTER_WINDOW", "1");
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        if pause {
            let mut err = BufReader::new(child.stderr.take().unwrap());
            let mut line = String::new();
            while !line.contains("paused") {
                line.clear();
                assert!(
                    err.read_line(&mut line).unwrap() > 0,
                    "ended before pausing"
                );
            }
            child.kill().unwrap();
            child.wait().unwrap();
            let _ = writer.join();
            None
        } else {
            let out = child.wait_with_output().unwrap();
            let _ = writer.join();
            Some(out)
        }
    };
    feed(&data, &[], true);
    let out = feed(&other, &["--resume"], false).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the stream"));
    let out = feed(&data, &["--resume"], false).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&dest).unwrap().lines().count(), 6000);
}

#[test]
fn resume_with_attachments_equals_a_clean_run() {
    let root = scratch("resume-att");
    // 150 contents: the second window (files 128-255 at -j1) brings new
    // ones as well as repeats.
    let src = maildir_source(&root, 400, 150);
    let clean_att = root.join("att-clean");
    let clean = ok(&[
        &"convert",
        &src,
        &"--to",
        &"jsonl",
        &root.join("clean.jsonl"),
        &"--attachments",
        &clean_att,
        &"-j1",
    ]);
    let att = root.join("att");
    let dest = root.join("out.jsonl");
    // Killed in the middle of its second window: its attachment files and
    // index lines are written, the state does not have them yet.
    kill_at(
        "MIMEFLOW_TEST_PAUSE_BEFORE_SAVE",
        2,
        &[
            &"convert",
            &src,
            &"--to",
            &"jsonl",
            &dest,
            &"--attachments",
            &att,
            &"-j1",
            &"-q",
        ],
    );
    let resumed = ok(&[
        &"convert",
        &src,
        &"--to",
        &"jsonl",
        &dest,
        &"--attachments",
        &att,
        &"--resume",
        &"-j1",
    ]);
    let strip = |t: BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> { t };
    let clean_tree = strip(tree(&clean_att));
    let resumed_tree = strip(tree(&att));
    assert_eq!(
        clean_tree, resumed_tree,
        "the attachments folder and index differ from a clean run's"
    );
    // The summary's attachment counts too.
    let counts = |s: &str| -> String {
        let at = s
            .find("attachments written")
            .expect("a summary with attachment counts");
        let start = s[..at].rfind(';').unwrap();
        let end = at + s[at..].find(';').unwrap();
        s[start..end].to_string()
    };
    assert_eq!(counts(&clean), counts(&resumed));
    assert!(!counts(&clean).is_empty(), "{clean}");
}

#[test]
fn extract_never_writes_through_planted_links() {
    // From a file, and streamed from standard input (`extract -`, its own
    // writer in message::stream): the same planted links, the same names.
    for stdin in [false, true] {
        extract_with_planted_links(stdin);
    }
}

fn extract_with_planted_links(stdin: bool) {
    let root = scratch(if stdin { "extract-stdin" } else { "extract" });
    let v = Victims::new(&root);
    let msg = root.join("m.eml");
    fs::write(
        &msg,
        message_with(&[("a.txt", b"one"), ("a.txt", b"two"), ("b.txt", b"three")]),
    )
    .unwrap();
    let dest = root.join("x");
    fs::create_dir(&dest).unwrap();
    symlink(&v.file, dest.join("a.txt")).unwrap();
    symlink(&v.dir, dest.join("b.txt")).unwrap();
    symlink(root.join("nowhere"), dest.join("a-1.txt")).unwrap();
    if stdin {
        let out = bin()
            .args(["extract", "-"])
            .arg(&dest)
            .arg("-q")
            .stdin(fs::File::open(&msg).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        ok(&[&"extract", &msg, &dest, &"-q"]);
    }
    v.untouched();
    assert!(!root.join("nowhere").exists());
    let t = tree(&dest);
    assert_eq!(t["a-2.txt"], b"one");
    assert_eq!(t["a-3.txt"], b"two");
    assert_eq!(t["b-1.txt"], b"three");
}

const ED25519: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/dkim/ed25519.pem");

#[test]
fn o_refuses_dangling_links_and_keeps_fifos_and_devices() {
    let root = scratch("dash-o");
    let dangling = root.join("dangling");
    symlink(root.join("made-through-link"), &dangling).unwrap();
    for args in [
        vec!["b64", "encode", SAMPLE, "-o"],
        vec!["parse", "--json", SAMPLE, "-o"],
        vec!["show", SAMPLE, "-o"],
        vec!["dkim", "verify", SAMPLE, "-o"],
        vec!["dkim", "verify", SAMPLE, "--jsonl", "--save-keys"],
        vec![
            "dkim",
            "sign",
            SAMPLE,
            "--domain",
            "example.org",
            "--selector",
            "s",
            "--key",
            ED25519,
            "-o",
        ],
    ] {
        let mut a: Vec<&dyn AsRef<std::ffi::OsStr>> = args
            .iter()
            .map(|s| s as &dyn AsRef<std::ffi::OsStr>)
            .collect();
        a.push(&dangling);
        let out = run(&a);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(!root.join("made-through-link").exists(), "{args:?}");
    }
    // A FIFO is written in place (a reader gets the bytes), not replaced.
    let fifo = root.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).unwrap())
    };
    ok(&[&"b64", &"encode", &SAMPLE, &"-o", &fifo]);
    let got = reader.join().unwrap();
    assert!(!got.is_empty());
    assert!(fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo_like());
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

#[test]
fn bench_chart_is_written_like_any_output() {
    let root = scratch("chart");
    let v = Victims::new(&root);
    let chart = root.join("chart.svg");
    symlink(root.join("nowhere.svg"), &chart).unwrap();
    let out = run(&[
        &"bench", &"--op", &"encode", &"--sizes", &"1K", &"--quick", &"--chart", &chart,
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!root.join("nowhere.svg").exists());
    v.untouched();
}

#[test]
fn one_message_with_thousands_of_attachments_under_a_low_descriptor_limit() {
    let root = scratch("many-att");
    let names: Vec<String> = (0..2000).map(|i| format!("f{i}.txt")).collect();
    let contents: Vec<String> = (0..2000).map(|i| format!("content {i}")).collect();
    let parts: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| (n.as_str(), c.as_bytes()))
        .collect();
    let mut mbox = b"From a@example.org Thu Jan  1 00:00:00 2015\n".to_vec();
    mbox.extend_from_slice(&message_with(&parts));
    let archive = root.join("a.mbox");
    fs::write(&archive, mbox).unwrap();
    let att = root.join("att");
    // 2,000 attachments of one message under a limit of 256 descriptors:
    // the window holds temp names, not open files.
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_mimeflow"))
        .args(["convert"])
        .arg(&archive)
        .args(["--to", "jsonl"])
        .arg(root.join("o.jsonl"))
        .arg("--attachments")
        .arg(&att)
        .arg("-q")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_dir(&att).unwrap().count(), 2001);
}

/// SQLite keeps side files beside a database, which it opens by name.
const SQLITE_SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `NAME` + `suffix` beside `db`.
fn side(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().unwrap().to_os_string();
    name.push(suffix);
    db.with_file_name(name)
}

/// Everything in `dir`, names and bytes (links as their target).
fn listing(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let body = if t.is_symlink() {
                fs::read_link(e.path())
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else if t.is_file() {
                fs::read(e.path()).unwrap()
            } else {
                b"(other)".to_vec()
            };
            (e.file_name().to_string_lossy().into_owned(), body)
        })
        .collect()
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A fresh `--to sqlite` run refuses side files planted beside
/// `DEST.partial` (SQLite would read them as part of the new database)
/// and beside DEST (the finished database is renamed there): links to a
/// victim, plain files and FIFOs alike, before writing anything.
#[test]
fn sqlite_fresh_run_refuses_planted_side_files() {
    let root = scratch("sqlite-fresh-side");
    let v = Victims::new(&root);
    let out = root.join("out");
    fs::create_dir(&out).unwrap();
    let db = out.join("mail.db");
    let partial = out.join("mail.db.partial");
    for base in [&partial, &db] {
        for suffix in SQLITE_SIDE_FILES {
            let planted = side(base, suffix);
            for how in ["link", "file", "fifo"] {
                match how {
                    "link" => symlink(&v.file, &planted).unwrap(),
                    "file" => fs::write(&planted, b"not a journal\n").unwrap(),
                    _ => mkfifo(&planted),
                }
                let before = listing(&out);
                let err = refused(&[&"-q", &"convert", &SAMPLE, &"--to", &"sqlite", &db]);
                assert!(
                    err.contains(planted.file_name().unwrap().to_str().unwrap()),
                    "{how} {suffix}: {err}"
                );
                // Nothing made, nothing left: DEST.partial is removed again.
                assert_eq!(listing(&out), before, "{how} {suffix}");
                v.untouched();
                fs::remove_file(&planted).unwrap();
            }
        }
    }
    ok(&[&"-q", &"convert", &SAMPLE, &"--to", &"sqlite", &db]);
    assert_eq!(
        listing(&out).into_keys().collect::<Vec<_>>(),
        vec!["mail.db".to_string()]
    );
}

/// `--update` opens an existing database whose side files may exist, but
/// only as plain files: a link (to a victim) or a FIFO at any of them is
/// refused before SQLite opens anything, and so is a database that is
/// itself a link; the database and the victim are unchanged. A database
/// of another schema version is refused before anything is written (the
/// switch to WAL mode rewrites the header).
#[test]
fn sqlite_update_refuses_linked_side_files_and_other_versions() {
    let root = scratch("sqlite-update-side");
    let v = Victims::new(&root);
    let db = root.join("mail.db");
    ok(&[&"-q", &"convert", &SAMPLE, &"--to", &"sqlite", &db]);
    let update = |db: &Path| {
        run(&[
            &"-q",
            &"convert",
            &SAMPLE,
            &"--to",
            &"sqlite",
            &"--update",
            &db,
        ])
    };
    let bytes = fs::read(&db).unwrap();
    for suffix in SQLITE_SIDE_FILES {
        let planted = side(&db, suffix);
        for how in ["link", "fifo"] {
            if how == "link" {
                symlink(&v.file, &planted).unwrap();
            } else {
                mkfifo(&planted);
            }
            let err = refused(&[
                &"-q",
                &"convert",
                &SAMPLE,
                &"--to",
                &"sqlite",
                &"--update",
                &db,
            ]);
            assert!(
                err.contains(&*planted.to_string_lossy()),
                "{how} {suffix}: {err}"
            );
            assert_eq!(fs::read(&db).unwrap(), bytes, "{how} {suffix}");
            v.untouched();
            fs::remove_file(&planted).unwrap();
        }
    }
    // A plain leftover journal of a clean close is fine (an empty one is
    // not hot: SQLite ignores it).
    fs::write(side(&db, "-journal"), b"").unwrap();
    let out = update(&db);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = fs::remove_file(side(&db, "-journal"));
    // DEST itself a link to a database elsewhere: not followed.
    let elsewhere = root.join("victim-dir").join("other.db");
    fs::copy(&db, &elsewhere).unwrap();
    let linked = root.join("linked.db");
    symlink(&elsewhere, &linked).unwrap();
    let before = fs::read(&elsewhere).unwrap();
    refused(&[
        &"-q",
        &"convert",
        &SAMPLE,
        &"--to",
        &"sqlite",
        &"--update",
        &linked,
    ]);
    assert_eq!(fs::read(&elsewhere).unwrap(), before);
    fs::remove_file(&elsewhere).unwrap();
    v.untouched();
    // Another schema version (PRAGMA user_version: header bytes 60..64).
    let mut other = fs::read(&db).unwrap();
    other[60..64].copy_from_slice(&99u32.to_be_bytes());
    fs::write(&db, &other).unwrap();
    let err = refused(&[
        &"-q",
        &"convert",
        &SAMPLE,
        &"--to",
        &"sqlite",
        &"--update",
        &db,
    ]);
    assert!(err.contains("schema version 99"), "{err}");
    assert_eq!(
        fs::read(&db).unwrap(),
        other,
        "the refused database was written to"
    );
    for suffix in SQLITE_SIDE_FILES {
        assert!(
            !side(&db, suffix).exists(),
            "{suffix} made for a refused database"
        );
    }
}

/// `--resume` of a killed `--to sqlite` run: `DEST.partial`'s side files
/// (a hot journal of the window being written) are used when they are plain
/// files; one swapped for a link to a victim is refused, and once it is
/// put back the run resumes to the full count.
#[test]
fn sqlite_resume_refuses_linked_side_files() {
    let root = scratch("sqlite-resume-side");
    let v = Victims::new(&root);
    let src = maildir_source(&root, 300, 7);
    let db = root.join("mail.db");
    let partial = root.join("mail.db.partial");
    kill_after_first_window(&[&"convert", &src, &"--to", &"sqlite", &db, &"-j1", &"-q"]);
    assert!(partial.is_file() && !db.exists());
    for suffix in SQLITE_SIDE_FILES {
        let planted = side(&partial, suffix);
        let aside = root.join(format!("aside{suffix}"));
        let had = planted.exists();
        if had {
            fs::rename(&planted, &aside).unwrap();
        }
        symlink(&v.file, &planted).unwrap();
        let err = refused(&[
            &"convert",
            &src,
            &"--to",
            &"sqlite",
            &db,
            &"--resume",
            &"-j1",
        ]);
        assert!(err.contains("symbolic link"), "{suffix}: {err}");
        v.untouched();
        fs::remove_file(&planted).unwrap();
        if had {
            fs::rename(&aside, &planted).unwrap();
        }
    }
    ok(&[
        &"convert",
        &src,
        &"--to",
        &"sqlite",
        &db,
        &"--resume",
        &"-j1",
        &"-q",
    ]);
    let data = fs::read(&db).unwrap();
    assert!(data.starts_with(b"SQLite format 3\0"));
    // Rows: the sqlite3 CLI is not assumed; --update of the same source
    // skips all 300 messages, so all 300 are there.
    let out = ok(&[&"convert", &src, &"--to", &"sqlite", &"--update", &db]);
    assert!(out.contains("0 written, 300 skipped"), "{out}");
    v.untouched();
}
