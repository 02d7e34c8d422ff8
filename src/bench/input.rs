//! Inputs for `mimeflow bench`: sizes from the command line, generated data,
//! and the user's own file (`--input`), with the Base64 bodies of an `.eml`
//! or mbox file pulled out for the decoders.
//!
//! The extraction is deliberately simple: it looks for header lines
//! `Content-Transfer-Encoding: base64` (any case, folded or not), skips to
//! the blank line that ends that header block, and takes the lines after it
//! for as long as they look like Base64. A body is kept only if the scalar
//! reference decodes it, so every contender faces valid input.

use std::ops::Range;

use super::{Expected, Op, Workload};
use crate::base64::{Backend, DecodeMode, Wrap, STANDARD};

/// Parses `1K,64K,16M` (suffixes K, M, G are powers of 1024; `KiB`, `kb`
/// and bare byte counts are accepted too) into byte counts.
pub fn parse_sizes(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_size)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|v| {
            if v.is_empty() {
                Err("no sizes given".into())
            } else {
                Ok(v)
            }
        })
}

fn parse_size(s: &str) -> Result<usize, String> {
    let lower = s.to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &lower[digits.len()..];
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("bad size {s:?}: unknown unit {unit:?}")),
    };
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("bad size {s:?}: expected a number with K, M or G"))?;
    n.checked_shl(shift)
        .filter(|&b| b > 0 && b >> shift == n)
        .ok_or_else(|| format!("bad size {s:?}: must be positive and fit in memory"))
}

/// The short label of a size: `1K`, `64K`, `16M`, or the byte count.
pub fn size_label(n: usize) -> String {
    for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// `n` pseudo-random bytes (xorshift64*, so runs are repeatable).
pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        v.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// `n` bytes of mail-like text for the quoted-printable operations: CRLF
/// lines of 20 to 110 characters, mostly ASCII words with some UTF-8
/// accents, `=` signs and trailing spaces, the things QP has to escape.
pub fn text_bytes(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "the",
        "message",
        "body",
        "naïve",
        "café",
        "über",
        "a=b",
        "résumé",
        "quoted",
        "printable",
        "line",
        "of",
        "text",
        "€100",
        "mail",
        "soft",
    ];
    let noise = random_bytes(n + 64, seed);
    let mut v = Vec::with_capacity(n + 128);
    let mut line_len = 0;
    let mut target = 20 + usize::from(noise[0]) % 90;
    for (i, &r) in noise.iter().enumerate() {
        if v.len() >= n {
            break;
        }
        if line_len >= target {
            if r % 8 == 0 {
                v.push(b' '); // trailing whitespace must be encoded
            }
            v.extend_from_slice(b"\r\n");
            line_len = 0;
            target = 20 + usize::from(noise[(i + 7) % noise.len()]) % 90;
            continue;
        }
        if line_len > 0 {
            v.push(b' ');
            line_len += 1;
        }
        let w = WORDS[usize::from(r) % WORDS.len()].as_bytes();
        v.extend_from_slice(w);
        line_len += w.len();
    }
    v.truncate(n);
    v
}

/// The workload for `op` on one run of `raw` data, with its reference.
pub fn workload(op: Op, raw: &[u8], label: String) -> Workload {
    match op.base64() {
        Some(b64) => {
            let input = b64.input(raw);
            let expected = Expected::Bytes(b64.expected(&input));
            Workload::single(op, raw.len(), label, input, expected)
        }
        // Text mode turns a bare LF into CRLF, so on arbitrary data the
        // round trip is what the reference pair gives, not `raw` itself.
        None if op == Op::QpEncode => Workload::single(
            op,
            raw.len(),
            label,
            raw.to_vec(),
            Expected::RoundTrip {
                raw: crate::qp::decode_to_vec(&qp_reference_encode(raw)),
                decode: qp_reference_decode,
            },
        ),
        None => {
            let text = qp_reference_encode(raw);
            let want = crate::qp::decode_to_vec(&text);
            Workload::single(op, raw.len(), label, text, Expected::Bytes(want))
        }
    }
}

/// The quoted-printable reference encoder: ours, text mode, CRLF, 76 columns.
pub fn qp_reference_encode(raw: &[u8]) -> Vec<u8> {
    crate::qp::encode_to_vec(raw, crate::qp::EncodeOptions::default())
}

/// The quoted-printable reference decoder (ours). An encoder's output is
/// correct when this gives the raw data back: soft breaks may sit anywhere
/// a line fits, so encoders need not agree byte for byte.
pub fn qp_reference_decode(text: &[u8]) -> Option<Vec<u8>> {
    Some(crate::qp::decode_to_vec(text))
}

/// What `--input` holds.
pub enum Source {
    /// A plain file: the raw data itself.
    Raw(Vec<u8>),
    /// Base64 bodies found in a mail file.
    Mail {
        /// The bodies' text, as found (line endings included), back to back.
        text: Vec<u8>,
        /// Each body's range in `text`.
        bodies: Vec<Range<usize>>,
        /// The bodies' decoded bytes, back to back.
        decoded: Vec<u8>,
    },
}

