//! Writing attachments to a folder safely.
//!
//! Names in mail are hostile input: they may hold paths (`../../.bashrc`,
//! `C:\Windows\x`), control characters, reserved device names or kilobytes
//! of text. [`safe_file_name`] turns any of them into one plain file name;
//! [`extract_attachments`] creates each file with `O_CREAT|O_EXCL|O_NOFOLLOW`
//! relative to the destination folder opened once ([`crate::safe_fs`]), so
//! nothing is ever overwritten, no planted symlink is followed, and nothing
//! lands outside the folder. A taken name gets a numbered suffix
//! (`report-1.pdf`, [`crate::safe_fs::numbered`]); a counter per name keeps
//! 8,000 parts of one name linear, not quadratic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::message::stream::{self, PartInfo, Take, Visitor};
use crate::message::{DecodeSink, EntityRef, Limits, Message};
use crate::safe_fs::Dir;

pub use crate::safe_fs::MAX_NAME_BYTES;

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A plain file name made from `raw`, or `fallback` when nothing usable is
/// left: `/` and `\` both separate (only the last component is kept), control
/// characters and Unicode format characters (bidi controls such as U+202E,
/// zero-width characters, U+FEFF: they make `invoice\u{202E}fdp.exe` show
/// as `invoiceexe.pdf`) are dropped, `.`/`..` and leading dots or blanks go,
/// Windows device names get a `_` prefix, and the result fits in 255 bytes
/// (cut on a character boundary, keeping a short extension).
pub fn safe_file_name(raw: &str, fallback: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|&c| !c.is_control() && !is_format_char(c))
        .collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let mut name = if trimmed.is_empty() {
        fallback.to_string()
    } else {
        trimmed.to_string()
    };
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        name.insert(0, '_');
    }
    fit(&name, MAX_NAME_BYTES)
}

/// Whether `c` is in Unicode general category Cf (format), as of Unicode
/// 16: invisible characters that change how the text around them shows.
fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891
        | 0x08E2 | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064
        | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001
        | 0xE0020..=0xE007F)
}

/// Cuts `name` to at most `max` bytes, keeping an extension of up to 16 bytes.
fn fit(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let ext = match name.rfind('.') {
        Some(i) if name.len() - i <= 16 && i > 0 => &name[i..],
        _ => "",
    };
    let mut cut = max - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &name[..cut])
}

/// One attachment written by [`extract_attachments`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// IMAP section of the part.
    pub section: String,
    /// The file written (inside the destination folder).
    pub path: PathBuf,
    /// Bytes written.
    pub size: usize,
}

/// Writes every attachment of `msg` (see [`Message::attachments`]) into the
/// existing folder `dest`. Returns the mapping of part to file.
pub fn extract_attachments(msg: &Message, dest: &Path) -> io::Result<Vec<Extracted>> {
    let dir = Dir::open(dest)?;
    let mut names = UniqueNames::default();
    let mut out = Vec::new();
    // One pass for every section: `EntityRef::section` per part would walk
    // the siblings before each, quadratic in a message of many attachments.
    let sections = msg.sections();
    for part in msg.attachments() {
        let data = part.decoded();
        let section = &sections[part.index()];
        let name = names.write(&dir, &name_for_section(&part, section), &data)?;
        out.push(Extracted {
            section: section.clone(),
            path: dest.join(name),
            size: data.len(),
        });
    }
    Ok(out)
}

/// [`extract_attachments`] of the message read from `input` as a stream
/// (see [`crate::message::stream`]): the same files, names and sizes, in
/// memory bounded by the limits, whatever the message's size. A file left
/// half-written by an error is removed.
pub fn extract_attachments_from(input: impl Read, dest: &Path) -> io::Result<Vec<Extracted>> {
    let mut v = ExtractVisitor {
        dir: Dir::open(dest)?,
        dest,
        names: UniqueNames::default(),
        out: Vec::new(),
        current: None,
    };
    match stream::walk(input, Limits::default(), &mut v) {
        Ok(()) => Ok(v.out),
        Err(e) => {
            if let Some((name, _)) = v.current.take() {
                let _ = v.dir.remove_file(&name);
            }
            Err(e)
        }
    }
}

struct ExtractVisitor<'p> {
    dir: Dir,
    dest: &'p Path,
    names: UniqueNames,
    out: Vec<Extracted>,
    /// The file being written (name, section).
    current: Option<(String, String)>,
}

