//! Quoted-printable and uuencode: RFC 2045 examples, lenient decoding,
//! round trips (proptest), the `quoted_printable` crate as a peer, and the
//! formats of Python's `binascii` (expected values below were produced with
//! CPython 3's `binascii.b2a_qp`, `a2b_qp` and `b2a_uu`).

use mimeflow::base64::LineEnding;
use mimeflow::qp::{self, EncodeOptions};
use mimeflow::uu;
use proptest::prelude::*;
use quoted_printable::ParseMode;

fn opts(binary: bool, crlf: bool, cols: usize) -> EncodeOptions {
    EncodeOptions {
        binary,
        line_ending: if crlf {
            LineEnding::Crlf
        } else {
            LineEnding::Lf
        },
        cols,
    }
}

/// Every output line: at most `width` long, printable ASCII (or tab), escapes
/// whole and uppercase, `=` last only as a soft break, no trailing blank.
fn check_lines(enc: &[u8], width: usize, crlf: bool) {
    let text = std::str::from_utf8(enc).expect("QP output is ASCII");
    let eol = if crlf { "\r\n" } else { "\n" };
    let width = width.max(4);
    assert!(!text.ends_with('='), "soft break at the very end: {text:?}");
    for line in text.split(eol) {
        assert!(
            line.len() <= width,
            "line of {} > {width}: {line:?}",
            line.len()
        );
        let b = line.as_bytes();
        assert!(
            b.iter().all(|&c| c == b'\t' || (0x20..0x7F).contains(&c)),
            "{line:?}"
        );
        assert!(
            !line.ends_with(' ') && !line.ends_with('\t'),
            "trailing blank: {line:?}"
        );
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 1 != b.len() {
                let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
                assert!(
                    i + 2 < b.len() && hex(b[i + 1]) && hex(b[i + 2]),
                    "split escape: {line:?}"
                );
                i += 2;
            }
            i += 1;
        }
    }
}

/// Text-mode input line ends written in the output ending.
fn normalise(x: &[u8], crlf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < x.len() {
        if x[i] == b'\n' || (x[i] == b'\r' && x.get(i + 1) == Some(&b'\n')) {
            out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            i += if x[i] == b'\r' { 2 } else { 1 };
        } else {
            out.push(x[i]);
            i += 1;
        }
    }
    out
}

/// Text without bare CR: words, blanks (often at line ends), `=`, 8-bit.
fn text_strategy() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        6 => "[a-zA-Z.,']{1,12}".prop_map(String::into_bytes),
        3 => Just(b" ".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b"=".to_vec()),
        2 => Just(b"\r\n".to_vec()),
        2 => Just(b"\n".to_vec()),
        1 => (0x80u8..=0xFF).prop_map(|b| vec![b]),
        1 => any::<u8>().prop_filter("no bare CR", |&b| b != b'\r').prop_map(|b| vec![b]),
    ];
    prop::collection::vec(token, 0..120).prop_map(|v| v.concat())
}

