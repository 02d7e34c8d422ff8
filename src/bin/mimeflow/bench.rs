//! `mimeflow bench`: throughput of every codec this CPU runs, ours and the
//! peers', on generated data or the user's own file, in one process.
//!
//! The measuring, checking and reporting live in the library
//! ([`mimeflow::bench`]); this module reads the arguments, shows progress on
//! stderr and draws the `--chart` SVG with plotters.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use mimeflow::bench::input::{self, Source};
use mimeflow::bench::report::{self, Report};
use mimeflow::bench::{self as harness, Op, Row, Settings, Workload};

use crate::GlobalArgs;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Operation to measure: encode, decode, mime-encode (CRLF lines),
    /// mime-encode-lf (LF lines), mime-decode, qp-encode, qp-decode or all
    #[arg(long, value_name = "OP", default_value = "all", value_parser = parse_op)]
    op: OpChoice,
    /// Input sizes, comma-separated (K, M, G: powers of 1024)
    #[arg(long, value_name = "LIST", default_value = "1K,64K,16M", value_parser = parse_sizes)]
    sizes: Sizes,
    /// Benchmark on FILE instead of generated data (.eml/mbox: its Base64 bodies)
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Print the results as JSON
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the results as CSV
    #[arg(long)]
    csv: bool,
    /// Also draw a bar chart of the results into an SVG file
    #[arg(long, value_name = "SVG")]
    chart: Option<PathBuf>,
    /// A short run (a few seconds) instead of a careful one
    #[arg(long)]
    quick: bool,
}

#[derive(Clone, Debug)]
struct OpChoice(Vec<Op>);

#[derive(Clone, Debug)]
struct Sizes(Vec<usize>);

fn parse_op(s: &str) -> Result<OpChoice, String> {
    if s == "all" {
        return Ok(OpChoice(Op::ALL.to_vec()));
    }
    let names: Vec<&str> = Op::ALL.iter().map(|o| o.name()).collect();
    Op::from_name(s)
        .map(|op| OpChoice(vec![op]))
        .ok_or_else(|| format!("expected one of {} or all", names.join(", ")))
}

fn parse_sizes(s: &str) -> Result<Sizes, String> {
    input::parse_sizes(s).map(Sizes)
}

pub fn run(args: BenchArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    // One thread by default: single-core throughput is what a codec is
    // compared on; -j N runs N copies side by side.
    let jobs = global.jobs.map_or(1, |j| j.get());
    let settings = if args.quick {
        Settings::quick(jobs)
    } else {
        Settings::full(jobs)
    };
    let ops = args.op.0;

    // The data: one input per size (generated) or the user's file.
    let inputs = match &args.input {
        Some(path) => {
            let data = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            let source = input::source(&name, data).map_err(anyhow::Error::msg)?;
            if let (false, Source::Mail { bodies, .. }) = (global.quiet, &source) {
                eprintln!(
                    "bench: {name}: {} base64 bodies, {} bytes decoded",
                    bodies.len(),
                    source.raw_len()
                );
            }
            vec![Data::File(name, source)]
        }
        None => args.sizes.0.iter().map(|&n| Data::Generated(n)).collect(),
    };

    let plan: Vec<(Op, &Data)> = ops
        .iter()
        .flat_map(|&op| inputs.iter().map(move |d| (op, d)))
        .collect();
    let total: usize = plan
        .iter()
        .map(|(op, _)| harness::contenders(*op).len())
        .sum();
    let mut progress = ProgressLine::new(global.quiet, total);
    let mut rows: Vec<Row> = Vec::new();
    let mut cache = DataCache::default();
    for (op, data) in plan {
        let workload = data.workload(op, &mut cache);
        let contenders = harness::contenders(op);
        rows.extend(harness::run_workload(
            &workload,
            &contenders,
            &settings,
            &mut |p| progress.show(&p),
        ));
    }
    progress.finish();

    let report = Report {
        cpu: report::cpu_model(),
        cpu_id: report::cpu_id(),
        features: mimeflow::base64::cpu_features()
            .into_iter()
            .map(String::from)
            .collect(),
        jobs,
        rows,
    };
    if let Some(path) = &args.chart {
        // Drawn into memory, then written like any -o file (atomically,
        // through no planted link): plotters' own file writer would
        // truncate whatever the path points at.
        let svg = draw_chart(&report).with_context(|| format!("{}", path.display()))?;
        let mut out = crate::files::Output::create(Some(path))?;
        out.write_all(svg.as_bytes())?;
        out.finish()?;
    }
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report.to_json())?;
        s.push('\n');
        s
    } else if args.csv {
        report.to_csv()
    } else {
        report.to_table()
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    if report
        .rows
        .iter()
        .any(|r| r.status.name() != "ok" && r.contender.starts_with("mimeflow"))
    {
        bail!("a mimeflow backend gave a wrong result (see the report)");
    }
    Ok(())
}