/// Whether a file should be read as mail: an `.eml`/`.mbox` name, or
/// content that starts like an mbox (`From `).
pub fn is_mail(name: &str, data: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    [".eml", ".mbox", ".mbx"].iter().any(|e| lower.ends_with(e)) || data.starts_with(b"From ")
}

/// Reads `data` as `--input` named `name`; errors when a mail file holds no
/// Base64 body.
pub fn source(name: &str, data: Vec<u8>) -> Result<Source, String> {
    if !is_mail(name, &data) {
        if data.is_empty() {
            return Err(format!("{name}: the file is empty"));
        }
        return Ok(Source::Raw(data));
    }
    let found = base64_bodies(&data);
    if found.is_empty() {
        return Err(format!(
            "{name}: no base64 body found (looked for parts with \
             `Content-Transfer-Encoding: base64` followed by Base64 lines)"
        ));
    }
    let scalar = STANDARD.with_backend(Backend::Scalar).expect("scalar runs");
    let (mut text, mut bodies, mut decoded) = (Vec::new(), Vec::new(), Vec::new());
    for r in found {
        let body = &data[r];
        if let Ok(d) = scalar.decode_to_vec(body, DecodeMode::Mime) {
            if d.is_empty() {
                continue;
            }
            bodies.push(text.len()..text.len() + body.len());
            text.extend_from_slice(body);
            decoded.extend_from_slice(&d);
        }
    }
    if bodies.is_empty() {
        return Err(format!("{name}: no base64 body decodes cleanly"));
    }
    Ok(Source::Mail {
        text,
        bodies,
        decoded,
    })
}

impl Source {
    /// Raw data size, for reports.
    pub fn raw_len(&self) -> usize {
        match self {
            Source::Raw(d) => d.len(),
            Source::Mail { decoded, .. } => decoded.len(),
        }
    }

    /// The workload for `op` on this input. Encoders get the raw (decoded)
    /// bytes; Base64 decoders get the bodies' text, one call per body
    /// (stripped of line breaks for the strict `decode`). The QP operations
    /// run on the raw data.
    pub fn workload(&self, op: Op, label: String) -> Workload {
        let (text, bodies, decoded) = match self {
            Source::Raw(d) => return workload(op, d, label),
            Source::Mail {
                text,
                bodies,
                decoded,
            } => (text, bodies, decoded),
        };
        let (input, segments) = match op {
            Op::MimeDecode => (text.clone(), bodies.clone()),
            Op::Decode => {
                let mut input = Vec::with_capacity(text.len());
                let mut segments = Vec::with_capacity(bodies.len());
                for b in bodies {
                    let start = input.len();
                    input.extend(text[b.clone()].iter().filter(|c| !c.is_ascii_whitespace()));
                    segments.push(start..input.len());
                }
                (input, segments)
            }
            _ => return workload(op, decoded, label),
        };
        Workload::new(
            op,
            decoded.len(),
            label,
            input,
            segments,
            Expected::Bytes(decoded.clone()),
        )
    }
}

/// Byte ranges of the Base64 bodies in a mail file.
pub fn base64_bodies(data: &[u8]) -> Vec<Range<usize>> {
    // (start, end without line ending, end with it) of every line.
    let mut lines = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i + 1);
        let mut content = end;
        while content > start && matches!(data[content - 1], b'\n' | b'\r') {
            content -= 1;
        }
        lines.push((start, content, end));
        start = end;
    }
    let line = |i: usize| &data[lines[i].0..lines[i].1];

    let mut bodies = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_base64_cte(line(i), (i + 1..lines.len()).map(line)) {
            i += 1;
            continue;
        }
        // Skip the rest of the header block: fields and folded lines.
        let mut j = i + 1;
        while j < lines.len() && !line(j).is_empty() {
            let l = line(j);
            if !(l[0] == b' ' || l[0] == b'\t' || l.contains(&b':')) {
                break;
            }
            j += 1;
        }
        if j >= lines.len() || !line(j).is_empty() {
            i = j.max(i + 1);
            continue;
        }
        // The body: Base64 lines until a blank, boundary or other line.
        let first = j + 1;
        let mut k = first;
        while k < lines.len() && is_base64_line(line(k)) {
            k += 1;
        }
        if k > first {
            bodies.push(lines[first].0..lines[k - 1].2);
        }
        i = k.max(i + 1);
    }
    bodies
}

/// Whether `l` (and its folded continuation lines) is a
/// `Content-Transfer-Encoding: base64` field.
fn is_base64_cte<'a>(l: &[u8], mut rest: impl Iterator<Item = &'a [u8]>) -> bool {
    const NAME: &[u8] = b"content-transfer-encoding:";
    if l.len() < NAME.len() || !l[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return false;
    }
    let mut value = l[NAME.len()..].to_vec();
    for next in rest.by_ref() {
        if next.first().is_some_and(|&c| c == b' ' || c == b'\t') {
            value.extend_from_slice(next);
        } else {
            break;
        }
    }
    value.trim_ascii().eq_ignore_ascii_case(b"base64")
}