fn crlf_only_text() -> impl Strategy<Value = Vec<u8>> {
    text_strategy().prop_map(|x| normalise(&x, true))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn binary_round_trip(x in prop::collection::vec(any::<u8>(), 0..700), crlf: bool, w in 0usize..100) {
        let enc = qp::encode_to_vec(&x, opts(true, crlf, w));
        check_lines(&enc, w, crlf);
        let mut out = Vec::new();
        prop_assert!(qp::decode_append(&enc, &mut out).is_empty());
        prop_assert_eq!(out, x);
    }

    #[test]
    fn binary_round_trip_76(x in prop::collection::vec(prop_oneof![Just(b' '), Just(b'\r'), Just(b'\n'), Just(b'='), any::<u8>(), 0x21u8..0x7F], 0..700), crlf: bool) {
        let enc = qp::encode_to_vec(&x, opts(true, crlf, 76));
        check_lines(&enc, 76, crlf);
        prop_assert_eq!(qp::decode_to_vec(&enc), x);
    }

    /// The vector kernel (where this CPU has it) writes exactly what the
    /// scalar encoder writes: same soft-break columns, same escapes.
    #[test]
    fn vector_encoder_matches_scalar(
        x in prop::collection::vec(prop_oneof![
            4 => 0x20u8..0x7F,
            2 => 0x80u8..=0xFF,
            1 => Just(b'='),
            1 => Just(b' '),
            1 => Just(b'\t'),
            1 => Just(b'\n'),
            1 => any::<u8>(),
        ], 0..2000),
        binary: bool,
        crlf: bool,
        w in prop_oneof![Just(76usize), Just(49), Just(50), 4usize..200],
        pre in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let o = opts(binary, crlf, w);
        // Appending keeps what was in `out`.
        let mut slow = pre.clone();
        qp::encode_append_on(qp::Backend::Scalar, &x, o, &mut slow);
        for b in qp::Backend::available() {
            let mut fast = pre.clone();
            qp::encode_append_on(b, &x, o, &mut fast);
            prop_assert_eq!(&fast, &slow, "backend {}", b);
        }
    }

    #[test]
    fn text_round_trip(x in text_strategy(), crlf: bool, w in prop_oneof![Just(76usize), 4usize..90]) {
        let enc = qp::encode_to_vec(&x, opts(false, crlf, w));
        check_lines(&enc, w, crlf);
        let mut out = Vec::new();
        prop_assert!(qp::decode_append(&enc, &mut out).is_empty());
        prop_assert_eq!(out, normalise(&x, crlf));
    }

    #[test]
    fn decode_never_panics_and_stays_bounded(x in prop::collection::vec(prop_oneof![Just(b'='), Just(b' '), Just(b'\r'), Just(b'\n'), Just(b'a'), Just(b'f'), any::<u8>()], 0..300)) {
        let mut out = Vec::new();
        let bad = qp::decode_append(&x, &mut out);
        prop_assert!(out.len() <= x.len());
        prop_assert!(bad.iter().all(|&o| x[o] == b'='));
    }

    /// The peer's robust decoder agrees with ours on what we encode (CRLF).
    #[test]
    fn peer_decodes_ours(x in crlf_only_text(), binary: bool) {
        let enc = qp::encode_to_vec(&x, opts(binary, true, 76));
        let peer = quoted_printable::decode(&enc, ParseMode::Robust).unwrap();
        prop_assert_eq!(&qp::decode_to_vec(&enc), &peer);
        prop_assert_eq!(peer, x);
    }

    /// We decode the peer's output (text and binary) back to the input.
    #[test]
    fn we_decode_peer(x in crlf_only_text(), y in prop::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(qp::decode_to_vec(&quoted_printable::encode(&x)), x);
        prop_assert_eq!(qp::decode_to_vec(&quoted_printable::encode_binary(&y)), y);
    }

    #[test]
    fn uu_round_trip(x in prop::collection::vec(any::<u8>(), 0..400), backtick: bool, crlf: bool) {
        let enc = uu_encode(&x, "f.bin", backtick, crlf);
        let block = uu::decode_to_vec(&enc).unwrap();
        prop_assert!(block.ok);
        prop_assert_eq!(block.range, 0..enc.len());
        prop_assert_eq!(block.data, x);
    }

    #[test]
    fn uu_never_panics(x in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'`'), Just(b'M'), 0x20u8..0x61, any::<u8>()], 0..300)) {
        let mut src = b"begin 644 x\n".to_vec();
        src.extend_from_slice(&x);
        let block = uu::decode_to_vec(&src).unwrap();
        prop_assert!(block.data.len() <= 45 * src.len());
        prop_assert!(block.range.end <= src.len());
        for b in uu::find_blocks(&src) {
            prop_assert!(b.range.start < b.range.end && b.range.end <= src.len());
        }
    }
}

#[test]
fn rfc2045_soft_break_example() {
    // RFC 2045 §6.7 rule (5).
    let src = b"Now's the time =\r\nfor all folk to come=\r\n to the aid of their country.";
    let want = b"Now's the time for all folk to come to the aid of their country.";
    assert_eq!(qp::decode_to_vec(src), want);
    assert_eq!(
        quoted_printable::decode(src, ParseMode::Robust).unwrap(),
        want
    );
    // The same with LF line ends.
    assert_eq!(qp::decode_to_vec(&normalise(src, false)), want);
}

