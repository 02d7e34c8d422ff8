//! What the CLI's integration tests share: the binary, scratch folders,
//! running a command, reading a tree of files back, and archives built
//! from the sample. Included with `#[path = "support/cli.rs"] mod cli;`;
//! each test file uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use mimeflow::mbox::{read, ReadOptions};

/// The bundled sample archive and its message count.
pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/mbox/sample.mbox");
pub const SAMPLE_MESSAGES: usize = 28;

/// The CLI under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimeflow"))
}

/// A fresh scratch folder under target/, named after the test file.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-{name}-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// A fresh empty folder ([`scratch`]), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        TempDir(scratch(tag))
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// `name` inside it, as an argument.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }

    /// Writes `name` with `data`; its path, as an argument.
    pub fn file(&self, name: &str, data: &[u8]) -> String {
        let p = self.0.join(name);
        fs::write(&p, data).unwrap();
        p.to_str().unwrap().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the CLI with `args` and `stdin` piped in.
pub fn piped(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The arguments as one line, for messages.
pub fn shown(args: &[&dyn AsRef<OsStr>]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the CLI with `args` and no standard input (as CI runs).
pub fn run(args: &[&dyn AsRef<OsStr>]) -> Output {
    let mut c = bin();
    for a in args {
        c.arg(a);
    }
    c.stdin(Stdio::null()).output().unwrap()
}

/// Runs the CLI, asserts success, returns its standard output.
pub fn ok(args: &[&dyn AsRef<OsStr>]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{}: {:?}: {}",
        shown(args),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` (relative path -> bytes); a symlink is listed as
/// `-> TARGET`, never followed.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let t = fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if meta.is_dir() {
                stack.push(p);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The messages of an mbox file, as the mbox library reads them.
pub fn messages(path: &Path) -> Vec<Vec<u8>> {
    let data = fs::read(path).unwrap();
    read(&data, &ReadOptions::default())
        .map(|e| e.message.into_owned())
        .collect()
}

/// The sample's messages repeated `copies` times with unique ids.
pub fn big_archive(path: &Path, copies: usize) {
    let data = fs::read(SAMPLE).unwrap();
    let entries: Vec<_> = read(&data, &ReadOptions::default()).collect();
    let mut out = Vec::new();
    for c in 0..copies {
        for (i, e) in entries.iter().enumerate() {
            let msg = String::from_utf8_lossy(&e.message)
                .replace("@example.org>", &format!(".{c}.{i}@example.org>"));
            mimeflow::mbox::write_mboxrd(
                &mut out,
                Some(e.envelope),
                msg.as_bytes(),
                mimeflow::mbox::LineEnding::Lf,
            )
            .unwrap();
        }
    }
    fs::write(path, out).unwrap();
}

/// The records of a jsonl output without their `source` field (the path
/// the run was given, which differs between runs compared).
#[allow(dead_code)]
pub fn jsonl_records(p: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("source");
            v
        })
        .collect()
}