/// Where the bytes come from.
enum Data {
    Generated(usize),
    File(String, Source),
}

/// Generated data, made once per size and kind and reused across operations.
#[derive(Default)]
struct DataCache {
    random: Vec<(usize, Vec<u8>)>,
    text: Vec<(usize, Vec<u8>)>,
}

impl Data {
    fn workload(&self, op: Op, cache: &mut DataCache) -> Workload {
        match self {
            Data::File(name, source) => source.workload(op, name.clone()),
            Data::Generated(n) => {
                // Base64 gets random bytes; quoted-printable mail-like text.
                let (store, make): (_, fn(usize, u64) -> Vec<u8>) = if op.base64().is_some() {
                    (&mut cache.random, input::random_bytes)
                } else {
                    (&mut cache.text, input::text_bytes)
                };
                if !store.iter().any(|(k, _)| k == n) {
                    store.push((*n, make(*n, 1)));
                }
                let raw = &store.iter().find(|(k, _)| k == n).expect("just made").1;
                input::workload(op, raw, input::size_label(*n))
            }
        }
    }
}

/// One line on stderr, rewritten in place on a terminal; elsewhere one line
/// per operation and size, so logs stay short.
struct ProgressLine {
    enabled: bool,
    tty: bool,
    done: usize,
    total: usize,
}

impl ProgressLine {
    fn new(quiet: bool, total: usize) -> Self {
        ProgressLine {
            enabled: !quiet,
            tty: std::io::stderr().is_terminal(),
            done: 0,
            total,
        }
    }

    fn show(&mut self, p: &harness::Progress<'_>) {
        self.done += 1;
        if !self.enabled {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(
                err,
                "\r\x1b[K[{}/{}] {} {} {}",
                self.done,
                self.total,
                p.workload.op.name(),
                p.workload.label,
                p.contender
            );
            let _ = err.flush();
        } else if p.index == 0 {
            let _ = writeln!(
                err,
                "bench: [{}/{}] {} {} ({} contenders)",
                self.done,
                self.total,
                p.workload.op.name(),
                p.workload.label,
                p.count
            );
        }
    }

