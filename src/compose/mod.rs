//! Writing mail: a [`MessageBuilder`] for new messages, [`normalize`] to make
//! existing ones 7-bit clean, and SMTP `DATA` framing ([`smtp`]).
//!
//! The builder collects headers, bodies and attachments, then lays the
//! message out in one of the usual shapes:
//!
//! ```text
//! multipart/mixed                      (only with attachments)
//! ├── multipart/alternative            (only with both text and HTML)
//! │   ├── text/plain
//! │   └── multipart/related            (only with inline parts)
//! │       ├── text/html
//! │       └── image/png; Content-ID    (inline parts)
//! ├── application/pdf; attachment      (attachments, message/rfc822 parts)
//! └── message/rfc822
//! ```
//!
//! Output is CRLF throughout. Header text is encoded and folded by
//! [`encode_header`]; each leaf gets the transfer encoding its content needs
//! ([`transfer`]); boundaries are drawn by [`boundary`]. Files are checked
//! when the message is laid out (before the first byte is written) and big
//! ones are streamed: [`MessageBuilder::write_to`] needs memory bounded by a
//! few MiB whatever their size, and encodes each block on rayon's threads.
//!
//! ```
//! use mimeflow::compose::{Attachment, MessageBuilder};
//! use mimeflow::message::Message;
//!
//! # fn main() -> Result<(), mimeflow::compose::ComposeError> {
//! let bytes = MessageBuilder::new()
//!     .from("Zoë <zoe@example.org>")?
//!     .to("bob@example.com")?
//!     .subject("Grüße")
//!     .text("Hallo!\n")
//!     .attach(Attachment::bytes("bericht.pdf", b"%PDF-1.4".to_vec()))
//!     .to_vec()?;
//! let msg = Message::parse(bytes);
//! assert_eq!(msg.root().header_text("Subject").as_deref(), Some("Grüße"));
//! assert_eq!(msg.attachments().next().unwrap().filename().as_deref(), Some("bericht.pdf"));
//! # Ok(()) }
//! ```

pub(crate) mod boundary;
pub(crate) mod encode_header;
pub mod normalize;
pub mod smtp;
pub(crate) mod transfer;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::message::TransferEncoding;
pub use normalize::normalize;
pub use transfer::Transport;

/// Files up to this size are read whole and their encoding chosen from
/// their content; bigger ones are streamed as base64.
const READ_WHOLE: u64 = 1 << 20;

/// What can go wrong while composing.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// An address list that does not parse to `local@domain` mailboxes.
    #[error("invalid address {0:?}")]
    InvalidAddress(String),
    /// A header name that is empty, longer than 900 bytes, not printable
    /// ASCII, or holds a colon, or one the builder writes itself
    /// (MIME-Version, Content-*).
    #[error("invalid header name {0:?}")]
    InvalidHeaderName(String),
    /// An attachment file that cannot be read.
    #[error("attachment {path}: {source}")]
    Attachment {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A Message-ID or Content-ID that is empty, too long, or holds a
    /// byte that could end it or the header field: a control (CR, LF, NUL
    /// and the rest), whitespace, `<`, `>` or non-ASCII.
    #[error("invalid {field} {id:?}: {reason}")]
    InvalidId {
        /// `Message-ID` or `Content-ID`.
        field: &'static str,
        /// The id as given.
        id: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A MIME type that is not `type/subtype` made of RFC 2045 tokens.
    #[error("invalid MIME type {0:?} (expected type/subtype)")]
    InvalidMimeType(String),
    /// A date outside the years RFC 5322 can carry (1900 to 9999), or not
    /// a finite number.
    #[error("date out of range: {0} (RFC 5322 dates run from 1900 to 9999)")]
    DateOutOfRange(String),
    /// Writing the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// DKIM signing failed (`MessageBuilder::dkim_sign`).
    #[error("DKIM signing: {0}")]
    Signing(String),
}

/// Longest Message-ID or Content-ID accepted (without `<>`): the field
/// stays one line, well under RFC 5322's 998 octets.
pub const MAX_ID_LEN: usize = 900;

/// Checks a Message-ID or Content-ID (`field` names which, for the error)
/// and returns it without its enclosing `<>` (one pair, optional).
///
/// Refused: an empty id, one over [`MAX_ID_LEN`] bytes, and any id holding
/// a control character (CR, LF and NUL included), whitespace, `<`, `>` or
/// non-ASCII, since each could end the id or the header field (a CR LF in
/// a Message-ID would add header fields of the caller's choosing). Full
/// `id-left@id-right` syntax is not demanded: file names such as
/// `logo.png` make valid Content-IDs.
pub fn check_id<'a>(field: &'static str, id: &'a str) -> Result<&'a str, ComposeError> {
    let inner = id
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(id);
    let has = |f: fn(&u8) -> bool| inner.as_bytes().iter().any(f);
    // The most alarming reason first: a line break is an injection.
    let reason = if inner.is_empty() {
        Some("empty")
    } else if has(|&b| b == b'\r' || b == b'\n') {
        Some("holds a line break")
    } else if has(|&b| b == b' ' || b == b'\t') {
        Some("holds whitespace")
    } else if has(|&b| b < 0x20 || b == 0x7f) {
        Some("holds a control character")
    } else if has(|&b| b == b'<' || b == b'>') {
        Some("holds '<' or '>'")
    } else if has(|&b| b >= 0x80) {
        Some("not ASCII")
    } else if inner.len() > MAX_ID_LEN {
        Some("longer than 900 bytes")
    } else {
        None
    };
    match reason {
        None => Ok(inner),
        Some(reason) => Err(ComposeError::InvalidId {
            field,
            id: id.to_string(),
            reason,
        }),
    }
}

/// Checks a MIME type: `type/subtype`, each an RFC 2045 token (no blanks,
/// controls or specials, so nothing can follow it into the header).
pub fn check_mime_type(mime: &str) -> Result<(), ComposeError> {
    match mime.split_once('/') {
        Some((t, s)) if encode_header::is_token_str(t) && encode_header::is_token_str(s) => Ok(()),
        _ => Err(ComposeError::InvalidMimeType(mime.to_string())),
    }
}

/// One mailbox: an optional display name and an addr-spec (`local@domain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name, decoded text.
    pub name: Option<String>,
    /// The address.
    pub address: String,
}

