//! One test table, run against every backend this CPU can run, checked
//! against a naive reference written straight from the RFCs (below) and
//! against the `base64` crate.

use mimeflow::base64::{
    Alphabet, Backend, Base64, DecodeMode, LineEnding, Stores, Wrap, STANDARD, URL_SAFE,
};
use mimeflow::DecodeErrorKind;

mod naive {
    //! Deliberately simple reference implementations.
    pub const STD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    pub const URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    pub fn encode(chars: &[u8], data: &[u8], pad: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
            let k = chunk.len() + 1;
            for i in 0..4 {
                if i < k {
                    out.push(chars[(n >> (18 - 6 * i)) as usize & 63]);
                } else if pad {
                    out.push(b'=');
                }
            }
        }
        out
    }

    pub fn wrap(encoded: &[u8], cols: usize, eol: &[u8]) -> Vec<u8> {
        if cols == 0 {
            return encoded.to_vec();
        }
        let mut out = Vec::new();
        for line in encoded.chunks(cols) {
            out.extend_from_slice(line);
            out.extend_from_slice(eol);
        }
        out
    }

    /// Decodes canonical text with all whitespace already removed.
    pub fn decode_clean(chars: &[u8], text: &[u8]) -> Option<Vec<u8>> {
        let body: Vec<u8> = text.iter().copied().filter(|&c| c != b'=').collect();
        if body.len() % 4 == 1 {
            return None;
        }
        let mut out = Vec::new();
        for q in body.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in q.iter().enumerate() {
                n |= (chars.iter().position(|&x| x == c)? as u32) << (18 - 6 * i);
            }
            for i in 0..q.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        Some(out)
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Every available backend, and the AVX-512 one also without VBMI2 (its
/// fallback decode) and with each forced way of storing (aligned lines,
/// streaming stores: the ways `Stores::Auto` picks only for large outputs or
/// on some CPUs), in every alphabet and padding.
fn codecs() -> Vec<Base64> {
    let mut v = Vec::new();
    for b in Backend::available() {
        for a in [Alphabet::Standard, Alphabet::UrlSafe] {
            for pad in [true, false] {
                let c = Base64::new(a, pad).with_backend(b).unwrap();
                v.push(c);
                if b == Backend::Avx512Vbmi {
                    v.push(c.without_vbmi2());
                    v.push(c.with_stores(Stores::Aligned));
                    v.push(c.with_stores(Stores::Streaming));
                }
            }
        }
    }
    v
}

fn chars(c: &Base64) -> &'static [u8] {
    match c.alphabet() {
        Alphabet::Standard => naive::STD,
        Alphabet::UrlSafe => naive::URL,
    }
}

#[test]
fn every_backend_is_listed_and_scalar_is_there() {
    let avail = Backend::available();
    assert!(avail.contains(&Backend::Scalar));
    assert!(avail.contains(&Backend::Base64Simd));
    for b in Backend::ALL {
        assert_eq!(
            Base64::new(Alphabet::Standard, true)
                .with_backend(b)
                .is_some(),
            b.is_available()
        );
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        assert!(
            avail.contains(&Backend::Avx2),
            "AVX2 backend must be available here"
        );
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512vbmi") && std::is_x86_feature_detected!("avx512bw") {
        assert!(
            avail.contains(&Backend::Avx512Vbmi),
            "AVX-512 VBMI backend must be available here"
        );
    }
}

#[test]
fn encode_decode_every_length_0_to_1024() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let data = rng.bytes(1024);
    for c in codecs() {
        for len in 0..=1024 {
            let src = &data[..len];
            let expect = naive::encode(chars(&c), src, c.padding());
            let got = c.encode_to_vec(src);
            assert_eq!(got, expect, "{:?} encode len {len}", c);
            assert_eq!(c.encoded_length(len), expect.len());
            let mut buf = vec![0u8; expect.len()];
            assert_eq!(c.encode(src, &mut buf), expect.len());
            assert_eq!(buf, expect);
            for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
                if mode == DecodeMode::Lenient && !c.padding() {
                    // Lenient without padding: accepted as well.
                }
                let back = c.decode_to_vec(&expect, mode);
                assert_eq!(
                    back.as_deref(),
                    Ok(src),
                    "{:?} {mode:?} decode len {len}",
                    c
                );
            }
            assert_eq!(c.decoded_length(&expect), len);
            assert_eq!(
                naive::decode_clean(chars(&c), &expect).as_deref(),
                Some(src)
            );
            assert!(c.estimated_decoded_length(expect.len()) >= len);
        }
    }
}

