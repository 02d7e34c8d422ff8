//! `mimeflow b64 encode|decode`: Base64 over files and pipes.
//!
//! Both run on the library's parallel stream functions: with `-j1` they
//! read and convert blocks of a few hundred KiB on one thread; with more
//! jobs, a pool thread converts a 1 MiB block while this thread reads the
//! next one and writes the last one's output. Memory stays constant
//! whatever the input size. Encoded output is byte-identical to GNU
//! `base64 -w COLS` (every line, the last included, ends with a newline;
//! `-w 0` writes none; empty input writes nothing). Decoding defaults to the
//! MIME mode, which skips CR, LF, space and tab anywhere, so CRLF-wrapped
//! mail bodies need no `-i`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use mimeflow::base64::stream::{par_decode_stream, par_encode_stream};
use mimeflow::base64::{Alphabet, Base64, DecodeMode, LineEnding, Wrap};

use crate::files::{Input, Output};
use crate::GlobalArgs;

#[derive(Subcommand, Debug)]
pub enum B64Command {
    /// Encode FILE (or standard input) to Base64
    Encode(EncodeArgs),
    /// Decode Base64 from FILE (or standard input)
    Decode(DecodeArgs),
}

/// Input and output, common to both directions.
#[derive(Args, Debug)]
pub struct IoArgs {
    /// Input file; `-` or none reads standard input
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Write to FILE, replacing it only once all output is written
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Alphabet and padding, common to both directions.
#[derive(Args, Debug)]
pub struct CodecArgs {
    /// URL- and filename-safe alphabet (`-` and `_` instead of `+` and `/`)
    #[arg(long)]
    url: bool,
    /// Encode without `=` padding; decode: accept unpadded input with -i
    /// (and require it with --strict)
    #[arg(long)]
    no_pad: bool,
}

/// `-w COLS` as GNU `base64` reads it (`xstrtoimax`): optional leading
/// white space and sign, decimal digits only. A width over `i64::MAX` means
/// no wrapping at all, as there (GNU treats the overflow as 0); `-0` is 0;
/// any other negative width is refused. Where `usize` is narrower than 64
/// bits a width it cannot hold saturates: no line can reach it anyway.
fn parse_cols(arg: &str) -> Result<usize, String> {
    let invalid = || format!("invalid wrap size {arg:?}");
    let s = arg.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let zero = digits.bytes().all(|b| b == b'0');
    if negative && !zero {
        return Err(invalid());
    }
    match digits.parse::<u64>() {
        Ok(n) if n <= i64::MAX as u64 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        // Over i64::MAX (u64 overflow included): GNU's "no wrapping".
        _ => Ok(0),
    }
}

impl CodecArgs {
    fn codec(&self) -> Base64 {
        let alphabet = if self.url {
            Alphabet::UrlSafe
        } else {
            Alphabet::Standard
        };
        Base64::new(alphabet, !self.no_pad)
    }
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    codec: CodecArgs,
    /// Wrap lines after COLS characters; 0 disables wrapping (so does a
    /// width over 2^63-1, as with GNU base64)
    #[arg(short, long, value_name = "COLS", default_value = "76", value_parser = parse_cols)]
    wrap: usize,
    /// End lines with CRLF (as MIME and SMTP want) instead of LF
    #[arg(long)]
    crlf: bool,
}

#[derive(Args, Debug)]
pub struct DecodeArgs {
    #[command(flatten)]
    io: IoArgs,
    #[command(flatten)]
    codec: CodecArgs,
    /// RFC 4648 strict: nothing but the alphabet (no line breaks), canonical
    /// padding, zero trailing bits
    #[arg(long, conflicts_with = "lenient")]
    strict: bool,
    /// Skip every byte outside the alphabet and stop at the end of the
    /// padding, like Python's binascii [default mode skips only CR, LF,
    /// space and tab]
    #[arg(short = 'i', long)]
    lenient: bool,
}

impl DecodeArgs {
    fn mode(&self) -> DecodeMode {
        match (self.strict, self.lenient) {
            (true, _) => DecodeMode::Strict,
            (_, true) => DecodeMode::Lenient,
            _ => DecodeMode::Mime,
        }
    }
}

pub fn run(cmd: B64Command, _global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        B64Command::Encode(args) => encode(&args),
        B64Command::Decode(args) => decode(&args),
    }
}

fn encode(args: &EncodeArgs) -> anyhow::Result<()> {
    let line_ending = if args.crlf {
        LineEnding::Crlf
    } else {
        LineEnding::Lf
    };
    let wrap = Wrap::new(args.wrap, line_ending);
    // Input first: a missing input must not leave a temp file to clean.
    let mut input = Input::open(args.io.file.as_deref())?;
    let mut output = Output::create(args.io.out.as_deref())?;
    par_encode_stream(&mut input, &mut output, args.codec.codec(), wrap)?;
    output.finish()
}

fn decode(args: &DecodeArgs) -> anyhow::Result<()> {
    let mut input = Input::open(args.io.file.as_deref())?;
    let mut output = Output::create(args.io.out.as_deref())?;
    match par_decode_stream(&mut input, &mut output, args.codec.codec(), args.mode()) {
        Ok(_) => output.finish(),
        Err(mimeflow::base64::StreamError::Decode(e)) => {
            let what = match input.file_name() {
                Some(name) => format!("{name}: invalid base64 input"),
                None => "invalid base64 input".to_string(),
            };
            Err(e).context(what)
        }
        Err(e) => Err(e.into()),
    }
}