impl Mailbox {
    /// A mailbox from its parts; the address must be `local@domain` in ASCII.
    pub fn new(name: Option<&str>, address: &str) -> Result<Mailbox, ComposeError> {
        if !valid_addr_spec(address) {
            return Err(ComposeError::InvalidAddress(address.to_string()));
        }
        Ok(Mailbox {
            name: name.map(str::to_string).filter(|n| !n.trim().is_empty()),
            address: address.to_string(),
        })
    }

    /// Parses an address list (`"Ann <a@x>, b@y"`) with the header parser;
    /// every mailbox must have a `local@domain` address. A list holding a
    /// control character (a line break, say; tabs excepted) is refused:
    /// it is not folded header text but one value.
    pub fn parse_list(list: &str) -> Result<Vec<Mailbox>, ComposeError> {
        if list.chars().any(|c| c.is_control() && c != '\t') {
            return Err(ComposeError::InvalidAddress(list.to_string()));
        }
        let mut defects = Vec::new();
        let parsed = crate::header::parse_address_list(list.as_bytes(), 0, &mut defects);
        if parsed.is_empty() || !defects.is_empty() {
            return Err(ComposeError::InvalidAddress(list.to_string()));
        }
        parsed
            .into_iter()
            .map(|a| {
                if valid_addr_spec(&a.address) {
                    Ok(Mailbox {
                        name: a.name.filter(|n| !n.trim().is_empty()),
                        address: a.address,
                    })
                } else {
                    Err(ComposeError::InvalidAddress(list.to_string()))
                }
            })
            .collect()
    }
}

/// `local@domain`: a local part of printable ASCII and blanks (quoted when
/// written, if it is not a dot-atom), and a dotted set of labels or an
/// address literal (`[192.0.2.1]`, `[IPv6:2001:db8::1]`). Nothing in it can
/// end the field or the angle brackets around it.
fn valid_addr_spec(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    let literal = |d: &str| {
        d.strip_prefix('[')
            .and_then(|d| d.strip_suffix(']'))
            .is_some_and(|d| {
                !d.is_empty()
                    && d.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".:-".contains(&b))
            })
    };
    !local.is_empty()
        && local.bytes().all(|b| (0x20..0x7f).contains(&b))
        && (literal(domain)
            || domain.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }))
}

/// Where a leaf's content comes from.
#[derive(Clone, Debug)]
enum Source {
    Bytes(Bytes),
    File(PathBuf),
}

/// An attachment or inline part.
#[derive(Clone, Debug)]
pub struct Attachment {
    source: Source,
    filename: Option<String>,
    content_type: Option<String>,
    content_id: Option<String>,
    inline: bool,
}

impl Attachment {
    /// An attachment with this file name and content.
    pub fn bytes(filename: &str, data: impl Into<Bytes>) -> Attachment {
        Attachment {
            source: Source::Bytes(data.into()),
            filename: Some(filename.to_string()).filter(|f| !f.is_empty()),
            content_type: None,
            content_id: None,
            inline: false,
        }
    }

    /// An attachment read from `path` when the message is written (checked
    /// when it is laid out); named after the file.
    pub fn file(path: impl AsRef<Path>) -> Attachment {
        let path = path.as_ref();
        Attachment {
            filename: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            source: Source::File(path.to_path_buf()),
            content_type: None,
            content_id: None,
            inline: false,
        }
    }

