//! Choosing and applying a leaf's Content-Transfer-Encoding.
//!
//! One pass over the content ([`Stats::scan`], memchr-driven for the line
//! ends) counts what matters: 8-bit bytes, NULs, bare CR or LF, the longest
//! line. [`choose`] then picks, in order of preference: `7bit` when the
//! content already is ASCII with CRLF lines of at most 998 octets; `8bit` or
//! `binary` when the caller allows them and the content qualifies;
//! quoted-printable for text that is mostly ASCII; base64 for the rest.
//! Composite entities never get base64 or QP (RFC 2045 §6.4, RFC 2046
//! §5.2.1): see [`composite`].

use std::io::{self, Read, Write};

use crate::base64::{Wrap, STANDARD};
use crate::message::TransferEncoding;
use crate::qp;

/// Which identity encodings the caller's transport can carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    /// 7-bit only (plain SMTP): 8-bit content is encoded. The default.
    #[default]
    SevenBit,
    /// 8BITMIME: `8bit` allowed for CRLF text with lines <= 998 and no NUL.
    EightBit,
    /// BINARYMIME: `binary` allowed for anything.
    Binary,
}

/// What one pass over a body found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes >= 0x80.
    pub high: usize,
    /// NUL bytes.
    pub nul: usize,
    /// CR not followed by LF, or LF not preceded by CR.
    pub bare: usize,
    /// Of `bare`, the CRs not followed by LF.
    pub bare_cr: usize,
    /// CRLF pairs.
    pub crlf: usize,
    /// Longest line, line end excluded; every line end (CRLF, bare CR,
    /// bare LF) ends a line, as in the CRLF form [`to_crlf`] writes.
    pub longest: usize,
    /// Bytes QP would escape (controls other than CRLF, `=`, 8-bit).
    pub escapes: usize,
    /// Total length.
    pub len: usize,
}

/// Bytes per block of the counting pass: the per-block counters are `u8`
/// lanes, so a block may not exceed 255 bytes.
const COUNT_BLOCK: usize = 255;

impl Stats {
    /// Scans `data`: one branch-free counting pass (it vectorises: random
    /// binary data would mispredict a branch per byte) and one memchr pass
    /// over the line ends.
    pub fn scan(data: &[u8]) -> Stats {
        let (high, nul, escapes) = count_classes(data);
        let mut s = Stats {
            high,
            nul,
            escapes,
            len: data.len(),
            ..Stats::default()
        };
        let mut start = 0;
        for i in memchr::memchr2_iter(b'\r', b'\n', data) {
            if i < start {
                // The LF of a CRLF, already counted with its CR.
                continue;
            }
            s.longest = s.longest.max(i - start);
            start = i + 1;
            if data[i] == b'\r' {
                if data.get(i + 1) == Some(&b'\n') {
                    start = i + 2;
                    s.crlf += 1;
                } else {
                    s.bare += 1;
                    s.bare_cr += 1;
                }
            } else {
                s.bare += 1;
            }
        }
        s.longest = s.longest.max(data.len() - start);
        s
    }

    /// The stats of [`to_crlf`]`(data)` given those of `data`: each bare CR
    /// or LF becomes a two-byte CRLF, nothing else changes (CR and LF are
    /// not QP escapes, and `longest` already ends lines at bare ones).
    pub fn canonical(&self) -> Stats {
        Stats {
            bare: 0,
            bare_cr: 0,
            crlf: self.crlf + self.bare,
            len: self.len + self.bare,
            ..*self
        }
    }

    /// ASCII, no NUL, CRLF lines of at most 998 octets: valid as is.
    pub fn is_7bit(&self) -> bool {
        self.high == 0 && self.nul == 0 && self.bare == 0 && self.longest <= 998
    }

    /// Valid as `8bit`.
    pub fn is_8bit(&self) -> bool {
        self.nul == 0 && self.bare == 0 && self.longest <= 998
    }
}

/// Bytes quoted-printable writes `=XX`: 8-bit, NUL, `=`, DEL and controls
/// other than CR, LF and TAB. Arithmetic rather than a table, so the
/// counting loop that uses it vectorises.
#[inline(always)]
const fn is_escape(b: u8) -> bool {
    b >= 0x7f || b == b'=' || (b < 0x20 && b != b'\r' && b != b'\n' && b != b'\t')
}

/// The transfer encoding for a leaf with these stats. `text` says whether
/// it is text (line-oriented: QP is an option, line ends are line ends).
pub fn choose(stats: &Stats, text: bool, transport: Transport) -> TransferEncoding {
    if stats.is_7bit() {
        return TransferEncoding::SevenBit;
    }
    if transport >= Transport::EightBit && stats.is_8bit() {
        return TransferEncoding::EightBit;
    }
    if transport == Transport::Binary {
        return TransferEncoding::Binary;
    }
    // QP grows each escaped byte to 3; base64 everything by 4/3 (+ line ends).
    let qp_len = stats.len + 2 * stats.escapes;
    let chars = stats.len.div_ceil(3) * 4;
    let b64_len = chars + chars.div_ceil(76) * 2;
    if text && stats.nul == 0 && qp_len <= b64_len {
        TransferEncoding::QuotedPrintable
    } else {
        TransferEncoding::Base64
    }
}

