//! The three report formats of `mimeflow bench`: a table for people, JSON
//! and CSV for tools. All three carry the same numbers; the table adds each
//! contender's ratio to mimeflow's best, to `memcpy` (a copy of the input)
//! and to `memcpy (in+out)` (a copy moving as many bytes as the codec reads
//! and writes, the ceiling of the memory-speed target) at that operation
//! and size.
//!
//! JSON: `{cpu, cpu_id, features, jobs, results: [{op, size, contender,
//! status, median_gbps, p10_gbps, p90_gbps, ns_per_call}]}`, the numbers
//! `null` unless `status` is `"ok"`; `ns_per_call` is the median time of one
//! call (input bytes per call over the median throughput), which keeps the
//! fixed cost of a call visible at small sizes. CSV: a header, then one row
//! per result with the same columns (empty numbers unless ok).

use std::fmt::Write as _;

use super::Row;

/// A whole run: the machine, then the rows.
pub struct Report {
    /// CPU model (`/proc/cpuinfo`'s `model name`, or the architecture).
    pub cpu: String,
    /// CPU family and model numbers ([`cpu_id`]): the model name alone does
    /// not tell a Zen 4 from a Zen 5 on every VM.
    pub cpu_id: String,
    /// Detected CPU features the codec cares about.
    pub features: Vec<String>,
    /// Threads each contender ran on.
    pub jobs: usize,
    /// Results, in run order.
    pub rows: Vec<Row>,
}

/// The CPU model, from `/proc/cpuinfo` where present.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH))
}

/// `/proc/cpuinfo`'s `cpu family` and `model` as `family F model M`, or
/// an empty string where the file has no such lines.
pub fn cpu_id() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |key: &str| {
        info.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
    };
    match (field("cpu family"), field("model")) {
        (Some(f), Some(m)) => format!("family {f} model {m}"),
        _ => String::new(),
    }
}

/// The CSV columns, also the JSON result fields.
pub const COLUMNS: [&str; 8] = [
    "op",
    "size",
    "contender",
    "status",
    "median_gbps",
    "p10_gbps",
    "p90_gbps",
    "ns_per_call",
];

impl Report {
    /// The JSON report.
    pub fn to_json(&self) -> serde_json::Value {
        let results: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|r| {
                let s = r.status.summary();
                serde_json::json!({
                    "op": r.op,
                    "size": r.size,
                    "contender": r.contender,
                    "status": r.status.name(),
                    "median_gbps": s.map(|s| s.median),
                    "p10_gbps": s.map(|s| s.p10),
                    "p90_gbps": s.map(|s| s.p90),
                    "ns_per_call": r.ns_per_call(),
                })
            })
            .collect();
        serde_json::json!({
            "cpu": self.cpu,
            "cpu_id": self.cpu_id,
            "features": self.features,
            "jobs": self.jobs,
            "results": results,
        })
    }

    /// The CSV report (RFC 4180 quoting where a field needs it).
    pub fn to_csv(&self) -> String {
        let mut out = COLUMNS.join(",");
        out.push('\n');
        for r in &self.rows {
            let s = r.status.summary();
            let num = |f: fn(&super::stats::Summary) -> f64| {
                s.as_ref()
                    .map(|s| format!("{:.4}", f(s)))
                    .unwrap_or_default()
            };
            let fields = [
                r.op.to_string(),
                r.size.to_string(),
                csv_field(&r.contender),
                r.status.name().to_string(),
                num(|s| s.median),
                num(|s| s.p10),
                num(|s| s.p90),
                r.ns_per_call()
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_default(),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }

    /// The header lines: CPU, features, threads.
    pub fn header(&self) -> String {
        let features = if self.features.is_empty() {
            "none detected".to_string()
        } else {
            self.features.join(" ")
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let id = if self.cpu_id.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.cpu_id)
        };
        format!(
            "cpu: {}{id}\nfeatures: {}\nthreads: {} per contender ({} available)\n",
            self.cpu, features, self.jobs, cores
        )
    }

    /// The table: header lines, then one block per operation and size,
    /// with the time per call and ratios to the fastest mimeflow backend
    /// and to `memcpy`.
    pub fn to_table(&self) -> String {
        let mut out = self.header();
        out.push_str("GB/s of input bytes: median (p10-p90)\n");
        let width = widest(self.rows.iter().map(|r| &r.contender), "contender".len());
        let size_w = widest(self.rows.iter().map(|r| &r.label), 4);
        let mut i = 0;
        while i < self.rows.len() {
            let (op, size) = (self.rows[i].op, self.rows[i].size);
            let end = self.rows[i..]
                .iter()
                .position(|r| r.op != op || r.size != size)
                .map_or(self.rows.len(), |n| i + n);
            let group = &self.rows[i..end];
            let best = group
                .iter()
                .filter(|r| is_mimeflow(&r.contender))
                .filter_map(|r| r.status.summary())
                .map(|s| s.median)
                .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
            let memcpy = group
                .iter()
                .find(|r| r.contender == "memcpy")
                .and_then(|r| r.status.summary())
                .map(|s| s.median);
            let traffic = group
                .iter()
                .find(|r| r.contender == crate::peers::MEMCPY_TRAFFIC)
                .and_then(|r| r.status.summary())
                .map(|s| s.median);
            let _ = writeln!(
                out,
                "\n{:<14} {:>size_w$}  {:<width$}  {:>7}  {:>15}  {:>9}  {:>9}  {:>9}  {:>9}",
                "op",
                "size",
                "contender",
                "median",
                "p10-p90",
                "ns/call",
                "/mimeflow",
                "/memcpy",
                "/in+out"
            );
            for r in group {
                let per_call = r.ns_per_call().map_or(String::new(), format_ns);
                let (median, spread, vs_best, vs_copy, vs_traffic) = match r.status.summary() {
                    Some(s) => (
                        format!("{:.2}", s.median),
                        format!("{:.2}-{:.2}", s.p10, s.p90),
                        ratio(s.median, best),
                        ratio(s.median, memcpy),
                        ratio(s.median, traffic),
                    ),
                    None => (
                        r.status.name().to_uppercase(),
                        "not timed".to_string(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ),
                };
                let _ = writeln!(
                    out,
                    "{:<14} {:>size_w$}  {:<width$}  {:>7}  {:>15}  {:>9}  {:>9}  {:>9}  {:>9}",
                    r.op,
                    r.label,
                    r.contender,
                    median,
                    spread,
                    per_call,
                    vs_best,
                    vs_copy,
                    vs_traffic
                );
            }
            i = end;
        }
        out
    }
}

/// Whether a contender is one of ours (`mimeflow` or `mimeflow/<backend>`).
pub fn is_mimeflow(name: &str) -> bool {
    name == "mimeflow" || name.starts_with("mimeflow/")
}

/// A column's width: its widest cell in characters, at least `min`.
fn widest<'a>(cells: impl Iterator<Item = &'a String>, min: usize) -> usize {
    cells.map(|c| c.chars().count()).max().unwrap_or(0).max(min)
}

