//! `mimeflow convert | split | count`: the batch pipeline of
//! [`mimeflow::batch`] with a progress bar, Ctrl-C handling and a summary.
//!
//! Ctrl-C sets a flag the pipeline checks between windows: the window in
//! hand is committed (a fresh output stays in `DEST.partial`), the resume
//! state is saved and we exit with status 130. A second Ctrl-C exits at
//! once; even then no message is half visible in DEST: a fresh output
//! reaches DEST only by the final rename (`--resume` rewrites the files of
//! the unfinished window in `DEST.partial/`), and files added to an
//! existing folder are only ever linked into place complete.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mimeflow::batch::{self, BatchError, ConvertOptions, Folder, Format, Hooks, Progress};
use mimeflow::mbox::Variant;

use crate::GlobalArgs;

/// Reported messages printed one by one; the rest are only counted.
const MAX_REPORTS: u64 = 20;

/// `mimeflow convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// An mbox file (plain, .gz, .zst or .xz; `-` reads standard input), a Maildir or a folder of .eml files
    #[arg(value_name = "SOURCE")]
    source: PathBuf,
    /// Output format
    #[arg(long = "to", value_name = "FORMAT", value_parser = ["maildir", "eml", "mbox", "jsonl", "sqlite", "parquet"])]
    to: String,
    /// Output folder (maildir, eml, parquet parts) or file (mbox, jsonl, sqlite, NAME.parquet)
    #[arg(value_name = "DEST", value_parser = dest_path)]
    dest: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
    /// Leave out messages marked deleted (kept with Maildir flag T otherwise)
    #[arg(long)]
    skip_deleted: bool,
    /// jsonl: add the plain-text body as "text" (HTML-only mail turned into text)
    #[arg(long)]
    text: bool,
    /// Also write every attachment once (by content hash) into DIR, indexed in DIR/attachments.jsonl
    #[arg(long, value_name = "DIR")]
    attachments: Option<PathBuf>,
    /// sqlite: add to an existing database only the messages it does not hold yet (by sha256)
    #[arg(long)]
    update: bool,
    /// sqlite, parquet: also store each raw message (a BLOB; a binary column)
    #[arg(long)]
    raw: bool,
    /// sqlite: full-text tokenizer; trigram also finds words in Chinese or Japanese text
    #[arg(long, value_name = "NAME", value_parser = ["unicode61", "trigram"], default_value = "unicode61")]
    fts_tokenizer: String,
    /// jsonl, sqlite, parquet: verify every message's DKIM signatures into the dkim column (keys and rules as for `dkim verify`)
    #[arg(long)]
    dkim: bool,
    #[command(flatten, next_help_heading = "DKIM (with --dkim)")]
    dkim_check: crate::dkim::CheckArgs,
}

/// Options `convert` and `split` share.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Continue an interrupted run into the same DEST
    #[arg(long)]
    resume: bool,
    /// Write into a non-empty output folder (nothing is deleted or overwritten)
    #[arg(long)]
    force: bool,
    /// Compressed or piped SOURCE: messages over BYTES go to an unnamed temp file (TMPDIR) and are memory-mapped [default: 64 MiB]
    #[arg(long, value_name = "BYTES")]
    spool_threshold: Option<usize>,
    /// mbox variant of SOURCE (mboxo, mboxrd, mboxcl, mboxcl2) [default: sniffed]
    #[arg(long, value_name = "NAME", value_parser = parse_variant)]
    variant: Option<Variant>,
}

impl CommonArgs {
    /// The options for writing `format` that these flags set; the rest as
    /// [`ConvertOptions::new`] has them.
    fn options(self, format: Format) -> ConvertOptions {
        ConvertOptions {
            resume: self.resume,
            force: self.force,
            variant: self.variant,
            spool_threshold: self
                .spool_threshold
                .unwrap_or(mimeflow::mbox::DEFAULT_SPOOL_THRESHOLD),
            ..ConvertOptions::new(format)
        }
    }
}

