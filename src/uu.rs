//! uuencode: decoding of `begin MODE NAME` ... `end` blocks, in
//! `x-uuencode` bodies and inside text/plain bodies, where old mailers put
//! attachments.
//!
//! The format: each data line starts with a length character (`0x20 + n`,
//! n <= 45 bytes), then groups of four characters (`0x20 + 6 bits`, with
//! a backtick standing for 0), a line of length 0 (`` ` `` or a space), then
//! `end`. Decoding is lenient, like `uudecode` and Python's `binascii`: the
//! length character is trusted, characters missing at the end of a line
//! (trailing spaces eaten by a mail relay) count as zero (so a short line may
//! decode to up to 45 bytes: output is at most 45 times the input), extra characters
//! (some encoders add a checksum) are ignored, and a block without `end`
//! stops at the first line that cannot be data. Any such irregularity clears
//! [`UuBlock::ok`]. Work is linear in the input and iterative.

use std::io::{self, Write};

use memchr::memchr;
use memchr::memmem::Finder;

/// One uuencoded block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UuBlock {
    /// The file name of the `begin` line, if any (lossy UTF-8).
    pub name: Option<String>,
    /// The octal permission mode of the `begin` line, if any.
    pub mode: Option<u32>,
    /// The decoded bytes.
    pub data: Vec<u8>,
    /// `true` when the block was well-formed: every line's length matched
    /// its content, only uuencode characters, a zero-length line, then `end`.
    pub ok: bool,
    /// Byte range of the block in the input, from the `begin` line to the
    /// end of the `end` line (its line end included), or to the last line
    /// consumed when `end` is missing.
    pub range: core::ops::Range<usize>,
}

/// Decodes the first block in `src` (an `x-uuencode` body, possibly with
/// text before the block). The `begin` line is read leniently: the mode and
/// name may be missing. `None` when there is no `begin` line at a line start.
///
/// ```
/// let block = mimeflow::uu::decode_to_vec(b"begin 644 cat.txt\n#0V%T\n`\nend\n").unwrap();
/// assert_eq!((block.data.as_slice(), block.name.as_deref(), block.mode), (&b"Cat"[..], Some("cat.txt"), Some(0o644)));
/// assert!(block.ok);
/// ```
pub fn decode_to_vec(src: &[u8]) -> Option<UuBlock> {
    let mut data = Vec::new();
    let block = decode_to_writer(src, &mut data).expect("writing to a Vec cannot fail");
    block.map(|b| UuBlock { data, ..b })
}

/// [`decode_to_vec`], streaming: the data goes to `w` as it is decoded, at most
/// [`FLUSH`] bytes held at a time, and the block comes back with empty
/// `data`. `Ok(None)` when there is no `begin` line at a line start.
pub fn decode_to_writer(src: &[u8], w: &mut impl Write) -> io::Result<Option<UuBlock>> {
    decode_flushing(src, w, FLUSH)
}

/// [`decode_to_writer`] flushing every `flush` bytes (the message decoder
/// passes its step size).
pub(crate) fn decode_flushing(
    src: &[u8],
    w: &mut impl Write,
    flush: usize,
) -> io::Result<Option<UuBlock>> {
    let mut from = 0;
    match next_begin(src, &mut from, &Finder::new(b"begin"), false) {
        Some((start, next, mode, name)) => {
            decode_block(src, start, next, mode, name, w, flush).map(Some)
        }
        None => Ok(None),
    }
}

/// The next `begin` line that parses ([`parse_begin`], `strict` as there)
/// and stands at a line start, searching `src` from `*from` with `finder`:
/// where it starts, where the line after it starts, its mode and name.
/// `*from` moves past every place looked at.
fn next_begin(
    src: &[u8],
    from: &mut usize,
    finder: &Finder<'_>,
    strict: bool,
) -> Option<(usize, usize, Option<u32>, Option<String>)> {
    while let Some(k) = finder.find(&src[*from..]) {
        let start = *from + k;
        *from = start + 1;
        if start != 0 && src[start - 1] != b'\n' {
            continue;
        }
        let (line, next) = line_at(src, start);
        if let Some((mode, name)) = parse_begin(trim_end(line), strict) {
            return Some((start, next, mode, name));
        }
    }
    None
}

/// Finds the uuencoded blocks inside a text/plain body: each starts at a
/// `begin NNN name` line (at a line start, octal mode, a name), and is
/// decoded as by [`decode_to_vec`]. Blocks never overlap; text between them is
/// skipped.
pub fn find_blocks(text: &[u8]) -> Vec<UuBlock> {
    let finder = Finder::new(b"begin ");
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some((start, next, mode, name)) = next_begin(text, &mut from, &finder, true) {
        let mut data = Vec::new();
        let block = decode_block(text, start, next, mode, name, &mut data, FLUSH)
            .expect("writing to a Vec cannot fail");
        from = block.range.end.max(from);
        blocks.push(UuBlock { data, ..block });
    }
    blocks
}

/// The line starting at `start` without its line end (and a CR before it),
/// and where the next line starts. Trailing spaces stay: they are data.
fn line_at(src: &[u8], start: usize) -> (&[u8], usize) {
    let (end, next) = match memchr(b'\n', &src[start..]) {
        Some(k) => (start + k, start + k + 1),
        None => (src.len(), src.len()),
    };
    let mut line = &src[start..end];
    while let [rest @ .., b'\r'] = line {
        line = rest;
    }
    (line, next)
}

/// `line` without trailing spaces and tabs.
fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