/// A time per call: nanoseconds with one decimal below 10 µs, whole
/// microseconds above (a 16 MiB call takes milliseconds).
fn format_ns(ns: f64) -> String {
    if ns < 10_000.0 {
        format!("{ns:.1}")
    } else {
        format!("{:.0}us", ns / 1000.0)
    }
}

fn ratio(x: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 => format!("{:.2}x", x / b),
        _ => "-".into(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::stats::Summary;
    use super::super::Status;
    use super::*;

    fn report() -> Report {
        let row = |contender: &str, status: Status| Row {
            op: "encode",
            size: 1024,
            label: "1K".into(),
            contender: contender.into(),
            call_bytes: 1024.0,
            status,
        };
        let ok = |m: f64| {
            Status::Ok(Summary {
                median: m,
                p10: m - 0.5,
                p90: m + 0.5,
            })
        };
        Report {
            cpu: "Test CPU".into(),
            cpu_id: "family 25 model 17".into(),
            features: vec!["avx2".into()],
            jobs: 1,
            rows: vec![
                row("mimeflow/scalar", ok(1.0)),
                row("mimeflow/avx2", ok(4.0)),
                row("base64, \"simd\"", ok(2.0)),
                row("broken", Status::Mismatch),
                row("memcpy", ok(8.0)),
            ],
        }
    }

    #[test]
    fn json_shape() {
        let v = report().to_json();
        assert_eq!(v["cpu"], "Test CPU");
        assert_eq!(v["features"][0], "avx2");
        assert_eq!(v["jobs"], 1);
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 5);
        for r in results {
            let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            let mut want = COLUMNS.to_vec();
            want.sort_unstable();
            let mut keys = keys;
            keys.sort_unstable();
            assert_eq!(keys, want);
        }
        assert_eq!(results[1]["contender"], "mimeflow/avx2");
        assert_eq!(results[1]["median_gbps"], 4.0);
        assert_eq!(results[1]["p10_gbps"], 3.5);
        assert_eq!(results[1]["size"], 1024);
        // 1024 bytes per call at 4 GB/s (4 bytes per ns): 256 ns a call.
        assert_eq!(results[1]["ns_per_call"], 256.0);
        assert_eq!(v["cpu_id"], "family 25 model 17");
        assert_eq!(results[3]["status"], "mismatch");
        assert!(results[3]["median_gbps"].is_null());
        assert!(results[3]["ns_per_call"].is_null());
    }

    #[test]
    fn csv_header_and_rows() {
        let csv = report().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "op,size,contender,status,median_gbps,p10_gbps,p90_gbps,ns_per_call"
        );
        assert_eq!(lines.len(), 6);
        assert_eq!(
            lines[2],
            "encode,1024,mimeflow/avx2,ok,4.0000,3.5000,4.5000,256.0"
        );
        assert_eq!(
            lines[3],
            "encode,1024,\"base64, \"\"simd\"\"\",ok,2.0000,1.5000,2.5000,512.0"
        );
        assert_eq!(lines[4], "encode,1024,broken,mismatch,,,,");
    }

    #[test]
    fn table_has_header_ratios_and_flags() {
        let t = report().to_table();
        assert!(t.starts_with(
            "cpu: Test CPU (family 25 model 17)\nfeatures: avx2\nthreads: 1 per contender"
        ));
        let line = |name: &str| {
            t.lines()
                .find(|l| l.starts_with("encode") && l.contains(name))
                .unwrap()
                .to_string()
        };
        let scalar = line("mimeflow/scalar");
        assert!(
            scalar.contains("1.00") && scalar.contains("0.25x") && scalar.contains("0.12x"),
            "{scalar}"
        );
        let avx2 = line("mimeflow/avx2");
        assert!(avx2.contains("1.00x") && avx2.contains("0.50x"), "{avx2}");
        assert!(avx2.contains(" 256.0 "), "ns per call: {avx2}");
        assert!(line("memcpy").contains("2.00x"));
        let broken = line("broken");
        assert!(
            broken.contains("MISMATCH") && broken.contains("not timed"),
            "{broken}"
        );
    }
}