/// `mimeflow split`.
#[derive(Args, Debug)]
pub struct SplitArgs {
    /// The mbox archive
    #[arg(value_name = "ARCHIVE")]
    source: PathBuf,
    /// Folder to write NNNNNNNN.eml files into
    #[arg(value_name = "DEST", value_parser = dest_path)]
    dest: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

/// `mimeflow count`.
#[derive(Args, Debug)]
pub struct CountArgs {
    /// An mbox archive, a Maildir or a folder of .eml files
    #[arg(value_name = "ARCHIVE")]
    source: PathBuf,
    /// mbox variant [default: sniffed]
    #[arg(long, value_name = "NAME", value_parser = parse_variant)]
    variant: Option<Variant>,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    Variant::from_name(s)
        .ok_or_else(|| format!("unknown mbox variant {s:?} (mboxo, mboxrd, mboxcl, mboxcl2)"))
}

pub fn convert(args: ConvertArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let format = Format::from_name(&args.to).expect("clap checked the name");
    if args.update && format != Format::Sqlite {
        crate::usage_error("--update adds to a SQLite database only (--to sqlite)");
    }
    if args.raw && !format.is_table() {
        crate::usage_error("--raw is for --to sqlite and --to parquet");
    }
    if args.dkim && !(format == Format::Jsonl || format.is_table()) {
        crate::usage_error("--dkim is for --to jsonl, --to sqlite and --to parquet");
    }
    if !args.dkim && args.dkim_check.any() {
        crate::usage_error(
            "--keys, --dns, --dns-server, --dns-timeout, --as-of and --allow-sha1 choose how --dkim verifies; add --dkim",
        );
    }
    // Key files are read once here; every worker shares the store.
    let dkim = if args.dkim {
        let keys = args.dkim_check.keystore()?;
        Some(batch::DkimCheck::new(keys, args.dkim_check.options(None)))
    } else {
        None
    };
    let opts = ConvertOptions {
        skip_deleted: args.skip_deleted,
        text: args.text,
        attachments: args.attachments,
        update: args.update,
        raw: args.raw,
        fts_tokenizer: mimeflow::batch::Tokenizer::from_name(&args.fts_tokenizer)
            .expect("clap checked the name"),
        dkim,
        ..args.common.options(format)
    };
    watch_source(&args.source, &args.dest);
    run(&args.source, &args.dest, &opts, g)
}

pub fn split(args: SplitArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let opts = args.common.options(Format::Eml);
    watch_source(&args.source, &args.dest);
    run(&args.source, &args.dest, &opts, g)
}

/// One line instead of a silent SIGBUS kill if the archive shrinks while
/// mapped; the output stays unpublished and resumable (see `sigbus.rs`).
/// DEST names a file or folder: `-` (which would otherwise become a file
/// named `-`) is a usage error, since outputs are built atomically and
/// resumably in place, which standard output cannot be.
fn dest_path(s: &str) -> Result<PathBuf, String> {
    if s == "-" {
        return Err(
            "convert and split write a file or a folder, not standard output; name one".into(),
        );
    }
    Ok(PathBuf::from(s))
}

fn watch_source(source: &std::path::Path, dest: &std::path::Path) {
    crate::sigbus::watch(
        source,
        &format!(
            "stopped before finishing {}: rerun it, or continue it with --resume, once the archive is whole",
            dest.display()
        ),
    );
}

pub fn count(args: CountArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    crate::sigbus::watch(&args.source, "nothing was counted");
    let c = batch::count(&args.source, args.variant)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({"messages": c.messages, "bytes": c.bytes, "format": c.kind, "reason": c.reason});
        writeln!(out, "{v}")?;
    } else {
        let why = c.reason.map(|r| format!(" ({r})")).unwrap_or_default();
        writeln!(
            out,
            "{} messages, {} bytes, {}{why}",
            c.messages, c.bytes, c.kind
        )?;
    }
    Ok(())
}

static CANCEL: AtomicBool = AtomicBool::new(false);