#[test]
fn rfc2045_rules() {
    // Rule (1): "=3D" is "=", either case of hex decodes.
    assert_eq!(qp::decode_to_vec(b"a=3Db=3db =E9=e9"), b"a=b=b \xE9\xE9");
    // Rule (3): trailing blanks of each line are deleted, encoded ones kept.
    assert_eq!(
        qp::decode_to_vec(b"a \t \r\nb=20\r\nc=09 \nd  "),
        b"a\r\nb \r\nc\t\nd"
    );
    // Soft breaks with CRLF, LF, and blanks after the "=".
    assert_eq!(
        qp::decode_to_vec(b"ab=\r\ncd=\nef= \t\r\ngh=  \nij"),
        b"abcdefghij"
    );
    // Line ends are kept as they are.
    assert_eq!(qp::decode_to_vec(b"a\r\nb\nc\r\n"), b"a\r\nb\nc\r\n");
    // Blanks before a soft break are data, not trailing.
    assert_eq!(qp::decode_to_vec(b"a  =\r\n\r\nb"), b"a  \r\nb");
}

#[test]
fn bad_escapes_are_kept_and_reported() {
    let cases: [(&[u8], &[u8], &[usize]); 7] = [
        (b"=ZZ", b"=ZZ", &[0]),
        (b"x=4", b"x=4", &[1]),
        (b"=4x=41", b"=4xA", &[0]),
        (b"==41", b"=A", &[0]),
        (b"a=\xC3\xA9b", b"a=\xC3\xA9b", &[1]),
        (b"a= x\r\n", b"a= x\r\n", &[1]),
        (b"=G0=0G=\r", b"=G0=0G", &[0, 3]),
    ];
    for (src, want, offsets) in cases {
        let mut out = Vec::new();
        assert_eq!(qp::decode_append(src, &mut out), offsets, "{src:?}");
        assert_eq!(out, want, "{src:?}");
    }
    // Appending keeps the existing output; offsets stay relative to src.
    let mut out = b"xy ".to_vec();
    assert_eq!(qp::decode_append(b" =Q ", &mut out), vec![1]);
    assert_eq!(out, b"xy  =Q");
}

#[test]
fn python_binascii_agreement() {
    // a2b_qp: where Python and RFC 2045 agree, we agree.
    for (src, want) in [
        (&b"=e9"[..], &b"\xe9"[..]),
        (b"==41", b"=A"),
        (b"=4x", b"=4x"),
        (b"=4", b"=4"),
        (b"abc=", b"abc"),
        (b"a=\r\nb", b"ab"),
        (b"a=\nb", b"ab"),
        (b"=\r\n", b""),
        (b"a=  x", b"a=  x"),
    ] {
        assert_eq!(qp::decode_to_vec(src), want, "{src:?}");
    }
    // Where we differ on purpose: Python keeps trailing blanks (a2b_qp(b"a  \r\nb")
    // == b"a  \r\nb") and treats "= " before a line end as a bad escape
    // (a2b_qp(b"abc= \r\nd") == b"abc= \r\nd"). RFC 2045 rule (3) says trailing
    // blanks are deleted, and "=" then blanks is a soft break whose padding
    // was added in transport.
    assert_eq!(qp::decode_to_vec(b"a  \r\nb"), b"a\r\nb");
    assert_eq!(qp::decode_to_vec(b"abc= \r\nd"), b"abcd");

    // b2a_qp(istext=True) is our text mode with LF; istext=False our binary mode.
    let py: [(&[u8], &[u8], &[u8]); 4] = [
        (b"hello world\n", b"hello world\n", b"hello world=0A"),
        (b"caf\xc3\xa9 = 1\t\nnext", b"caf=C3=A9 =3D 1=09\nnext", b"caf=C3=A9 =3D 1\t=0Anext"),
        (
            b"line with trailing tab\t\nand space \n",
            b"line with trailing tab=09\nand space=20\n",
            b"line with trailing tab\t=0Aand space =0A",
        ),
        (
            b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xe9yz\n",
            b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\n=E9yz\n",
            b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\n=E9yz=0A",
        ),
    ];
    for (src, text, binary) in py {
        assert_eq!(
            qp::encode_to_vec(src, opts(false, false, 76)),
            text,
            "{src:?}"
        );
        assert_eq!(
            qp::encode_to_vec(src, opts(true, false, 76)),
            binary,
            "{src:?}"
        );
    }
    // b2a_qp(b"\x00\x01\xff=" * 30): 25 escapes + "=" per line.
    let src = b"\x00\x01\xff=".repeat(30);
    let want = "=00=01=FF=3D".repeat(30);
    let want: Vec<&str> = want
        .as_bytes()
        .chunks(75)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    assert_eq!(
        qp::encode_to_vec(&src, opts(true, false, 76)),
        want.join("=\n").into_bytes()
    );
    // b2a_qp(b"a" * 100 + b" \r\n", istext=True) with CRLF output.
    let src = [&b"a".repeat(100)[..], b" \r\n"].concat();
    let want = [&b"a".repeat(75)[..], b"=\r\n", &b"a".repeat(25), b"=20\r\n"].concat();
    assert_eq!(qp::encode_to_vec(&src, EncodeOptions::default()), want);
}