/// Encode into an output at every offset mod 64 (the AVX-512 encoder
/// aligns its stores with a head block whose size depends on the offset),
/// with canary bytes on both sides: nothing outside the output is written.
#[test]
fn encode_at_every_output_alignment() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let data = rng.bytes(5000);
    for c in codecs() {
        for len in [0, 3, 47, 48, 511, 512, 513, 515, 600, 1024, 4099, 5000] {
            let src = &data[..len];
            let expect = naive::encode(chars(&c), src, c.padding());
            for off in 0..64 {
                let mut buf = vec![0xA5u8; 64 + off + expect.len() + 64];
                // Offsets are taken from a 64-byte boundary inside `buf`.
                let base = (64 - buf.as_ptr() as usize % 64) % 64;
                let at = base + off;
                let end = at + expect.len();
                assert_eq!(c.encode(src, &mut buf[at..end]), expect.len());
                assert_eq!(&buf[at..end], &expect[..], "{c:?} len {len} offset {off}");
                assert!(
                    buf[..at].iter().chain(&buf[end..]).all(|&b| b == 0xA5),
                    "{c:?} len {len} offset {off}: wrote outside the output"
                );
            }
        }
    }
}

/// Runs `f` on an output of `len` bytes placed `off` bytes past a 64-byte
/// boundary, with canary bytes after it; returns `f`'s result and the
/// output, and fails (naming `what`) if `f` wrote past the output.
fn with_canaries<T>(
    len: usize,
    off: usize,
    what: &str,
    f: impl FnOnce(&mut [u8]) -> T,
) -> (T, Vec<u8>) {
    let mut buf = vec![0xA5u8; 64 + off + len + 64];
    let at = (64 - buf.as_ptr() as usize % 64) % 64 + off;
    let end = at + len;
    let r = f(&mut buf[at..end]);
    assert!(
        buf[end..].iter().all(|&b| b == 0xA5),
        "{what}: wrote past the output"
    );
    (r, buf[at..end].to_vec())
}

/// Around 512 KiB of input, where the AVX-512 encoder switches to masked
/// block loads (`MASKED_LOADS_MIN` in `base64/x86_64/avx512vbmi.rs`): the
/// same characters as the reference on both sides, at an aligned and an
/// unaligned output, and nothing written past the output.
#[test]
fn encode_across_the_masked_load_threshold() {
    const MIN: usize = 512 * 1024;
    let data = Rng(0x5EED_0B10).bytes(MIN + 400);
    for c in codecs() {
        for len in [
            MIN - 208,
            MIN - 1,
            MIN,
            MIN + 1,
            MIN + 2,
            MIN + 47,
            MIN + 400,
        ] {
            let src = &data[..len];
            let expect = naive::encode(chars(&c), src, c.padding());
            for off in [0, 16] {
                let what = format!("{c:?} len {len} offset {off}");
                let (n, out) = with_canaries(expect.len(), off, &what, |o| c.encode(src, o));
                assert_eq!(n, expect.len(), "{what}");
                assert!(out == expect, "{what}");
            }
        }
    }
}

/// Around 768 KiB and 4 MiB of input, where the AVX-512 decoder switches
/// to masked block stores and back (`MASKED_STORES_MIN`, `_END` in
/// `base64/x86_64/avx512vbmi.rs`): the reference's bytes on both sides,
/// into an exact-size output with canaries past it, and a bad character
/// late in the input still reported.
#[test]
fn decode_across_the_masked_store_thresholds() {
    const MIN: usize = 768 * 1024;
    const END: usize = 4 << 20;
    let data = Rng(0x5EED_0DEC).bytes(END / 4 * 3 + 300);
    for c in codecs() {
        for len in [
            MIN - 256,
            MIN - 4,
            MIN,
            MIN + 4,
            MIN + 256,
            MIN + 400,
            END - 256,
            END - 4,
            END,
            END + 4,
        ] {
            let src = &data[..len / 4 * 3];
            let text = naive::encode(chars(&c), src, c.padding());
            for off in [0, 16] {
                let what = format!("{c:?} chars {len} offset {off}");
                let (n, out) = with_canaries(src.len(), off, &what, |o| {
                    c.decode(&text, o, DecodeMode::Strict).unwrap()
                });
                assert_eq!(n, src.len(), "{what}");
                assert!(out == src, "{what}");
            }
            let mut bad = text.clone();
            let at = bad.len() - 300;
            bad[at] = b'*';
            assert!(
                c.decode_to_vec(&bad, DecodeMode::Strict).is_err(),
                "{c:?} {len}"
            );
        }
    }
}

