//! `mimeflow compose | normalize | smtp-data`, run as a user would.
//!
//! Exit codes: 0 done, 1 bad input (a missing file, an invalid address, an
//! unterminated DATA stream), 2 usage. With -o nothing is left behind on
//! failure.

use std::fs;
use std::path::Path;
use std::process::Output;

use mimeflow::message::Message;

#[path = "support/cli.rs"]
mod cli;

use cli::{piped as mimeflow, TempDir};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn only_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn compose_writes_a_message() {
    let d = TempDir::new("ok");
    let text = d.file("body.txt", "Grüße\n".as_bytes());
    let html = d.file("body.html", b"<p><img src=\"cid:logo.png\"></p>\n");
    let logo = d.file("logo.png", &[0x89, b'P', b'N', b'G', 0, 255]);
    let att = d.file("Prüfbericht.pdf", b"%PDF-1.4 \x00\x01\x02");
    let out = d.path("out.eml");
    let o = mimeflow(
        &[
            "compose",
            "--from",
            "Zoë <zoe@example.org>",
            "--to",
            "bob@example.com",
            "--cc",
            "c@example.com",
            "--subject",
            "Grüße",
            "--text",
            &text,
            "--html",
            &html,
            "--inline",
            &logo,
            "--attach",
            &att,
            "--header",
            "X-Mailer: mimeflow",
            "-o",
            &out,
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bytes = fs::read(&out).unwrap();
    assert!(bytes.is_ascii());
    let msg = Message::parse(bytes);
    assert_eq!(msg.defects().count(), 0);
    let root = msg.root();
    assert_eq!(root.header_text("Subject").unwrap(), "Grüße");
    assert_eq!(root.header_text("X-Mailer").unwrap(), "mimeflow");
    let pdf = msg
        .attachments()
        .find(|a| a.mime_type() == "application/pdf")
        .unwrap();
    assert_eq!(pdf.filename().unwrap(), "Prüfbericht.pdf");
    assert_eq!(pdf.decoded(), b"%PDF-1.4 \x00\x01\x02");
    assert!(msg
        .walk()
        .any(|e| e.header_text("Content-ID").as_deref() == Some("<logo.png>")));

    // To standard output too.
    let o = mimeflow(
        &[
            "compose",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "--text",
            &text,
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.starts_with(b"Date: "));
}

#[test]
fn compose_errors() {
    let d = TempDir::new("err");
    let out = d.path("out.eml");
    // A missing attachment: one line naming it, status 1, no output file.
    let o = mimeflow(
        &[
            "compose",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "--attach",
            "/nonexistent/x.pdf",
            "-o",
            &out,
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/x.pdf"), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);
    assert_eq!(only_entries(&d.0), Vec::<String>::new());
    // An unreadable attachment (a directory).
    let o = mimeflow(
        &[
            "compose",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "--attach",
            d.0.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    // Invalid addresses.
    for bad in ["nobody", "a@", "<>", "x y z"] {
        let o = mimeflow(
            &[
                "compose",
                "--from",
                "a@example.org",
                "--to",
                bad,
                "-o",
                &out,
            ],
            b"",
        );
        assert_eq!(o.status.code(), Some(1), "{bad}");
        assert!(stderr(&o).contains("invalid address"), "{}", stderr(&o));
    }
    // A missing text file.
    let o = mimeflow(
        &[
            "compose",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "--text",
            "/nonexistent/t.txt",
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/t.txt"));
    // Usage: --to is required.
    let o = mimeflow(&["compose", "--from", "a@example.org"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(only_entries(&d.0), Vec::<String>::new());
}

#[test]
fn normalize_command() {
    let d = TempDir::new("norm");
    let src = b"From: J\xc3\xbcrgen <j@example.de>\nSubject: Gr\xc3\xbc\xc3\x9fe\nContent-Transfer-Encoding: 8bit\nContent-Type: text/plain; charset=utf-8\n\nSch\xc3\xb6n\n";
    let f = d.file("in.eml", src);
    let o = mimeflow(&["normalize", &f], b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_ascii());
    let msg = Message::parse(o.stdout.clone());
    assert_eq!(msg.root().header_text("Subject").unwrap(), "Grüße");
    assert_eq!(msg.root().decoded(), "Schön\r\n".as_bytes());
    // Standard input and -o.
    let out = d.path("out.eml");
    let o = mimeflow(&["normalize", "-", "-o", &out], src);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(fs::read(&out).unwrap().is_ascii());
    // A missing file.
    let o = mimeflow(&["normalize", "/nonexistent/in.eml"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/in.eml"));
}

#[test]
fn smtp_data_commands() {
    let d = TempDir::new("smtp");
    let msg = b"Subject: x\r\n\r\n.hidden\r\nok\r\n";
    let o = mimeflow(&["smtp-data", "encode"], msg);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"Subject: x\r\n\r\n..hidden\r\nok\r\n.\r\n");
    let stuffed = d.file("s.txt", &o.stdout);
    let o = mimeflow(&["smtp-data", "decode", &stuffed], b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, msg);
    // Unterminated: status 1, nothing left at -o.
    let out = d.path("out.txt");
    let o = mimeflow(&["smtp-data", "decode", "-", "-o", &out], b"abc\r\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("terminator"), "{}", stderr(&o));
    assert!(!Path::new(&out).exists());
    let o = mimeflow(&["smtp-data", "frobnicate"], b"");
    assert_eq!(o.status.code(), Some(2));
}

/// Issue 9 item 4: `--inline FILE` makes the file name the Content-ID; a
/// name that could end the field (a line break) or the id (blanks, `<`,
/// `>`) is refused with one line naming the option, status 1 and no
/// output. An ordinary file name keeps working.
#[test]
fn inline_names_that_would_inject_are_refused() {
    let d = TempDir::new("inline");
    let html = d.file("page.html", b"<img src=\"cid:logo.png\">\n");
    let out = d.path("out.eml");
    for name in [
        "x\r\nBcc: evil@example.org",
        "a\nb.png",
        "my logo.png",
        "a<b>.png",
        "tab\t.png",
    ] {
        let f = d.file(name, b"\x89PNG");
        let o = mimeflow(
            &[
                "compose",
                "--from",
                "a@example.org",
                "--to",
                "b@example.org",
                "--html",
                &html,
                "--inline",
                &f,
                "-o",
                &out,
            ],
            b"",
        );
        assert_eq!(o.status.code(), Some(1), "{name:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.contains("--inline") && e.contains("Content-ID"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        assert!(!Path::new(&out).exists(), "{name:?}");
        fs::remove_file(&f).unwrap();
    }
    let f = d.file("logo.png", b"\x89PNG");
    let o = mimeflow(
        &[
            "compose",
            "--from",
            "a@example.org",
            "--to",
            "b@example.org",
            "--html",
            &html,
            "--inline",
            &f,
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let msg = Message::parse(o.stdout);
    let part = msg
        .walk()
        .find(|e| e.header("Content-ID").is_some())
        .unwrap();
    assert_eq!(
        part.header_text("Content-ID").as_deref(),
        Some("<logo.png>")
    );
}

/// Issue 9 item 18: `--attach notes.txt` with LF line ends (and the other
/// shapes a text file takes) arrives byte for byte; a CRLF text file is
/// still sent 7bit, as is.
#[test]
fn attached_files_arrive_byte_for_byte() {
    let d = TempDir::new("exact");
    let files: [(&str, &[u8]); 8] = [
        ("notes.txt", b"line one\nline two\n"),
        ("mac.txt", b"line one\rline two\r"),
        ("mixed.txt", b"a\r\nb\nc\rd"),
        ("blanks.txt", b"a \t\nb  \n"),
        ("nofinal.csv", b"a,b\nc,d"),
        ("nul.txt", b"a\0b\n"),
        ("long.log", &[b'x'; 5000]),
        ("dos.txt", b"line one\r\nline two\r\n"),
    ];
    let mut args: Vec<String> = [
        "compose",
        "--from",
        "a@example.org",
        "--to",
        "b@example.org",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, data) in &files {
        args.push("--attach".into());
        args.push(d.file(name, data));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = mimeflow(&args, b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let msg = Message::parse(o.stdout);
    let got: Vec<(String, Vec<u8>)> = msg
        .attachments()
        .map(|e| (e.filename().unwrap(), e.decoded()))
        .collect();
    let want: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .collect();
    assert_eq!(got, want);
    let dos = msg.attachments().last().unwrap();
    assert_eq!(
        dos.header_text("Content-Transfer-Encoding").as_deref(),
        Some("7bit")
    );
    assert_eq!(dos.body_bytes(), b"line one\r\nline two\r\n");
}
