//! Smoke test of `mimeflow bench`: a quick run's JSON and CSV have the
//! documented shape and every timed result is a positive number. No timing
//! thresholds: the machine running the tests may be slow or busy.

use std::process::Command;

fn bench(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mimeflow"))
        .arg("bench")
        .args(args)
        .output()
        .expect("run mimeflow");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "status {:?}\n{stderr}", out.status);
    (stdout, stderr)
}

#[test]
fn quick_json_has_every_op_and_positive_results() {
    let (stdout, stderr) = bench(&["--quick", "--json", "--sizes", "1K,4K"]);
    assert!(stderr.contains("bench:"), "progress on stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(!v["cpu"].as_str().unwrap().is_empty());
    assert!(v["features"].is_array());
    assert_eq!(v["jobs"], 1);
    let results = v["results"].as_array().unwrap();
    for op in [
        "encode",
        "decode",
        "mime-encode",
        "mime-encode-lf",
        "mime-decode",
        "qp-encode",
        "qp-decode",
    ] {
        for size in [1024, 4096] {
            let rows: Vec<_> = results
                .iter()
                .filter(|r| r["op"] == op && r["size"] == size)
                .collect();
            let names: Vec<&str> = rows
                .iter()
                .map(|r| r["contender"].as_str().unwrap())
                .collect();
            assert!(names.contains(&"memcpy"), "{op} {size}: {names:?}");
            assert!(
                names.iter().any(|n| n.starts_with("mimeflow")),
                "{op}: {names:?}"
            );
            assert!(names.len() >= 3, "{op}: a peer too: {names:?}");
        }
    }
    for r in results {
        let status = r["status"].as_str().unwrap();
        if r["contender"].as_str().unwrap().starts_with("mimeflow") {
            assert_eq!(status, "ok", "{r}");
        }
        if status == "ok" {
            for key in ["median_gbps", "p10_gbps", "p90_gbps", "ns_per_call"] {
                let x = r[key].as_f64().unwrap_or(-1.0);
                assert!(x > 0.0 && x.is_finite(), "{key} in {r}");
            }
            assert!(r["p10_gbps"].as_f64() <= r["p90_gbps"].as_f64(), "{r}");
        } else {
            assert!(r["median_gbps"].is_null(), "{r}");
            assert!(r["ns_per_call"].is_null(), "{r}");
        }
    }
}

#[test]
fn quiet_csv_and_a_single_op() {
    let (stdout, stderr) = bench(&["--quick", "-q", "--csv", "--op", "decode", "--sizes", "2K"]);
    assert_eq!(stderr, "");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("op,size,contender,status,median_gbps,p10_gbps,p90_gbps,ns_per_call")
    );
    let rows: Vec<&str> = lines.collect();
    assert!(rows.len() >= 3);
    assert!(rows.iter().all(|l| l.starts_with("decode,2048,")));
}

#[test]
fn table_input_file_and_chart() {
    let dir = std::env::temp_dir().join(format!("mimeflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let eml = dir.join("m.eml");
    std::fs::write(
        &eml,
        "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8sIHdvcmxkIQ==\r\n",
    )
    .unwrap();
    let svg = dir.join("c.svg");
    let (stdout, _) = bench(&[
        "--quick",
        "-q",
        "--op",
        "mime-decode",
        "--input",
        eml.to_str().unwrap(),
        "--chart",
        svg.to_str().unwrap(),
    ]);
    assert!(stdout.starts_with("cpu: "), "{stdout}");
    assert!(
        stdout.contains("mime-decode") && stdout.contains("memcpy"),
        "{stdout}"
    );
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("mime-decode"));

    // A mail file without Base64 bodies is a clear error.
    std::fs::write(&eml, "Subject: x\r\n\r\nplain\r\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mimeflow"))
        .args(["bench", "--quick", "--input", eml.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no base64 body"));
    std::fs::remove_dir_all(&dir).unwrap();
}
