//! `mimeflow`: the command-line front end of the library, kept thin.
//!
//! One module per command group (`b64`, and later `convert`, `parse`,
//! `show`, `extract`, `compose`, `bench`); [`files`] holds what they share:
//! opening inputs (`-` is stdin), writing stdout or a file replaced
//! atomically, and naming the side (input or output) an I/O error came from.
//!
//! Errors travel as `anyhow::Error` and are reported here, once, as a single
//! line. Exit status: 0 done, 1 bad input or I/O error (an archive
//! truncated under a run included: [`sigbus`]), 2 usage error (clap's
//! own), 130 interrupted. A closed stdout pipe
//! (`mimeflow b64 encode big | head -c1`) is not an error: the reader has
//! what it wanted, so we stop quietly with status 0, as ripgrep does.

#![deny(unsafe_code)]

use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Args, Parser, Subcommand};

mod b64;
mod bench;
mod compose;
mod convert;
mod dkim;
mod files;
mod mime;
mod sigbus;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bad input or an I/O error.
const EXIT_FAILURE: u8 = 1;
/// Interrupted by SIGINT (128 + 2, what a shell reports for a killed job).
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

/// High-throughput MIME and Base64 tools.
#[derive(Parser, Debug)]
#[command(name = "mimeflow", version, long_version = long_version(), propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes (before or after the command name).
#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct GlobalArgs {
    /// Worker threads for parallel work [default: all cores]
    #[arg(short = 'j', long, value_name = "N", global = true)]
    pub jobs: Option<NonZeroUsize>,
    /// Print nothing but errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Base64 encode or decode (RFC 4648, MIME)
    #[command(subcommand)]
    B64(b64::B64Command),
    /// Measure codec throughput: every backend, the peers, memcpy
    Bench(bench::BenchArgs),
    /// Print a message's structure as a tree (section, type, size, filename, defects)
    Show(mime::ShowArgs),
    /// Print a message's structure and decoded headers as JSON
    Parse(mime::ParseArgs),
    /// Write the decoded body of one part (IMAP section number) to standard output
    Cat(mime::CatArgs),
    /// Write a message's attachments into a folder
    Extract(mime::ExtractArgs),
    /// Convert an mbox, Maildir or .eml folder to maildir, eml, mbox or jsonl
    Convert(convert::ConvertArgs),
    /// Split an mbox archive into one .eml file per message (= convert --to eml)
    Split(convert::SplitArgs),
    /// Count the messages of an mbox, Maildir or .eml folder
    Count(convert::CountArgs),
    /// Compose a message (addresses, subject, text/HTML bodies, attachments)
    Compose(compose::ComposeArgs),
    /// Make a message 7-bit clean (CRLF, lines <= 998, 8-bit parts re-encoded)
    Normalize(compose::NormalizeArgs),
    /// DKIM: verify whole archives offline or as of arrival, sign messages
    #[command(subcommand)]
    Dkim(dkim::DkimCommand),
    /// Add or remove SMTP DATA framing (dot-stuffing, CRLF.CRLF)
    #[command(subcommand)]
    SmtpData(compose::SmtpDataCommand),
}

/// `--version`: the version, then the codec backend this process runs and
/// the CPU features behind that choice, for bug reports and benchmarks.
fn long_version() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        use mimeflow::base64::{cpu_features, Backend};
        let available: Vec<&str> = Backend::available()
            .into_iter()
            .map(Backend::name)
            .collect();
        let features = cpu_features();
        format!(
            "{}\nbase64 backend: {} (available: {})\ncpu features: {}",
            env!("CARGO_PKG_VERSION"),
            Backend::default_for_process(),
            available.join(", "),
            if features.is_empty() {
                "none detected".to_string()
            } else {
                features.join(" ")
            },
        )
    })
}

fn main() -> ExitCode {
    // Usage errors exit with status 2 inside `parse`; --help and --version with 0.
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` joins the context chain with ": " on one line. If stderr
            // is gone too there is no one left to tell.
            let _ = writeln!(io::stderr().lock(), "mimeflow: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// A usage error found after parsing (flags that do not go together):
/// printed like clap's own, exit status 2.
pub(crate) fn usage_error(msg: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    Cli::command()
        .error(clap::error::ErrorKind::ArgumentConflict, msg)
        .exit()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(jobs) = cli.global.jobs {
        rayon::ThreadPoolBuilder::new()
            .num_threads(jobs.get())
            .build_global()?;
    }
    match cli.command {
        Command::B64(cmd) => b64::run(cmd, &cli.global),
        Command::Bench(args) => bench::run(args, &cli.global),
        Command::Show(args) => mime::show(args, &cli.global),
        Command::Parse(args) => mime::parse(args, &cli.global),
        Command::Cat(args) => mime::cat(args, &cli.global),
        Command::Extract(args) => mime::extract(args, &cli.global),
        Command::Convert(args) => convert::convert(args, &cli.global),
        Command::Split(args) => convert::split(args, &cli.global),
        Command::Count(args) => convert::count(args, &cli.global),
        Command::Compose(args) => compose::compose(args, &cli.global),
        Command::Normalize(args) => compose::normalize_cmd(args, &cli.global),
        Command::SmtpData(cmd) => compose::smtp_data(cmd, &cli.global),
        Command::Dkim(cmd) => dkim::run(cmd, &cli.global),
    }
}

/// Whether the failure is a write into a pipe whose reader has gone.
///
/// Rust ignores SIGPIPE, so this arrives as an `io::Error` of kind
/// `BrokenPipe`, possibly under context or inside the library's error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = match cause.downcast_ref::<mimeflow::base64::StreamError>() {
            Some(mimeflow::base64::StreamError::Io(e)) => Some(e),
            _ => cause.downcast_ref::<io::Error>(),
        };
        io.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
