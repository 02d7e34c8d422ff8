//! Composing, normalizing and DATA framing, checked by reading the result
//! back: with our parser (same decoded payloads, filenames and headers, no
//! defects) and, when python3 is installed, with the stdlib `email` package
//! (policy.default). Line limits: every line <= 998 octets, header lines we
//! wrote <= 78, CRLF only; normalized output 7-bit clean.

#[path = "support/oracle.rs"]
mod oracle;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use mimeflow::compose::smtp::{stuff, unstuff, DotStuffer, DotUnstuffer};
use mimeflow::compose::{normalize, Attachment, ComposeError, MessageBuilder, Transport};
use mimeflow::message::{Kind, Message};
use proptest::prelude::*;

/// Every line ends CRLF, none over 998; header-block lines (of every
/// entity) at most 78 when `strict_headers`.
fn check_lines(msg: &[u8], strict_headers: bool) {
    let mut in_header = true;
    let mut start = 0;
    while start < msg.len() {
        let nl = memchr_pos(&msg[start..]).map(|p| start + p);
        let Some(nl) = nl else {
            assert!(msg.len() - start <= 998);
            break;
        };
        assert!(nl > start && msg[nl - 1] == b'\r', "bare LF at {nl}");
        let line = &msg[start..nl - 1];
        assert!(!line.contains(&b'\r'), "bare CR in line at {start}");
        assert!(
            line.len() <= 998,
            "line of {} octets at {start}",
            line.len()
        );
        if line.is_empty() {
            in_header = false;
        } else if line.starts_with(b"Content-") || line.starts_with(b"--") {
            in_header = !line.starts_with(b"--");
        }
        if in_header && strict_headers {
            assert!(
                line.len() <= 78,
                "header line too long: {:?}",
                String::from_utf8_lossy(line)
            );
        }
        start = nl + 1;
    }
}

fn memchr_pos(s: &[u8]) -> Option<usize> {
    s.iter().position(|&b| b == b'\n')
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

fn no_defects(msg: &Message) {
    let d: Vec<_> = msg.defects().collect();
    assert!(d.is_empty(), "defects: {d:?}");
}

fn sample() -> MessageBuilder {
    let long_subject =
        "Grüße aus Köln — ein sehr langer Betreff, der über achtundsiebzig Spalten hinausgeht, \
                        mit 日本語のテキスト und emoji 🎉🎉🎉 am Ende";
    MessageBuilder::new()
        .from("Zoë Ünicode <zoe@example.org>")
        .unwrap()
        .to("\"Smith, John\" <john@example.com>, plain@example.net")
        .unwrap()
        .cc("Ωμέγα Γράμμα <omega@example.gr>")
        .unwrap()
        .reply_to("replies@example.org")
        .unwrap()
        .subject(long_subject)
        .date(UNIX_EPOCH + Duration::from_secs(1_751_371_200))
        .header(
            "X-Note",
            "naïve café header value that is rather long and needs folding somewhere soon",
        )
        .unwrap()
        .text("Hallo Welt\nZeile mit Umlauten: äöü\n.leading dot\n")
        .html("<p>Hi <img src=\"cid:logo\"></p>\n")
        .inline(
            Attachment::bytes("logo.png", vec![0x89, b'P', b'N', b'G', 0, 1, 2, 255]),
            "logo",
        )
        .attach(Attachment::bytes(
            "Bericht für Müller – ein sehr langer Dateiname, der umbrochen werden muss.pdf",
            (0..5000u32)
                .map(|i| (i * 7 % 251) as u8)
                .collect::<Vec<u8>>(),
        ))
        .attach(Attachment::bytes(
            "notes.txt",
            "plain ascii notes\nline 2\n".as_bytes().to_vec(),
        ))
        .attach(Attachment::bytes(
            "long-line.txt",
            "x".repeat(3000).into_bytes(),
        ))
}

#[test]
fn composed_parses_back() {
    let bytes = sample().to_vec().unwrap();
    check_lines(&bytes, false);
    let msg = Message::parse(bytes.clone());
    no_defects(&msg);
    let root = msg.root();
    assert_eq!(root.mime_type(), "multipart/mixed");
    assert!(root
        .header_text("Subject")
        .unwrap()
        .starts_with("Grüße aus Köln — ein sehr langer Betreff"));
    assert!(root
        .header_text("Subject")
        .unwrap()
        .ends_with("emoji 🎉🎉🎉 am Ende"));
    assert_eq!(
        root.header_text("From").unwrap(),
        "Zoë Ünicode <zoe@example.org>"
    );
    assert_eq!(
        root.header_text("Date").unwrap(),
        "Tue, 01 Jul 2025 12:00:00 +0000"
    );
    assert!(root
        .header_text("X-Note")
        .unwrap()
        .starts_with("naïve café"));
    let sections: Vec<(String, String)> =
        msg.walk().map(|e| (e.section(), e.mime_type())).collect();
    let types: Vec<&str> = sections.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/alternative",
            "text/plain",
            "multipart/related",
            "text/html",
            "image/png",
            "application/pdf",
            "text/plain",
            "text/plain"
        ]
    );
    let text = msg.section("1.1").unwrap();
    assert_eq!(
        text.text(),
        "Hallo Welt\r\nZeile mit Umlauten: äöü\r\n.leading dot\r\n"
    );
    let png = msg.section("1.2.2").unwrap();
    assert_eq!(png.decoded(), [0x89, b'P', b'N', b'G', 0, 1, 2, 255]);
    assert_eq!(png.header_text("Content-ID").unwrap(), "<logo>");
    let pdf = msg.section("2").unwrap();
    assert_eq!(
        pdf.filename().unwrap(),
        "Bericht für Müller – ein sehr langer Dateiname, der umbrochen werden muss.pdf"
    );
    assert_eq!(
        pdf.decoded(),
        (0..5000u32)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>()
    );
    // An attachment arrives as attached: LF line ends stay LF.
    assert_eq!(
        msg.section("3").unwrap().decoded(),
        b"plain ascii notes\nline 2\n"
    );
    let long = msg.section("4").unwrap();
    assert_eq!(long.transfer_encoding().as_str(), "quoted-printable");
    assert_eq!(long.decoded(), "x".repeat(3000).as_bytes());
    // Header lines the builder wrote stay within 78 columns.
    for e in msg.walk() {
        for line in e.header_bytes().split(|&b| b == b'\n') {
            assert!(line.len() <= 79, "{:?}", String::from_utf8_lossy(line));
        }
    }
}