    fn finish(&self) {
        if self.enabled && self.tty {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// Contender colours (Tableau's 20, one per contender name across all
/// panels; memcpy is grey).
const PALETTE: [(u8, u8, u8); 20] = [
    (31, 119, 180),
    (174, 199, 232),
    (255, 127, 14),
    (255, 187, 120),
    (44, 160, 44),
    (152, 223, 138),
    (214, 39, 40),
    (255, 152, 150),
    (148, 103, 189),
    (197, 176, 213),
    (140, 86, 75),
    (196, 156, 148),
    (227, 119, 194),
    (247, 182, 210),
    (188, 189, 34),
    (219, 219, 141),
    (23, 190, 207),
    (158, 218, 229),
    (57, 59, 121),
    (99, 121, 57),
];

/// A grouped bar chart: one panel per operation, the sizes along x, one bar
/// per contender (its median, with a p10-p90 whisker), GB/s up the y axis.
fn draw_chart(report: &Report) -> anyhow::Result<String> {
    let mut svg = String::new();
    draw_chart_into(report, &mut svg)?;
    Ok(svg)
}

fn draw_chart_into(report: &Report, svg: &mut String) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let mut ops: Vec<&str> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for r in &report.rows {
        if !ops.contains(&r.op) {
            ops.push(r.op);
        }
        if r.contender != "memcpy" && !names.contains(&r.contender.as_str()) {
            names.push(&r.contender);
        }
    }
    let colour = |name: &str| -> RGBColor {
        match names.iter().position(|n| *n == name) {
            Some(i) => {
                let (r, g, b) = PALETTE[i % PALETTE.len()];
                RGBColor(r, g, b)
            }
            None => RGBColor(120, 120, 120),
        }
    };

    let cols = if ops.len() > 1 { 2 } else { 1 };
    let rows_n = ops.len().div_ceil(cols);
    let (panel_w, panel_h) = (820u32, 440u32);
    let size = (panel_w * cols as u32, panel_h * rows_n as u32 + 60);
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "mimeflow bench: {} ({} thread{})",
        report.cpu,
        report.jobs,
        if report.jobs == 1 { "" } else { "s" }
    );
    let root = root.titled(&title, ("sans-serif", 26))?;
    let panels = root.split_evenly((rows_n, cols));

    for (panel, op) in panels.iter().zip(&ops) {
        let rows: Vec<&Row> = report.rows.iter().filter(|r| r.op == *op).collect();
        let mut labels: Vec<(usize, &str)> = Vec::new();
        let mut contenders: Vec<&Row> = Vec::new();
        for r in &rows {
            if !labels.iter().any(|(s, _)| *s == r.size) {
                labels.push((r.size, &r.label));
            }
            if !contenders.iter().any(|c| c.contender == r.contender) {
                contenders.push(r);
            }
        }
        let groups = labels.len();
        let k = contenders.len().max(1);
        // A log axis: memcpy runs 10-100 times faster than a scalar codec,
        // and a linear axis would flatten everything else.
        let timed = || rows.iter().filter_map(|r| r.status.summary());
        let ymax = timed().map(|s| s.p90.max(s.median)).fold(0.01, f64::max) * 1.5;
        let ymin = timed()
            .map(|s| s.p10.min(s.median))
            .fold(ymax, f64::min)
            .max(1e-4);
        let ymin = 10f64.powf((ymin / 1.5).log10().floor());

        let (plot, legend) = panel.split_horizontally(panel_w - 250);
        // Group g is centred on x = g, so the axis's whole-number ticks
        // fall under the groups and carry their size labels.
        let mut chart = ChartBuilder::on(&plot)
            .caption(*op, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..groups as f64 - 0.5, (ymin..ymax).log_scale())?;
        let label_of = |x: &f64| {
            let g = x.round();
            if (x - g).abs() > 1e-6 || g < 0.0 {
                return String::new();
            }
            labels
                .get(g as usize)
                .map(|(_, l)| l.to_string())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("input size")
            .y_desc("throughput, GB/s of input (log scale)")
            .x_labels(groups)
            .x_label_formatter(&label_of)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;

        let width = 0.8 / k as f64;
        for (g, (size, _)) in labels.iter().enumerate() {
            for (i, c) in contenders.iter().enumerate() {
                let Some(s) = rows
                    .iter()
                    .find(|r| r.size == *size && r.contender == c.contender)
                    .and_then(|r| r.status.summary())
                else {
                    continue;
                };
                let x0 = g as f64 - 0.4 + i as f64 * width;
                let x1 = x0 + width * 0.9;
                let mid = (x0 + x1) / 2.0;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, ymin), (x1, s.median.max(ymin))],
                    colour(&c.contender).filled(),
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(mid, s.p10.max(ymin)), (mid, s.p90.max(ymin))],
                    BLACK.stroke_width(1),
                )))?;
            }
        }

        // The legend, beside the plot so it never covers a bar.
        legend.draw(&Text::new(
            "contender",
            (8, 40),
            ("sans-serif", 15).into_font().style(FontStyle::Bold),
        ))?;
        for (i, c) in contenders.iter().enumerate() {
            let y = 62 + i as i32 * 22;
            legend.draw(&Rectangle::new(
                [(8, y), (22, y + 14)],
                colour(&c.contender).filled(),
            ))?;
            let mut name = c.contender.clone();
            if rows
                .iter()
                .any(|r| r.contender == c.contender && r.status.summary().is_none())
            {
                name.push_str(" (not timed)");
            }
            legend.draw(&Text::new(name, (28, y), ("sans-serif", 14)))?;
        }
        legend.draw(&Text::new(
            "bar: median; line: p10-p90",
            (8, 62 + k as i32 * 22 + 10),
            ("sans-serif", 13),
        ))?;
    }
    root.present()?;
    Ok(())
}
