//! `mimeflow dkim verify | sign`: DKIM over whole archives, thin over
//! [`mimeflow::dkim`].

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};
use mimeflow::dkim::dns::Resolver;
use mimeflow::dkim::{
    self, ArchiveOptions, ArchiveSummary, AsOf, KeyStore, SignOptions, SigningKey, Verdict,
};
use mimeflow::mbox::Variant;

use crate::files::{Input, Output};
use crate::GlobalArgs;

/// `mimeflow dkim`.
#[derive(Subcommand, Debug)]
pub enum DkimCommand {
    /// Verify every DKIM signature of every message (mbox, Maildir, .eml folder, one message, -)
    Verify(VerifyArgs),
    /// Sign a message (relaxed/relaxed; rsa-sha256 or ed25519-sha256)
    Sign(SignArgs),
}

/// `mimeflow dkim verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Archives, folders or message files; `-` reads standard input
    #[arg(value_name = "SRC", required = true)]
    sources: Vec<PathBuf>,
    #[command(flatten)]
    check: CheckArgs,
    /// Write the keys this run used as a JSON key cache (for an offline rerun)
    #[arg(long, value_name = "FILE")]
    save_keys: Option<PathBuf>,
    /// One JSON line per message instead of the summary table
    #[arg(long)]
    jsonl: bool,
    /// mbox variant (mboxo, mboxrd, mboxcl, mboxcl2) [default: sniffed]
    #[arg(long, value_name = "NAME", value_parser = parse_variant)]
    variant: Option<Variant>,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The key sources and rules of a verification: `dkim verify`'s flags,
/// and `convert --dkim`'s (one definition for both).
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Keys: a zone file of selector._domainkey.domain TXT records, or a
    /// JSON key cache (repeatable; the first file holding a name wins)
    #[arg(long, value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// Look keys up in DNS when no --keys file holds them
    #[arg(long)]
    dns: bool,
    /// The DNS server for --dns [default: the first nameserver of /etc/resolv.conf]
    #[arg(long, value_name = "ADDR:PORT", requires = "dns")]
    dns_server: Option<std::net::SocketAddr>,
    /// Seconds to wait for a DNS answer (twice, then temperror) [default: 2]
    #[arg(long, value_name = "SECONDS")]
    dns_timeout: Option<f64>,
    /// Judge expiry (x=) and future signatures (t=) as of: now, received,
    /// date, or seconds since the epoch [default: now]
    // No clap default for these two: `convert` refuses them without
    // `--dkim`, so it must see whether they were given, even as the default.
    #[arg(long, value_name = "WHEN", value_parser = parse_as_of)]
    as_of: Option<AsOf>,
    /// Verify rsa-sha1 signatures instead of reporting them as policy
    #[arg(long)]
    allow_sha1: bool,
}

impl CheckArgs {
    /// Whether any of these flags was given (`convert` wants `--dkim` then).
    pub fn any(&self) -> bool {
        !self.keys.is_empty()
            || self.dns
            || self.dns_timeout.is_some()
            || self.as_of.is_some()
            || self.allow_sha1
    }

    /// The key store: the `--keys` files loaded once (earlier files win),
    /// then live DNS with `--dns`.
    pub fn keystore(&self) -> anyhow::Result<KeyStore> {
        let mut store = KeyStore::new("keys");
        // Earlier files win: merged last to first.
        for path in self.keys.iter().rev() {
            store.merge(KeyStore::load(path).map_err(anyhow::Error::msg)?);
        }
        if self.dns {
            let secs = self.dns_timeout.unwrap_or(2.0);
            if !(secs > 0.0 && secs < 3600.0) {
                crate::usage_error("--dns-timeout must be between 0 and 3600 seconds");
            }
            let timeout = std::time::Duration::from_secs_f64(secs);
            let resolver = match self.dns_server {
                Some(addr) => Resolver::new(addr, timeout),
                None => Resolver::system(timeout).map_err(anyhow::Error::msg)?,
            };
            store.set_live(Box::new(resolver));
        }
        Ok(store)
    }

    /// The archive options of these flags.
    pub fn options(&self, variant: Option<Variant>) -> ArchiveOptions {
        ArchiveOptions {
            as_of: self.as_of.unwrap_or(AsOf::Now),
            allow_sha1: self.allow_sha1,
            variant,
        }
    }
}

fn parse_as_of(s: &str) -> Result<AsOf, String> {
    AsOf::parse(s).ok_or_else(|| format!("{s:?}: expected now, received, date or a Unix time"))
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    Variant::from_name(s)
        .ok_or_else(|| format!("unknown mbox variant {s:?} (mboxo, mboxrd, mboxcl, mboxcl2)"))
}

