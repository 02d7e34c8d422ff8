//! `Message::json()`, the JSON shape serialised straight from the message,
//! writes exactly the text of its `Value` (`to_json()`, whose maps sort
//! their keys, and which `tests/message_golden.rs` pins to the golden
//! files), compact and pretty, on our testdata and the shared corpora; and
//! the jsonl merge puts extra keys in the same order a `Value` map would.

use std::fs;
use std::path::{Path, PathBuf};

use mimeflow::message::Message;
use serde_json::{Map, Value};

fn files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["rfc", "legacy", "malformed"] {
        for entry in fs::read_dir(root.join("testdata/eml").join(dir)).unwrap() {
            out.push(entry.unwrap().path());
        }
    }
    let corpora = root.join("../shared/corpora");
    if let Ok(dirs) = fs::read_dir(&corpora) {
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
    } else {
        eprintln!("skipping the corpora: {} is absent", corpora.display());
    }
    out.retain(|p| p.extension().is_none_or(|e| e != "json"));
    out.sort();
    out
}

#[test]
fn json_view_writes_the_value_text() {
    let mut n = 0;
    for p in files() {
        let Ok(raw) = fs::read(&p) else { continue };
        let msg = Message::parse(raw);
        let value = msg.to_json();
        let json = msg.json();
        let what = p.display();
        assert_eq!(
            serde_json::to_string(&json).unwrap(),
            serde_json::to_string(&value).unwrap(),
            "{what}"
        );
        assert_eq!(
            serde_json::to_string_pretty(&json).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
            "{what}"
        );
        // The jsonl record: the message's keys merged with the index's.
        let mut extra = Map::new();
        for (k, v) in [
            ("sha256", "x"),
            ("index", "1"),
            ("unparseable", "f"),
            ("envelope", "e"),
        ] {
            extra.insert(k.into(), v.into());
        }
        let mut merged = value.as_object().unwrap().clone();
        merged.extend(extra.clone());
        assert_eq!(
            serde_json::to_string(&json.with_fields(&extra)).unwrap(),
            serde_json::to_string(&Value::Object(merged)).unwrap(),
            "{what}"
        );
        n += 1;
    }
    assert!(n >= 64, "{n} messages");
}

#[test]
fn header_defects_keep_their_order() {
    // Subject, then date, then the address lists: the order `parse --json`
    // has always listed them in, whatever order the fields stand in.
    let msg = Message::parse(
        &b"From: a@b.example>\r\nTo: c@d.example>\r\nDate: not a date\r\nSubject: =?x?Q?bad?=\r\n\r\nhi\r\n"[..],
    );
    let json = msg.to_json();
    let codes: Vec<&str> = json["defects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    let first = |c: &str| codes.iter().position(|x| *x == c).unwrap();
    assert!(first("bad_date") < first("bad_address"), "{codes:?}");
    assert_eq!(json["defects"], json["parts"][0]["defects"]);
}