/// Reads `begin MODE NAME`. `strict`: the mode (octal) and a name are
/// required; otherwise both are optional.
fn parse_begin(line: &[u8], strict: bool) -> Option<(Option<u32>, Option<String>)> {
    let rest = line.strip_prefix(b"begin")?;
    if !(rest.is_empty() || rest[0] == b' ' || rest[0] == b'\t') {
        return None; // "begin-base64", "beginning", ...
    }
    let rest = trim_start(rest);
    let digits = rest
        .iter()
        .take_while(|b| (b'0'..=b'7').contains(b))
        .count();
    let ends_word = rest.get(digits).is_none_or(|&b| b == b' ' || b == b'\t');
    let (mode, rest) = if (1..=7).contains(&digits) && ends_word {
        let mode = rest[..digits]
            .iter()
            .fold(0u32, |m, &d| m << 3 | u32::from(d - b'0'));
        (Some(mode), trim_start(&rest[digits..]))
    } else {
        (None, rest)
    };
    let name = (!rest.is_empty()).then(|| String::from_utf8_lossy(rest).into_owned());
    if strict && (mode.is_none() || name.is_none()) {
        return None;
    }
    Some((mode, name))
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Decoded bytes [`decode_to_writer`] holds before writing them out.
const FLUSH: usize = 64 * 1024;

/// Decodes the data lines after a `begin` line (`begin_at`, `pos`: where
/// that line starts and where the next one does) to `w`, in writes of about
/// `flush` bytes; the block returned has empty `data`.
fn decode_block(
    src: &[u8],
    begin_at: usize,
    mut pos: usize,
    mode: Option<u32>,
    name: Option<String>,
    w: &mut impl Write,
    flush: usize,
) -> io::Result<UuBlock> {
    let mut data = Vec::new();
    let mut ok = true;
    let mut end = pos;
    let mut terminated = false;
    loop {
        if pos >= src.len() {
            ok = false; // no "end"
            break;
        }
        let (line, next) = line_at(src, pos);
        if trim_end(line) == b"end" {
            ok &= terminated;
            end = next;
            break;
        }
        if terminated {
            if trim_end(line).is_empty() {
                pos = next;
                continue; // blank lines before "end"
            }
            ok = false; // text after the zero-length line: "end" is missing
            break;
        }
        let Some((&len_char, chars)) = line.split_first() else {
            // An empty line: a " " zero-length line whose space was stripped.
            terminated = true;
            pos = next;
            end = next;
            continue;
        };
        if !(0x20..=0x60).contains(&len_char) {
            ok = false; // not a data line: the block ended without "end"
            break;
        }
        let n = usize::from((len_char - 0x20) & 0x3F);
        if n == 0 {
            terminated = true;
        } else {
            ok &= decode_line(n, chars, &mut data);
            if data.len() >= flush {
                w.write_all(&data)?;
                data.clear();
            }
        }
        pos = next;
        end = next;
    }
    w.write_all(&data)?;
    Ok(UuBlock {
        name,
        mode,
        data: Vec::new(),
        ok,
        range: begin_at..end,
    })
}

/// Appends one data line of `n` bytes; returns whether it was well-formed.
fn decode_line(n: usize, chars: &[u8], data: &mut Vec<u8>) -> bool {
    let needed = (n * 4).div_ceil(3);
    let full = n.div_ceil(3) * 4;
    let mut ok = chars.len() >= needed && chars.len() <= full + 1;
    // Trust the length character and count missing characters as zero
    // (spaces stripped by a relay), as uudecode and Python do. A line of k
    // >= 1 bytes thus yields at most 45: output stays within 45x the input.
    let value = |i: usize| -> u32 {
        match chars.get(i) {
            Some(&c) => u32::from(c.wrapping_sub(0x20) & 0x3F),
            None => 0,
        }
    };
    ok &= chars.iter().take(full).all(|c| (0x20..=0x60).contains(c));
    data.reserve(n);
    let mut written = 0;
    let mut i = 0;
    while written < n {
        let v = value(i) << 18 | value(i + 1) << 12 | value(i + 2) << 6 | value(i + 3);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        let take = (n - written).min(3);
        data.extend_from_slice(&bytes[..take]);
        written += take;
        i += 4;
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begin_lines() {
        assert_eq!(
            parse_begin(b"begin 644 a b.txt", true),
            Some((Some(0o644), Some("a b.txt".into())))
        );
        assert_eq!(parse_begin(b"begin 644", true), None);
        assert_eq!(parse_begin(b"begin 644", false), Some((Some(0o644), None)));
        assert_eq!(parse_begin(b"begin-base64 644 x", false), None);
        assert_eq!(parse_begin(b"begin 689 x", true), None);
        assert_eq!(
            parse_begin(b"begin x", false),
            Some((None, Some("x".into())))
        );
    }

    #[test]
    fn lenient_lines() {
        // Python's b2a_uu(b"\0\0\0") is "#    "; a relay strips the spaces.
        let b = decode_to_vec(b"begin 600 z\r\n#\r\n`\r\nend\r\n").unwrap();
        assert_eq!(b.data, [0, 0, 0]);
        assert!(!b.ok);
        // A checksum character after the groups is tolerated.
        let b = decode_to_vec(b"begin 600 c\n#0V%TX\n`\nend\n").unwrap();
        assert_eq!((b.data.as_slice(), b.ok), (&b"Cat"[..], true));
        // Missing end: stops at text.
        let b = decode_to_vec(b"begin 600 c\n#0V%T\nhello\n").unwrap();
        assert_eq!(
            (b.data.as_slice(), b.ok, b.range.clone()),
            (&b"Cat"[..], false, 0..18)
        );
        // Empty input after begin.
        let b = decode_to_vec(b"begin").unwrap();
        assert_eq!((b.data.len(), b.ok, b.range.clone()), (0, false, 0..5));
    }
}
