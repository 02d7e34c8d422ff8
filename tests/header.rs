//! Header parsing: table tests from RFC 5322 (appendix A, obsolete forms
//! included), RFC 2047 §8, RFC 2231, plus a differential check against
//! Python's `email` package (policy.default), skipped without python3
//! (a failure under `MIMEFLOW_REQUIRE_ORACLES=1`, see `support/oracle.rs`).

#[path = "support/oracle.rs"]
mod oracle;

use mimeflow::charset;
use mimeflow::defect::{Defect, DefectCode};
use mimeflow::header::{
    decode_text, parse_address_list, parse_block, parse_content_disposition, parse_content_type,
    parse_date, split_header, unfold, Address,
};

fn text(s: &str) -> String {
    decode_text(s.as_bytes(), 0, &mut Vec::new())
}

fn codes(d: &[Defect]) -> Vec<DefectCode> {
    d.iter().map(|d| d.code).collect()
}

#[test]
fn rfc2047_section8_examples() {
    let cases = [
        ("(=?ISO-8859-1?Q?a?=)", "(a)"),
        ("(=?ISO-8859-1?Q?a?= b)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"),
        ("(=?ISO-8859-1?Q?a_b?=)", "(a b)"),
        ("(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"),
        // §8 header examples.
        ("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore"),
        ("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld Jørn Simonsen"),
        ("=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
        (
            "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
            "If you can read this you understand the example.",
        ),
        ("=?ISO-8859-1?Q?Olle_J=E4rvinen?=", "Olle Järvinen"),
        // RFC 2231 §5 language suffix.
        ("=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"),
    ];
    for (input, want) in cases {
        assert_eq!(text(input), want, "{input:?}");
    }
}

#[test]
fn encoded_words_lenient() {
    let cases = [
        ("=?utf-8?q?=E2=82?= =?utf-8?q?=AC?=", "€"),
        ("=?utf-8?b?4oI=?= =?UTF-8?B?rA==?=", "€"),
        ("=?utf-8?b?4oKs?=", "€"),
        ("=?utf-8?b?w6k?=", "é"),
        ("=?utf-8?q?hello world?=", "hello world"),
        ("foo=?utf-8?q?bar?=baz", "foobarbaz"),
        ("a =?utf-8?q?x?=  b", "a x  b"),
        ("=?utf-8?q??=", ""),
        ("plain  text ", "plain  text"),
        ("caf\u{e9} raw", "café raw"),
        ("=?utf-8?x?abc?=", "=?utf-8?x?abc?="),
        ("=?utf-8?q?abc", "=?utf-8?q?abc"),
        ("=??q?abc?=", "=??q?abc?="),
        ("=?utf-8?q?a?b?=", "=?utf-8?q?a?b?="),
        ("Re: =?ISO-8859-15?Q?=A4uro?=", "Re: €uro"),
        ("=?koi8-r?b?8NLJ18XU?=", "Привет"),
        ("=?gb2312?b?xOO6ww==?=", "你好"),
        ("=?ks_c_5601-1987?b?vsiz58fPvLy/5A==?=", "안녕하세요"),
        ("=?unicode-1-1-utf-7?q?+AOk-?=", "é"),
        ("=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
        ("=?utf-8?q?a?=\t=?iso-8859-1?q?=E9?=", "aé"),
    ];
    for (input, want) in cases {
        assert_eq!(text(input), want, "{input:?}");
    }
    // 8-bit raw text: UTF-8 when valid, else windows-1252.
    let mut d = Vec::new();
    assert_eq!(decode_text(b"caf\xe9 \x80", 0, &mut d), "café €");
}

#[test]
fn encoded_word_defects() {
    let mut d = Vec::new();
    let s = decode_text(b"xx =?x-bogus?q?caf=E9?=", 100, &mut d);
    assert_eq!(s, "xx café");
    assert_eq!(d, vec![Defect::new(DefectCode::UnknownCharset, 103)]);
    let mut d = Vec::new();
    let s = decode_text(b"  =?utf-8?b?QUJDR?= y", 10, &mut d);
    assert_eq!(s, "=?utf-8?b?QUJDR?= y");
    assert_eq!(d, vec![Defect::new(DefectCode::BadEncodedWord, 12)]);
    let mut d = Vec::new();
    decode_text(b"a\r\n =?utf-8?q?=FF?=", 0, &mut d);
    assert_eq!(d, vec![Defect::new(DefectCode::InvalidCharsetData, 4)]);
}

#[test]
fn unfolding() {
    assert_eq!(&*unfold(b" a\r\n b\r\n\tc "), b"a b\tc");
    assert_eq!(&*unfold(b"a\n \n b"), b"a  b");
    assert_eq!(&*unfold(b""), b"");
    assert!(matches!(unfold(b" x "), std::borrow::Cow::Borrowed(b"x")));
}

#[test]
fn split_and_block() {
    let msg = b"From sender Fri Sep 16 22:26:51 2016\r\nSubject : hi\r\n  there\r\nX-Empty:\r\nbogus line\r\n cont\r\nTo:\r\n   \r\n a@b\r\n\r\nbody";
    let sp = split_header(msg);
    assert!(!sp.missing_separator);
    assert_eq!(&msg[sp.body_start..], b"body");
    let block = &msg[..sp.header_len];
    let mut d = Vec::new();
    let f = parse_block(block, 1000, 100, &mut d);
    let names: Vec<&[u8]> = f.iter().map(|f| &block[f.name.clone()]).collect();
    assert_eq!(names, [&b"Subject"[..], b"X-Empty", b"To"]);
    assert_eq!(&block[f[0].value.clone()], b" hi\r\n  there");
    assert_eq!(&block[f[0].line.clone()], b"Subject : hi\r\n  there\r\n");
    assert_eq!(&block[f[1].value.clone()], b"");
    assert_eq!(&*unfold(&block[f[2].value.clone()]), b"a@b");
    let bogus = memchr::memmem::find(block, b"bogus").unwrap() as u64;
    assert_eq!(
        d,
        vec![Defect::new(DefectCode::HeaderWithoutColon, 1000 + bogus)]
    );

    let mut d = Vec::new();
    let f = parse_block(b" lead\nA: \xc3\xa9\n \xff\nB: x\nC: y\n", 0, 2, &mut d);
    assert_eq!(f.len(), 2);
    assert_eq!(
        codes(&d),
        [
            DefectCode::ContinuationWithoutField,
            DefectCode::EightBitInHeader,
            DefectCode::HeaderCountLimit
        ]
    );
    assert_eq!(d[1].offset, 9);
    assert_eq!(d[2].offset, 20);

    let long = format!("A: {}\n", "x".repeat(1000));
    let mut d = Vec::new();
    parse_block(long.as_bytes(), 5, 10, &mut d);
    assert_eq!(d, vec![Defect::new(DefectCode::HeaderLineTooLong, 5)]);

    let sp = split_header(b"A: b");
    assert!(sp.missing_separator && sp.header_len == 4 && sp.body_start == 4);
    let f = parse_block(b"A: b", 0, 10, &mut Vec::new());
    assert_eq!(f[0].line, 0..4);
    assert_eq!(f[0].value, 2..4);
}

#[test]
fn big_header_block_is_linear() {
    let mut block = Vec::with_capacity(11 << 20);
    for i in 0..100_000 {
        block.extend_from_slice(
            format!("X-Field-{i}: value {i} =?utf-8?q?caf=C3=A9?=\r\n folded\r\n").as_bytes(),
        );
    }
    let sp = split_header(&block);
    assert!(sp.missing_separator);
    let mut d = Vec::new();
    let f = parse_block(&block, 0, usize::MAX, &mut d);
    assert_eq!(f.len(), 100_000);
    assert!(d.is_empty());
    let last = f.last().unwrap();
    assert_eq!(
        decode_text(&block[last.value.clone()], 0, &mut d),
        "value 99999 café folded"
    );
    // Pathological single values, 10 MB each: must finish (linear scans).
    let v = "=?a?q?".repeat(1 << 20);
    assert_eq!(decode_text(v.as_bytes(), 0, &mut d).len(), v.len());
    let v = "(".repeat(5 << 20);
    assert!(parse_content_type(v.as_bytes(), 0, &mut d).is_none());
    let v = "a;".repeat(1 << 20) + &"b*1*=x;".repeat(1 << 18);
    parse_content_type(format!("text/plain;{v}").as_bytes(), 0, &mut d);
    parse_address_list(",=?a?q?x".repeat(1 << 19).as_bytes(), 0, &mut d);
    parse_address_list("<".repeat(1 << 20).as_bytes(), 0, &mut d);
    assert!(parse_date("1 ".repeat(1 << 20).as_bytes()).is_none());
}

#[test]
fn rfc2231_parameters() {
    let ct = |s: &str| parse_content_type(s.as_bytes(), 0, &mut Vec::new()).unwrap();
    // RFC 2231 §3, §4, §4.1 examples.
    let c = ct("message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"");
    assert_eq!(
        c.params.get("url"),
        Some("ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")
    );
    assert_eq!(c.params.get("ACCESS-TYPE"), Some("URL"));
    let c = ct("application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A");
    assert_eq!(c.params.get("title"), Some("This is ***fun***"));
    let c = ct("application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"");
    assert_eq!(
        c.params.get("title"),
        Some("This is even more ***fun*** isn't it!")
    );
    // Out of order, numeric sort (10 after 9), charset spanning sections.
    let parts: String = (0..11).rev().map(|k| format!("; n*{k}={k}")).collect();
    assert_eq!(
        ct(&format!("a/b{parts}")).params.get("n"),
        Some("012345678910")
    );
    let c = ct("a/b; name*1*=%82%AC; name*0*=utf-8''%E2");
    assert_eq!(c.params.get("name"), Some("€"));
    let c = ct("a/b; name*=utf-8'en'%E2%82%AC");
    assert_eq!(c.params.get("name"), Some("€"));
    let c = ct("a/b; name*=''abc");
    assert_eq!(c.params.get("name"), Some("abc"));
    let c = ct("a/b; name*=iso-8859-1''caf%E9");
    assert_eq!(c.params.get("name"), Some("café"));
    // Extended wins over plain; order of first appearance kept.
    let c = ct("a/b; filename=a.txt; x=1; filename*=utf-8''%E2%82%AC.txt");
    assert_eq!(
        c.params.0,
        vec![
            ("filename".into(), "€.txt".into()),
            ("x".into(), "1".into())
        ]
    );
    // Defects: gap, bad escape, unknown charset.
    let mut d = Vec::new();
    let c = parse_content_type(b"a/b; n*0=a; n*2=c; m*=x-bogus''%41%zz", 50, &mut d).unwrap();
    assert_eq!(c.params.get("n"), Some("ac"));
    assert_eq!(c.params.get("m"), Some("A%zz"));
    assert_eq!(
        codes(&d),
        [
            DefectCode::BadParameter,
            DefectCode::BadParameter,
            DefectCode::UnknownCharset
        ]
    );
    assert_eq!(d[0].offset, 50 + 12);
}

#[test]
fn content_type_and_disposition() {
    let mut d = Vec::new();
    let c = parse_content_type(
        b" Multipart/Mixed ;\r\n\tboundary=\"==b (x)\" ; charset = utf-8 (c)",
        0,
        &mut d,
    )
    .unwrap();
    assert_eq!((&*c.type_, &*c.subtype), ("multipart", "mixed"));
    assert_eq!(c.boundary(), Some("==b (x)"));
    assert_eq!(c.charset(), Some("utf-8"));
    assert!(d.is_empty());
    let c = parse_content_type(b"(comment) text / html; boundary=abc=def", 0, &mut d).unwrap();
    assert_eq!(c.mime_type(), "text/html");
    assert_eq!(c.boundary(), Some("abc=def"));
    for bad in ["", "text", "text/", "/plain", ";charset=x", "(x)"] {
        assert!(
            parse_content_type(bad.as_bytes(), 0, &mut d).is_none(),
            "{bad:?}"
        );
    }
    let c = parse_content_type(b"text/plain; name=\"=?utf-8?b?w6k=?=\"; x", 0, &mut d).unwrap();
    assert_eq!(c.params.get("name"), Some("é"));
    let cd = parse_content_disposition(
        b"Attachment; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"; size=12",
        0,
        &mut d,
    )
    .unwrap();
    assert_eq!(cd.kind, "attachment");
    assert_eq!(cd.params.get("filename"), Some("résumé.pdf"));
    assert_eq!(cd.params.get("SIZE"), Some("12"));
    assert!(parse_content_disposition(b" ; x=1", 0, &mut d).is_none());
    let cd = parse_content_disposition(b"inline", 0, &mut d).unwrap();
    assert!(cd.params.0.is_empty());
}

fn addr(name: Option<&str>, address: &str, group: Option<&str>) -> Address {
    Address {
        name: name.map(Into::into),
        address: address.into(),
        group: group.map(Into::into),
    }
}

fn addrs(s: &str) -> Vec<Address> {
    parse_address_list(s.as_bytes(), 0, &mut Vec::new())
}

#[test]
fn rfc5322_appendix_a_addresses() {
    // A.1.1, A.1.2
    assert_eq!(
        addrs("John Doe <jdoe@machine.example>"),
        [addr(Some("John Doe"), "jdoe@machine.example", None)]
    );
    assert_eq!(
        addrs("\"Joe Q. Public\" <john.q.public@example.com>"),
        [addr(
            Some("Joe Q. Public"),
            "john.q.public@example.com",
            None
        )]
    );
    assert_eq!(
        addrs("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
        [
            addr(Some("Mary Smith"), "mary@x.test", None),
            addr(None, "jdoe@example.org", None),
            addr(Some("Who?"), "one@y.test", None),
        ]
    );
    assert_eq!(
        addrs("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"),
        [
            addr(None, "boss@nil.test", None),
            addr(Some("Giant; \"Big\" Box"), "sysservices@example.net", None)
        ]
    );
    // A.1.3 groups.
    assert_eq!(
        addrs("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"),
        [
            addr(Some("Ed Jones"), "c@a.test", Some("A Group")),
            addr(None, "joe@where.test", Some("A Group")),
            addr(Some("John"), "jdoe@one.test", Some("A Group")),
        ]
    );
    assert_eq!(addrs("Undisclosed recipients:;"), []);
    // A.5 white space, comments.
    assert_eq!(
        addrs("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
        [addr(Some("Pete"), "pete@silly.test", None)]
    );
    assert_eq!(
        addrs("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end of the group)"),
        [
            addr(Some("Chris Jones"), "c@public.example", Some("A Group")),
            addr(None, "joe@example.org", Some("A Group")),
            addr(Some("John"), "jdoe@one.test", Some("A Group")),
        ]
    );
    // A.6.1 / A.6.3 obsolete.
    assert_eq!(
        addrs("Joe Q. Public <john.q.public@example.com>"),
        [addr(
            Some("Joe Q. Public"),
            "john.q.public@example.com",
            None
        )]
    );
    assert_eq!(
        addrs("Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example"),
        [
            addr(Some("Mary Smith"), "mary@example.net", None),
            addr(None, "jdoe@test.example", None)
        ]
    );
    assert_eq!(
        addrs("John Doe <jdoe@machine(comment).  example>"),
        [addr(Some("John Doe"), "jdoe@machine.example", None)]
    );
    assert_eq!(addrs("<@x,@y:a@b>"), [addr(None, "a@b", None)]);
}

#[test]
fn addresses_lenient() {
    assert_eq!(
        addrs("jdoe@example.org (John Doe)"),
        [addr(Some("John Doe"), "jdoe@example.org", None)]
    );
    assert_eq!(
        addrs("=?utf-8?q?J.?= <a@b>"),
        [addr(Some("J."), "a@b", None)]
    );
    assert_eq!(
        addrs("\"=?utf-8?q?caf=C3=A9?=\" <a@b>"),
        [addr(Some("café"), "a@b", None)]
    );
    assert_eq!(
        addrs("=?utf-8?q?a?= =?utf-8?q?b?= <x@y>, \"\" <z@w>"),
        [addr(Some("ab"), "x@y", None), addr(None, "z@w", None)]
    );
    assert_eq!(
        addrs("\"john doe\"@x.org"),
        [addr(None, "\"john doe\"@x.org", None)]
    );
    assert_eq!(addrs("a@b [x] <c@d>")[0].address, "c@d");
    assert_eq!(addrs("<a@[1.2.3.4]>"), [addr(None, "a@[1.2.3.4]", None)]);
    let mut d = Vec::new();
    let a = parse_address_list(b"John Smith john@x.org, <a@b, c@d", 7, &mut d);
    assert_eq!(
        a,
        [
            addr(Some("John Smith"), "john@x.org", None),
            addr(None, "a@b", None),
            addr(None, "c@d", None)
        ]
    );
    assert!(codes(&d).iter().all(|&c| c == DefectCode::BadAddress));
    assert_eq!(d[0].offset, 7);
    assert_eq!(addrs(""), []);
    assert_eq!(addrs(" , ;;: <> "), [addr(None, "", Some(""))]);
    // RFC 2047 §6.2: blanks between adjacent encoded-words are dropped in
    // phrases too (Python's email keeps them there).
    assert_eq!(
        addrs("=?utf-8?b?w6k=?= =?utf-8?q?_x?= <a@b>")[0]
            .name
            .as_deref(),
        Some("é x")
    );
    assert_eq!(
        addrs("G: a@b; c@d"),
        [addr(None, "a@b", Some("G")), addr(None, "c@d", None)]
    );
}

#[test]
fn dates() {
    let ts = |s: &str| parse_date(s.as_bytes()).map(|d| (d.timestamp, d.offset_minutes));
    let iso = |s: &str| parse_date(s.as_bytes()).map(|d| d.to_iso8601());
    // RFC 5322 appendix A.
    assert_eq!(
        iso("Fri, 21 Nov 1997 09:55:06 -0600").as_deref(),
        Some("1997-11-21T09:55:06-06:00")
    );
    assert_eq!(
        ts("Fri, 21 Nov 1997 09:55:06 -0600"),
        Some((880127706, -360))
    );
    assert_eq!(
        ts("Tue, 1 Jul 2003 10:52:37 +0200"),
        Some((1057049557, 120))
    );
    assert_eq!(
        ts("Thu, 13 Feb 1969 23:32:54 -0330"),
        Some((-27723426, -210))
    );
    assert_eq!(
        ts("Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)"),
        Some((-27723480, -210))
    );
    assert_eq!(ts("21 Nov 97 09:55:06 GMT"), Some((880106106, 0)));
    assert_eq!(
        ts("Fri, 21 Nov 1997 09:55:06 EST"),
        ts("Fri, 21 Nov 1997 09:55:06 -0500")
    );
    assert_eq!(ts("Fri, 21 Nov 1997 09:55:06 PDT").map(|t| t.1), Some(-420));
    // Common obsolete forms.
    assert_eq!(
        iso("Fri, 16 Sep 2016 22:26:51 +0000 (UTC)").as_deref(),
        Some("2016-09-16T22:26:51+00:00")
    );
    assert_eq!(
        iso("Fri Sep 16 22:26:51 2016").as_deref(),
        Some("2016-09-16T22:26:51+00:00")
    );
    assert_eq!(
        iso("16 sep 2016 22:26 z").as_deref(),
        Some("2016-09-16T22:26:00+00:00")
    );
    assert_eq!(
        iso("16-Sep-2016 22:26:51 +0530").as_deref(),
        Some("2016-09-16T22:26:51+05:30")
    );
    assert_eq!(
        iso("Sun, 3 Jan 05 1:02:03 -0000").as_deref(),
        Some("2005-01-03T01:02:03+00:00")
    );
    assert_eq!(
        iso("Mon, 29 Feb 2016 23:59:60 UT").as_deref(),
        Some("2016-03-01T00:00:00+00:00")
    );
    assert_eq!(
        iso("1 January 1970").as_deref(),
        Some("1970-01-01T00:00:00+00:00")
    );
    assert_eq!(ts("Thu, 01 Jan 1970 00:00:00 +0000"), Some((0, 0)));
    for bad in [
        "",
        "garbage",
        "30 Feb 2016 00:00:00",
        "32 Jan 2016",
        "1 Jan 2016 25:00:00",
        "Jan 2016",
        "1 Foo 2016",
    ] {
        assert_eq!(parse_date(bad.as_bytes()), None, "{bad:?}");
    }
}

#[test]
fn date_zones_that_cannot_be_read_are_reported() {
    use mimeflow::header::date::{parse_date_zone, Zone};
    let zone = |s: &str| parse_date_zone(s.as_bytes()).map(|(d, z)| (d.to_iso8601(), z));
    // "GMT+0100" is no RFC 5322 zone, and its sign is ambiguous (POSIX reads
    // GMT+1 as one hour west): the time reads as -0000 (§4.3), reported.
    // The stdlib gives the same instant: parsedate_tz(...)[9] == 0.
    assert_eq!(
        zone("Mon, 3 Mar 2025 9:05:01 GMT+0100"),
        Some(("2025-03-03T09:05:01+00:00".into(), Zone::Unknown))
    );
    assert_eq!(
        zone("Mon, 3 Mar 2025 9:05:01 XYZ").unwrap().1,
        Zone::Unknown
    );
    assert_eq!(zone("Mon, 3 Mar 2025 9:05:01 GMT").unwrap().1, Zone::Known);
    assert_eq!(
        zone("Mon, 3 Mar 2025 9:05:01 +0100").unwrap().1,
        Zone::Known
    );
    assert_eq!(zone("Mon, 3 Mar 2025 9:05:01").unwrap().1, Zone::Missing);
    // The message parser records it on the message whose Date it is.
    let msg =
        mimeflow::message::Message::parse(&b"Date: Mon, 3 Mar 2025 9:05:01 GMT+0100\n\nx\n"[..]);
    let d: Vec<_> = msg.defects().collect();
    assert_eq!(d, [Defect::new(DefectCode::UnknownTimeZone, 5)]);
}

#[test]
fn charset_decode() {
    assert_eq!(charset::decode(b"\xe9", Some("latin1")).text, "é");
    assert_eq!(charset::decode(b"\xe9", Some("cp1252")).text, "é");
    assert_eq!(charset::decode(b"\xe9", Some("iso-8859-8-i")).text, "י");
    assert_eq!(charset::decode(b"\x8e", Some("x-mac-roman")).text, "é");
    assert_eq!(charset::decode(b"\xc4\xe3", Some("gb2312")).text, "你");
    assert_eq!(charset::decode(b"\xe9", Some("ascii")).text, "é");
    assert!(!charset::decode(b"x", Some("x-unknown")).known_charset);
}

/// Runs Python's email package over headers in one subprocess; `None` only
/// when python3 cannot be started. A script that fails (a traceback, a
/// missing module) fails the test: that is the oracle breaking, not absent.
fn python(script: &str, input: &str) -> Option<Vec<String>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 oracle failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .expect("python3 printed UTF-8")
            .lines()
            .map(String::from)
            .collect(),
    )
}

const PY: &str = r#"
import sys, json, email, email.policy
for line in sys.stdin.read().split("\n"):
    if not line: continue
    kind, value = json.loads(line)
    m = email.message_from_string(kind + ": " + value + "\n\n", policy=email.policy.default)
    h = m[kind]
    if kind == "Subject": r = str(h)
    elif kind == "Content-Type": r = sorted(h.params.items())
    else: r = [[a.display_name or None, a.addr_spec] for a in h.addresses]
    print(json.dumps(r))
"#;

#[test]
fn differential_against_python_email() {
    let subjects = [
        "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=",
        "(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)",
        "foo=?utf-8?q?bar?=baz",
        "=?utf-8?q?hello world?=",
        "=?utf-8?b?4oKs?= x",
        "=?UTF-8?B?w6k?=",
        "a =?utf-8?q?x?=  b",
        "=?US-ASCII*EN?Q?Keith_Moore?=",
        "Re: [list] =?iso-8859-1?q?caf=E9?= au lait",
        "=?utf-8?q?a?=\r\n =?utf-8?q?b?= c",
        "=?utf-8?q?x=3F_y?= =?utf-8?b?eg==?=",
        "=?utf-8?q?broken",
        "plain",
    ];
    let cts = [
        "text/plain; charset=\"utf-8\"; format=flowed",
        "text/plain; name=\"=?utf-8?b?w6k=?=\"",
        "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
        "text/plain; a*1=b; a*0=a",
        "multipart/mixed; boundary=\"----=_Part_0_1.2\"",
        "text/plain; charset=us-ascii (Plain text)",
        "application/pdf; name*=utf-8''%E2%82%AC%20rates.pdf",
        "text/plain; x=\"a\\\"b\"",
    ];
    let tos = [
        "\"Joe Q. Public\" <john.q.public@example.com>",
        "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
        "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
        "=?utf-8?q?J.?= <a@b>",
        "\"=?utf-8?q?caf=C3=A9?=\" <a@b>",
        "=?utf-8?b?w6k=?= <a@b>, c@d",
        "John Doe <jdoe@machine(comment).  example>",
        "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
    ];
    let mut input = String::new();
    let mut expected = Vec::new();
    for s in subjects {
        input += &serde_json::json!(["Subject", s]).to_string();
        input.push('\n');
        expected.push(serde_json::json!(text(s)));
    }
    for s in cts {
        input += &serde_json::json!(["Content-Type", s]).to_string();
        input.push('\n');
        let c = parse_content_type(s.as_bytes(), 0, &mut Vec::new()).unwrap();
        let mut p = c.params.0.clone();
        p.sort();
        expected.push(serde_json::json!(p));
    }
    for s in tos {
        input += &serde_json::json!(["To", s]).to_string();
        input.push('\n');
        let a: Vec<_> = addrs(s)
            .into_iter()
            .map(|a| serde_json::json!([a.name, a.address]))
            .collect();
        expected.push(serde_json::json!(a));
    }
    let Some(got) = python(PY, &input) else {
        oracle::missing("python3 not found: the differential test against email did not run");
        return;
    };
    assert_eq!(got.len(), expected.len());
    let lines: Vec<&str> = input.lines().collect();
    for ((g, e), line) in got.iter().zip(&expected).zip(lines) {
        let g: serde_json::Value = serde_json::from_str(g).unwrap();
        assert_eq!(&g, e, "input {line}");
    }
}
