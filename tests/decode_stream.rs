//! `EntityRef::decode_to`, the streamed decode: for every entity of our
//! golden messages and of the shared corpora, whatever the step size and
//! however the sink takes its writes, the bytes, length and defects are
//! exactly those of `decoded_with_defects()`. Plus the corners: Base64
//! repaired after bytes were written, the raw-text fallback that restarts
//! the sink, `max_decoded_bytes`, and a failing sink.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use mimeflow::message::{
    DecodeSink, DefectCode, EntityRef, Limits, Message, ParseOptions, Sha256Sink,
};
use sha2::{Digest, Sha256};

fn testdata() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eml");
    let mut out = Vec::new();
    for dir in ["rfc", "legacy", "malformed"] {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    assert!(!out.is_empty());
    out
}

/// Every message file listed in `../shared/corpora/*/MANIFEST.tsv`, or
/// nothing when the corpora are absent (a fresh clone).
fn corpora() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    let Ok(dirs) = fs::read_dir(&root) else {
        eprintln!("skipping: {} is absent", root.display());
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
    out
}

/// A sink that takes at most `max` bytes per `write` call.
struct Trickle {
    data: Vec<u8>,
    max: usize,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.max);
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DecodeSink for Trickle {
    fn restart(&mut self) -> io::Result<()> {
        self.data.clear();
        Ok(())
    }
}

/// Step sizes: single bytes, sizes that split quanta, escapes and CRLF
/// every way, and the default.
const BLOCKS: [usize; 8] = [1, 2, 3, 5, 7, 64, 1000, 1 << 20];

/// The one-shot decode as it was before streaming (one call of each codec
/// over the whole body, the stdlib's Base64 fallbacks on whole copies): the
/// reference the streamed bytes must equal.
fn one_shot(e: &EntityRef<'_>) -> Vec<u8> {
    use mimeflow::base64::{DecodeMode, STANDARD};
    use mimeflow::message::{Kind, TransferEncoding};
    let raw = e.body_bytes();
    let mut out = match e.transfer_encoding() {
        _ if e.kind() != Kind::Leaf => raw.to_vec(),
        TransferEncoding::Base64 => STANDARD
            .decode_to_vec(raw, DecodeMode::Mime)
            .unwrap_or_else(|_| {
                let joined: Vec<u8> = raw
                    .iter()
                    .copied()
                    .filter(|&b| b != b'\r' && b != b'\n')
                    .collect();
                let mut padded = joined.clone();
                padded.extend_from_slice(b"==");
                STANDARD
                    .decode_to_vec(&joined, DecodeMode::Lenient)
                    .or_else(|_| STANDARD.decode_to_vec(&padded, DecodeMode::Lenient))
                    .unwrap_or(joined)
            }),
        TransferEncoding::QuotedPrintable => mimeflow::qp::decode_to_vec(raw),
        TransferEncoding::Uuencode => match mimeflow::uu::decode_to_vec(raw) {
            Some(block) => block.data,
            None => raw.to_vec(),
        },
        _ => raw.to_vec(),
    };
    out.truncate(e.message().limits().max_decoded_bytes);
    out
}

fn check_message(msg: &Message, what: &str, blocks: &[usize]) {
    for e in msg.walk() {
        let (want, want_defects) = e.decoded_with_defects();
        let ctx = format!("{what} entity {}", e.index());
        assert!(
            want == one_shot(&e),
            "{ctx}: differs from the one-shot decode"
        );
        let mut v = Vec::new();
        let (n, defects) = e.decode_to(&mut v).unwrap();
        assert_eq!(v, want, "{ctx}: default steps");
        assert_eq!((n, &defects), (want.len() as u64, &want_defects), "{ctx}");
        for &block in blocks {
            let mut t = Trickle {
                data: Vec::new(),
                max: block % 13 + 1,
            };
            let (n, defects) = e.decode_to_in_steps(&mut t, block).unwrap();
            assert!(t.data == want, "{ctx}: steps of {block}");
            assert_eq!(n, want.len() as u64, "{ctx}: steps of {block}");
            assert_eq!(defects, want_defects, "{ctx}: steps of {block}");
        }
        let mut h = Sha256Sink::new();
        e.decode_to_in_steps(&mut h, 3).unwrap();
        let (sha, len, _) = h.finish();
        assert_eq!(
            (sha, len),
            (Sha256::digest(&want).into(), want.len() as u64)
        );
    }
}

#[test]
fn golden_messages_any_steps() {
    for p in testdata() {
        let raw = fs::read(&p).unwrap();
        let what = p.display().to_string();
        check_message(&Message::parse(raw.clone()), &what, &BLOCKS);
        let crlf = String::from_utf8_lossy(&raw)
            .replace("\r\n", "\n")
            .replace('\n', "\r\n");
        check_message(
            &Message::parse(crlf.into_bytes()),
            &format!("{what} (CRLF)"),
            &BLOCKS,
        );
    }
}