fn run(
    source: &std::path::Path,
    dest: &std::path::Path,
    opts: &ConvertOptions,
    g: &GlobalArgs,
) -> anyhow::Result<()> {
    // First Ctrl-C: stop after the window in hand (resumable). Second: now.
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(crate::EXIT_INTERRUPTED);
        }
    });
    let bar = (!g.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} [{wide_bar}] ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let started = std::time::Instant::now();
    let progress = |p: Progress| {
        if let Some(bar) = &bar {
            if let Some(total) = p.total_bytes {
                bar.set_length(total);
            }
            bar.set_position(p.bytes);
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{} messages ({:.0}/s)",
                p.messages,
                p.messages as f64 / secs
            ));
        }
    };
    let reported = AtomicU64::new(0);
    let report = |line: &str| {
        if !g.quiet && reported.fetch_add(1, Ordering::Relaxed) < MAX_REPORTS {
            let text = format!("mimeflow: {line}");
            match &bar {
                Some(bar) => bar.println(text),
                None => {
                    let _ = writeln!(std::io::stderr().lock(), "{text}");
                }
            }
        }
    };
    let hooks = Hooks {
        cancel: &CANCEL,
        progress: &progress,
        report: &report,
    };
    let result = batch::convert(source, dest, opts, &hooks);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let s = match result {
        Ok(s) => s,
        Err(BatchError::Interrupted {
            committed,
            resumable,
        }) => {
            let _ = if resumable {
                writeln!(
                    std::io::stderr().lock(),
                    "mimeflow: interrupted after {committed} messages; rerun with --resume to continue"
                )
            } else {
                writeln!(
                    std::io::stderr().lock(),
                    "mimeflow: interrupted; nothing was kept (a one-file Parquet output cannot be resumed; a folder can)"
                )
            };
            std::process::exit(crate::EXIT_INTERRUPTED);
        }
        Err(e) => {
            let e = phrase(e);
            crate::sigbus::exit_if_truncated(&e);
            return Err(e).with_context(|| format!("converting {}", source.display()));
        }
    };
    let extra = reported.load(Ordering::Relaxed).saturating_sub(MAX_REPORTS);
    if extra > 0 && !g.quiet {
        let _ = writeln!(
            std::io::stderr().lock(),
            "mimeflow: ... and {extra} more reported messages"
        );
    }
    if !g.quiet {
        let mb = s.bytes_in as f64 / 1e6;
        let mut line = format!(
            "converted {} messages from {} ({}, {:.1} MB) to {} {}: {} written, {} skipped, {} unparseable",
            s.messages_in,
            source.display(),
            s.source_kind,
            mb,
            opts.format.name(),
            dest.display(),
            s.written,
            s.skipped,
            s.unparseable,
        );
        if opts.format == Format::Jsonl || opts.format.is_table() || opts.attachments.is_some() {
            line.push_str(&format!(", {} with defects", s.defective));
        }
        if opts.attachments.is_some() {
            line.push_str(&format!(
                "; {} attachments written, {} duplicates",
                s.attachments_written, s.attachments_duplicate
            ));
        }
        if s.resumed_from > 0 {
            line.push_str(&format!("; resumed after {}", s.resumed_from));
        }
        line.push_str(&format!(
            "; {:.2} s, {:.1} MB/s",
            s.seconds,
            mb / s.seconds.max(1e-6)
        ));
        let mut out = std::io::stdout().lock();
        if let Some(why) = &s.variant_reason {
            writeln!(out, "mbox variant: {} ({why})", s.source_kind)?;
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The library's errors name no flag of ours; where the way out is a flag,
/// the CLI says which.
fn phrase(e: BatchError) -> anyhow::Error {
    match e {
        BatchError::Unfinished { dest, state } => anyhow::anyhow!(
            "{}: an interrupted run left {}: rerun with --resume to continue it",
            dest.display(),
            state.display()
        ),
        BatchError::NotEmpty { path, folder } => anyhow::anyhow!(
            "{}: is not empty: use --force to add to it{} or --resume to continue",
            path.display(),
            match folder {
                Folder::Output => " (nothing is deleted)",
                Folder::Attachments => "",
            }
        ),
        e => e.into(),
    }
}
