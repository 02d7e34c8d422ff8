//! Golden files: every `testdata/eml/{rfc,legacy,malformed}/NNN.eml` parsed
//! with LF and with CRLF line ends must give `NNN.json`.
//!
//! The golden is `Message::to_json()` of the file as stored, with each leaf's
//! `size`/`sha256` describing its decoded body. Only what line ends really
//! change is normalised for the CRLF run: every `offset` (defects included)
//! is mapped back to the stored file's byte, and a leaf whose decoded body
//! carries the source's line ends (7bit, 8bit, binary, quoted-printable,
//! unknown) is hashed with CRLF turned into LF. Base64 and uuencoded leaves
//! are hashed exactly as decoded: their bytes must not depend on the source's
//! line ends at all. On a mismatch the actual value is written to
//! `NNN.failed` (ignored by git; diff it against `NNN.json`).
//! `MIMEFLOW_BLESS=1` rewrites the goldens from the current parser: review
//! every changed file by hand against the RFCs before committing it.

use std::fs;
use std::path::{Path, PathBuf};

use mimeflow::message::{Kind, Message, TransferEncoding};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eml");
    let mut out = Vec::new();
    for dir in ["rfc", "legacy", "malformed"] {
        for entry in fs::read_dir(root.join(dir)).expect("testdata/eml folder") {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `src` with every LF not already preceded by CR turned into CRLF, and for
/// each byte of the result (and its end) the offset in `src` it came from.
fn to_crlf(src: &[u8]) -> (Vec<u8>, Vec<u64>) {
    let mut out = Vec::with_capacity(src.len() + src.len() / 16);
    let mut from = Vec::with_capacity(src.len() + src.len() / 16 + 1);
    for (i, &b) in src.iter().enumerate() {
        if b == b'\n' && (i == 0 || src[i - 1] != b'\r') {
            out.push(b'\r');
            from.push(i as u64);
        }
        out.push(b);
        from.push(i as u64);
    }
    from.push(src.len() as u64);
    (out, from)
}

/// `src` with every CRLF turned into LF.
fn to_lf(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    for (i, &b) in src.iter().enumerate() {
        if b == b'\r' && src.get(i + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Rewrites every `offset` in `v` through `from` (see [`to_crlf`]).
fn map_offsets(v: &mut Value, from: &[u64]) {
    match v {
        Value::Object(o) => {
            if let Some(off) = o.get_mut("offset") {
                let at = off.as_u64().expect("offsets are numbers") as usize;
                *off = from[at].into();
            }
            o.values_mut().for_each(|x| map_offsets(x, from));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| map_offsets(x, from)),
        _ => {}
    }
}

/// The golden JSON of `src`; `from` maps a converted source's offsets back
/// to the stored file's.
pub fn golden_json(src: Vec<u8>, from: Option<&[u64]>) -> Value {
    let msg = Message::parse(src);
    let mut json = msg.to_json();
    let parts = json["parts"].as_array_mut().expect("parts array");
    assert_eq!(parts.len(), msg.len());
    for (p, e) in parts.iter_mut().zip(msg.walk()) {
        if e.kind() == Kind::Leaf {
            let body = match e.transfer_encoding() {
                TransferEncoding::Base64 | TransferEncoding::Uuencode => e.decoded(),
                _ => to_lf(&e.decoded()),
            };
            p["size"] = body.len().into();
            p["sha256"] = Sha256::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into();
        } else {
            assert!(p.get("sha256").is_none());
        }
    }
    if let Some(from) = from {
        map_offsets(&mut json, from);
    }
    json
}

#[test]
fn golden_files_lf_and_crlf() {
    let bless = std::env::var_os("MIMEFLOW_BLESS").is_some_and(|v| v == "1");
    let cases = cases();
    assert!(
        cases.len() >= 40,
        "expected the golden corpus, found {} cases",
        cases.len()
    );
    let mut failed = Vec::new();
    for eml in &cases {
        let src = fs::read(eml).unwrap();
        let json_path = eml.with_extension("json");
        let failed_path = eml.with_extension("failed");
        let lf = golden_json(src.clone(), None);
        let (crlf_src, from) = to_crlf(&src);
        let crlf = golden_json(crlf_src, Some(&from));
        if bless {
            let text = serde_json::to_string_pretty(&lf).unwrap() + "\n";
            fs::write(&json_path, text).unwrap();
        }
        let want: Value = match fs::read(&json_path) {
            Ok(b) => serde_json::from_slice(&b)
                .unwrap_or_else(|e| panic!("{}: {e}", json_path.display())),
            Err(_) => Value::Null,
        };
        let mut bad = Vec::new();
        if lf != want {
            bad.push(("LF", &lf));
        }
        if crlf != want {
            bad.push(("CRLF", &crlf));
        }
        if let Some(&(_, actual)) = bad.first() {
            let which: Vec<&str> = bad.iter().map(|b| b.0).collect();
            fs::write(
                &failed_path,
                serde_json::to_string_pretty(actual).unwrap() + "\n",
            )
            .unwrap();
            failed.push(format!("{} ({})", eml.display(), which.join("+")));
        } else {
            let _ = fs::remove_file(&failed_path);
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatches (see *.failed):\n{}",
        failed.join("\n")
    );
}