    /// Sets the MIME type (default: guessed from the file name's extension,
    /// else `application/octet-stream`). It must be `type/subtype` (see
    /// [`check_mime_type`]); a bad one is refused when the message is built
    /// (`to_vec`, `write_into`, `write_to`), as [`ComposeError::InvalidMimeType`].
    pub fn content_type(mut self, mime: &str) -> Attachment {
        self.content_type = Some(mime.to_ascii_lowercase());
        self
    }

    /// Sets the file name written in the headers.
    pub fn filename(mut self, name: &str) -> Attachment {
        self.filename = Some(name.to_string());
        self
    }

    /// Makes it an inline part with this Content-ID (with or without
    /// `<>`), which HTML refers to as `cid:ID`. The id is checked by
    /// [`check_id`] when the message is built (`to_vec`, `write_into`,
    /// `write_to`): one that could end the field (a line break, say) is
    /// refused there as [`ComposeError::InvalidId`].
    pub fn inline_id(mut self, cid: &str) -> Attachment {
        self.inline = true;
        self.content_id = Some(cid.to_string());
        self
    }

    fn mime_type(&self) -> String {
        self.content_type
            .clone()
            .unwrap_or_else(|| guess_type(self.filename.as_deref().unwrap_or("")).to_string())
    }
}

/// A MIME type from a file name's extension (a small table of the usual
/// ones; `application/octet-stream` otherwise).
pub fn guess_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "csv" => "text/csv",
        "htm" | "html" => "text/html",
        "css" => "text/css",
        "md" => "text/markdown",
        "ics" => "text/calendar",
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "mp3" => "audio/mpeg",
        "mp4" => "video/mp4",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

/// A carried message.
#[derive(Clone, Debug)]
enum Carried {
    Built(Box<MessageBuilder>),
    Raw(Bytes),
}

/// Builds a message; see the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct MessageBuilder {
    from: Vec<Mailbox>,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    bcc: Vec<Mailbox>,
    reply_to: Vec<Mailbox>,
    subject: Option<String>,
    date: Option<SystemTime>,
    message_id: Option<String>,
    headers: Vec<(String, String)>,
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Attachment>,
    inline: Vec<Attachment>,
    messages: Vec<(Carried, Option<String>)>,
    transport: Transport,
    write_bcc: bool,
    /// DKIM signing, the last step of writing.
    #[cfg(feature = "dkim")]
    dkim: Option<(
        crate::dkim::SignOptions,
        std::sync::Arc<crate::dkim::SigningKey>,
    )>,
}

impl MessageBuilder {
    /// An empty message.
    pub fn new() -> MessageBuilder {
        MessageBuilder::default()
    }

    /// Adds to From (an address list, validated).
    pub fn from(mut self, list: &str) -> Result<Self, ComposeError> {
        self.from.extend(Mailbox::parse_list(list)?);
        Ok(self)
    }

    /// Adds to To.
    pub fn to(mut self, list: &str) -> Result<Self, ComposeError> {
        self.to.extend(Mailbox::parse_list(list)?);
        Ok(self)
    }

    /// Adds to Cc.
    pub fn cc(mut self, list: &str) -> Result<Self, ComposeError> {
        self.cc.extend(Mailbox::parse_list(list)?);
        Ok(self)
    }

    /// Adds to Bcc. Bcc is not written into the message unless
    /// [`MessageBuilder::write_bcc`] says so; [`MessageBuilder::recipients`]
    /// includes it, for the SMTP envelope.
    pub fn bcc(mut self, list: &str) -> Result<Self, ComposeError> {
        self.bcc.extend(Mailbox::parse_list(list)?);
        Ok(self)
    }

    /// Adds to Reply-To.
    pub fn reply_to(mut self, list: &str) -> Result<Self, ComposeError> {
        self.reply_to.extend(Mailbox::parse_list(list)?);
        Ok(self)
    }

    /// Adds a mailbox to From, To, Cc, Bcc or Reply-To by field name.
    pub fn mailbox(mut self, field: &str, mailbox: Mailbox) -> Result<Self, ComposeError> {
        let list = match field.to_ascii_lowercase().as_str() {
            "from" => &mut self.from,
            "to" => &mut self.to,
            "cc" => &mut self.cc,
            "bcc" => &mut self.bcc,
            "reply-to" => &mut self.reply_to,
            _ => return Err(ComposeError::InvalidHeaderName(field.to_string())),
        };
        list.push(mailbox);
        Ok(self)
    }

    /// Signs the message with DKIM (relaxed/relaxed, the default header
    /// list, `t=` the time of writing) as the last step of writing: the
    /// signed bytes are exactly what [`MessageBuilder::to_vec`] returns.
    /// `bh=` needs the body before the header is written, so
    /// [`MessageBuilder::write_to`] writes the message twice, once into
    /// the hash and once out: attachment files are read twice.
    #[cfg(feature = "dkim")]
    pub fn dkim_sign(
        mut self,
        domain: &str,
        selector: &str,
        key: std::sync::Arc<crate::dkim::SigningKey>,
    ) -> Self {
        let opts = crate::dkim::SignOptions {
            domain: domain.to_string(),
            selector: selector.to_string(),
            timestamp: None,
            expiration: None,
            headers: None,
            body_length: false,
        };
        self.dkim = Some((opts, key));
        self
    }