/// The transfer encoding for an attachment, whose bytes must arrive as they
/// are, and whether it is encoded in QP's text mode.
///
/// Content already in canonical form (every line end CRLF) is treated as
/// [`choose`] treats it: `7bit` when it qualifies, QP's text mode (line ends
/// as hard breaks, which decode to CRLF) for text. Any other content has
/// line ends that are data: a receiver would turn a `7bit` or text-mode
/// body into CRLF text, so it is base64, or QP in binary mode (`=0D`,
/// `=0A`) for text where that is shorter, or `binary` where the transport
/// carries it. Mail clients (Gmail, Apple Mail) choose the same way.
pub fn choose_exact(stats: &Stats, text: bool, transport: Transport) -> (TransferEncoding, bool) {
    if stats.bare == 0 {
        return (choose(stats, text, transport), text);
    }
    if transport == Transport::Binary {
        return (TransferEncoding::Binary, false);
    }
    // Binary-mode QP escapes every CR and LF too, and needs a soft break
    // (3 bytes) every 73 characters or so.
    let line_end_bytes = stats.bare + 2 * stats.crlf;
    let escaped = stats.len + 2 * (stats.escapes + line_end_bytes);
    let qp_len = escaped + escaped / 73 * 3;
    let chars = stats.len.div_ceil(3) * 4;
    let b64_len = chars + chars.div_ceil(76) * 2;
    if text && stats.nul == 0 && qp_len <= b64_len {
        (TransferEncoding::QuotedPrintable, false)
    } else {
        (TransferEncoding::Base64, false)
    }
}

/// A composite entity's encoding: the widest identity encoding its children
/// use (`7bit` < `8bit` < `binary`).
pub fn composite<'a>(children: impl IntoIterator<Item = &'a TransferEncoding>) -> TransferEncoding {
    let mut rank = 0;
    for c in children {
        rank = rank.max(match c {
            TransferEncoding::EightBit => 1,
            TransferEncoding::Binary => 2,
            _ => 0,
        });
    }
    match rank {
        0 => TransferEncoding::SevenBit,
        1 => TransferEncoding::EightBit,
        _ => TransferEncoding::Binary,
    }
}

/// Counts of 8-bit bytes, NULs and QP escapes, in blocks of `u8` lanes
/// that the compiler vectorises (the escape test is arithmetic, not a table
/// lookup, for that reason).
fn count_classes(data: &[u8]) -> (usize, usize, usize) {
    let (mut high, mut nul, mut esc) = (0usize, 0usize, 0usize);
    for block in data.chunks(COUNT_BLOCK) {
        let (mut h, mut n, mut e) = (0u8, 0u8, 0u8);
        for &b in block {
            h += u8::from(b >= 0x80);
            n += u8::from(b == 0);
            e += u8::from(is_escape(b));
        }
        high += usize::from(h);
        nul += usize::from(n);
        esc += usize::from(e);
    }
    (high, nul, esc)
}

/// Text with every line end (CRLF, bare LF, bare CR) written CRLF: the
/// canonical form of text/* (RFC 2046 §4.1.1).
pub fn to_crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 32 + 2);
    to_crlf_append(data, &mut out);
    out
}

/// [`to_crlf`] appended to `out`: runs between line ends are copied whole,
/// and input that is already CRLF throughout is one copy.
pub fn to_crlf_append(data: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for i in memchr::memchr2_iter(b'\r', b'\n', data) {
        let in_crlf = if data[i] == b'\r' {
            data.get(i + 1) == Some(&b'\n')
        } else {
            i > 0 && data[i - 1] == b'\r'
        };
        if in_crlf {
            // Already CRLF: it stays in the run.
            continue;
        }
        out.extend_from_slice(&data[start..i]);
        out.extend_from_slice(b"\r\n");
        start = i + 1;
    }
    out.extend_from_slice(&data[start..]);
}

/// Input bytes per base64 block: whole 76-column lines (57 bytes each),
/// just over 8 MiB (`base64::PARALLEL_THRESHOLD`), so streaming stays
/// bounded and each block is big enough to be split across threads.
pub const BASE64_BLOCK: usize = 57 * 147_169;
#[cfg(feature = "parallel")]
const _: () = assert!(BASE64_BLOCK >= crate::base64::PARALLEL_THRESHOLD);