impl Visitor<'static> for ExtractVisitor<'_> {
    fn wants(&self, part: &PartInfo) -> bool {
        part.kind == crate::message::Kind::Leaf && part.attachment
    }

    fn open(&mut self, part: &PartInfo) -> io::Result<Take<'static>> {
        let name = name_from(part.filename.as_deref(), &part.section);
        let (name, file) = self.names.create(&self.dir, &name)?;
        self.current = Some((name, part.section.clone()));
        Ok(Take::Decoded(Box::new(BufWriter::new(file))))
    }

    fn close(
        &mut self,
        _part: &PartInfo,
        mut sink: Box<dyn DecodeSink>,
        size: u64,
    ) -> io::Result<()> {
        sink.flush()?;
        drop(sink);
        let (name, section) = self.current.take().expect("a file is open");
        self.out.push(Extracted {
            section,
            path: self.dest.join(name),
            size: usize::try_from(size).unwrap_or(usize::MAX),
        });
        Ok(())
    }
}

/// The safe name of an attachment, with a fallback made from its section
/// (computed once per message with [`Message::sections`]).
pub fn name_for_section(part: &EntityRef<'_>, section: &str) -> String {
    name_from(part.filename().as_deref(), section)
}

/// The safe name for an attachment named `filename` at `section`.
fn name_from(filename: Option<&str>, section: &str) -> String {
    safe_file_name(filename.unwrap_or_default(), &fallback_name(section))
}

fn fallback_name(section: &str) -> String {
    format!(
        "part-{}.bin",
        if section.is_empty() { "0" } else { section }
    )
}

/// Creates `dest/name` exclusively (never following a symlink), adding `-1`,
/// `-2`, … before the extension while the name is taken, and writes `data`.
pub fn write_unique(dest: &Path, name: &str, data: &[u8]) -> io::Result<PathBuf> {
    let dir = Dir::open(dest)?;
    let name = UniqueNames::default().write(&dir, name, data)?;
    Ok(dest.join(name))
}

/// Free names in one folder: the next number to try for each name, so that
/// n parts named alike cost n creations, not n²/2.
#[derive(Default)]
struct UniqueNames {
    next: HashMap<String, u32>,
}

impl UniqueNames {
    /// Creates `name` (or the first free `name-N`) in `dir` with `data`;
    /// returns the name used.
    fn write(&mut self, dir: &Dir, name: &str, data: &[u8]) -> io::Result<String> {
        let next = self.next.entry(name.to_string()).or_insert(0);
        dir.create_numbered(name, next, data)
    }

    /// Creates `name` (or the first free `name-N`) in `dir`, empty;
    /// returns the name used and the file (the streaming path writes it).
    fn create(&mut self, dir: &Dir, name: &str) -> io::Result<(String, File)> {
        let next = self.next.entry(name.to_string()).or_insert(0);
        crate::safe_fs::first_free(name, next, |candidate| match dir.create_new(candidate) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_plain_file_names() {
        let f = "part-2.bin";
        assert_eq!(safe_file_name("report.pdf", f), "report.pdf");
        assert_eq!(safe_file_name("../../etc/passwd", f), "passwd");
        assert_eq!(safe_file_name("/abs/path/x.txt", f), "x.txt");
        assert_eq!(
            safe_file_name("C:\\Windows\\system32\\evil.dll", f),
            "evil.dll"
        );
        assert_eq!(safe_file_name("..", f), f);
        assert_eq!(safe_file_name(".", f), f);
        assert_eq!(safe_file_name("dir/", f), f);
        assert_eq!(safe_file_name("", f), f);
        assert_eq!(safe_file_name("a\u{0}b\r\nc\t.txt", f), "abc.txt");
        assert_eq!(safe_file_name(".bashrc", f), "bashrc");
        assert_eq!(safe_file_name("CON", f), "_CON");
        assert_eq!(safe_file_name("nul.txt", f), "_nul.txt");
        let long = format!("{}.pdf", "é".repeat(300));
        let s = safe_file_name(&long, f);
        assert!(s.len() <= 255 && s.ends_with(".pdf"), "{s}");
        assert!(std::str::from_utf8(s.as_bytes()).is_ok());
    }
}