#[test]
fn composite_parts_never_encoded() {
    let inner = MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.org")
        .unwrap()
        .subject("inner ünïcode")
        .text("inner body €\n");
    let bytes = MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.org")
        .unwrap()
        .text("outer\n")
        .attach_message(inner.clone(), Some("fwd.eml"))
        .attach_message_bytes(
            &b"From: x@y.org\nSubject: caf\xc3\xa9\n\nraw 8bit body \xc3\xa9\n"[..],
            None,
        )
        .to_vec()
        .unwrap();
    check_lines(&bytes, false);
    assert!(bytes.is_ascii());
    let msg = Message::parse(bytes);
    no_defects(&msg);
    for e in msg.walk() {
        if e.kind() != Kind::Leaf {
            assert_eq!(e.transfer_encoding().as_str(), "7bit", "{}", e.section());
        }
    }
    let carried = msg
        .walk()
        .find(|e| e.header_text("Subject").as_deref() == Some("inner ünïcode"));
    assert!(carried.is_some());
    let raw = msg
        .walk()
        .find(|e| e.header_text("Subject").as_deref() == Some("café"))
        .unwrap();
    assert_eq!(raw.kind(), Kind::Leaf);
    assert_eq!(raw.decoded(), "raw 8bit body é\r\n".as_bytes());

    // With 8BITMIME the composite gets 8bit, never base64.
    let bytes = MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.org")
        .unwrap()
        .text("a\n")
        .attach_message(inner, None)
        .transport(Transport::EightBit)
        .to_vec()
        .unwrap();
    let msg = Message::parse(bytes);
    no_defects(&msg);
    assert_eq!(msg.root().transfer_encoding().as_str(), "8bit");
    assert_eq!(
        msg.section("2").unwrap().transfer_encoding().as_str(),
        "8bit"
    );
}

#[test]
fn bad_input_errors() {
    assert!(matches!(
        MessageBuilder::new().to("not an address"),
        Err(ComposeError::InvalidAddress(_))
    ));
    assert!(matches!(
        MessageBuilder::new().to("local@"),
        Err(ComposeError::InvalidAddress(_))
    ));
    assert!(MessageBuilder::new().header("Bad:Name", "x").is_err());
    assert!(MessageBuilder::new().header("Content-Type", "x").is_err());
    let e = MessageBuilder::new()
        .attach(Attachment::file("/nonexistent/mimeflow-test-file"))
        .to_vec()
        .unwrap_err();
    assert!(
        e.to_string().contains("/nonexistent/mimeflow-test-file"),
        "{e}"
    );
}

#[test]
fn boundary_avoids_content() {
    // A text body that already holds `--=_mf_` lines cannot collide with
    // a fresh boundary (random), and the boundary never shows up inside.
    let body = "--=_mf_0000\n".repeat(10);
    let bytes = MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.org")
        .unwrap()
        .text(&body)
        .attach(Attachment::bytes("a.bin", vec![1, 2, 3]))
        .to_vec()
        .unwrap();
    let msg = Message::parse(bytes);
    no_defects(&msg);
    assert_eq!(msg.section("1").unwrap().text(), body.replace('\n', "\r\n"));
}