#[test]
fn wrapped_encode_matches_reference_for_many_widths() {
    let mut rng = Rng(7);
    let data = rng.bytes(3000);
    for c in codecs() {
        for cols in [0, 1, 2, 3, 4, 8, 57, 60, 64, 75, 76, 77, 100, 1000] {
            for ending in [LineEnding::Crlf, LineEnding::Lf] {
                let wrap = Wrap::new(cols, ending);
                for len in [0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 1000, 2999, 3000] {
                    let src = &data[..len];
                    let expect = naive::wrap(
                        &naive::encode(chars(&c), src, c.padding()),
                        cols,
                        ending.as_bytes(),
                    );
                    let got = c.encode_wrapped_to_vec(src, wrap);
                    assert_eq!(got, expect, "{c:?} cols {cols} {ending:?} len {len}");
                    assert_eq!(c.encoded_length_wrapped(len, wrap), expect.len());
                    let back = c.decode_to_vec(&got, DecodeMode::Mime).unwrap();
                    assert_eq!(back, src);
                }
            }
        }
    }
}

/// A buffer one byte short is refused before anything is written, with the
/// same message on every path: the AVX-512 kernels for whole MIME-width
/// encodes of small and medium inputs check their own room.
#[test]
fn wrapped_encode_into_a_short_buffer_panics_before_writing() {
    let data = Rng(12).bytes(2000);
    for c in codecs() {
        for wrap in [
            Wrap::MIME,
            Wrap::new(76, LineEnding::Lf),
            Wrap::new(64, LineEnding::Lf),
        ] {
            for len in [1, 57, 256, 455, 456, 1000, 2000] {
                let need = c.encoded_length_wrapped(len, wrap);
                let mut out = vec![0xEE; need - 1];
                let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    c.encode_wrapped(&data[..len], wrap, &mut out)
                }))
                .expect_err("a short buffer must be refused");
                let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
                let want = format!("output buffer too short: need {need} bytes");
                assert_eq!(msg, want, "{c:?} {wrap:?} len {len}");
                assert!(
                    out.iter().all(|&b| b == 0xEE),
                    "{c:?} {wrap:?} len {len}: wrote before refusing"
                );
            }
        }
    }
}