/// Base64 (MIME lines, CRLF) of `data` appended to `out`; rayon's threads
/// share big inputs when the `parallel` feature is on.
///
/// Either way `out` grows once to the exact encoded length and the kernel
/// writes straight into its spare capacity (never zero-filled first); see
/// [`Base64::par_encode_wrapped_append`](crate::base64::Base64::par_encode_wrapped_append).
pub fn base64_append(data: &[u8], out: &mut Vec<u8>) {
    #[cfg(feature = "parallel")]
    STANDARD.par_encode_wrapped_append(data, Wrap::MIME, out);
    #[cfg(not(feature = "parallel"))]
    STANDARD.encode_wrapped_append(data, Wrap::MIME, out);
}

/// Writes base64 of `data` to `w` in blocks (bounded extra memory).
pub fn base64_write(data: &[u8], w: &mut dyn Write) -> io::Result<()> {
    let mut buf = Vec::new();
    for block in data.chunks(BASE64_BLOCK) {
        buf.clear();
        base64_append(block, &mut buf);
        w.write_all(&buf)?;
    }
    Ok(())
}

/// Streams base64 of everything `r` yields to `w`, a block at a time:
/// memory stays bounded by two blocks whatever the size of the input. With
/// `parallel`, each block is encoded on rayon's threads; without it the
/// data goes through [`crate::base64::stream::EncoderWriter`].
pub fn base64_stream(r: &mut dyn Read, w: &mut dyn Write) -> io::Result<u64> {
    #[cfg(feature = "parallel")]
    {
        let mut block = vec![0u8; BASE64_BLOCK];
        let mut out = Vec::new();
        let mut total = 0u64;
        loop {
            let n = crate::io_util::read_full(r, &mut block)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            out.clear();
            base64_append(&block[..n], &mut out);
            w.write_all(&out)?;
            if n < block.len() {
                break;
            }
        }
        Ok(total)
    }
    #[cfg(not(feature = "parallel"))]
    {
        let mut enc = crate::base64::stream::EncoderWriter::new(w, STANDARD, Wrap::MIME);
        let n = io::copy(r, &mut enc)?;
        enc.finish()?;
        Ok(n)
    }
}

/// Encodes `data` with `cte` (identity encodings copy it), appended to `out`.
/// `text` selects QP's text mode (line ends stay line ends); without it
/// every byte is data (`=0D`, `=0A`).
pub fn encode_append(data: &[u8], cte: &TransferEncoding, text: bool, out: &mut Vec<u8>) {
    match cte {
        TransferEncoding::Base64 => base64_append(data, out),
        TransferEncoding::QuotedPrintable => {
            let opts = qp::EncodeOptions {
                binary: !text,
                ..qp::EncodeOptions::default()
            };
            qp::encode_append(data, opts, out);
        }
        _ => out.extend_from_slice(data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks() {
        use {TransferEncoding as E, Transport as T};
        let german = "Viele Grüße aus Köln, bis bald!\r\n".as_bytes();
        for (data, transport, want) in [
            (&b"hello\r\nworld\r\n"[..], T::SevenBit, E::SevenBit),
            (german, T::SevenBit, E::QuotedPrintable),
            (german, T::EightBit, E::EightBit),
            ("日本語のテキスト".as_bytes(), T::SevenBit, E::Base64),
        ] {
            assert_eq!(choose(&Stats::scan(data), true, transport), want);
        }
        let s = Stats::scan(b"a\nb");
        assert_eq!(s.bare, 1);
        assert_eq!(to_crlf(b"a\nb\rc\r\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(to_crlf(b"\r\r\n\n\rx\n\r"), b"\r\n\r\n\r\n\r\nx\r\n\r\n");
    }

    /// The one-pass scan against a byte-at-a-time reference, and
    /// `canonical` against a scan of the converted data.
    #[test]
    fn scan_matches_reference() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for n in [0, 1, 2, 254, 255, 256, 511, 1000, 3000] {
            for alphabet in [&b"ab\r\n=\t\0\x80\xff\x7f\x01"[..], b"abc\r\n", b"\r\n\n\r"] {
                let data: Vec<u8> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        alphabet[(x % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let s = Stats::scan(&data);
                assert_eq!(s.len, n);
                assert_eq!(s.high, data.iter().filter(|&&b| b >= 0x80).count());
                assert_eq!(s.nul, data.iter().filter(|&&b| b == 0).count());
                let esc = |b: u8| b >= 0x7f || b == b'=' || (b < 0x20 && !b"\r\n\t".contains(&b));
                assert_eq!(s.escapes, data.iter().filter(|&&b| esc(b)).count());
                let c = to_crlf(&data);
                let longest = c
                    .split(|&b| b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
                    .max()
                    .unwrap_or(0);
                assert_eq!(s.longest, longest, "{data:?}");
                assert_eq!(s.canonical(), Stats::scan(&c), "{data:?}");
                let bare_cr = (0..n)
                    .filter(|&i| data[i] == b'\r' && data.get(i + 1) != Some(&b'\n'))
                    .count();
                assert_eq!(s.bare_cr, bare_cr);
            }
        }
    }
}