fn eight_bit_archive() -> Vec<Vec<u8>> {
    vec![
        // 8bit UTF-8 body and header, LF line ends.
        b"From: J\xc3\xbcrgen <j@example.de>\nTo: a@example.org\nSubject: Gr\xc3\xbc\xc3\x9fe\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nSch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe\n.dot line\n".to_vec(),
        // Latin-1 header without a declared charset: windows-1252.
        b"From: a@example.org\nSubject: caf\xe9 cr\xe8me\n\nplain body\n".to_vec(),
        // Multipart with a safe base64 part, an 8bit part and a binary part.
        b"From: a@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\npreamble\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xe2\x82\xac 100\r\n--XYZ\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"d\xc3\xa4ta.bin\"\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\xfe\r\n--XYZ--\r\n".to_vec(),
        // A 7bit text part with a line longer than 998 octets.
        format!("From: a@example.org\nSubject: long\n\n{}\nshort\n", "y".repeat(2500)).into_bytes(),
    ]
}

/// Text payloads compare with line ends normalized (text is canonically CRLF).
fn same_payload(a: &[u8], b: &[u8], text: bool) -> bool {
    if text {
        crlf(&String::from_utf8_lossy(a)) == crlf(&String::from_utf8_lossy(b))
    } else {
        a == b
    }
}

