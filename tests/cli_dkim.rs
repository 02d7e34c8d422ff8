//! `mimeflow dkim verify | sign`, run as a user would: every source kind,
//! the JSON lines, the key cache round trip, live DNS against a server on
//! loopback, and the exit codes (0 whatever the results, 1 I/O, 2 usage).

use std::io::Write;
use std::net::UdpSocket;
use std::path::Path;
use std::process::Output;

#[path = "support/cli.rs"]
mod cli;

use cli::{piped as mimeflow, TempDir};

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/dkim")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

fn sign(msg: &[u8], selector: &str, key: &str, extra: &[&str]) -> Vec<u8> {
    let key = data(key);
    let mut args = vec![
        "dkim",
        "sign",
        "-",
        "--domain",
        "example.org",
        "--selector",
        selector,
        "--key",
        &key,
    ];
    args.extend_from_slice(extra);
    let out = mimeflow(&args, msg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const MSG: &[u8] = b"From: Ada <ada@example.org>\nTo: b@example.net\nSubject: hi\nMessage-ID: <m1@example.org>\n\nFrom the start\nbody\n";

/// An mbox of: an Ed25519-signed message, an unsigned one, an RSA-signed
/// one whose body line "From the start" is quoted (mboxrd), the RFC 8463
/// example.
fn archive(dir: &TempDir) -> String {
    let mut mbox = Vec::new();
    for m in [
        sign(MSG, "ed", "ed25519.pem", &[]),
        MSG.to_vec(),
        sign(MSG, "rsa2048", "rsa2048.pem", &[]),
        std::fs::read(data("rfc8463.eml")).unwrap(),
    ] {
        mbox.extend_from_slice(b"From sender@example.org Mon Jan  1 00:00:00 2024\n");
        let text = String::from_utf8(m).unwrap().replace("\r\n", "\n");
        mbox.extend_from_slice(text.replace("\nFrom the", "\n>From the").as_bytes());
        mbox.extend_from_slice(b"\n");
    }
    let p = dir.path("a.mbox");
    std::fs::write(&p, mbox).unwrap();
    p
}

#[test]
fn verifies_archives_with_keys_from_files() {
    let dir = TempDir::new("files");
    let mbox = archive(&dir);
    let (zone, rfc) = (data("keys.zone"), data("rfc8463.zone"));
    let saved = dir.path("saved.json");
    let out = mimeflow(
        &[
            "dkim",
            "verify",
            &mbox,
            "--keys",
            &zone,
            "--keys",
            &rfc,
            "--jsonl",
            "--save-keys",
            &saved,
            "-q",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out);
    let results: Vec<Vec<&str>> = v
        .iter()
        .map(|m| {
            m["signatures"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["result"].as_str().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        results,
        vec![vec!["pass"], vec![], vec!["pass"], vec!["pass", "pass"]]
    );
    assert_eq!(v[1]["result"], "none");
    assert_eq!(v[0]["message_id"], "<m1@example.org>");
    assert_eq!(v[0]["signatures"][0]["key_source"], zone.as_str());
    assert!(v[2]["offset"].as_u64().unwrap() > 0);

    // The saved keys verify the same archive offline, alone.
    let again = mimeflow(
        &["dkim", "verify", &mbox, "--keys", &saved, "--jsonl", "-q"],
        b"",
    );
    let v2 = lines(&again);
    for (a, b) in v.iter().zip(&v2) {
        assert_eq!(a["result"], b["result"]);
    }
    // Without keys: temperror "no key source", exit 0 all the same.
    let none = mimeflow(&["dkim", "verify", &mbox, "--jsonl", "-q"], b"");
    assert!(none.status.success());
    let v3 = lines(&none);
    assert_eq!(v3[0]["signatures"][0]["result"], "temperror");
    assert!(v3[0]["signatures"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("no key source"));

    // The summary table, per domain.
    let table = mimeflow(&["dkim", "verify", &mbox, "--keys", &saved], b"");
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("4 messages, 1 unsigned\n"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().take(2).eq(["example.org", "2"])),
        "{text}"
    );
    assert!(text.lines().any(|l| l
        .split_whitespace()
        .take(2)
        .eq(["football.example.com", "2"])));

    // Compressed, on standard input, and one message alone.
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(&mbox).unwrap()).unwrap();
        e.finish().unwrap()
    };
    let piped = mimeflow(
        &["dkim", "verify", "-", "--keys", &saved, "--jsonl", "-q"],
        &gz,
    );
    assert_eq!(lines(&piped).len(), 4);
    let one = mimeflow(
        &[
            "dkim",
            "verify",
            &data("rfc8463.eml"),
            "--keys",
            &rfc,
            "--jsonl",
        ],
        b"",
    );
    assert_eq!(lines(&one)[0]["signatures"][1]["result"], "pass");
    let one_stdin = mimeflow(
        &["dkim", "verify", "-", "--keys", &rfc, "--jsonl"],
        &std::fs::read(data("rfc8463.eml")).unwrap(),
    );
    assert_eq!(lines(&one_stdin)[0]["result"], "pass");
}

#[test]
fn as_of_received_judges_expiry_at_arrival() {
    // Signed now (t=), expiring a day later.
    let signed = sign(MSG, "ed", "ed25519.pem", &["--expire-in", "86400"]);
    let t: i64 = {
        let s = String::from_utf8_lossy(&signed);
        let at = s.find("t=").unwrap() + 2;
        s[at..].split(';').next().unwrap().parse().unwrap()
    };
    let dir = TempDir::new("asof");
    let p = dir.path("m.eml");
    std::fs::write(&p, &signed).unwrap();
    let zone = data("keys.zone");
    let at = |when: &str| {
        let out = mimeflow(
            &[
                "dkim", "verify", &p, "--keys", &zone, "--jsonl", "--as-of", when,
            ],
            b"",
        );
        assert!(out.status.success());
        lines(&out)[0]["signatures"][0].clone()
    };
    assert_eq!(at(&(t + 60).to_string())["result"], "pass");
    let late = at(&(t + 2 * 86400).to_string());
    assert_eq!(late["result"], "permerror");
    assert!(late["reason"]
        .as_str()
        .unwrap()
        .starts_with("expired as of"));
    // A Received field dated inside the window: `received` passes.
    let date = mimeflow_date(t + 3600);
    let mut with_received = format!("Received: from a by b; {date}\n").into_bytes();
    with_received.extend_from_slice(&signed);
    std::fs::write(&p, &with_received).unwrap();
    assert_eq!(at("received")["result"], "pass");
}

/// An RFC 5322 date for `t` (UTC), written by hand to keep the test free of
/// date crates.
fn mimeflow_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{d} {} {y} {:02}:{:02}:{:02} +0000",
        months[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A DNS server on loopback answering from `keys.zone`'s Ed25519 record,
/// SERVFAIL for `servfail.` names and NXDOMAIN for the rest; it stops
/// after `queries` questions or two seconds of silence.
fn dns_server(queries: usize) -> (String, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    let zone = std::fs::read_to_string(data("keys.zone")).unwrap();
    let ed = zone
        .lines()
        .find(|l| l.starts_with("ed._domainkey"))
        .unwrap();
    let record = ed.split('"').nth(1).unwrap().to_string();
    let h = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        for _ in 0..queries {
            let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                return;
            };
            let q = &buf[..n];
            // Question name, lower case, dotted.
            let mut name = String::new();
            let mut i = 12;
            while q[i] != 0 {
                let l = q[i] as usize;
                if !name.is_empty() {
                    name.push('.');
                }
                name.push_str(&String::from_utf8_lossy(&q[i + 1..i + 1 + l]).to_ascii_lowercase());
                i += 1 + l;
            }
            let qend = i + 5;
            let mut a = q[..qend].to_vec();
            a[2] = 0x81;
            a[3] = 0x80;
            a[7] = 0; // no answers yet
            a[11] = 0; // drop the OPT record
            if name.starts_with("servfail.") {
                a[3] |= 2;
            } else if name == "ed._domainkey.example.org" {
                a[7] = 1;
                a.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60]);
                let rdata = [&[record.len() as u8][..], record.as_bytes()].concat();
                a.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                a.extend_from_slice(&rdata);
            } else {
                a[3] |= 3;
            }
            sock.send_to(&a, peer).unwrap();
        }
    });
    (addr, h)
}