#[test]
fn encode_text_mode_details() {
    let o = EncodeOptions::default();
    // Final line without a line end stays without one; LF becomes CRLF.
    assert_eq!(qp::encode_to_vec(b"a\nb", o), b"a\r\nb");
    assert_eq!(qp::encode_to_vec(b"a\r\n", opts(false, false, 76)), b"a\n");
    // A bare CR is data; a trailing blank before the end is encoded.
    assert_eq!(qp::encode_to_vec(b"a\rb \t", o), b"a=0Db =09");
    // An escape that ends the line may use the last column; one that does
    // not must leave room for the soft break.
    let line = [&b"x".repeat(73)[..], b"\xff"].concat();
    assert_eq!(
        qp::encode_to_vec(&line, o),
        [&b"x".repeat(73)[..], b"=FF"].concat()
    );
    let line = [&b"x".repeat(73)[..], b"\xffy"].concat();
    assert_eq!(
        qp::encode_to_vec(&line, o),
        [&b"x".repeat(73)[..], b"=\r\n=FFy"].concat()
    );
    // A literal that ends the line may use column 76.
    let line = b"y".repeat(76);
    assert_eq!(qp::encode_to_vec(&line, o), line);
    assert_eq!(
        qp::encode_to_vec(&b"y".repeat(77), o),
        [&b"y".repeat(75)[..], b"=\r\nyy"].concat()
    );
    assert_eq!(qp::encode_to_vec(b"", o), b"");
}

/// A uuencoder in Python's `binascii.b2a_uu` format (full 4-char groups,
/// zero as a space, or as a backtick with `backtick=True`).
fn uu_line(chunk: &[u8], backtick: bool, out: &mut Vec<u8>) {
    let ch = |v: u8| if v == 0 && backtick { b'`' } else { 0x20 + v };
    out.push(ch(chunk.len() as u8));
    for g in chunk.chunks(3) {
        let v = u32::from(g[0]) << 16
            | u32::from(*g.get(1).unwrap_or(&0)) << 8
            | u32::from(*g.get(2).unwrap_or(&0));
        for s in [18, 12, 6, 0] {
            out.push(ch((v >> s) as u8 & 0x3F));
        }
    }
    out.push(b'\n');
}

fn uu_encode(data: &[u8], name: &str, backtick: bool, crlf: bool) -> Vec<u8> {
    let mut out = format!("begin 644 {name}\n").into_bytes();
    for chunk in data.chunks(45) {
        uu_line(chunk, backtick, &mut out);
    }
    uu_line(b"", backtick, &mut out);
    out.extend_from_slice(b"end\n");
    if crlf {
        out = normalise(&out, true);
    }
    out
}

#[test]
fn uu_encoder_matches_python() {
    let line = |d: &[u8], bt| {
        let mut v = Vec::new();
        uu_line(d, bt, &mut v);
        v
    };
    assert_eq!(line(b"Cat", false), b"#0V%T\n");
    assert_eq!(line(b"", false), b" \n");
    assert_eq!(line(b"\0\0\0", false), b"#    \n");
    assert_eq!(line(b"\0", true), b"!````\n");
    assert_eq!(line(b"hi", false), b"\":&D \n");
    assert_eq!(line(b"hello, world", true), b",:&5L;&\\L('=O<FQD\n");
    assert_eq!(line(b"\xff\xfe\xfd\xfc", false), b"$__[]_   \n");
    assert_eq!(
        line(&(0u8..45).collect::<Vec<_>>(), true),
        &b"M``$\"`P0%!@<(\"0H+#`T.#Q`1$A,4%187&!D:&QP='A\\@(2(C)\"4F)R@I*BLL\n"[..]
    );
}