#[test]
fn normalize_is_7bit_and_faithful() {
    for (i, src) in eight_bit_archive().into_iter().enumerate() {
        let out = normalize(&src);
        assert!(out.is_ascii(), "message {i} not 7-bit");
        check_lines(&out, false);
        let before = Message::parse(src.clone());
        let after = Message::parse(out.clone());
        no_defects(&after);
        assert_eq!(before.len(), after.len(), "message {i}: same structure");
        for (a, b) in before.walk().zip(after.walk()) {
            assert_eq!(a.mime_type(), b.mime_type());
            assert_eq!(a.filename(), b.filename(), "message {i}");
            for h in ["Subject", "From", "To"] {
                assert_eq!(a.header_text(h), b.header_text(h), "message {i} {h}");
            }
            if a.kind() == Kind::Leaf {
                let text = a.mime_type().starts_with("text/");
                assert!(
                    same_payload(&a.decoded(), &b.decoded(), text),
                    "message {i} part {}",
                    a.section()
                );
            } else {
                assert_eq!(b.transfer_encoding().as_str(), "7bit");
            }
        }
        // Idempotent: a normalized message is already safe.
        assert_eq!(normalize(&out), out, "message {i}");
    }
    // The safe base64 part is copied byte for byte.
    let out = normalize(&eight_bit_archive()[2]);
    assert!(memmem(
        &out,
        b"Content-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--XYZ"
    ));
    // A safe message changes only LF -> CRLF.
    let safe = b"From: a@example.org\nSubject: hi\n\nbody\n";
    assert_eq!(
        normalize(safe),
        b"From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    );
}

#[test]
fn normalize_keeps_line_ends_in_binary_data() {
    // A non-text body of 7-bit bytes with bare LFs: the LFs are data, so
    // normalize may not turn them into CRLF (found by the Python suite's
    // hypothesis test: an octet-stream body of one "\n").
    for body in [&b"\n"[..], b"a\nb", b"\r", b"x\r\ny\nz"] {
        let mut src = b"Content-Type: application/octet-stream\n\
            Content-Transfer-Encoding: binary\n\n"
            .to_vec();
        src.extend_from_slice(body);
        let out = normalize(&src);
        assert!(out.is_ascii());
        check_lines(&out, false);
        let back = Message::parse(out.clone()).root().decoded();
        assert_eq!(back, body, "{:?}", String::from_utf8_lossy(&out));
    }
    // Text is read in its canonical form: bare LFs become CRLF.
    let out = normalize(b"Content-Type: text/plain\n\na\nb\n");
    assert!(out.ends_with(b"\r\n\r\na\r\nb\r\n"));
}

fn memmem(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

#[test]
#[cfg(feature = "parallel")] // rayon comes with the feature
fn normalize_in_parallel() {
    use rayon::prelude::*;
    let archive = eight_bit_archive();
    let seq: Vec<Vec<u8>> = archive.iter().map(|m| normalize(m)).collect();
    let par: Vec<Vec<u8>> = archive.par_iter().map(|m| normalize(m)).collect();
    assert_eq!(seq, par);
}

proptest! {
    #[test]
    fn dot_stuffing_roundtrip(
        lines in prop::collection::vec(
            prop::collection::vec(prop::sample::select(vec![b'.', b'a', b'\r', b'\n', b' ', b'x']), 0..12),
            0..40),
        cuts in prop::collection::vec(1usize..9, 0..30),
    ) {
        let mut data = Vec::new();
        for l in &lines {
            data.extend_from_slice(l);
            data.extend_from_slice(b"\r\n");
        }
        // Stuff in random chunks.
        let mut stuffed = Vec::new();
        let mut s = DotStuffer::new(&mut stuffed);
        let mut at = 0;
        for c in &cuts {
            let end = (at + c).min(data.len());
            s.write_all(&data[at..end]).unwrap();
            at = end;
        }
        s.write_all(&data[at..]).unwrap();
        s.finish().unwrap();
        prop_assert_eq!(&stuffed, &stuff(&data));
        // No line of the stuffed data is a lone "." before the end.
        let body = &stuffed[..stuffed.len() - 3];
        prop_assert!(!body.windows(5).any(|w| w == b"\r\n.\r\n"));
        prop_assert!(!body.starts_with(b".\r\n"));
        // Unstuff in other random chunks, with trailing bytes after the end.
        let mut wire = stuffed.clone();
        wire.extend_from_slice(b"NEXT COMMAND\r\n");
        let mut u = DotUnstuffer::new();
        let mut out = Vec::new();
        let mut at = 0;
        let mut consumed = 0;
        for c in cuts.iter().cycle().take(wire.len()) {
            if u.is_done() || at >= wire.len() {
                break;
            }
            let end = (at + c).min(wire.len());
            let p = u.push(&wire[at..end], &mut out);
            consumed += p.consumed;
            at = end;
        }
        if !u.is_done() {
            let p = u.push(&wire[at..], &mut out);
            consumed += p.consumed;
        }
        prop_assert!(u.is_done());
        prop_assert_eq!(consumed, stuffed.len());
        prop_assert_eq!(&out, &data);
        prop_assert_eq!(unstuff(&stuffed).unwrap().0, data);
    }
}

/// Peak resident set (VmHWM) of this process in KiB.
fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Counter {
    n: u64,
    tail: Vec<u8>,
}

impl Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.n += b.len() as u64;
        if b.len() >= 2 {
            self.tail = b[b.len() - 2..].to_vec();
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sparse file of a few hundred MB (MIMEFLOW_BIG_MB, default 256) is
/// streamed with bounded memory: the peak RSS grows by far less than the
/// file (or its encoding). Measured in a child process of its own, since
/// the other tests of this binary run on threads beside it.
#[test]
fn big_attachment_streams_in_bounded_memory() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "big_attachment_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{}{text}",
        String::from_utf8_lossy(&out.stdout)
    );
    eprintln!(
        "{}",
        text.lines()
            .find(|l| l.contains("VmHWM"))
            .unwrap_or("no /proc: skipped")
    );
}

#[test]
#[ignore = "run by big_attachment_streams_in_bounded_memory in a process of its own"]
fn big_attachment_child() {
    let Some(before) = vm_hwm_kib() else {
        return oracle::missing("no /proc/self/status: memory not measured");
    };
    let mb: u64 = std::env::var("MIMEFLOW_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let path = std::env::temp_dir().join(format!("mimeflow-big-{}.bin", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(mb << 20).unwrap();
    drop(f);
    let mut sink = Counter {
        n: 0,
        tail: Vec::new(),
    };
    MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.org")
        .unwrap()
        .text("see attachment\n")
        .attach(Attachment::file(&path))
        .write_to(&mut sink)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let after = vm_hwm_kib().unwrap();
    let encoded = (mb << 20).div_ceil(57) * 78;
    assert!(sink.n > encoded, "wrote {} < {encoded}", sink.n);
    assert_eq!(sink.tail, b"\r\n");
    let grew_mb = after.saturating_sub(before) / 1024;
    eprintln!("VmHWM grew by {grew_mb} MiB for a {mb} MiB attachment");
    assert!(grew_mb < 64, "peak RSS grew by {grew_mb} MiB");
}

/// Python's email package (policy.default) reads the composed messages the
/// same way: headers, filenames, decoded payloads, no defects.
#[test]
fn python_email_agrees() {
    let script = r#"
import sys, json, email, hashlib
from email import policy
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
parts = []
defects = [str(d) for d in msg.defects]
for p in msg.walk():
    defects += [str(d) for d in p.defects]
    if p.is_multipart():
        parts.append({"type": p.get_content_type()})
        continue
    payload = p.get_payload(decode=True) or b""
    if p.get_content_type() == "message/rfc822":
        payload = b""
    parts.append({"type": p.get_content_type(), "filename": p.get_filename(),
                  "sha": hashlib.sha256(payload).hexdigest()})
print(json.dumps({"subject": str(msg["subject"]), "from": str(msg["from"]),
                  "to": str(msg["to"]), "parts": parts, "defects": defects}))
"#;
    let mut messages = vec![sample().to_vec().unwrap()];
    messages.extend(eight_bit_archive().iter().map(|m| normalize(m)));
    for (i, bytes) in messages.iter().enumerate() {
        let child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            oracle::missing("python3 not found");
            return;
        };
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v["defects"].as_array().unwrap().len(),
            0,
            "message {i}: {v}"
        );
        let msg = Message::parse(bytes.clone());
        let root = msg.root();
        assert_eq!(
            v["subject"].as_str(),
            root.header_text("Subject").as_deref().or(Some("None")),
            "message {i}"
        );
        let leaves: Vec<_> = msg.walk().filter(|e| e.kind() != Kind::Multipart).collect();
        let py: Vec<&serde_json::Value> = v["parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p.get("sha").is_some())
            .collect();
        assert!(
            py.len()
                >= leaves
                    .iter()
                    .filter(|e| e.kind() == Kind::Leaf)
                    .count()
                    .min(1)
        );
        for p in py {
            let ty = p["type"].as_str().unwrap();
            let fname = p["filename"].as_str().map(str::to_string);
            let ours = leaves
                .iter()
                .find(|e| e.mime_type() == ty && e.filename() == fname);
            let ours = ours.unwrap_or_else(|| panic!("message {i}: no part {ty} {fname:?}"));
            if ty != "message/rfc822" && ours.kind() == Kind::Leaf {
                use sha2::Digest;
                let sha = hex(&sha2::Sha256::digest(ours.decoded()));
                assert_eq!(
                    p["sha"].as_str().unwrap(),
                    sha,
                    "message {i} part {ty} {fname:?}"
                );
            }
        }
    }
    let v = messages[0].clone();
    let _ = v;
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What the `normalize` fuzz target asserts of any output: ASCII, no NUL,
/// CR and LF only as CRLF, lines of at most 998 octets, and no structural
/// defect (boundaries, close delimiters, encoded composites) that the input
/// did not already have.
fn check_normalized(src: &[u8]) {
    use mimeflow::defect::DefectCode;
    const STRUCTURAL: [DefectCode; 4] = [
        DefectCode::MissingBoundaryParameter,
        DefectCode::MissingBoundary,
        DefectCode::MissingCloseDelimiter,
        DefectCode::EncodedCompositeEntity,
    ];
    let structural = |m: &Message| {
        let mut n = [0usize; 4];
        for d in m.defects() {
            if let Some(i) = STRUCTURAL.iter().position(|&c| c == d.code) {
                n[i] += 1;
            }
        }
        n
    };
    let out = normalize(src);
    let show = || format!("{src:?} -> {:?}", String::from_utf8_lossy(&out));
    assert!(out.is_ascii(), "8-bit byte: {}", show());
    assert!(!out.contains(&0), "NUL: {}", show());
    check_lines(&out, false);
    let before = structural(&Message::parse(src.to_vec()));
    let after = structural(&Message::parse(out.clone()));
    for i in 0..STRUCTURAL.len() {
        assert!(after[i] <= before[i], "new {:?}: {}", STRUCTURAL[i], show());
    }
    // And the output is a fixed point.
    assert_eq!(normalize(&out), out, "not idempotent: {}", show());
}

/// Fuzz finds (fuzz/artifacts/normalize/crash-5f7928b8…, crash-ab789d1f…,
/// as given and as remapped by the target): a "field" whose name holds
/// 8-bit bytes or NUL was copied as if safe. It is not a field (RFC 5322
/// ftext is printable ASCII) and must come out with `?` in place of those
/// bytes.
#[test]
fn normalize_fuzz_8bit_field_name() {
    for src in [
        &b"m\x80:s"[..],
        b"'\n\x04\xfc",
        b"\xc4\x10\x04j$\n\x00\x9fm\xbd\xbd:\x80\r",
        b"to:-r\x80\r:i---8\x00",
        b"Subject: ok\nX-Gr\xc3\xbc\xc3\x9fe: caf\xc3\xa9\n\nbody\n",
    ] {
        check_normalized(src);
    }
    let out = normalize(b"X-Gr\xc3\xbc\xc3\x9fe: v\n\nbody\n");
    assert!(out.starts_with(b"X-Gr????e: v\r\n"), "{out:?}");
}

/// Fuzz finds (crash-92ab3ac1…, crash-d184d293…, crash-d69705d4…,
/// crash-f0a763c0…): NUL, and CR or LF left inside an unfolded header
/// value, were written back raw, giving NULs, bare CRs and new "fields".
/// NUL becomes U+FFFD (encoded), stray line ends become spaces.
#[test]
fn normalize_fuzz_nul_and_stray_line_ends_in_values() {
    for src in [
        &b"From :\x0e\x00\x00\x00\x00\x00\x00\x00"[..],
        b"CC:\tmeeeeegl:\x00\r\r\r",
        b"to\r:\raeee\x00\r\r\r",
        b" to:rnruene\x00- ",
        b"\x0f\x0f\x04\x0eu\xff\xff\xff\xff\xffU\xa3\x04\r\x00\x00\x00",
        b"@\x94\x00\x04\x00\xfd\xff\xff\xff\r\x00\x00\x00",
        b"\xb1@\x10\x04\xf0?$es?\xff\r\xbd-",
        b"Subject: a\rb\x00c\xc3\xa9\n\nbody\n",
    ] {
        check_normalized(src);
    }
    // The value survives as encoded-words: NUL as U+FFFD, the stray CR as
    // a space (which the reader may fold away, as it drops a raw CR).
    let out = normalize(b"Subject: a\rb\x00c\xc3\xa9\n\nbody\n");
    assert!(out.starts_with(b"Subject: "), "{out:?}");
    let msg = Message::parse(out);
    let subject = msg.root().header_text("Subject").unwrap();
    assert!(
        ["ab\u{FFFD}c\u{e9}", "a b\u{FFFD}c\u{e9}"].contains(&subject.as_str()),
        "{subject:?}"
    );
}

/// A value that would add a header field (and start the body) if it
/// reached the header block as is, with the other bytes that could end a
/// token or a field.
const HOSTILE: &str = "a\r\nX-Injected: 1\r\n\r\nbody\n\0\x0b\x7f<>\"\\ tail";

/// Header field names of every entity, lower-cased.
fn field_names(msg: &Message) -> Vec<String> {
    msg.walk()
        .flat_map(|e| {
            e.headers()
                .map(|(n, _)| String::from_utf8_lossy(n).to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn base() -> MessageBuilder {
    MessageBuilder::new()
        .from("a@example.org")
        .unwrap()
        .to("b@example.com")
        .unwrap()
}

/// Issue 9 item 4: Message-ID and Content-ID values that could end the
/// id or the field are refused at build time (nothing written); ids that
/// are merely not `left@right` (a file name) still work.
#[test]
fn ids_that_could_inject_are_refused() {
    let bad = [
        "<x@y>\r\nBcc: attacker@evil.example",
        "x@y\r\n\r\nbody",
        "x\ny",
        "x\ry",
        "x\0y",
        "x\x0by",
        "x\x7fy",
        "x y",
        "x\ty",
        "x<y",
        "x>y",
        "<<x>>",
        "ü@y",
        "",
        "<>",
    ];
    let too_long = "x".repeat(901);
    for id in bad.iter().copied().chain([too_long.as_str()]) {
        for (field, b) in [
            ("Message-ID", base().message_id(id)),
            (
                "Content-ID",
                base()
                    .html("<img src=cid:x>")
                    .inline(Attachment::bytes("a.png", b"\x89PNG".to_vec()), id),
            ),
        ] {
            match b.to_vec() {
                Err(ComposeError::InvalidId { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field} {id:?}: {:?}", other.map(|v| v.len())),
            }
            let mut out = Vec::new();
            assert!(b.write_to(&mut out).is_err(), "{field} {id:?}");
            assert!(out.is_empty(), "{field} {id:?}: output written");
        }
    }
    for (id, want) in [
        ("logo.png", "<logo.png>"),
        ("<x@y>", "<x@y>"),
        ("x@y", "<x@y>"),
    ] {
        let out = base()
            .message_id(id)
            .html("<img src=cid:x>")
            .inline(Attachment::bytes("a.png", b"\x89PNG".to_vec()), id)
            .to_vec()
            .unwrap();
        let msg = Message::parse(out);
        assert_eq!(msg.root().header_text("Message-ID").as_deref(), Some(want));
        let part = msg
            .walk()
            .find(|e| e.header("Content-ID").is_some())
            .unwrap();
        assert_eq!(part.header_text("Content-ID").as_deref(), Some(want));
    }
    let e = base().message_id("<x@y>\r\nBcc: a@b").to_vec().unwrap_err();
    assert!(e.to_string().contains("line break"), "{e}");
}

/// Every other builder input that reaches a header: free text is encoded
/// (never a new field), structured values are checked.
#[test]
fn no_builder_input_adds_a_header_field() {
    // Free text: subject, custom header value, display names, file names
    // (attachment, inline part, carried message).
    let hostile_mailbox = mimeflow::compose::Mailbox::new(Some(HOSTILE), "c@example.net").unwrap();
    let b = base()
        .subject(HOSTILE)
        .header("X-Note", HOSTILE)
        .unwrap()
        .mailbox("cc", hostile_mailbox)
        .unwrap()
        .text(HOSTILE)
        .html(HOSTILE)
        .attach(Attachment::bytes(HOSTILE, b"data".to_vec()))
        .attach(Attachment::bytes("x.bin", b"data".to_vec()).filename(HOSTILE))
        .inline(Attachment::bytes(HOSTILE, b"\x89PNG".to_vec()), "logo.png")
        .attach_message(base().subject("inner"), Some(HOSTILE))
        .attach_message_bytes(b"Subject: raw\r\n\r\nhi\r\n".to_vec(), Some(HOSTILE));
    let out = b.to_vec().unwrap();
    check_lines(&out, false);
    let msg = Message::parse(out);
    no_defects(&msg);
    assert!(!field_names(&msg).iter().any(|n| n == "x-injected"));
    let root = msg.root();
    let clean = HOSTILE.replace(['\r', '\n', '\t'], " ");
    assert_eq!(root.header_text("Subject").as_deref(), Some(clean.as_str()));
    assert_eq!(root.header_text("X-Note").as_deref(), Some(clean.as_str()));
    // Two attachments, the inline part and the two carried messages.
    let names: Vec<(String, Option<String>)> =
        msg.walk().map(|e| (e.mime_type(), e.filename())).collect();
    let hostile = names
        .iter()
        .filter(|(_, n)| n.as_deref() == Some(HOSTILE))
        .count();
    assert_eq!(hostile, 5, "{names:?}");

    // Structured values: checked, refused.
    for mime in [
        "text/plain\r\nX-Injected: 1",
        "text/plain; charset=x",
        "text/plain x",
        "text",
        "text/",
        "/plain",
        "te<t/plain",
    ] {
        let r = base()
            .attach(Attachment::bytes("a.txt", b"x".to_vec()).content_type(mime))
            .to_vec();
        assert!(
            matches!(r, Err(ComposeError::InvalidMimeType(_))),
            "{mime:?}: {:?}",
            r.map(|v| v.len())
        );
    }
    for addr in [
        "a@b\r\nX-Injected: 1",
        "a@[1.2.3.4]\r\nX-Injected: 1",
        "a@[x>,y]",
        "a\n@b.c",
        "a@b c",
    ] {
        assert!(
            mimeflow::compose::Mailbox::new(None, addr).is_err(),
            "{addr:?}"
        );
        assert!(base().to(addr).is_err(), "{addr:?}");
        // A Mailbox built by hand (its fields are public) is checked when built.
        let m = mimeflow::compose::Mailbox {
            name: None,
            address: addr.to_string(),
        };
        let r = base().mailbox("to", m).unwrap().to_vec();
        assert!(
            matches!(r, Err(ComposeError::InvalidAddress(_))),
            "{addr:?}: {:?}",
            r.map(|v| v.len())
        );
    }
    for ok in [
        "a@[192.0.2.1]",
        "a@[IPv6:2001:db8::1]",
        "\"a b\"@example.org",
    ] {
        base().to(ok).unwrap().to_vec().unwrap();
    }
    for name in [
        "X-A\r\nX-Injected",
        "X A",
        "X:A",
        "",
        "Bcc",
        "Content-Type",
        "X-Ä",
    ] {
        assert!(base().header(name, "v").is_err(), "{name:?}");
    }
    // A name too long for one line.
    assert!(base().header(&"X".repeat(901), "v").is_err());
    base()
        .header(&"X".repeat(900), "v")
        .unwrap()
        .to_vec()
        .unwrap();
}

/// Issue 9 item 15: dates before 1970 are written as they are (they used
/// to come out as the epoch); years outside 1900..=9999 are refused.
#[test]
fn dates_before_1970_and_out_of_range() {
    let moon = UNIX_EPOCH - Duration::from_secs(14_182_940);
    let out = base().date(moon).to_vec().unwrap();
    let msg = Message::parse(out);
    assert_eq!(
        msg.root().header_text("Date").as_deref(),
        Some("Sun, 20 Jul 1969 20:17:40 +0000")
    );
    for t in [
        UNIX_EPOCH - Duration::from_secs(2_208_988_801),
        UNIX_EPOCH + Duration::from_secs(253_402_300_800),
    ] {
        let r = base().date(t).to_vec();
        assert!(matches!(r, Err(ComposeError::DateOutOfRange(_))), "{r:?}");
    }
}

/// Contents an attached text file may have: issue 9 item 18.
fn text_variants() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("lf", b"line one\nline two\n".to_vec()),
        ("cr", b"line one\rline two\r".to_vec()),
        ("mixed", b"a\r\nb\nc\rd\n\re\r\r\n".to_vec()),
        ("trailing-blanks-lf", b"a  \nb\t\n c \t\nd \r\n".to_vec()),
        ("no-final-newline", b"abc\ndef".to_vec()),
        (
            "long-lines-lf",
            [&b"x".repeat(3000)[..], b"\n", &b"y ".repeat(700), b"\n"].concat(),
        ),
        ("nul", b"a\0b\nc\0".to_vec()),
        ("utf8-lf", "Grüße\nKöln\n".as_bytes().to_vec()),
        ("latin1-lf", b"caf\xe9\nna\xefve\n".to_vec()),
        ("dots-and-from", b".\n..x\nFrom me\n=41\n".to_vec()),
        ("only-lf", b"\n".to_vec()),
        ("empty", Vec::new()),
        // Canonical CRLF text: as before (7bit or text-mode QP).
        ("crlf", b"line one\r\nline two\r\n".to_vec()),
        ("crlf-trailing-blanks", b"a \r\nb\t\r\n".to_vec()),
        ("crlf-no-final", b"a\r\nb".to_vec()),
        ("crlf-utf8", "Grüße\r\nKöln\r\n".as_bytes().to_vec()),
        ("crlf-long", [&b"x".repeat(3000)[..], b"\r\n"].concat()),
    ]
}

/// `got` holds `want`'s attachments, byte for byte; a mismatch names the
/// file and the first differing offset (the contents are long).
fn same_attachments(got: &[(String, Vec<u8>)], want: &[(String, Vec<u8>)], ctx: &str) {
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "{ctx}");
    for ((name, g), (_, w)) in got.iter().zip(want) {
        if g != w {
            let at = g
                .iter()
                .zip(w)
                .position(|(a, b)| a != b)
                .unwrap_or(g.len().min(w.len()));
            panic!(
                "{ctx}: {name}: {} bytes decoded, {} attached, first difference at {at}: {:?} vs {:?}",
                g.len(),
                w.len(),
                String::from_utf8_lossy(&g[at..g.len().min(at + 16)]),
                String::from_utf8_lossy(&w[at..w.len().min(at + 16)]),
            );
        }
    }
}

/// Every attachment of `bytes`, by file name, decoded by our parser.
fn decoded_attachments(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let msg = Message::parse(bytes.to_vec());
    no_defects(&msg);
    msg.walk()
        .filter(|e| e.kind() == Kind::Leaf && e.filename().is_some())
        .map(|e| (e.filename().unwrap(), e.decoded()))
        .collect()
}

/// Every attachment of each message, by file name, decoded by the stdlib
/// `email` package (policy.default), as hex.
fn python_attachments(messages: &[Vec<u8>]) -> Vec<Vec<(String, Vec<u8>)>> {
    let script = r#"
import sys, json, email
from email import policy
out = []
for path in sys.argv[1:]:
    # message_from_bytes: message_from_binary_file reads through a text
    # wrapper with universal newlines, which turns every CRLF into LF.
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=policy.default)
    parts = []
    for p in msg.walk():
        if p.get_filename() is not None and not p.is_multipart():
            parts.append([p.get_filename(), (p.get_payload(decode=True) or b"").hex()])
    out.append(parts)
print(json.dumps(out))
"#;
    let dir = std::env::temp_dir().join(format!("mimeflow-exact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<_> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let p = dir.join(format!("{i}.eml"));
            std::fs::write(&p, m).unwrap();
            p
        })
        .collect();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&paths)
        .output()
        .expect("python3 (the stdlib email package is the reference)");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Vec<(String, String)>> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|parts| {
            parts
                .into_iter()
                .map(|(n, h)| {
                    let b = (0..h.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                        .collect();
                    (n, b)
                })
                .collect()
        })
        .collect()
}

/// Issue 9 item 18: every attachment decodes, in our parser and in the
/// stdlib, to exactly the bytes attached, whatever its line ends, on every
/// transport, given as bytes or as a file; canonical CRLF text keeps the
/// encoding it had (7bit when it qualifies).
#[test]
fn attachments_arrive_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("mimeflow-attach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let variants = text_variants();
    let mut messages = Vec::new();
    let mut expected = Vec::new();
    for t in [Transport::SevenBit, Transport::EightBit, Transport::Binary] {
        let mut b = base().text("body\n").transport(t);
        let mut want = Vec::new();
        for (name, data) in &variants {
            for ext in ["txt", "csv", "bin"] {
                let fname = format!("{name}.{ext}");
                b = b.attach(Attachment::bytes(&fname, data.clone()));
                want.push((fname, data.clone()));
            }
            let path = dir.join(format!("file-{name}.txt"));
            std::fs::write(&path, data).unwrap();
            b = b.attach(Attachment::file(&path));
            want.push((format!("file-{name}.txt"), data.clone()));
        }
        let bytes = b.to_vec().unwrap();
        if t != Transport::Binary {
            // (BINARYMIME carries bare line ends in `binary` parts.)
            check_lines(&bytes, false);
        }
        // write_to agrees with to_vec (but for the boundaries drawn).
        let mut streamed = Vec::new();
        b.write_to(&mut streamed).unwrap();
        same_attachments(
            &decoded_attachments(&streamed),
            &want,
            &format!("write_to {t:?}"),
        );
        same_attachments(&decoded_attachments(&bytes), &want, &format!("ours {t:?}"));
        messages.push(bytes);
        expected.push(want);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let py = python_attachments(&messages);
    assert_eq!(py.len(), expected.len());
    for (i, (got, want)) in py.iter().zip(&expected).enumerate() {
        same_attachments(got, want, &format!("stdlib email, message {i}"));
    }

    // Canonical CRLF ASCII text is 7bit and carried as is, as before.
    let out = base()
        .attach(Attachment::bytes(
            "c.txt",
            b"line one\r\nline two\r\n".to_vec(),
        ))
        .to_vec()
        .unwrap();
    let msg = Message::parse(out);
    let part = msg.attachments().next().unwrap();
    assert_eq!(
        part.header_text("Content-Transfer-Encoding").as_deref(),
        Some("7bit")
    );
    assert_eq!(part.body_bytes(), b"line one\r\nline two\r\n");
    // LF text is not: its line ends are data.
    let out = base()
        .attach(Attachment::bytes("n.txt", b"line one\nline two\n".to_vec()))
        .to_vec()
        .unwrap();
    let msg = Message::parse(out);
    let cte = msg
        .attachments()
        .next()
        .unwrap()
        .header_text("Content-Transfer-Encoding");
    assert!(
        matches!(cte.as_deref(), Some("quoted-printable" | "base64")),
        "{cte:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Any text attachment built from line ends, blanks, `=`, NUL and
    /// 8-bit bytes decodes to itself.
    #[test]
    fn any_text_attachment_round_trips(
        data in proptest::collection::vec(
            proptest::sample::select(vec![b'a', b' ', b'\t', b'\r', b'\n', b'=', b'.', 0u8, 0xe9]),
            0..400,
        ),
        t in proptest::sample::select(vec![Transport::SevenBit, Transport::EightBit, Transport::Binary]),
    ) {
        let bytes = base()
            .transport(t)
            .attach(Attachment::bytes("p.txt", data.clone()))
            .to_vec()
            .unwrap();
        let got = decoded_attachments(&bytes);
        prop_assert_eq!(got, vec![("p.txt".to_string(), data)]);
    }
}