    /// The signing options with `t=` set to now.
    #[cfg(feature = "dkim")]
    fn dkim_now(&self) -> Option<(crate::dkim::SignOptions, &crate::dkim::SigningKey)> {
        self.dkim.as_ref().map(|(opts, key)| {
            let now = SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let mut opts = opts.clone();
            opts.timestamp = Some(now);
            (opts, &**key)
        })
    }

    /// Writes Bcc into the message too (default: no).
    pub fn write_bcc(mut self, yes: bool) -> Self {
        self.write_bcc = yes;
        self
    }

    /// Sets the subject.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = Some(subject.to_string());
        self
    }

    /// Sets the Date (default: now, when written). Dates from 1900 to 9999
    /// are written (before 1970 too); others are refused when the message
    /// is built, as [`ComposeError::DateOutOfRange`] (see [`rfc5322_date`]).
    pub fn date(mut self, date: SystemTime) -> Self {
        self.date = Some(date);
        self
    }

    /// Sets the Message-ID (with or without `<>`; default: generated).
    ///
    /// The id is checked by [`check_id`] when the message is built
    /// (`to_vec`, `write_into`, `write_to`, which write nothing then): one
    /// holding a line break, a control, whitespace, `<` or `>` is refused
    /// as [`ComposeError::InvalidId`], so it cannot add header fields.
    pub fn message_id(mut self, id: &str) -> Self {
        self.message_id = Some(id.to_string());
        self
    }

    /// Adds a custom header, its value encoded as unstructured text.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ComposeError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_ID_LEN
            && name.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b':')
            && {
                let l = name.to_ascii_lowercase();
                !(l.starts_with("content-")
                    || matches!(
                        l.as_str(),
                        "mime-version"
                            | "from"
                            | "to"
                            | "cc"
                            | "bcc"
                            | "reply-to"
                            | "subject"
                            | "date"
                            | "message-id"
                    ))
            };
        if !ok {
            return Err(ComposeError::InvalidHeaderName(name.to_string()));
        }
        self.headers.push((name.to_string(), value.to_string()));
        Ok(self)
    }

    /// Sets the plain-text body.
    pub fn text(mut self, text: &str) -> Self {
        self.text = Some(text.to_string());
        self
    }

    /// Sets the HTML body.
    pub fn html(mut self, html: &str) -> Self {
        self.html = Some(html.to_string());
        self
    }

    /// Adds an attachment (or an inline part, if it has a Content-ID).
    pub fn attach(mut self, a: Attachment) -> Self {
        if a.inline {
            self.inline.push(a);
        } else {
            self.attachments.push(a);
        }
        self
    }

    /// Adds an inline part with a Content-ID; it goes into a
    /// multipart/related with the HTML body.
    pub fn inline(self, a: Attachment, cid: &str) -> Self {
        self.attach(a.inline_id(cid))
    }

    /// Attaches a message (message/rfc822), optionally with a file name.
    pub fn attach_message(mut self, msg: MessageBuilder, filename: Option<&str>) -> Self {
        self.messages
            .push((Carried::Built(Box::new(msg)), filename.map(str::to_string)));
        self
    }

    /// Attaches an existing message (its bytes are normalized first unless
    /// the transport allows 8bit/binary).
    pub fn attach_message_bytes(mut self, raw: impl Into<Bytes>, filename: Option<&str>) -> Self {
        self.messages
            .push((Carried::Raw(raw.into()), filename.map(str::to_string)));
        self
    }

    /// Which identity encodings may be used (default 7-bit only).
    pub fn transport(mut self, t: Transport) -> Self {
        self.transport = t;
        self
    }

    /// Every recipient (To, Cc, Bcc), for the SMTP envelope.
    pub fn recipients(&self) -> Vec<&str> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.bcc)
            .map(|m| m.address.as_str())
            .collect()
    }

    /// The message in memory. A message too big for memory (a huge
    /// attachment file) is an `Io` error of kind `OutOfMemory`, not an
    /// abort: use [`MessageBuilder::write_to`] for those.
    pub fn to_vec(&self) -> Result<Vec<u8>, ComposeError> {
        let mut out = Vec::new();
        self.write_into(&mut out)?;
        Ok(out)
    }

    /// Appends the message to `out` (a buffer reused across messages
    /// saves the page faults of a fresh allocation).
    pub fn write_into(&self, out: &mut Vec<u8>) -> Result<(), ComposeError> {
        #[cfg(feature = "dkim")]
        if let Some((opts, key)) = self.dkim_now() {
            let mut plain = Vec::new();
            self.plan()?.write(&mut Sink::Vec(&mut plain))?;
            let signed =
                crate::dkim::sign_message(&plain, key, &opts).map_err(ComposeError::Signing)?;
            out.extend_from_slice(&signed);
            return Ok(());
        }
        let node = self.plan()?;
        let hint = node.size_hint();
        out.try_reserve(hint).map_err(|_| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("a message of {hint} bytes does not fit in memory; write it to a file"),
            )
        })?;
        node.write(&mut Sink::Vec(out))
    }

    /// Streams the message to `w`. Files are checked before anything is
    /// written; big ones are read and encoded a block at a time. Wrap `w`
    /// in a `BufWriter` when it is unbuffered.
    pub fn write_to(&self, mut w: impl Write) -> Result<(), ComposeError> {
        let node = self.plan()?;
        #[cfg(feature = "dkim")]
        if let Some((opts, key)) = self.dkim_now() {
            // The first pass only hashes; the field goes out before the
            // second.
            let mut hasher = crate::dkim::sign::BodyHasher::default();
            node.write(&mut Sink::Writer(&mut hasher))?;
            let field = hasher
                .signature_field(key, &opts)
                .map_err(ComposeError::Signing)?;
            w.write_all(&field)?;
        }
        node.write(&mut Sink::Writer(&mut w))?;
        w.flush()?;
        Ok(())
    }

    /// Lays the message out: every input checked, headers rendered,
    /// encodings chosen, files checked, boundaries drawn.
    fn plan(&self) -> Result<Node, ComposeError> {
        let mut head = String::new();
        let date = self.date.unwrap_or_else(SystemTime::now);
        head.push_str(&format!("Date: {}\r\n", rfc5322_date(date)?));
        let lists: [(&str, &Vec<Mailbox>, bool); 5] = [
            ("From", &self.from, true),
            ("Reply-To", &self.reply_to, true),
            ("To", &self.to, true),
            ("Cc", &self.cc, true),
            ("Bcc", &self.bcc, self.write_bcc),
        ];
        for (name, list, write) in lists {
            // `Mailbox` has public fields: one built by hand is checked here.
            if let Some(m) = list.iter().find(|m| !valid_addr_spec(&m.address)) {
                return Err(ComposeError::InvalidAddress(m.address.clone()));
            }
            if write && !list.is_empty() {
                head.push_str(&encode_header::address_list(
                    name,
                    list.iter().map(|m| (m.name.as_deref(), m.address.as_str())),
                ));
            }
        }
        let id = match &self.message_id {
            Some(id) => Some(format!("<{}>", check_id("Message-ID", id)?)),
            None => None,
        };
        let id = id.unwrap_or_else(|| {
            let domain = self
                .from
                .first()
                .and_then(|m| m.address.rsplit_once('@').map(|(_, d)| d.to_string()))
                .unwrap_or_else(boundary::id_domain);
            boundary::unique_id(&domain)
        });
        head.push_str(&format!("Message-ID: {id}\r\n"));
        if let Some(s) = &self.subject {
            head.push_str(&encode_header::unstructured("Subject", s));
        }
        for (n, v) in &self.headers {
            head.push_str(&encode_header::unstructured(n, v));
        }
        head.push_str("MIME-Version: 1.0\r\n");
        let mut body = self.plan_body()?;
        let mut header = head.into_bytes();
        header.append(&mut body.header);
        body.header = header;
        Ok(body)
    }

    fn plan_body(&self) -> Result<Node, ComposeError> {
        let t = self.transport;
        let text = self.text.as_deref().map(|s| text_leaf("plain", s, t));
        let html = self.html.as_deref().map(|s| text_leaf("html", s, t));
        let mut inline = Vec::new();
        for a in &self.inline {
            inline.push(attachment_leaf(a, t)?);
        }
        // HTML with its inline parts; inline parts without HTML become
        // ordinary (inline-disposition) parts of the mixed level.
        let mut extra_inline = Vec::new();
        let html = match html {
            Some(h) if !inline.is_empty() => {
                let mut kids = vec![h];
                kids.append(&mut inline);
                Some(multipart("related", kids))
            }
            h => {
                extra_inline.append(&mut inline);
                h
            }
        };
        let main = match (text, html) {
            (Some(t), Some(h)) => multipart("alternative", vec![t, h]),
            (Some(t), None) => t,
            (None, Some(h)) => h,
            (None, None) => text_leaf("plain", "", t),
        };
        let mut rest = extra_inline;
        for a in &self.attachments {
            rest.push(attachment_leaf(a, t)?);
        }
        for (m, filename) in &self.messages {
            rest.push(message_part(m, filename.as_deref(), t)?);
        }
        Ok(if rest.is_empty() {
            main
        } else {
            let mut kids = vec![main];
            kids.append(&mut rest);
            multipart("mixed", kids)
        })
    }
}