/// `mimeflow dkim sign`.
#[derive(Args, Debug)]
pub struct SignArgs {
    /// The message; `-` or none reads standard input
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Signing domain (d=)
    #[arg(long, value_name = "DOMAIN")]
    domain: String,
    /// Selector (s=)
    #[arg(long, value_name = "SELECTOR")]
    selector: String,
    /// Private key: PEM (PKCS#1 or PKCS#8; RSA 2048-4096 or Ed25519) or a
    /// raw base64 Ed25519 seed
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Fields to sign, colon-separated [default: From, To, Cc, Subject,
    /// Date, Message-ID, Reply-To, In-Reply-To, References, MIME-Version,
    /// Content-Type, Content-Transfer-Encoding, those present]
    #[arg(long, value_name = "NAMES")]
    headers: Option<String>,
    /// Add x= this many seconds after t=
    #[arg(long, value_name = "SECONDS")]
    expire_in: Option<u32>,
    /// Add l= (the body length): text appended later still verifies
    #[arg(long)]
    body_length: bool,
    /// Print the key record to publish (selector._domainkey.domain TXT) on
    /// standard error
    #[arg(long)]
    print_record: bool,
    /// Write to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(cmd: DkimCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        DkimCommand::Verify(a) => verify(a, g),
        DkimCommand::Sign(a) => sign(a),
    }
}

fn verify(args: VerifyArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let keys = args.check.keystore()?;
    let opts = args.check.options(args.variant);
    let mut out = Output::create(args.out.as_deref())?;
    let mut total = ArchiveSummary::default();
    for src in &args.sources {
        let summary = dkim::verify_path(src, &keys, &opts, |r| -> anyhow::Result<()> {
            if args.jsonl {
                let mut line = r.to_json();
                if args.sources.len() > 1 {
                    line["source"] = src.display().to_string().into();
                }
                writeln!(out, "{line}")?;
            }
            Ok(())
        })?;
        total.merge(&summary);
    }
    if let Some(path) = &args.save_keys {
        let mut f = Output::create(Some(path))?;
        f.write_all(keys.used_json().as_bytes())?;
        f.finish()?;
    }
    if !args.jsonl {
        out.write_all(table(&total).as_bytes())?;
    } else if !g.quiet {
        eprint!("{}", table(&total));
    }
    out.finish()
}

/// The summary table: messages, signatures per verdict, then per domain.
fn table(s: &ArchiveSummary) -> String {
    let verdicts: Vec<Verdict> = Verdict::all()
        .into_iter()
        .filter(|v| *v != Verdict::None)
        .collect();
    let mut t = format!(
        "{} messages, {} unsigned{}\n",
        s.messages,
        s.unsigned,
        if s.refused > 0 {
            format!(", {} not read (too large)", s.refused)
        } else {
            String::new()
        }
    );
    let width = s.domains.keys().map(String::len).max().unwrap_or(0).max(6);
    t += &format!("{:<width$}", "domain");
    for v in &verdicts {
        t += &format!(" {:>9}", v.name());
    }
    t.push('\n');
    let mut row = |name: &str, counts: &std::collections::BTreeMap<Verdict, u64>| {
        t += &format!("{name:<width$}");
        for v in &verdicts {
            t += &format!(" {:>9}", counts.get(v).copied().unwrap_or(0));
        }
        t.push('\n');
    };
    for (d, counts) in &s.domains {
        row(d, counts);
    }
    row("all", &s.signatures);
    t
}

fn sign(args: SignArgs) -> anyhow::Result<()> {
    let key_text = std::fs::read(&args.key).with_context(|| args.key.display().to_string())?;
    let key = SigningKey::from_pem(&key_text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.key.display()))?;
    let mut msg = Vec::new();
    Input::open(args.file.as_deref())?.read_to_end(&mut msg)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let headers = args.headers.as_deref().map(|h| {
        h.split(':')
            .map(|s| s.trim().to_string())
            .collect::<Vec<_>>()
    });
    if headers
        .as_ref()
        .is_some_and(|h| h.iter().any(String::is_empty))
    {
        crate::usage_error("--headers: an empty field name");
    }
    let opts = SignOptions {
        domain: args.domain.clone(),
        selector: args.selector.clone(),
        timestamp: Some(now),
        expiration: args.expire_in.map(|s| now + s as i64),
        headers,
        body_length: args.body_length,
    };
    let signed = dkim::sign_message(&msg, &key, &opts).map_err(anyhow::Error::msg)?;
    if args.print_record {
        eprintln!(
            "{}._domainkey.{} TXT \"{}\"",
            args.selector,
            args.domain,
            key.key_record()
        );
    }
    if signed.is_empty() {
        bail!("nothing signed");
    }
    let mut out = Output::create(args.out.as_deref())?;
    out.write_all(&signed)?;
    out.finish()
}