#[test]
fn corpora_any_steps() {
    let files = corpora();
    for p in &files {
        let Ok(raw) = fs::read(p) else { continue };
        // Steps of one byte cost a call per byte; big files take the rest.
        let blocks: &[usize] = if raw.len() < 256 << 10 {
            &BLOCKS
        } else {
            &BLOCKS[3..]
        };
        check_message(&Message::parse(raw), &p.display().to_string(), blocks);
    }
    eprintln!("{} corpus files", files.len());
}

fn leaf(cte: &str, body: &[u8]) -> Message {
    let mut m = format!(
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    Message::parse(m)
}

/// Lines of valid Base64 for `n` bytes of data.
fn b64_lines(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
    let enc = mimeflow::base64::STANDARD.encode_to_vec(&data);
    let mut out = Vec::new();
    for line in enc.chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn base64_repaired_after_bytes_were_written() {
    // A bad byte far in: MIME mode has written steps before it fails; the
    // lenient repair must continue, not repeat them.
    let mut body = b64_lines(3000);
    body.extend_from_slice(b"QUJD!REVG\r\n");
    // ... and a padding repair (2 characters left over) at the end.
    let mut padded = body.clone();
    padded.extend_from_slice(b"QQ\r\n");
    for body in [body, padded] {
        let msg = leaf("base64", &body);
        let (want, defects) = msg.root().decoded_with_defects();
        assert_eq!(defects[0].code, DefectCode::BadBase64);
        assert!(want.len() > 3000);
        check_message(&msg, "repaired", &BLOCKS);
    }
}

#[test]
fn base64_raw_text_fallback_restarts_the_sink() {
    // One character left over after a bad byte: every repair fails and the
    // payload is the text itself, which no sink can get by appending.
    let mut body = b64_lines(3000);
    body.extend_from_slice(b"QUJD!REVGQ\r\n");
    let msg = leaf("base64", &body);
    let want: Vec<u8> = body
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    assert_eq!(msg.root().decoded(), want);
    check_message(&msg, "raw fallback", &BLOCKS);
    // A file sink is truncated and rewritten.
    let mut f = tempfile::tempfile().unwrap();
    let (n, _) = msg.root().decode_to_in_steps(&mut f, 64).unwrap();
    assert_eq!(n, want.len() as u64);
    f.rewind().unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert_eq!(back, want);
    // So is a buffered one.
    let mut w = io::BufWriter::with_capacity(100, tempfile::tempfile().unwrap());
    msg.root().decode_to_in_steps(&mut w, 64).unwrap();
    let mut f = w.into_inner().unwrap();
    f.rewind().unwrap();
    let mut back = Vec::new();
    f.read_to_end(&mut back).unwrap();
    assert_eq!(back, want);
}

#[test]
fn decoded_size_limit_streams_the_same_cut() {
    let opts = ParseOptions {
        limits: Limits {
            max_decoded_bytes: 1000,
            ..Limits::default()
        },
        ..ParseOptions::default()
    };
    let mut m =
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    m.extend_from_slice(&b64_lines(5000));
    let msg = Message::parse_with(m, &opts).unwrap();
    let (want, defects) = msg.root().decoded_with_defects();
    assert_eq!(want.len(), 1000);
    assert!(defects
        .iter()
        .any(|d| d.code == DefectCode::DecodedSizeLimit));
    check_message(&msg, "capped", &BLOCKS);
}

#[test]
fn qp_and_uu_long_bodies_any_steps() {
    // Quoted-printable without line ends for a long stretch: pieces must
    // be cut inside lines, around escapes, blanks and soft breaks.
    let mut qp = Vec::new();
    for i in 0..2000 {
        qp.extend_from_slice(match i % 7 {
            0 => b"abc  ".as_slice(),
            1 => b"=C3=A9=20",
            2 => b"x =\t \r\n",
            3 => b"=ZZ= ",
            4 => b"  \t\r\n",
            5 => b"=\n\r",
            _ => b"tail\t",
        });
    }
    check_message(&leaf("quoted-printable", &qp), "qp", &BLOCKS);
    let mut uu = b"begin 644 x.bin\n".to_vec();
    for _ in 0..500 {
        uu.extend_from_slice(b"M86)C9&5F9VAI:FML;6YO<'%R<W1U=G=X>7I!0D-$149'2$E*2TQ-3D]045)3\n");
    }
    uu.extend_from_slice(b"`\nend\n");
    check_message(&leaf("x-uuencode", &uu), "uu", &BLOCKS);
}

/// A sink that fails after `left` bytes.
struct Failing {
    left: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other("disk full"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl DecodeSink for Failing {
    fn restart(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn sink_errors_come_back() {
    let msg = leaf("base64", &b64_lines(100_000));
    let err = msg
        .root()
        .decode_to(&mut Failing { left: 5000 })
        .unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}
