//! `mimeflow compose | normalize | smtp-data`: writing mail.
//!
//! `compose` builds a message from addresses, a subject, body files and
//! attachments; every file is checked before the first byte is written, and
//! with `-o` the output appears only when complete. `normalize` makes a
//! message 7-bit clean. `smtp-data` adds or removes SMTP DATA framing
//! (dot-stuffing and the `CRLF.CRLF` terminator), as a stream.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use mimeflow::compose::normalize::{normalize_into, normalize_message};
use mimeflow::compose::smtp::{DotStuffer, DotUnstuffer};
use mimeflow::compose::{Attachment, MessageBuilder, Transport};
use mimeflow::message::Message;

use crate::files::{Input, Output};
use crate::GlobalArgs;

/// `mimeflow compose`.
#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Sender address list ("Name <a@example.org>")
    #[arg(long, value_name = "ADDRS")]
    from: String,
    /// Recipients (repeat or separate with commas)
    #[arg(long, value_name = "ADDRS", required = true)]
    to: Vec<String>,
    /// Carbon-copy recipients
    #[arg(long, value_name = "ADDRS")]
    cc: Vec<String>,
    /// Blind-copy recipients (written into the message only with --write-bcc)
    #[arg(long, value_name = "ADDRS")]
    bcc: Vec<String>,
    /// Write the Bcc field into the message
    #[arg(long)]
    write_bcc: bool,
    /// Reply-To addresses
    #[arg(long, value_name = "ADDRS")]
    reply_to: Vec<String>,
    /// Subject (any Unicode)
    #[arg(long, short = 's', value_name = "TEXT", default_value = "")]
    subject: String,
    /// Plain-text body, UTF-8 (`-` reads standard input)
    #[arg(long, value_name = "FILE")]
    text: Option<PathBuf>,
    /// HTML body, UTF-8
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Attach a file, sent byte for byte (repeatable)
    #[arg(long, value_name = "FILE")]
    attach: Vec<PathBuf>,
    /// Inline part for the HTML, Content-ID = its file name, which must be
    /// printable ASCII without blanks, `<` or `>` (repeatable)
    #[arg(long, value_name = "FILE")]
    inline: Vec<PathBuf>,
    /// Extra header "Name: value" (repeatable)
    #[arg(long, value_name = "FIELD")]
    header: Vec<String>,
    /// Allow 8bit content (for 8BITMIME transports)
    #[arg(long = "8bit")]
    eight_bit: bool,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `mimeflow normalize`.