#[test]
fn live_dns_answers_and_failures() {
    let ok = sign(MSG, "ed", "ed25519.pem", &[]);
    let gone = sign(MSG, "nothere", "ed25519.pem", &[]);
    let fail = sign(MSG, "servfail", "ed25519.pem", &[]);
    let dir = TempDir::new("dns");
    let mut mbox = Vec::new();
    for m in [&ok, &gone, &fail] {
        mbox.extend_from_slice(b"From x@y Mon Jan  1 00:00:00 2024\n");
        mbox.extend_from_slice(m);
        mbox.extend_from_slice(b"\n");
    }
    let p = dir.path("d.mbox");
    std::fs::write(&p, mbox).unwrap();
    let (addr, server) = dns_server(4);
    let saved = dir.path("k.json");
    let out = mimeflow(
        &[
            "dkim",
            "verify",
            &p,
            "--dns",
            "--dns-server",
            &addr,
            "--dns-timeout",
            "0.5",
            "--jsonl",
            "--save-keys",
            &saved,
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out);
    let got: Vec<(&str, &str)> = v
        .iter()
        .map(|m| {
            let s = &m["signatures"][0];
            (
                s["result"].as_str().unwrap(),
                s["key_source"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("pass", "dns"), ("permerror", "dns"), ("temperror", "")]
    );
    server.join().unwrap();
    // The saved cache holds the key and the NXDOMAIN, not the SERVFAIL.
    let cache: serde_json::Value = serde_json::from_slice(&std::fs::read(&saved).unwrap()).unwrap();
    let names: Vec<(&str, bool)> = cache["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["name"].as_str().unwrap(), k["txt"].is_null()))
        .collect();
    assert_eq!(
        names,
        [
            ("ed._domainkey.example.org", false),
            ("nothere._domainkey.example.org", true)
        ]
    );
}

#[test]
fn exit_codes() {
    // 1: a missing source, one line on stderr.
    let out = mimeflow(&["dkim", "verify", "/nonexistent/mimeflow-dkim"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    // 1: a bad key file.
    let out = mimeflow(
        &[
            "dkim",
            "verify",
            &data("rfc8463.eml"),
            "--keys",
            &data("rsa2048.pem"),
        ],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 2: usage.
    for args in [
        &["dkim", "verify"][..],
        &["dkim", "verify", "x", "--as-of", "yesterday"],
        &["dkim", "verify", "x", "--dns-server", "127.0.0.1:53"],
        &["dkim", "sign", "-", "--domain", "d"],
    ] {
        assert_eq!(mimeflow(args, b"").status.code(), Some(2), "{args:?}");
    }
    // 1: signing with a 1024-bit key, nothing written.
    let dir = TempDir::new("exit");
    let o = dir.path("o.eml");
    let k = data("rsa1024.pem");
    let out = mimeflow(
        &[
            "dkim",
            "sign",
            "-",
            "--domain",
            "example.org",
            "--selector",
            "s",
            "--key",
            &k,
            "-o",
            &o,
        ],
        MSG,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!Path::new(&o).exists());
}

/// One message's `dkim` column: `None` when null, else (d, s, a, result,
/// reason, key_source) per signature.
type Column = Option<Vec<[Option<String>; 6]>>;

fn dkim_of_json(v: &serde_json::Value) -> Column {
    let list = v.as_array()?;
    Some(
        list.iter()
            .map(|s| {
                ["d", "s", "a", "result", "reason", "key_source"]
                    .map(|k| s[k].as_str().map(str::to_string))
            })
            .collect(),
    )
}

fn dkim_of_jsonl(path: &str) -> Vec<Column> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| dkim_of_json(&serde_json::from_str::<serde_json::Value>(l).unwrap()["dkim"]))
        .collect()
}

fn dkim_of_sqlite(path: &str) -> Vec<Column> {
    let db = rusqlite::Connection::open(path).unwrap();
    let mut q = db.prepare("SELECT dkim FROM messages ORDER BY id").unwrap();
    q.query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap()
        .map(|t| {
            t.unwrap()
                .and_then(|t| dkim_of_json(&serde_json::from_str(&t).unwrap()))
        })
        .collect()
}

fn dkim_of_parquet(path: &str) -> Vec<Column> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    let f = std::fs::File::open(path).unwrap();
    let mut out = Vec::new();
    for b in parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(f, 1024).unwrap() {
        let b = b.unwrap();
        let list = b.column_by_name("dkim").unwrap().as_list::<i32>();
        for i in 0..list.len() {
            if list.is_null(i) {
                out.push(None);
                continue;
            }
            let item = list.value(i);
            let sigs = item.as_struct();
            out.push(Some(
                (0..sigs.len())
                    .map(|j| {
                        ["d", "s", "a", "result", "reason", "key_source"].map(|k| {
                            let c = sigs.column_by_name(k).unwrap().as_string::<i32>();
                            (!c.is_null(j)).then(|| c.value(j).to_string())
                        })
                    })
                    .collect(),
            ));
        }
    }
    out
}

#[test]
fn convert_writes_the_dkim_column() {
    let dir = TempDir::new("convert");
    let mbox = archive(&dir);
    let (zone, rfc) = (data("keys.zone"), data("rfc8463.zone"));
    // What `dkim verify --jsonl` says: the column must hold the same.
    let verify = mimeflow(
        &[
            "dkim", "verify", &mbox, "--keys", &zone, "--keys", &rfc, "--jsonl", "-q",
        ],
        b"",
    );
    let expected: Vec<Column> = lines(&verify)
        .iter()
        .map(|m| dkim_of_json(&m["signatures"]))
        .collect();
    let results: Vec<Vec<String>> = expected
        .iter()
        .map(|m| {
            m.as_ref()
                .unwrap()
                .iter()
                .map(|s| s[3].clone().unwrap())
                .collect()
        })
        .collect();
    // Unsigned mail is an empty list, and the mboxrd-quoted body verifies.
    assert_eq!(
        results,
        vec![vec!["pass"], vec![], vec!["pass"], vec!["pass", "pass"]]
    );
    assert_eq!(
        expected[0].as_ref().unwrap()[0][5].as_deref(),
        Some(zone.as_str())
    );
    assert_eq!(
        expected[2].as_ref().unwrap()[0][1].as_deref(),
        Some("rsa2048")
    );

    for (to, name, read) in [
        ("jsonl", "o.jsonl", dkim_of_jsonl as fn(&str) -> Vec<Column>),
        ("sqlite", "o.db", dkim_of_sqlite),
        ("parquet", "o.parquet", dkim_of_parquet),
    ] {
        let with = dir.path(&format!("dkim-{name}"));
        let out = mimeflow(
            &[
                "convert", &mbox, "--to", to, &with, "--dkim", "--keys", &zone, "--keys", &rfc,
                "-q", "-j", "2",
            ],
            b"",
        );
        assert!(
            out.status.success(),
            "{to}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(read(&with), expected, "{to}");

        // Without --dkim the column is null for every message.
        let without = dir.path(&format!("plain-{name}"));
        let out = mimeflow(&["convert", &mbox, "--to", to, &without, "-q"], b"");
        assert!(out.status.success(), "{to}");
        assert_eq!(read(&without), vec![None; 4], "{to}");
    }

    // Without keys: every signature a temperror, the column still filled.
    let nokeys = dir.path("nokeys.jsonl");
    let out = mimeflow(
        &["convert", &mbox, "--to", "jsonl", &nokeys, "--dkim", "-q"],
        b"",
    );
    assert!(out.status.success());
    let col = dkim_of_jsonl(&nokeys);
    assert_eq!(col[0].as_ref().unwrap()[0][3].as_deref(), Some("temperror"));
    assert_eq!(col[1], Some(vec![]));

    // Usage errors: --dkim for a format without the column, a key flag
    // without --dkim (even one naming its default), a bad --as-of.
    let (u4, u5) = (dir.path("u4"), dir.path("u5"));
    for args in [
        &["convert", &mbox, "--to", "mbox", &dir.path("u1"), "--dkim"][..],
        &["convert", &mbox, "--to", "jsonl", &u4, "--as-of", "now"],
        &["convert", &mbox, "--to", "jsonl", &u5, "--dns-timeout", "2"],
        &[
            "convert",
            &mbox,
            "--to",
            "jsonl",
            &dir.path("u2"),
            "--keys",
            &zone,
        ],
        &[
            "convert",
            &mbox,
            "--to",
            "jsonl",
            &dir.path("u3"),
            "--dkim",
            "--as-of",
            "later",
        ],
    ] {
        assert_eq!(mimeflow(args, b"").status.code(), Some(2), "{args:?}");
    }
}