/// A laid-out entity: its rendered header block (without the blank line)
/// and its body.
#[derive(Debug)]
struct Node {
    header: Vec<u8>,
    body: NodeBody,
    /// The identity encoding this node needs its container to allow.
    cte: TransferEncoding,
}

#[derive(Debug)]
enum NodeBody {
    /// Content to encode with `cte` (text already in CRLF form).
    Data { data: Bytes, text: bool },
    /// A big file, streamed as base64.
    File { path: PathBuf, len: u64 },
    /// Children between boundaries.
    Multipart {
        boundary: String,
        children: Vec<Node>,
    },
    /// A carried message laid out by us.
    Message(Box<Node>),
    /// A carried message copied as is.
    Raw(Bytes),
}

enum Sink<'a> {
    Vec(&'a mut Vec<u8>),
    Writer(&'a mut dyn Write),
}

impl Sink<'_> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Vec(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
            Sink::Writer(w) => w.write_all(b),
        }
    }
}

impl Node {
    /// The output size (exact but for QP), saturating: file lengths are
    /// the file system's to give.
    fn size_hint(&self) -> usize {
        let body = match &self.body {
            // Exact for base64 (the big parts), so the output vector
            // is allocated once and never moved while it is encoded into.
            NodeBody::Data { data, .. } => match self.cte {
                TransferEncoding::Base64 => base64_len(data.len()),
                TransferEncoding::QuotedPrintable => data.len() + data.len() / 8 + 16,
                _ => data.len(),
            },
            NodeBody::File { len, .. } => base64_len(
                usize::try_from(*len)
                    .unwrap_or(usize::MAX)
                    .min(usize::MAX / 2),
            ),
            NodeBody::Multipart { boundary, children } => children
                .iter()
                .map(|c| c.size_hint().saturating_add(boundary.len() + 8))
                .fold(0, usize::saturating_add),
            NodeBody::Message(m) => m.size_hint(),
            NodeBody::Raw(b) => b.len(),
        };
        body.saturating_add(self.header.len() + 64)
    }