#[test]
fn wrapped_encode_every_last_line() {
    // Every length of the last, partial line (a backend may encode it apart
    // from the whole lines, padding and line ending included), after zero,
    // one and five whole lines.
    let mut rng = Rng(8);
    let data = rng.bytes(1200);
    for c in codecs() {
        for cols in [4, 8, 64, 76, 100, 200] {
            let line_in = cols / 4 * 3;
            for ending in [LineEnding::Crlf, LineEnding::Lf] {
                let wrap = Wrap::new(cols, ending);
                for whole in [0, 1, 5] {
                    for rest in 0..line_in {
                        let src = &data[..whole * line_in + rest];
                        let expect = naive::wrap(
                            &naive::encode(chars(&c), src, c.padding()),
                            cols,
                            ending.as_bytes(),
                        );
                        let got = c.encode_wrapped_to_vec(src, wrap);
                        assert_eq!(
                            got,
                            expect,
                            "{c:?} cols {cols} {ending:?} len {}",
                            src.len()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn mime_decode_long_regular_and_irregular_text() {
    let mut rng = Rng(99);
    for c in codecs() {
        for len in [1000, 4096, 65536 + 17] {
            let data = rng.bytes(len);
            for (cols, eol) in [
                (76, &b"\r\n"[..]),
                (76, b"\n"),
                (64, b"\r\n"),
                (72, b"\n"),
                (100, b"\r\n"),
            ] {
                let text = naive::wrap(&naive::encode(chars(&c), &data, c.padding()), cols, eol);
                assert_eq!(
                    c.decode_to_vec(&text, DecodeMode::Mime).unwrap(),
                    data,
                    "{c:?} {cols}"
                );
                assert_eq!(
                    c.decode_to_vec(&text, DecodeMode::Lenient).unwrap(),
                    data,
                    "{c:?} {cols}"
                );
                // Break the regularity in the middle: a short line, a blank line, stray blanks.
                let mut messy = text.clone();
                let mid = messy.len() / 2;
                messy.splice(mid..mid, b" \t\r\n\n".iter().copied());
                messy.insert(messy.len() / 3, b'\n');
                assert_eq!(
                    c.decode_to_vec(&messy, DecodeMode::Mime).unwrap(),
                    data,
                    "{c:?} messy"
                );
                assert!(c.decode_to_vec(&messy, DecodeMode::Strict).is_err());
            }
        }
    }
}

#[test]
fn whitespace_at_every_position() {
    let mut rng = Rng(3);
    let data = rng.bytes(200);
    for c in codecs() {
        let enc = naive::encode(chars(&c), &data, c.padding());
        for &ws in b"\r\n \t" {
            for pos in 0..=enc.len() {
                let mut t = enc.clone();
                t.insert(pos, ws);
                assert_eq!(
                    c.decode_to_vec(&t, DecodeMode::Mime).as_deref(),
                    Ok(&data[..]),
                    "{c:?} ws at {pos}"
                );
                assert_eq!(
                    c.decode_to_vec(&t, DecodeMode::Lenient).as_deref(),
                    Ok(&data[..])
                );
                let err = c.decode_to_vec(&t, DecodeMode::Strict).unwrap_err();
                assert_eq!(err.offset(), pos as u64);
                let after_padding = pos == enc.len() && enc.ends_with(b"=");
                let kind = if after_padding {
                    DecodeErrorKind::DataAfterPadding
                } else {
                    DecodeErrorKind::InvalidByte(ws)
                };
                assert_eq!(err.kind(), kind);
            }
        }
    }
}

#[test]
fn invalid_byte_at_every_position() {
    let mut rng = Rng(5);
    let data = rng.bytes(300);
    for c in codecs() {
        let enc = naive::wrap(&naive::encode(chars(&c), &data, true), 76, b"\r\n");
        let body_end = enc.len() - 2 - enc.iter().rev().skip(2).take_while(|&&b| b == b'=').count();
        for pos in 0..body_end {
            if enc[pos] == b'\r' || enc[pos] == b'\n' {
                continue;
            }
            for bad in [
                b'!',
                0x80,
                0xFF,
                b'.',
                if c.alphabet() == Alphabet::Standard {
                    b'-'
                } else {
                    b'+'
                },
            ] {
                let mut t = enc.clone();
                t[pos] = bad;
                let err = c.decode_to_vec(&t, DecodeMode::Mime).unwrap_err();
                assert_eq!(
                    (err.kind(), err.offset()),
                    (DecodeErrorKind::InvalidByte(bad), pos as u64),
                    "{c:?}"
                );
                // Lenient drops the byte: one character short, so the tail no longer lines up,
                // but it must never panic and must agree with the scalar backend.
                let scalar = c.with_backend(Backend::Scalar).unwrap();
                assert_eq!(
                    c.decode_to_vec(&t, DecodeMode::Lenient),
                    scalar.decode_to_vec(&t, DecodeMode::Lenient)
                );
            }
            let mut t = enc.clone();
            t[pos] = b'=';
            let scalar = c.with_backend(Backend::Scalar).unwrap();
            for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
                assert_eq!(
                    c.decode_to_vec(&t, mode),
                    scalar.decode_to_vec(&t, mode),
                    "{c:?} '=' at {pos} {mode:?}"
                );
            }
            if pos + 4 < body_end {
                assert!(
                    c.decode_to_vec(&t, DecodeMode::Mime).is_err(),
                    "{c:?} '=' at {pos}"
                );
            }
        }
    }
}

#[test]
fn padding_variants() {
    use DecodeErrorKind::*;
    type Case = (&'static [u8], Result<&'static [u8], (DecodeErrorKind, u64)>);
    let strict: &[Case] = &[
        (b"", Ok(b"")),
        (b"QQ==", Ok(b"A")),
        (b"QUI=", Ok(b"AB")),
        (b"QUJD", Ok(b"ABC")),
        (b"QQ", Err((MissingPadding, 2))),
        (b"QQ=", Err((IncompletePadding, 3))),
        (b"QQ===", Err((DataAfterPadding, 4))),
        (b"Q===", Err((UnexpectedPadding, 1))),
        (b"=QQ=", Err((UnexpectedPadding, 0))),
        (b"QQ=A", Err((DiscontinuousPadding, 3))),
        (b"QR==", Err((TrailingBits, 1))),
        (b"QUJ=", Err((TrailingBits, 2))),
        (b"QUJDQ", Err((InvalidLength, 5))),
        (b"QQ==QQ==", Err((DataAfterPadding, 4))),
        (b"QQ==\n", Err((DataAfterPadding, 4))),
    ];
    let mime: &[Case] = &[
        (b"QQ", Ok(b"A")),
        (b"QR==", Ok(b"A")),
        (b"Q Q = =\r\n", Ok(b"A")),
        (b"QQ==\r\n\r\n", Ok(b"A")),
        (b"QQ==QQ==", Err((DataAfterPadding, 4))),
        (b"QQ=\n=", Ok(b"A")),
        (b"QQ=", Err((IncompletePadding, 3))),
        (b"Q", Err((InvalidLength, 1))),
        (b"QUJD=", Err((UnexpectedPadding, 4))),
        (b"QQ=\nA", Err((DiscontinuousPadding, 4))),
    ];
    let lenient: &[Case] = &[
        (b"QQ==QQ==", Ok(b"A")),
        (b"Q!Q==", Ok(b"A")),
        (b"=QQ==", Ok(b"A")),
        (b"QQ=Q=", Ok(b"A\x04")),
        (b"QUJD=", Ok(b"ABC")),
        (b"QQ", Err((MissingPadding, 2))),
        (b"QQ=", Err((IncompletePadding, 3))),
        (b"Q", Err((InvalidLength, 1))),
        (b"QR==", Ok(b"A")),
        (b"Q\x80U\xffJD", Ok(b"ABC")),
    ];
    for b in Backend::available() {
        let c = STANDARD.with_backend(b).unwrap();
        for (mode, cases) in [
            (DecodeMode::Strict, strict),
            (DecodeMode::Mime, mime),
            (DecodeMode::Lenient, lenient),
        ] {
            for (input, expect) in cases {
                let got = c
                    .decode_to_vec(input, mode)
                    .map_err(|e| (e.kind(), e.offset()));
                assert_eq!(
                    got.as_deref().map_err(|e| *e),
                    expect.map(|v| v),
                    "{b:?} {mode:?} {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        let nopad = mimeflow::base64::STANDARD_NO_PAD.with_backend(b).unwrap();
        assert_eq!(
            nopad.decode_to_vec(b"QQ", DecodeMode::Strict).unwrap(),
            b"A"
        );
        assert_eq!(
            nopad
                .decode_to_vec(b"QQ==", DecodeMode::Strict)
                .unwrap_err()
                .kind(),
            InvalidByte(b'=')
        );
        assert_eq!(
            nopad
                .decode_to_vec(b"QR", DecodeMode::Strict)
                .unwrap_err()
                .kind(),
            TrailingBits
        );
        assert_eq!(
            nopad.decode_to_vec(b"Q!Q", DecodeMode::Lenient).unwrap(),
            b"A"
        );
    }
}

#[test]
fn url_safe_and_standard_differ_only_in_two_chars() {
    let data: Vec<u8> = (0..=255).collect();
    let s = STANDARD.encode_to_vec(&data);
    let u = URL_SAFE.encode_to_vec(&data);
    let mapped: Vec<u8> = s
        .iter()
        .map(|&c| match c {
            b'+' => b'-',
            b'/' => b'_',
            c => c,
        })
        .collect();
    assert_eq!(mapped, u);
    assert!(STANDARD.decode_to_vec(&u, DecodeMode::Strict).is_err());
    assert_eq!(
        URL_SAFE.decode_to_vec(&u, DecodeMode::Strict).unwrap(),
        data
    );
}

#[test]
fn decode_into_caller_buffers() {
    let enc = STANDARD.encode_to_vec(b"hello world");
    let mut exact = [0u8; 11];
    assert_eq!(
        STANDARD
            .decode(&enc, &mut exact, DecodeMode::Strict)
            .unwrap(),
        11
    );
    assert_eq!(&exact, b"hello world");
    let mut roomy = [0u8; 64];
    assert_eq!(
        STANDARD
            .decode(&enc, &mut roomy, DecodeMode::Strict)
            .unwrap(),
        11
    );
    let mut appended = b"x".to_vec();
    STANDARD
        .decode_append(&enc, DecodeMode::Strict, &mut appended)
        .unwrap();
    assert_eq!(appended, b"xhello world");
    // A failed append leaves the vector as it was.
    assert!(STANDARD
        .decode_append(b"QQ!", DecodeMode::Strict, &mut appended)
        .is_err());
    assert_eq!(appended, b"xhello world");
}

/// Buffers shorter than `estimated_decoded_length` but long enough for the
/// output (padding and line breaks put the exact length below the estimate)
/// decode in place, in pieces; the result, and any error with its offset,
/// must be exactly what a roomy buffer gets, and a buffer one byte short
/// must still panic.
#[test]
fn decode_into_exact_size_buffers() {
    let mut rng = Rng(5);
    let data = rng.bytes(5000);
    for c in codecs() {
        for len in (0..=300).chain((301..5000).step_by(97)) {
            let src = &data[..len];
            let enc = c.encode_to_vec(src);
            let mime = c.encode_wrapped_to_vec(src, Wrap::MIME);
            // Mostly whitespace (26 characters per quantum): the estimate is
            // 6.5 times the output, so the rest goes through the spill path.
            let gap = b" \r\n \r\n \t \r\n  \r\n\t\t \r\n  ";
            let airy: Vec<u8> = enc.chunks(4).flat_map(|q| [q, gap].concat()).collect();
            for (text, mode) in [
                (&enc, DecodeMode::Strict),
                (&mime, DecodeMode::Mime),
                (&airy, DecodeMode::Mime),
                (&mime, DecodeMode::Lenient),
            ] {
                let mut exact = vec![0u8; len];
                assert_eq!(c.decode(text, &mut exact, mode), Ok(len), "{len} {mode:?}");
                assert_eq!(exact, src, "{len} {mode:?}");
                if len > 0 {
                    let mut short = vec![0u8; len - 1];
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        c.decode(text, &mut short, mode)
                    }));
                    assert!(r.is_err(), "{len} {mode:?}: one byte short must panic");
                }
            }
            // An error found after some pieces went in place: same kind, same offset.
            if enc.len() > 8 {
                let mut bad = mime.clone();
                let at = bad.len() - 1 - (len % 7);
                bad[at] = b'!';
                let want = c.decode_to_vec(&bad, DecodeMode::Mime).unwrap_err();
                let mut exact = vec![0u8; len];
                assert_eq!(c.decode(&bad, &mut exact, DecodeMode::Mime), Err(want));
            }
        }
    }
}

#[cfg(all(unix, target_arch = "x86_64"))]
mod page_boundary {
    //! Inputs and outputs that end exactly where an unmapped page begins: any
    //! read or write past the end faults.
    use super::*;

    struct Guarded {
        base: *mut u8,
        page: usize,
    }

    impl Guarded {
        fn new() -> Guarded {
            // SAFETY: plain anonymous mapping of two pages; the second is made
            // inaccessible so touching it faults.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    2 * page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                assert_eq!(
                    libc::mprotect((p as *mut u8).add(page) as *mut _, page, libc::PROT_NONE),
                    0
                );
                Guarded {
                    base: p as *mut u8,
                    page,
                }
            }
        }

        /// A slice of `len` bytes ending at the guard page.
        fn tail(&mut self, len: usize) -> &mut [u8] {
            assert!(len <= self.page);
            // SAFETY: the range lies inside the first, readable and writable page.
            unsafe { std::slice::from_raw_parts_mut(self.base.add(self.page - len), len) }
        }
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            // SAFETY: unmapping exactly what `new` mapped.
            unsafe { libc::munmap(self.base as *mut _, 2 * self.page) };
        }
    }

    #[test]
    fn no_reads_or_writes_past_the_end() {
        let mut input = Guarded::new();
        let mut output = Guarded::new();
        let mut rng = Rng(11);
        let data = rng.bytes(3000);
        for c in codecs() {
            for len in (0..=700).chain([1024, 2047, 2048, 3000]) {
                let src = &data[..len];
                let enc = naive::encode(chars(&c), src, c.padding());
                // Encode: input and output both end at a guard page.
                input.tail(len).copy_from_slice(src);
                let out = output.tail(enc.len());
                assert_eq!(c.encode(input.tail(len), out), enc.len());
                assert_eq!(&output.tail(enc.len())[..], &enc[..]);
                for wrap in [Wrap::MIME, Wrap::new(64, LineEnding::Lf)] {
                    let wrapped = c.encode_wrapped_to_vec(src, wrap);
                    if wrapped.len() <= input.page {
                        input.tail(len).copy_from_slice(src);
                        let out = output.tail(wrapped.len());
                        c.encode_wrapped(input.tail(len), wrap, out);
                        assert_eq!(&output.tail(wrapped.len())[..], &wrapped[..]);
                        // MIME decode with input ending at the guard page.
                        input.tail(wrapped.len()).copy_from_slice(&wrapped);
                        let need = c.estimated_decoded_length(wrapped.len());
                        let out = output.tail(need);
                        let n = c
                            .decode(input.tail(wrapped.len()), out, DecodeMode::Mime)
                            .unwrap();
                        assert_eq!(&output.tail(need)[..n], src);
                        let n = c
                            .decode(
                                input.tail(wrapped.len()),
                                output.tail(len),
                                DecodeMode::Mime,
                            )
                            .unwrap();
                        assert_eq!((n, &output.tail(len)[..]), (len, src));
                    }
                }
                // Strict decode, estimate-size output ending at the guard page.
                input.tail(enc.len()).copy_from_slice(&enc);
                let need = c.estimated_decoded_length(enc.len());
                let n = c
                    .decode(input.tail(enc.len()), output.tail(need), DecodeMode::Strict)
                    .unwrap();
                assert_eq!(&output.tail(need)[..n], src);
                // And into exactly `len` bytes ending there (decoded in pieces).
                let n = c
                    .decode(input.tail(enc.len()), output.tail(len), DecodeMode::Strict)
                    .unwrap();
                assert_eq!((n, &output.tail(len)[..]), (len, src));
            }
        }
    }
}

#[cfg(all(unix, target_arch = "x86_64"))]
mod large_outputs {
    //! Large outputs (8 MiB and more), and the AVX-512 encoders' streaming and
    //! aligned-line stores forced on them: those write aligned 64-byte lines
    //! with masked ordinary stores at both ends, so the output is placed
    //! between two inaccessible pages, at several alignments, and compared
    //! with scalar.
    use super::*;

    /// `pages` read-write pages between two inaccessible ones.
    struct Fenced {
        base: *mut u8,
        page: usize,
        pages: usize,
    }

    impl Fenced {
        fn new(len: usize) -> Fenced {
            // SAFETY: an anonymous mapping; the first and last pages are made
            // inaccessible so touching them faults.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE) as usize;
                let pages = len.div_ceil(page) + 1;
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    (pages + 2) * page,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                let p = p as *mut u8;
                assert_eq!(libc::mprotect(p as *mut _, page, libc::PROT_NONE), 0);
                let last = p.add((pages + 1) * page);
                assert_eq!(libc::mprotect(last as *mut _, page, libc::PROT_NONE), 0);
                Fenced {
                    base: p,
                    page,
                    pages,
                }
            }
        }

        /// `len` bytes starting `start` bytes after the lower guard page.
        fn at(&mut self, start: usize, len: usize) -> &mut [u8] {
            assert!(start + len <= self.pages * self.page);
            // SAFETY: the range lies inside the read-write pages.
            unsafe { std::slice::from_raw_parts_mut(self.base.add(self.page + start), len) }
        }

        /// `len` bytes ending at the upper guard page.
        fn tail(&mut self, len: usize) -> &mut [u8] {
            self.at(self.pages * self.page - len, len)
        }
    }

    impl Drop for Fenced {
        fn drop(&mut self) {
            // SAFETY: unmapping exactly what `new` mapped.
            unsafe { libc::munmap(self.base as *mut _, (self.pages + 2) * self.page) };
        }
    }

    #[test]
    fn non_temporal_encodes_stay_inside_and_match_scalar() {
        const BIG: usize = 6_400_000; // > 8 MiB of output once encoded
        let data = Rng(23).bytes(BIG + 200);
        let scalar = STANDARD.with_backend(Backend::Scalar).unwrap();
        let mut out = Fenced::new(scalar.encoded_length_wrapped(BIG + 200, Wrap::MIME));
        for b in Backend::available() {
            if b == Backend::Scalar {
                continue;
            }
            let auto = STANDARD.with_backend(b).unwrap();
            // Where the CPU's thresholds put this size is the CPU's business:
            // every way of storing runs here, forced.
            let mut codecs = vec![auto];
            if b == Backend::Avx512Vbmi {
                codecs.push(auto.with_stores(Stores::Streaming));
                codecs.push(auto.with_stores(Stores::Aligned));
            }
            for c in codecs {
                for (k, extra) in [0usize, 1, 2, 5, 49, 113].into_iter().enumerate() {
                    let src = &data[..BIG + extra];
                    for wrap in [Wrap::NONE, Wrap::MIME, Wrap::new(76, LineEnding::Lf)] {
                        let want = scalar.encode_wrapped_to_vec(src, wrap);
                        // Output starting right after the lower guard, at 0..63
                        // bytes past a 64-byte boundary, and ending at the upper guard.
                        for start in [0, 1 + 13 * k, 63 - k] {
                            let o = out.at(start, want.len());
                            o.fill(0);
                            assert_eq!(c.encode_wrapped(src, wrap, o), want.len());
                            assert!(
                                o[..] == want[..],
                                "{b} {c:?} {wrap:?} start {start} extra {extra}"
                            );
                        }
                        let o = out.tail(want.len());
                        assert_eq!(c.encode_wrapped(src, wrap, o), want.len());
                        assert!(
                            o[..] == want[..],
                            "{b} {c:?} {wrap:?} at the end, extra {extra}"
                        );
                    }
                }
            }
        }
    }

    /// The same for MIME decodes of that size (every vector backend, output
    /// ending at a guard page or at odd alignments), including a broken line
    /// near the end that sends the rest to the general path.
    #[test]
    fn non_temporal_mime_decodes_stay_inside_and_match() {
        const BIG: usize = 8_500_000; // > 8 MiB decoded
        let data = Rng(29).bytes(BIG + 200);
        for (k, extra) in [0usize, 1, 2, 57, 113].into_iter().enumerate() {
            let src = &data[..BIG + extra];
            for wrap in [Wrap::MIME, Wrap::new(76, LineEnding::Lf)] {
                let mut text = STANDARD.encode_wrapped_to_vec(src, wrap);
                if k == 4 {
                    // An irregular line near the end: one line end moved 10 chars
                    // on (MIME mode skips it, so the data stay the same).
                    let lf = text.len() - 300
                        + text[text.len() - 300..]
                            .iter()
                            .position(|&b| b == b'\n')
                            .unwrap();
                    let eol = if wrap.line_ending == LineEnding::Crlf {
                        2
                    } else {
                        1
                    };
                    let moved: Vec<u8> = text.drain(lf + 1 - eol..=lf).collect();
                    let at = lf + 1 - eol + 10;
                    text.splice(at..at, moved);
                }
                let need = STANDARD.estimated_decoded_length(text.len());
                let mut out = Fenced::new(need + 64);
                for b in Backend::available() {
                    if b == Backend::Scalar {
                        continue;
                    }
                    let c = STANDARD.with_backend(b).unwrap();
                    for start in [0, 1 + 13 * k, 63 - k] {
                        let o = out.at(start, need);
                        o.fill(0);
                        let n = c.decode(&text, o, DecodeMode::Mime).unwrap();
                        assert!(o[..n] == *src, "{b} {wrap:?} start {start} extra {extra}");
                    }
                    let o = out.tail(need);
                    let n = c.decode(&text, o, DecodeMode::Mime).unwrap();
                    assert!(o[..n] == *src, "{b} {wrap:?} at the end, extra {extra}");
                }
            }
        }
    }
}

mod differential {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    fn backend_codec(b: Backend) -> Base64 {
        STANDARD.with_backend(b).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_the_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let theirs = base64::engine::general_purpose::STANDARD.encode(&data);
            for b in Backend::available() {
                let c = backend_codec(b);
                let ours = c.encode_to_vec(&data);
                prop_assert_eq!(&ours, theirs.as_bytes());
                prop_assert_eq!(c.decode_to_vec(&ours, DecodeMode::Strict).unwrap(), data.clone());
            }
        }

        #[test]
        fn every_backend_agrees_with_scalar_on_noisy_text(
            data in proptest::collection::vec(any::<u8>(), 0..2000),
            noise in proptest::collection::vec((any::<prop::sample::Index>(), prop::sample::select(vec![b'\r', b'\n', b' ', b'\t', b'=', b'!', b'A', 0x80u8, b'-'])), 0..8),
            cols in prop::sample::select(vec![0usize, 4, 64, 76]),
        ) {
            let mut text = STANDARD.encode_wrapped_to_vec(&data, Wrap::new(cols, LineEnding::Crlf));
            for (idx, byte) in noise {
                let at = idx.index(text.len() + 1);
                text.insert(at, byte);
            }
            let reference = STANDARD.with_backend(Backend::Scalar).unwrap();
            for b in Backend::available() {
                let c = backend_codec(b);
                for mode in [DecodeMode::Strict, DecodeMode::Mime, DecodeMode::Lenient] {
                    prop_assert_eq!(c.decode_to_vec(&text, mode), reference.decode_to_vec(&text, mode), "{:?} {:?}", b, mode);
                }
            }
        }
    }
}