#[test]
fn uu_blocks_in_text() {
    let a = uu_encode(b"first attachment", "a b.txt", true, false);
    let b = uu_encode(&[0xAB; 100], "b.bin", false, true);
    let text = [
        &b"Hello,\nbegin with this: begin 644 not-at-line-start\nbegin here, no mode\nbegin-base64 644 x\n"[..],
        &a,
        b"some text between\n",
        &b,
        b"bye\n",
    ]
    .concat();
    let blocks = uu::find_blocks(&text);
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].data, b"first attachment");
    assert_eq!(blocks[0].name.as_deref(), Some("a b.txt"));
    assert_eq!(blocks[0].mode, Some(0o644));
    assert!(blocks[0].ok);
    assert_eq!(&text[blocks[0].range.clone()], &a[..]);
    assert_eq!(blocks[1].data, vec![0xAB; 100]);
    assert_eq!(&text[blocks[1].range.clone()], &b[..]);
    // decode() takes the first block; its begin line may lack the mode.
    let block = uu::decode_to_vec(b"text\nbegin x\n#0V%T\n \nend").unwrap();
    assert_eq!(
        (
            block.data.as_slice(),
            block.mode,
            block.name.as_deref(),
            block.ok
        ),
        (&b"Cat"[..], None, Some("x"), true)
    );
    assert!(uu::decode_to_vec(b"no block\nbeginning\n").is_none());
}

#[test]
fn uu_lenient() {
    // Missing zero-length line and missing end.
    let b = uu::decode_to_vec(b"begin 644 x\n#0V%T\nend\n").unwrap();
    assert_eq!((b.data.as_slice(), b.ok), (&b"Cat"[..], false));
    let b = uu::decode_to_vec(b"begin 644 x\n#0V%T\n`\n").unwrap();
    assert_eq!(
        (b.data.as_slice(), b.ok, b.range.end),
        (&b"Cat"[..], false, 20)
    );
    // Length char says 3, content has 8 chars: the length wins, extras ignored.
    let b = uu::decode_to_vec(b"begin 644 x\n#0V%T0V%T\n`\nend\n").unwrap();
    assert_eq!((b.data.as_slice(), b.ok), (&b"Cat"[..], false));
    // Trailing spaces stripped by a relay: zero-filled.
    let b = uu::decode_to_vec(b"begin 644 x\n\"`   \n\"\n \nend\n").unwrap();
    assert_eq!(b.data, [0, 0, 0, 0]);
    // Blank lines between the zero-length line and end are fine.
    let b = uu::decode_to_vec(b"begin 644 x\r\n#0V%T\r\n`\r\n\r\nend\r\n").unwrap();
    assert!(b.ok);
}

/// The vector kernel exists where the CPU has its instructions, so
/// `vector_encoder_matches_scalar` compares it with scalar there (it used to
/// compare nothing unless the Base64 default was AVX-512 too).
#[test]
fn every_kernel_runs_where_the_cpu_has_it() {
    assert!(qp::Backend::Scalar.is_available());
    #[cfg(target_arch = "x86_64")]
    {
        let has = [
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vbmi",
            "avx512vbmi2",
        ]
        .iter()
        .all(|f| match *f {
            "avx512f" => std::is_x86_feature_detected!("avx512f"),
            "avx512bw" => std::is_x86_feature_detected!("avx512bw"),
            "avx512vl" => std::is_x86_feature_detected!("avx512vl"),
            "avx512vbmi" => std::is_x86_feature_detected!("avx512vbmi"),
            _ => std::is_x86_feature_detected!("avx512vbmi2"),
        });
        assert_eq!(qp::Backend::Avx512Vbmi.is_available(), has);
    }
    // Escapes at the soft-break column, through every kernel.
    let data: Vec<u8> = (0..4000u32).map(|i| (i * 37 % 256) as u8).collect();
    let o = opts(true, true, 76);
    let mut want = Vec::new();
    qp::encode_append_on(qp::Backend::Scalar, &data, o, &mut want);
    for b in qp::Backend::available() {
        let mut got = Vec::new();
        qp::encode_append_on(b, &data, o, &mut got);
        assert_eq!(got, want, "backend {b}");
    }
}

