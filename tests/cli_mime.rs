//! `mimeflow show | parse --json | cat | extract`, run as a user would.
//!
//! Exit codes: 0 done (defects in the mail are no failure), 1 bad input or
//! I/O (a missing file, a missing section, an unwritable destination), 2
//! usage. `extract` must never write outside DEST nor overwrite anything,
//! whatever the names in the mail say, a planted symlink included.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[path = "support/cli.rs"]
mod cli;

use cli::TempDir;

fn mimeflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mimeflow"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn testdata(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/eml")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn show_prints_one_line_per_entity() {
    let o = mimeflow(&["show", &testdata("rfc/020.eml")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 11, "{out}");
    let first: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        first,
        ["-", "1", "2", "2", "2.1", "2.2", "2.2.1", "2.3", "2.3.1", "2.3.2", "3"]
    );
    assert!(
        out.lines().nth(6).unwrap().starts_with("        2.2.1 "),
        "indented by depth: {out}"
    );

    // Defects are shown, and are no failure.
    let o = mimeflow(&["show", &testdata("malformed/002.eml")]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("missing_close_delimiter"));
}

#[test]
fn parse_json_matches_the_library() {
    let path = testdata("rfc/005.eml");
    let o = mimeflow(&["parse", "--json", &path]);
    assert_eq!(o.status.code(), Some(0));
    let got: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let want = mimeflow::message::Message::parse(fs::read(&path).unwrap()).to_json();
    assert_eq!(got, want);
    let sections: Vec<&str> = got["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["section"].as_str().unwrap())
        .collect();
    assert_eq!(sections, ["", "1", "2", "2", "2.1", "2.2"]);
    assert_eq!(got["headers"]["subject"], "Forwarded message (multipart)");

    // Standard input, pretty.
    let o = Command::new(env!("CARGO_BIN_EXE_mimeflow"))
        .args(["parse", "--pretty", "-"])
        .stdin(fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again, want);
    assert!(stdout(&o).contains("\n  \"headers\""));
}

#[test]
fn cat_writes_a_decoded_section() {
    let path = testdata("rfc/020.eml");
    let o = mimeflow(&["cat", &path, "2.2.1"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, b"Part 2.2 carries this body, numbered 2.2.1.");

    // Decoded base64 vs --raw.
    let path = testdata("legacy/006.eml");
    assert_eq!(mimeflow(&["cat", &path, "2"]).stdout, b"my document");
    assert_eq!(
        mimeflow(&["cat", "--raw", &path, "2"]).stdout,
        b"bXkgZG9jdW1lbnQ="
    );

    // Quoted-printable comes out as bytes, not text.
    let o = mimeflow(&["cat", &testdata("rfc/010.eml"), "1"]);
    assert!(o.stdout.starts_with(b"Voil\xe0 une ligne tr\xe8s longue"));

    // A multipart root is "" (or "-").
    let o = mimeflow(&["cat", &testdata("rfc/004.eml"), "-"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.starts_with(b"--fw-004\n"));

    // No such section, no such file: 1. Missing argument: 2.
    let o = mimeflow(&["cat", &path, "9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no part numbered"));
    assert_eq!(
        mimeflow(&["cat", "/nonexistent/mail.eml", "1"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(mimeflow(&["cat", &path]).status.code(), Some(2));
    assert_eq!(mimeflow(&["show", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(
        mimeflow(&["show", "/nonexistent/mail.eml"]).status.code(),
        Some(1)
    );
}

const HOSTILE: &str = "From: x@example.com
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=h

--h
Content-Type: text/plain

body
--h
Content-Disposition: attachment; filename=\"../../escape.txt\"

dots
--h
Content-Disposition: attachment; filename=\"/etc/abs.txt\"

absolute
--h
Content-Disposition: attachment; filename=\"C:\\\\Windows\\\\win.txt\"

backslashes
--h
Content-Disposition: attachment; filename=\"..\"

only dots
--h
Content-Disposition: attachment; filename=\"a\x01b\tc.txt\"

controls
--h
Content-Disposition: attachment; filename=\"CON\"

reserved
--h
Content-Disposition: attachment; filename=\"same.txt\"

first same
--h
Content-Disposition: attachment; filename=\"same.txt\"

second same
--h
Content-Disposition: attachment; filename=\"planted.txt\"

must not follow the symlink
--h
Content-Type: application/octet-stream; name=\"LONGNAME\"

long
--h
Content-Type: text/plain
Content-Disposition: inline

inline without a name: not an attachment
--h--
";

#[test]
fn extract_writes_safe_names_inside_dest_only() {
    let tmp = TempDir::new("extract");
    let dest = tmp.dir().join("out");
    fs::create_dir(&dest).unwrap();
    let outside = tmp.dir().join("outside.txt");
    fs::write(&outside, b"untouched").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, dest.join("planted.txt")).unwrap();
    fs::write(dest.join("same.txt"), b"already here").unwrap();

    let long = format!("{}.pdf", "n".repeat(400));
    let mail = tmp.dir().join("mail.eml");
    fs::write(&mail, HOSTILE.replace("LONGNAME", &long)).unwrap();

    let o = mimeflow(&["extract", mail.to_str().unwrap(), dest.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);

    // The mapping: section, path, size per line.
    let mut map = std::collections::BTreeMap::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "{line}");
        let path = Path::new(f[1]);
        assert_eq!(path.parent().unwrap(), dest, "written outside DEST: {line}");
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(fs::metadata(path).unwrap().len().to_string(), f[2]);
        map.insert(f[0].to_string(), name);
    }
    let name = |s: &str| {
        map.get(s)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no section {s} in {out}"))
    };
    assert_eq!(name("2"), "escape.txt");
    assert_eq!(name("3"), "abs.txt");
    assert_eq!(name("4"), "win.txt");
    assert_eq!(name("5"), "part-5.bin");
    assert_eq!(name("6"), "abc.txt");
    assert_eq!(name("7"), "_CON");
    assert_eq!(name("8"), "same-1.txt");
    assert_eq!(name("9"), "same-2.txt");
    assert_eq!(name("10"), "planted-1.txt");
    assert!(name("11").len() <= 255 && name("11").ends_with(".pdf"));
    assert_eq!(
        map.len(),
        10,
        "body and inline text are no attachments: {out}"
    );

    // Nothing overwritten, the symlink not followed, nothing outside.
    assert_eq!(fs::read(dest.join("same.txt")).unwrap(), b"already here");
    assert_eq!(fs::read(dest.join("same-1.txt")).unwrap(), b"first same");
    assert_eq!(fs::read(dest.join("escape.txt")).unwrap(), b"dots");
    assert_eq!(fs::read(&outside).unwrap(), b"untouched");
    #[cfg(unix)]
    assert!(fs::symlink_metadata(dest.join("planted.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
    let mut top: Vec<String> = fs::read_dir(tmp.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert_eq!(top, ["mail.eml", "out", "outside.txt"]);
    assert!(
        !Path::new("/etc/abs.txt").exists() || fs::read("/etc/abs.txt").unwrap() != b"absolute"
    );

    // Run again: every name is taken now, so all get new suffixes.
    let o = mimeflow(&[
        "extract",
        "--json",
        mail.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    assert!(lines
        .iter()
        .any(|l| l["path"].as_str().unwrap().ends_with("escape-1.txt")));
    assert_eq!(fs::read(dest.join("escape.txt")).unwrap(), b"dots");
}

#[test]
fn extract_creates_dest_and_fails_cleanly() {
    let tmp = TempDir::new("extract2");
    let dest = tmp.dir().join("new/dir");
    let o = mimeflow(&["extract", &testdata("rfc/008.eml"), dest.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        fs::read(dest.join("€ budget for Köln.xlsx")).unwrap().len(),
        26
    );

    // DEST is a file: an I/O failure, status 1.
    let file = tmp.dir().join("a-file");
    fs::write(&file, b"x").unwrap();
    let o = mimeflow(&["extract", &testdata("rfc/008.eml"), file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    // Usage.
    assert_eq!(
        mimeflow(&["extract", &testdata("rfc/008.eml")])
            .status
            .code(),
        Some(2)
    );
}