    /// Identity content of this subtree that a boundary must not occur in:
    /// headers and bodies not encoded with base64/QP.
    fn raw_content<'a>(&'a self, out: &mut Vec<&'a [u8]>) {
        out.push(&self.header);
        match &self.body {
            NodeBody::Data { data, .. } => {
                if !self.cte.is_encoded() {
                    out.push(data);
                }
            }
            NodeBody::File { .. } => {}
            NodeBody::Multipart { children, .. } => {
                children.iter().for_each(|c| c.raw_content(out))
            }
            NodeBody::Message(m) => m.raw_content(out),
            NodeBody::Raw(b) => out.push(b),
        }
    }

    fn write(&self, out: &mut Sink<'_>) -> Result<(), ComposeError> {
        out.put(&self.header)?;
        out.put(b"\r\n")?;
        match &self.body {
            NodeBody::Data { data, text } => match out {
                Sink::Vec(v) => transfer::encode_append(data, &self.cte, *text, v),
                Sink::Writer(w) => match self.cte {
                    TransferEncoding::Base64 => transfer::base64_write(data, *w)?,
                    _ => {
                        let mut buf = Vec::new();
                        transfer::encode_append(data, &self.cte, *text, &mut buf);
                        w.write_all(&buf)?;
                    }
                },
            },
            NodeBody::File { path, .. } => {
                let mut f = File::open(path).map_err(|e| attach_err(path, e))?;
                let mut read = ReadSide {
                    inner: &mut f,
                    err: None,
                };
                let r = match out {
                    Sink::Vec(v) => transfer::base64_stream(&mut read, *v).map(|_| ()),
                    Sink::Writer(w) => transfer::base64_stream(&mut read, *w).map(|_| ()),
                };
                if let Some(e) = read.err.take() {
                    return Err(attach_err(path, e));
                }
                r?;
            }
            NodeBody::Multipart { boundary, children } => {
                for c in children {
                    out.put(b"--")?;
                    out.put(boundary.as_bytes())?;
                    out.put(b"\r\n")?;
                    c.write(out)?;
                    out.put(b"\r\n")?;
                }
                out.put(b"--")?;
                out.put(boundary.as_bytes())?;
                out.put(b"--\r\n")?;
            }
            NodeBody::Message(m) => m.write(out)?,
            NodeBody::Raw(b) => out.put(b)?,
        }
        Ok(())
    }
}

/// The length of a base64 body (MIME lines, CRLF).
fn base64_len(n: usize) -> usize {
    crate::base64::STANDARD.encoded_length_wrapped(n, crate::base64::Wrap::MIME)
}

/// Tells read errors (the attachment's) from write errors (the output's).
struct ReadSide<'a> {
    inner: &'a mut File,
    err: Option<io::Error>,
}

impl io::Read for ReadSide<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.err = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

fn attach_err(path: &Path, source: io::Error) -> ComposeError {
    ComposeError::Attachment {
        path: path.to_path_buf(),
        source,
    }
}