fn is_base64_line(l: &[u8]) -> bool {
    let l = l.trim_ascii();
    !l.is_empty()
        && !l.starts_with(b"--")
        && l.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b' ' | b'\t'))
}

/// 76-column CRLF Base64 of `raw`: what a mail body holds (for tests).
pub fn mime_body(raw: &[u8]) -> Vec<u8> {
    STANDARD.encode_wrapped_to_vec(raw, Wrap::MIME)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_label() {
        assert_eq!(parse_sizes("1K,64K,16M").unwrap(), [1024, 65536, 16 << 20]);
        assert_eq!(parse_sizes("100, 2kib,1G").unwrap(), [100, 2048, 1 << 30]);
        assert!(parse_sizes("").is_err());
        assert!(parse_sizes("0").is_err());
        assert!(parse_sizes("12X").is_err());
        assert!(parse_sizes("K").is_err());
        assert_eq!(size_label(1024), "1K");
        assert_eq!(size_label(16 << 20), "16M");
        assert_eq!(size_label(1000), "1000");
    }

    #[test]
    fn generated_data_is_repeatable() {
        assert_eq!(random_bytes(100, 7), random_bytes(100, 7));
        assert_ne!(random_bytes(100, 7), random_bytes(100, 8));
        let t = text_bytes(5000, 1);
        assert_eq!(t.len(), 5000);
        assert!(t.windows(2).any(|w| w == b"\r\n"));
    }

    fn mail(bodies: &[&[u8]], crlf: bool) -> Vec<u8> {
        let mut m = b"From a@b Thu Jan  1 00:00:00 2024\nSubject: x\nContent-Type: multipart/mixed; boundary=\"B\"\n\npreamble\n".to_vec();
        for (n, b) in bodies.iter().enumerate() {
            m.extend_from_slice(b"--B\nContent-Type: application/octet-stream\n");
            if n % 2 == 0 {
                m.extend_from_slice(b"Content-Transfer-Encoding: BASE64\n\n");
            } else {
                m.extend_from_slice(b"content-transfer-encoding:\n\tbase64\nX-Other: 1\n\n");
            }
            m.extend_from_slice(&mime_body(b));
            m.extend_from_slice(b"\n");
        }
        m.extend_from_slice(b"--B\nContent-Type: text/plain\n\nnot base64, here.\n--B--\n");
        if crlf {
            m = String::from_utf8(m)
                .unwrap()
                .replace('\n', "\r\n")
                .into_bytes();
        }
        m
    }

    #[test]
    fn extracts_base64_bodies_from_mail() {
        let a = random_bytes(1000, 1);
        let b = random_bytes(57, 2);
        for crlf in [false, true] {
            let m = mail(&[&a, &b], crlf);
            let Source::Mail {
                text,
                bodies,
                decoded,
            } = source("x.mbox", m).unwrap()
            else {
                panic!("mail expected");
            };
            assert_eq!(bodies.len(), 2);
            assert_eq!(decoded, [a.clone(), b.clone()].concat());
            assert!(text.starts_with(&mime_body(&a)[..76]));
        }
    }

    /// Every default contender passes its check: simdutf's LF-wrapped
    /// encode is checked against the LF form of the reference.
    pub(crate) fn want_status(_contender: &str) -> &'static str {
        "ok"
    }

    #[test]
    fn mail_workloads_pass_every_check() {
        let a = random_bytes(3000, 1);
        let b = random_bytes(10, 2);
        let src = source("x.eml", mail(&[&a, &b], true)).unwrap();
        for op in Op::ALL {
            let w = src.workload(op, "x.eml".into());
            let want = if op.base64().is_some() && !op.is_encode() {
                2
            } else {
                1
            };
            assert_eq!(w.segments.len(), want, "{}", op.name());
            for c in super::super::contenders(op) {
                let s = super::super::measure(
                    &w,
                    &c,
                    &super::super::Settings {
                        warmup: std::time::Duration::ZERO,
                        budget: std::time::Duration::ZERO,
                        min_batches: 1,
                        batch: std::time::Duration::ZERO,
                        jobs: 1,
                    },
                );
                if c.name == "quoted_printable" {
                    // Binary data: its text mode keeps bare LFs, ours makes
                    // CRLF of them, so it may be flagged; it must not panic.
                    assert_ne!(s.name(), "error", "{} {}: {s:?}", op.name(), c.name);
                    continue;
                }
                assert_eq!(
                    s.name(),
                    want_status(&c.name),
                    "{} {}: {s:?}",
                    op.name(),
                    c.name
                );
            }
        }
    }

    #[test]
    fn mail_without_base64_is_an_error_and_plain_files_are_raw() {
        let m = b"Subject: hi\r\nContent-Transfer-Encoding: 7bit\r\n\r\nhello\r\n".to_vec();
        let err = source("a.eml", m).err().unwrap();
        assert!(err.contains("no base64 body"), "{err}");
        assert!(matches!(source("a.bin", vec![1, 2, 3]), Ok(Source::Raw(_))));
        assert!(source("a.bin", vec![]).is_err());
    }
}