/// Bytes that reach every rule of binascii's quoted-printable: the lone-dot
/// rule (`.` before CR, LF, NUL), blanks before line ends, lone CRs, `_` and
/// spaces for header mode, escapes and soft breaks (long runs of text and
/// of 8-bit bytes), valid and broken `=XX`.
fn binascii_bytes() -> impl Strategy<Value = Vec<u8>> {
    let item = prop_oneof![
        6 => prop::collection::vec(b'a'..=b'z', 1..90),
        3 => prop::collection::vec(0x80u8..=0xFF, 1..60),
        1 => prop::sample::select(b".\r\n\x00 \t_=".to_vec()).prop_map(|b| vec![b]),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(b".\n".to_vec()),
        1 => Just(b" \r\n".to_vec()),
        1 => prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEFxg=".to_vec()), 0..4)
            .prop_map(|mut v| { v.insert(0, b'='); v }),
        1 => prop::collection::vec(any::<u8>(), 1..200),
    ];
    prop::collection::vec(item, 0..60).prop_map(|v| v.concat())
}

proptest! {
    /// binascii's `b2a_qp`: every backend (whose runs go through the
    /// parent encoder or the vector kernel) writes what CPython's loop,
    /// byte by byte, writes; for every switch.
    #[test]
    fn binascii_encode_every_backend_matches_reference(
        x in binascii_bytes(),
        quotetabs: bool,
        istext: bool,
        header: bool,
        pre in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let o = qp::BinasciiQp { quotetabs, istext, header };
        let mut want = pre.clone();
        qp::binascii_encode_reference(&x, o, &mut want);
        for b in qp::Backend::available() {
            let mut got = pre.clone();
            qp::binascii_encode_append_on(b, &x, o, &mut got);
            prop_assert_eq!(&got, &want, "backend {}", b);
        }
    }

    /// `email.quoprimime.body_encode`: every backend writes what scalar
    /// writes, at every line length.
    #[test]
    fn quoprimime_body_encode_every_backend_matches_scalar(
        x in binascii_bytes(),
        maxlinelen in prop_oneof![Just(76usize), 4usize..200],
        crlf: bool,
    ) {
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut want = Vec::new();
        qp::quoprimime_body_encode_on(qp::Backend::Scalar, &x, maxlinelen, eol, &mut want);
        for b in qp::Backend::available() {
            let mut got = Vec::new();
            qp::quoprimime_body_encode_on(b, &x, maxlinelen, eol, &mut got);
            prop_assert_eq!(&got, &want, "backend {}", b);
        }
    }

    /// binascii's `a2b_qp`: every backend decodes as the scalar loop, on
    /// encoded text and on QP-looking noise (broken escapes, `==`, soft
    /// breaks with junk before LF, `_` in header mode).
    #[test]
    fn binascii_decode_every_backend_matches_scalar(
        x in binascii_bytes(),
        encode_first: bool,
        header: bool,
        pre in prop::collection::vec(any::<u8>(), 0..3),
    ) {
        let src = if encode_first {
            let mut e = Vec::new();
            qp::binascii_encode_reference(&x, qp::BinasciiQp::default(), &mut e);
            e
        } else {
            x
        };
        let mut want = pre.clone();
        qp::binascii_decode_append_on(qp::Backend::Scalar, &src, header, &mut want);
        for b in qp::Backend::available() {
            let mut got = pre.clone();
            qp::binascii_decode_append_on(b, &src, header, &mut got);
            prop_assert_eq!(&got, &want, "backend {}", b);
        }
    }
}

proptest! {
    /// `binascii_encode_pieces`: the pieces, cut after LFs in text mode,
    /// make the output of one call, whatever the piece size.
    #[test]
    fn binascii_encode_pieces_make_the_whole(
        x in binascii_bytes(),
        quotetabs: bool,
        istext: bool,
        header: bool,
        piece in 1usize..400,
    ) {
        let o = qp::BinasciiQp { quotetabs, istext, header };
        let mut want = Vec::new();
        qp::binascii_encode_reference(&x, o, &mut want);
        for b in qp::Backend::available() {
            let mut got = Vec::new();
            qp::binascii_encode_pieces_on(b, &x, o, piece, |p| got.extend_from_slice(p));
            prop_assert_eq!(&got, &want, "backend {}", b);
        }
    }
}