fn text_leaf(subtype: &str, s: &str, t: Transport) -> Node {
    let data = transfer::to_crlf(s.as_bytes());
    let stats = transfer::Stats::scan(&data);
    let cte = transfer::choose(&stats, true, t);
    let mut header = encode_header::with_params(
        "Content-Type",
        &format!("text/{subtype}"),
        &[("charset", "utf-8")],
    );
    header.push_str(&format!("Content-Transfer-Encoding: {}\r\n", cte.as_str()));
    Node {
        header: header.into_bytes(),
        body: NodeBody::Data {
            data: Bytes::from(data),
            text: true,
        },
        cte,
    }
}

fn attachment_leaf(a: &Attachment, t: Transport) -> Result<Node, ComposeError> {
    let mime = a.mime_type();
    check_mime_type(&mime)?;
    let cid = match &a.content_id {
        Some(cid) => Some(check_id("Content-ID", cid)?),
        None => None,
    };
    let is_text = mime.starts_with("text/");
    // The content, or the file to stream.
    let (data, file) = match &a.source {
        Source::Bytes(b) => (Some(b.clone()), None),
        Source::File(path) => {
            let meta = std::fs::metadata(path).map_err(|e| attach_err(path, e))?;
            if !meta.is_file() {
                return Err(attach_err(path, io::Error::other("not a regular file")));
            }
            // Open now so an unreadable file fails before any output.
            File::open(path).map_err(|e| attach_err(path, e))?;
            if meta.len() <= READ_WHOLE {
                let b = std::fs::read(path).map_err(|e| attach_err(path, e))?;
                (Some(Bytes::from(b)), None)
            } else {
                (None, Some((path.clone(), meta.len())))
            }
        }
    };
    let (body, cte, charset) = match (data, file) {
        (Some(d), _) => {
            // An attachment arrives byte for byte: its line ends are never
            // rewritten (a text file with LF ends gets base64 or binary-mode
            // QP, not CRLF), only the encoding is chosen from its bytes.
            let charset = (is_text && std::str::from_utf8(&d).is_ok()).then_some("utf-8");
            // Binary content on a 7-bit transport is base64 whatever the
            // rest holds: one 8-bit byte or NUL near the start settles it
            // without scanning a big attachment.
            let head = &d[..d.len().min(64 << 10)];
            let (cte, text_mode) = if !is_text
                && t == Transport::SevenBit
                && head.iter().any(|&b| b >= 0x80 || b == 0)
            {
                (TransferEncoding::Base64, false)
            } else {
                transfer::choose_exact(&transfer::Stats::scan(&d), is_text, t)
            };
            (
                NodeBody::Data {
                    data: d,
                    text: text_mode,
                },
                cte,
                charset,
            )
        }
        (None, Some((path, len))) => (NodeBody::File { path, len }, TransferEncoding::Base64, None),
        (None, None) => unreachable!("one source"),
    };
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(c) = charset {
        params.push(("charset", c));
    }
    let mut header = String::new();
    let filename = a.filename.as_deref();
    match filename {
        Some(f) if encode_header::needs_2231("filename", f) => {
            // RFC 2047 `name=` for old clients beside RFC 2231 `filename*`.
            let mut ct = encode_header::with_params("Content-Type", &mime, &params);
            ct.truncate(ct.len() - 2);
            ct.push_str(";\r\n ");
            ct.push_str(&encode_header::param_2047("name", f));
            ct.push_str("\r\n");
            header.push_str(&ct);
        }
        Some(f) => {
            params.push(("name", f));
            header.push_str(&encode_header::with_params("Content-Type", &mime, &params));
        }
        None => header.push_str(&encode_header::with_params("Content-Type", &mime, &params)),
    }
    header.push_str(&format!("Content-Transfer-Encoding: {}\r\n", cte.as_str()));
    let kind = if a.inline { "inline" } else { "attachment" };
    let dparams: Vec<(&str, &str)> = filename.map(|f| ("filename", f)).into_iter().collect();
    header.push_str(&encode_header::with_params(
        "Content-Disposition",
        kind,
        &dparams,
    ));
    if let Some(cid) = cid {
        header.push_str(&format!("Content-ID: <{cid}>\r\n"));
    }
    Ok(Node {
        header: header.into_bytes(),
        body,
        cte,
    })
}

fn message_part(m: &Carried, filename: Option<&str>, t: Transport) -> Result<Node, ComposeError> {
    let (body, cte) = match m {
        Carried::Built(b) => {
            let inner = b.clone().transport(t).plan()?;
            let cte = inner.subtree_cte();
            (NodeBody::Message(Box::new(inner)), cte)
        }
        Carried::Raw(raw) => {
            let bytes = if t == Transport::SevenBit {
                Bytes::from(normalize(raw))
            } else {
                Bytes::from(transfer::to_crlf(raw))
            };
            let s = transfer::Stats::scan(&bytes);
            let cte = if s.is_7bit() {
                TransferEncoding::SevenBit
            } else if s.is_8bit() && t >= Transport::EightBit {
                TransferEncoding::EightBit
            } else {
                TransferEncoding::Binary
            };
            (NodeBody::Raw(bytes), cte)
        }
    };
    let mut header = String::from("Content-Type: message/rfc822\r\n");
    if cte != TransferEncoding::SevenBit {
        header.push_str(&format!("Content-Transfer-Encoding: {}\r\n", cte.as_str()));
    }
    let dparams: Vec<(&str, &str)> = filename.map(|f| ("filename", f)).into_iter().collect();
    header.push_str(&encode_header::with_params(
        "Content-Disposition",
        "attachment",
        &dparams,
    ));
    Ok(Node {
        header: header.into_bytes(),
        body,
        cte,
    })
}