#[derive(Args, Debug)]
pub struct NormalizeArgs {
    /// Message files; `-` or none reads standard input. Several need
    /// --out-dir.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write to FILE instead of standard output (one input only)
    #[arg(short, long, value_name = "FILE", conflicts_with = "out_dir")]
    out: Option<PathBuf>,
    /// Write each input's result to DIR under its file name (one process
    /// for a whole batch of messages)
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// `mimeflow smtp-data`.
#[derive(Subcommand, Debug)]
pub enum SmtpDataCommand {
    /// Dot-stuff a message and add the CRLF.CRLF terminator
    Encode(SmtpDataArgs),
    /// Undo dot-stuffing up to the terminator (which must be there)
    Decode(SmtpDataArgs),
}

/// Arguments of `smtp-data encode|decode`.
#[derive(Args, Debug)]
pub struct SmtpDataArgs {
    /// Input file; `-` or none reads standard input
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn read_utf8(path: &Path, what: &str) -> anyhow::Result<String> {
    let mut input = Input::open(Some(path)).with_context(|| format!("{what} file"))?;
    let mut buf = Vec::new();
    input.read_to_end(&mut buf)?;
    String::from_utf8(buf)
        .map_err(|_| anyhow::anyhow!("{what} file {}: not UTF-8 text", path.display()))
}

pub fn compose(args: ComposeArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    let mut b = MessageBuilder::new().from(&args.from).context("--from")?;
    for a in &args.to {
        b = b.to(a).context("--to")?;
    }
    for a in &args.cc {
        b = b.cc(a).context("--cc")?;
    }
    for a in &args.bcc {
        b = b.bcc(a).context("--bcc")?;
    }
    for a in &args.reply_to {
        b = b.reply_to(a).context("--reply-to")?;
    }
    b = b.subject(&args.subject).write_bcc(args.write_bcc);
    for h in &args.header {
        let Some((name, value)) = h.split_once(':') else {
            bail!("--header {h:?}: expected \"Name: value\"");
        };
        b = b.header(name.trim(), value.trim()).context("--header")?;
    }
    if let Some(p) = &args.text {
        b = b.text(&read_utf8(p, "text")?);
    }
    if let Some(p) = &args.html {
        b = b.html(&read_utf8(p, "html")?);
    }
    for p in &args.attach {
        b = b.attach(Attachment::file(p));
    }
    for p in &args.inline {
        let cid = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if cid.is_empty() {
            bail!("--inline {}: not a file name", p.display());
        }
        // The builder checks it too, at write time; checked here, the
        // error names the option.
        mimeflow::compose::check_id("Content-ID", &cid)
            .with_context(|| format!("--inline {p:?}: the file name is the Content-ID"))?;
        b = b.inline(Attachment::file(p), &cid);
    }
    if args.eight_bit {
        b = b.transport(Transport::EightBit);
    }
    // Files are all checked by the builder before it writes anything, and
    // `Output` only replaces -o once everything was written.
    let mut out = Output::create(args.out.as_deref())?;
    b.write_to(&mut out)?;
    out.finish()
}

pub fn normalize_cmd(args: NormalizeArgs, _g: &GlobalArgs) -> anyhow::Result<()> {
    let Some(dir) = args.out_dir.as_deref() else {
        if args.files.len() > 1 {
            bail!("several input files need --out-dir");
        }
        return normalize_one(
            args.files.first().map(PathBuf::as_path),
            args.out.as_deref(),
        );
    };
    if args.files.is_empty() {
        bail!("--out-dir needs input files");
    }
    // Per message: one read of the whole file (sized from its metadata),
    // parsed in place (the buffer becomes the message's source, no copy),
    // normalized into one output buffer reused across the batch, and
    // written with one call.
    let mut normalized = Vec::new();
    for f in &args.files {
        let Some(name) = f.file_name() else {
            bail!("{}: not a file name", f.display());
        };
        let run = |normalized: &mut Vec<u8>| -> anyhow::Result<()> {
            let src = if f.as_os_str() == "-" {
                let mut buf = Vec::new();
                Input::open(None)?.read_to_end(&mut buf)?;
                buf
            } else {
                std::fs::read(f).context("reading")?
            };
            normalized.clear();
            normalize_into(&Message::parse(src), normalized);
            let mut out = Output::create(Some(&dir.join(name)))?;
            out.write_all(normalized)?;
            out.finish()
        };
        run(&mut normalized).with_context(|| f.display().to_string())?;
    }
    Ok(())
}

fn normalize_one(file: Option<&Path>, out: Option<&Path>) -> anyhow::Result<()> {
    let mut input = Input::open(file)?;
    let mut buf = Vec::new();
    input.read_to_end(&mut buf)?;
    // The buffer becomes the message's source: no copy.
    let normalized = normalize_message(&Message::parse(buf));
    let mut out = Output::create(out)?;
    out.write_all(&normalized)?;
    out.finish()
}

/// Read size of the streaming DATA filters.
const BLOCK: usize = 256 * 1024;

pub fn smtp_data(cmd: SmtpDataCommand, _g: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        SmtpDataCommand::Encode(a) => {
            let mut input = Input::open(a.file.as_deref())?;
            let out = Output::create(a.out.as_deref())?;
            let mut s = DotStuffer::new(out);
            std::io::copy(&mut input, &mut s)?;
            s.finish()?.finish()
        }
        SmtpDataCommand::Decode(a) => {
            let mut input = Input::open(a.file.as_deref())?;
            let name = input.file_name().unwrap_or("standard input").to_string();
            let mut out = Output::create(a.out.as_deref())?;
            let mut u = DotUnstuffer::new();
            let mut buf = vec![0u8; BLOCK];
            let mut content = Vec::with_capacity(BLOCK);
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                content.clear();
                let p = u.push(&buf[..n], &mut content);
                out.write_all(&content)?;
                if p.done {
                    break;
                }
            }
            if u.finish().is_err() {
                bail!("{name}: ends without the <CRLF>.<CRLF> terminator");
            }
            out.finish()
        }
    }
}
