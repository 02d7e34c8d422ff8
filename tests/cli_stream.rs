//! `mimeflow extract -` and `mimeflow cat - SECTION` stream standard
//! input; what a user sees must be what the same message given as a file
//! gives: the files written (names and bytes), stdout, stderr and the exit
//! code, for extract and for cat of every section (decoded and `--raw`),
//! on the bundled messages and the shared corpora (skipped when absent, a
//! failure under `MIMEFLOW_REQUIRE_ORACLES=1`).

#[path = "support/oracle.rs"]
mod oracle;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mimeflow::message::Message;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mimeflow"))
}

fn run(args: &[&str], stdin: Option<&Path>) -> Output {
    let mut c = bin();
    c.args(args);
    c.stdin(match stdin {
        Some(p) => Stdio::from(fs::File::open(p).unwrap()),
        None => Stdio::null(),
    });
    c.output().unwrap()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<_> = rd
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Output with each run's destination folder replaced by `DEST`.
fn shown(o: &Output, dest: &Path) -> (Option<i32>, String, String) {
    let d = dest.display().to_string();
    let s = |b: &[u8]| String::from_utf8_lossy(b).replace(&d, "DEST");
    (o.status.code(), s(&o.stdout), s(&o.stderr))
}

fn check(f: &Path, scratch: &Path) -> Result<(), String> {
    let name = f.display().to_string();
    let (a, b) = (scratch.join("a"), scratch.join("b"));
    let _ = fs::remove_dir_all(scratch);
    for json in [false, true] {
        let _ = fs::remove_dir_all(&a);
        let _ = fs::remove_dir_all(&b);
        let mut args_a = vec!["extract", &name, a.to_str().unwrap()];
        let mut args_b = vec!["extract", "-", b.to_str().unwrap()];
        if json {
            args_a.push("--json");
            args_b.push("--json");
        }
        let (oa, ob) = (run(&args_a, None), run(&args_b, Some(f)));
        if shown(&oa, &a) != shown(&ob, &b) || files(&a) != files(&b) {
            return Err(format!(
                "{name}: extract differs: file {:?} stdin {:?}",
                shown(&oa, &a),
                shown(&ob, &b)
            ));
        }
    }
    let msg = Message::parse(fs::read(f).unwrap());
    let mut sections = msg.sections();
    sections.extend(["".to_string(), "-".into(), "9".into(), "1.x".into()]);
    for s in &sections {
        for raw in [false, true] {
            let mut args = vec!["cat", &name, s.as_str()];
            if raw {
                args.push("--raw");
            }
            let oa = run(&args, None);
            args[1] = "-";
            let ob = run(&args, Some(f));
            let errs = |o: &Output| String::from_utf8_lossy(&o.stderr).replace(&name, "-");
            if oa.status.code() != ob.status.code()
                || oa.stdout != ob.stdout
                || errs(&oa) != errs(&ob)
            {
                return Err(format!(
                    "{name}: cat {s:?} raw={raw} differs: file {:?} {:?}, stdin {:?} {:?}",
                    oa.status.code(),
                    errs(&oa),
                    ob.status.code(),
                    errs(&ob)
                ));
            }
        }
    }
    Ok(())
}

fn bundled() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eml")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn corpora() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    let Ok(dirs) = fs::read_dir(&root) else {
        oracle::missing(&format!("{} is absent", root.display()));
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in dirs {
        let d = d.unwrap().path();
        let Ok(manifest) = fs::read_to_string(d.join("MANIFEST.tsv")) else {
            continue;
        };
        for line in manifest
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            out.push(d.join(line.split('\t').next().unwrap()));
        }
    }
    out.sort();
    if out.is_empty() {
        oracle::missing(&format!("{} lists no messages", root.display()));
    }
    out
}

fn check_all(tag: &str, files: &[PathBuf]) {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-stream-{tag}-{}", std::process::id()));
    let failures: Vec<String> = files
        .iter()
        .filter_map(|f| check(f, &scratch).err())
        .collect();
    let _ = fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "{} of {} messages differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn stdin_answers_like_the_file_on_bundled_messages() {
    let files = bundled();
    assert!(files.len() > 20);
    check_all("bundled", &files);
}

#[test]
fn stdin_answers_like_the_file_on_the_corpora() {
    check_all("corpora", &corpora());
}
