//! `mimeflow show | parse | cat | extract`: reading one message.
//!
//! Each reads the whole message (a file, a pipe or standard input) into one
//! buffer that the parsed tree points into (spooled to a temp file past
//! 64 MiB), except `cat -` and `extract -`, which read standard input as a
//! stream ([`mimeflow::message::stream`]) in bounded memory, with the same
//! output; parsing never fails, so only I/O
//! errors, a missing section and unwritable destinations are failures.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use mimeflow::message::{write_tree, Message};

use crate::files::{Input, Output};
use crate::GlobalArgs;

/// `mimeflow show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Message file; `-` or none reads standard input
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `mimeflow parse`.
#[derive(Args, Debug)]
pub struct ParseArgs {
    /// Print the structure as one JSON object (the only format; accepted for clarity)
    #[arg(long)]
    json: bool,
    /// Indent the JSON
    #[arg(long)]
    pretty: bool,
    /// Message file; `-` or none reads standard input
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `mimeflow cat`.
#[derive(Args, Debug)]
pub struct CatArgs {
    /// Message file (`-` reads standard input)
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// IMAP section number, e.g. 1.2 (`""` or `-` is a multipart root)
    #[arg(value_name = "SECTION")]
    section: String,
    /// Write the undecoded body (as IMAP BODY[...] returns it)
    #[arg(long)]
    raw: bool,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `mimeflow extract`.
#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// Message file (`-` reads standard input)
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Folder to write attachments into (created if missing)
    #[arg(value_name = "DEST")]
    dest: PathBuf,
    /// Print the part-to-file mapping as JSON lines
    #[arg(long)]
    json: bool,
}

/// The message in `path` (a file, a pipe, a device) or on stdin. Its size
/// is unknown until it ends, so past the spool threshold it goes to an
/// unnamed temp file instead of the heap: `show /dev/zero` fills the disk
/// and fails there, not the memory.
fn read_message(path: Option<&Path>) -> anyhow::Result<Message> {
    let input = Input::open(path)?;
    let data = mimeflow::mbox::read_spooled(input, mimeflow::mbox::DEFAULT_SPOOL_THRESHOLD)?;
    Ok(Message::parse(data))
}

pub fn show(args: ShowArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    let msg = read_message(args.file.as_deref())?;
    let mut out = Output::create(args.out.as_deref())?;
    write_tree(&msg, &mut out)?;
    out.finish()
}

pub fn parse(args: ParseArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    let _ = args.json;
    let msg = read_message(args.file.as_deref())?;
    // Serialised straight from the message, not through a Value tree.
    let json = msg.json();
    let mut out = Output::create(args.out.as_deref())?;
    if args.pretty {
        serde_json::to_writer_pretty(&mut out, &json)?;
    } else {
        serde_json::to_writer(&mut out, &json)?;
    }
    out.write_all(b"\n")?;
    out.finish()
}

/// Whether `path` is `-` (standard input, which `cat` and `extract` stream).
fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

pub fn cat(args: CatArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    let section = if args.section == "-" {
        ""
    } else {
        args.section.as_str()
    };
    if is_stdin(&args.file) {
        let input = Input::open(Some(&args.file))?;
        let mut out = Output::create(args.out.as_deref())?;
        let found = mimeflow::message::stream::write_section(input, section, args.raw, &mut out)?;
        if !found {
            bail!(
                "{}: no part numbered {:?}",
                args.file.display(),
                args.section
            );
        }
        return out.finish();
    }
    let msg = read_message(Some(&args.file))?;
    let Some(part) = msg.section(section) else {
        bail!(
            "{}: no part numbered {:?}",
            args.file.display(),
            args.section
        );
    };
    let mut out = Output::create(args.out.as_deref())?;
    if args.raw {
        out.write_all(part.body_bytes())?;
    } else {
        out.write_all(&part.decoded())?;
    }
    out.finish()
}

pub fn extract(args: ExtractArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let written = if is_stdin(&args.file) {
        let input = Input::open(Some(&args.file))?;
        mimeflow::safe_fs::Dir::create_all(&args.dest)
            .with_context(|| format!("creating {}", args.dest.display()))?;
        mimeflow::extract::extract_attachments_from(input, &args.dest)
            .with_context(|| format!("writing into {}", args.dest.display()))?
    } else {
        let msg = read_message(Some(&args.file))?;
        mimeflow::safe_fs::Dir::create_all(&args.dest)
            .with_context(|| format!("creating {}", args.dest.display()))?;
        mimeflow::extract::extract_attachments(&msg, &args.dest)
            .with_context(|| format!("writing into {}", args.dest.display()))?
    };
    if !g.quiet {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for x in &written {
            if args.json {
                let line =
                    serde_json::json!({"section": x.section, "path": x.path, "size": x.size});
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "{}\t{}\t{}", x.section, x.path.display(), x.size)?;
            }
        }
    }
    Ok(())
}
