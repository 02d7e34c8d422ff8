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
use std::io;
use std::path::{Path, PathBuf};

use crate::message::{EntityRef, Message};
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

/// The safe name of an attachment, with a fallback made from its section
/// (computed once per message with [`Message::sections`]).
pub fn name_for_section(part: &EntityRef<'_>, section: &str) -> String {
    safe_file_name(
        &part.filename().unwrap_or_default(),
        &fallback_name(section),
    )
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