impl Node {
    /// The widest identity encoding used in this subtree.
    fn subtree_cte(&self) -> TransferEncoding {
        match &self.body {
            NodeBody::Multipart { children, .. } => {
                let v: Vec<TransferEncoding> = children.iter().map(Node::subtree_cte).collect();
                transfer::composite(v.iter().chain(std::iter::once(&self.cte)))
            }
            NodeBody::Message(m) => transfer::composite([&m.subtree_cte(), &self.cte]),
            _ => transfer::composite([&self.cte]),
        }
    }
}

fn multipart(subtype: &str, children: Vec<Node>) -> Node {
    let cte = transfer::composite(
        children
            .iter()
            .map(|c| c.subtree_cte())
            .collect::<Vec<_>>()
            .iter(),
    );
    let mut raw = Vec::new();
    for c in &children {
        c.raw_content(&mut raw);
    }
    let boundary = boundary::generate_for(raw.iter().copied());
    let mut header = encode_header::with_params(
        "Content-Type",
        &format!("multipart/{subtype}"),
        &[("boundary", &boundary)],
    );
    if cte != TransferEncoding::SevenBit {
        header.push_str(&format!("Content-Transfer-Encoding: {}\r\n", cte.as_str()));
    }
    Node {
        header: header.into_bytes(),
        body: NodeBody::Multipart { boundary, children },
        cte,
    }
}

/// 1900-01-01T00:00:00Z, the first instant an RFC 5322 date can carry
/// (§3.3: "any numeric year 1900 or later").
pub const DATE_MIN: i64 = -2_208_988_800;
/// 9999-12-31T23:59:59Z, the last one with a four-digit year.
pub const DATE_MAX: i64 = 253_402_300_799;

/// Whole seconds since the epoch, rounded down (so 0.5 s before it is -1),
/// if they fit an `i64`.
fn unix_seconds(t: SystemTime) -> Option<i64> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(before) => {
            let d = before.duration();
            let s = i64::try_from(d.as_secs()).ok()?;
            s.checked_add(i64::from(d.subsec_nanos() > 0))
                .and_then(i64::checked_neg)
        }
    }
}

/// An RFC 5322 date in UTC: `Tue, 01 Jul 2025 12:00:00 +0000`, in the
/// proleptic Gregorian calendar, for any instant from [`DATE_MIN`] (1900)
/// to [`DATE_MAX`] (9999); others are [`ComposeError::DateOutOfRange`].
pub fn rfc5322_date(t: SystemTime) -> Result<String, ComposeError> {
    let secs = unix_seconds(t)
        .filter(|s| (DATE_MIN..=DATE_MAX).contains(s))
        .ok_or_else(|| {
            let desc = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => format!("{} s after the epoch", d.as_secs()),
                Err(e) => format!("{} s before the epoch", e.duration().as_secs()),
            };
            ComposeError::DateOutOfRange(desc)
        })?;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::header::date::civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    Ok(format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WD[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> SystemTime {
        if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        }
    }

    #[test]
    fn date() {
        let cases = [
            (1_751_371_200, "Tue, 01 Jul 2025 12:00:00 +0000"),
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
            // Before 1970 used to come out as the epoch (issue 9 item 15).
            (-86_400 * 365, "Wed, 01 Jan 1969 00:00:00 +0000"),
            (-14_182_940, "Sun, 20 Jul 1969 20:17:40 +0000"),
            (-2_203_891_200, "Thu, 01 Mar 1900 00:00:00 +0000"),
            (-2_203_977_600, "Wed, 28 Feb 1900 00:00:00 +0000"),
            (DATE_MIN, "Mon, 01 Jan 1900 00:00:00 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (DATE_MAX, "Fri, 31 Dec 9999 23:59:59 +0000"),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc5322_date(at(secs)).unwrap(), want, "{secs}");
        }
        // Half a second before the epoch is still 23:59:59 of the day before.
        let t = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(rfc5322_date(t).unwrap(), "Wed, 31 Dec 1969 23:59:59 +0000");
        for secs in [DATE_MIN - 1, DATE_MAX + 1, i64::MIN + 1, i64::MAX] {
            assert!(
                matches!(rfc5322_date(at(secs)), Err(ComposeError::DateOutOfRange(_))),
                "{secs}"
            );
        }
    }
}
