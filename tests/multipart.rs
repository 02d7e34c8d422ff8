//! Multipart boundary scanning: table tests for each RFC 2046 case (CRLF and
//! LF), and a property test that `split`, the streaming `Scanner` (random
//! chunkings) and a naive line-by-line reference agree.

use std::ops::Range;

use mimeflow::multipart::{match_delimiter, split, Event, Scanner, Split};
use proptest::prelude::*;

/// The obviously correct reference: walk the body line by line.
fn naive(body: &[u8], boundary: &[u8]) -> Split {
    let mut out = Split {
        preamble: 0..body.len(),
        parts: Vec::new(),
        epilogue: None,
        closed: false,
    };
    if boundary.contains(&b'\r') || boundary.contains(&b'\n') {
        return out;
    }
    // A boundary cannot end in a blank (bcharsnospace): trailing blanks of
    // the parameter read as transport padding.
    let boundary = boundary.trim_ascii_end();
    let mut part: Option<usize> = None;
    let mut start = 0;
    let mut prev_eol = 0; // length of the previous line's line end
    loop {
        let (mut content_end, next, has_lf) = match body[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, start + i + 1, true),
            None => (body.len(), body.len(), false),
        };
        if content_end > start && body[content_end - 1] == b'\r' {
            content_end -= 1;
        }
        let line = &body[start..content_end];
        let close = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary))
            .and_then(|rest| {
                let (close, pad) = match rest.strip_prefix(b"--") {
                    Some(p) => (true, p),
                    None => (false, rest),
                };
                pad.iter()
                    .all(|&b| b == b' ' || b == b'\t')
                    .then_some(close)
            });
        if let Some(close) = close {
            let seg = part.unwrap_or(0);
            let end = (start - prev_eol).max(seg);
            match part {
                // An opening delimiter right after a delimiter line repeats
                // it: the part it would have ended never existed.
                Some(s) if s == start && !close => {}
                Some(s) => out.parts.push(s..end),
                None => out.preamble = 0..end,
            }
            if close {
                out.closed = true;
                out.epilogue = Some(next..body.len());
                return out;
            }
            part = Some(next);
        }
        if !has_lf {
            break;
        }
        prev_eol = next - content_end;
        start = next;
    }
    if let Some(s) = part {
        out.parts.push(s..body.len());
    }
    out
}

/// Runs the scanner over `body` cut into `sizes` (cycled; 0 = empty chunk).
fn scan(body: &[u8], boundary: &[u8], sizes: &[usize]) -> (Vec<Event>, bool) {
    let mut sc = Scanner::new(boundary);
    let mut ev = Vec::new();
    let mut rest = body;
    let mut k = 0;
    while !rest.is_empty() {
        let n = if sizes.is_empty() {
            rest.len()
        } else {
            sizes[k % sizes.len()]
        }
        .min(rest.len());
        k += 1;
        sc.push(&rest[..n], &mut ev);
        rest = &rest[n..];
        if k > 100_000 {
            sc.push(rest, &mut ev);
            break;
        }
    }
    let closed = sc.finish(&mut ev);
    (ev, closed)
}

/// The events `split` implies.
fn events_of(s: &Split) -> Vec<Event> {
    let mut ev = Vec::new();
    for p in &s.parts {
        ev.push(Event::PartStart {
            offset: p.start as u64,
        });
        ev.push(Event::PartEnd {
            offset: p.end as u64,
        });
    }
    if let Some(e) = &s.epilogue {
        ev.push(Event::Close {
            offset: e.start as u64,
        });
    }
    ev
}

fn check_all(body: &[u8], boundary: &[u8], sizes: &[usize]) -> Split {
    let want = naive(body, boundary);
    let got = split(body, boundary);
    assert_eq!(
        got,
        want,
        "split vs naive, body {:?}",
        String::from_utf8_lossy(body)
    );
    let (ev, closed) = scan(body, boundary, sizes);
    assert_eq!(
        ev,
        events_of(&want),
        "scanner vs naive, sizes {sizes:?}, body {:?}",
        String::from_utf8_lossy(body)
    );
    assert_eq!(closed, want.closed);
    want
}

/// Checks one case with every chunk size 0..=len+1, then returns the split.
fn case(body: &str, boundary: &str) -> Split {
    let (b, bd) = (body.as_bytes(), boundary.as_bytes());
    let s = check_all(b, bd, &[]);
    for n in 1..=b.len() + 1 {
        check_all(b, bd, &[n]);
        check_all(b, bd, &[0, n, 1]);
    }
    s
}

fn texts<'a>(body: &'a str, rs: &[Range<usize>]) -> Vec<&'a str> {
    rs.iter().map(|r| &body[r.clone()]).collect()
}

/// Runs `f` with the LF and the CRLF version of `body` (written with "\n").
fn both(body: &str, boundary: &str, f: impl Fn(&str, Split)) {
    f(body, case(body, boundary));
    let crlf = body.replace('\n', "\r\n");
    f(&crlf, case(&crlf, boundary));
}

#[test]
fn match_delimiter_table() {
    assert_eq!(match_delimiter(b"abc", b"abc"), Some(false));
    assert_eq!(match_delimiter(b"abc--", b"abc"), Some(true));
    assert_eq!(match_delimiter(b"abc \t ", b"abc"), Some(false));
    assert_eq!(match_delimiter(b"abc--  ", b"abc"), Some(true));
    assert_eq!(match_delimiter(b"abcd", b"abc"), None);
    assert_eq!(match_delimiter(b"abc-", b"abc"), None);
    assert_eq!(match_delimiter(b"abc---", b"abc"), None);
    assert_eq!(match_delimiter(b"abc --", b"abc"), None);
    assert_eq!(match_delimiter(b"ab", b"abc"), None);
    assert_eq!(match_delimiter(b"", b""), Some(false));
    assert_eq!(match_delimiter(b"--", b""), Some(true));
}

#[test]
fn basic_preamble_parts_epilogue() {
    both(
        "pre\n--b\none\n--b\ntwo\nlines\n--b--\nepi\n",
        "b",
        |body, s| {
            let crlf = body.contains('\r');
            assert_eq!(&body[s.preamble.clone()], "pre");
            let two = if crlf { "two\r\nlines" } else { "two\nlines" };
            assert_eq!(texts(body, &s.parts), ["one", two]);
            assert!(s.closed);
            let epi = if crlf { "epi\r\n" } else { "epi\n" };
            assert_eq!(&body[s.epilogue.unwrap()], epi);
        },
    );
}

#[test]
fn delimiter_only_at_line_start() {
    both("--b\nx --b\nx--b--\n--b--\n", "b", |body, s| {
        let nl = if body.contains('\r') { "\r\n" } else { "\n" };
        assert_eq!(texts(body, &s.parts), [format!("x --b{nl}x--b--")]);
        assert!(s.closed);
    });
}

#[test]
fn transport_padding() {
    both("--b \t\na\n--b\t\nb\n--b--  \t\n", "b", |body, s| {
        assert_eq!(texts(body, &s.parts), ["a", "b"]);
        assert!(s.closed);
        assert_eq!(s.epilogue.unwrap(), body.len()..body.len());
    });
}

#[test]
fn close_delimiter_and_epilogue_ignored_delimiters() {
    both("--b\na\n--b--\n--b\nnot a part\n", "b", |body, s| {
        assert_eq!(texts(body, &s.parts), ["a"]);
        assert!(s.closed);
        let e = s.epilogue.unwrap();
        assert!(body[e].starts_with("--b"));
    });
}

#[test]
fn prefix_of_longer_token_is_not_a_delimiter() {
    both(
        "--abc\nx\n--abcd\ny\n--abc-\n--abc---\n--ab\n--abc--\n",
        "abc",
        |body, s| {
            let nl = if body.contains('\r') { "\r\n" } else { "\n" };
            let want = ["x", "--abcd", "y", "--abc-", "--abc---", "--ab"].join(nl);
            assert_eq!(texts(body, &s.parts), [want]);
            assert!(s.closed);
        },
    );
}

#[test]
fn nested_inner_parts_are_opaque() {
    let body = "--outer\nContent-Type: multipart/mixed; boundary=inner\n\n--inner\nA\n--inner\nB\n--inner--\n\n--outer\nC\n--outer--\n";
    both(body, "outer", |body, s| {
        assert_eq!(s.parts.len(), 2);
        assert!(body[s.parts[0].clone()].contains("--inner--"));
        assert_eq!(&body[s.parts[1].clone()], "C");
        // The caller splits the inner body with the inner boundary.
        let inner = &body[s.parts[0].clone()];
        let si = split(inner.as_bytes(), b"inner");
        assert_eq!(texts(inner, &si.parts), ["A", "B"]);
        assert!(si.closed);
    });
}

#[test]
fn nested_boundary_with_outer_as_prefix() {
    // Inner boundary "b2" has the outer "b" as a prefix: "--b2" is no outer delimiter.
    both("--b\n--b2\nA\n--b2--\n--b--\n", "b", |body, s| {
        let nl = if body.contains('\r') { "\r\n" } else { "\n" };
        assert_eq!(texts(body, &s.parts), [format!("--b2{nl}A{nl}--b2--")]);
    });
}

#[test]
fn missing_close_delimiter() {
    both("pre\n--b\na\n--b\nlast\n", "b", |body, s| {
        let nl = if body.contains('\r') { "\r\n" } else { "\n" };
        assert!(!s.closed);
        assert_eq!(s.epilogue, None);
        assert_eq!(
            texts(body, &s.parts),
            ["a".to_string(), format!("last{nl}")]
        );
    });
}

#[test]
fn no_delimiter_at_all() {
    both("just text\n--bb\n", "b", |body, s| {
        assert_eq!(s.preamble, 0..body.len());
        assert!(s.parts.is_empty());
        assert!(!s.closed);
    });
    let s = case("", "b");
    assert_eq!(
        s,
        Split {
            preamble: 0..0,
            parts: vec![],
            epilogue: None,
            closed: false
        }
    );
}

#[test]
fn mixed_line_ends() {
    let body = "pre\r\n--b\na\r\n--b\r\nb\n--b--\r\nepi";
    let s = case(body, "b");
    assert_eq!(texts(body, &s.parts), ["a", "b"]);
    assert_eq!(&body[s.preamble], "pre");
    assert_eq!(&body[s.epilogue.unwrap()], "epi");
}

#[test]
fn delimiter_at_very_start() {
    both("--b\na\n--b--\n", "b", |body, s| {
        assert_eq!(s.preamble, 0..0);
        assert_eq!(texts(body, &s.parts), ["a"]);
    });
}

#[test]
fn delimiter_at_very_end_without_line_end() {
    both("--b\na\n--b--", "b", |body, s| {
        assert_eq!(texts(body, &s.parts), ["a"]);
        assert!(s.closed);
        assert_eq!(s.epilogue.unwrap(), body.len()..body.len());
    });
    both("--b\na\n--b", "b", |body, s| {
        // An open delimiter at the end starts an empty, unclosed part.
        assert_eq!(texts(body, &s.parts), ["a", ""]);
        assert!(!s.closed);
    });
    both("--b\na\n--b--  ", "b", |_, s| assert!(s.closed));
    both("--b\na\n--b-", "b", |body, s| {
        let start = if body.contains('\r') { 5 } else { 4 };
        assert_eq!(s.parts.len(), 1);
        assert_eq!(s.parts[0], start..body.len());
        assert!(!s.closed);
    });
}

#[test]
fn a_repeated_delimiter_opens_no_part() {
    // `--b LF --b`: one line end between two delimiter lines, so no part
    // between them; `--b LF LF --b`: one empty part (RFC 2046 §5.1.1).
    both("--b\n--b\n\n--b\n\n\n--b--\n", "b", |body, s| {
        let nl = if body.contains('\r') { "\r\n" } else { "\n" };
        assert_eq!(texts(body, &s.parts), ["", nl]);
    });
    // Repeated many times: still no part until a line that is not one.
    both("--b\n--b\n--b\n--b\nx\n--b--\n", "b", |body, s| {
        assert_eq!(texts(body, &s.parts), ["x"]);
    });
}

#[test]
fn a_close_delimiter_right_after_a_delimiter_ends_an_empty_part() {
    // The grammar needs one body part before the close delimiter.
    both("--b\n--b--\n", "b", |body, s| {
        assert_eq!(texts(body, &s.parts), [""]);
        assert!(s.closed);
    });
    both("--b\nx\n--b\n--b--\n", "b", |body, s| {
        assert_eq!(texts(body, &s.parts), ["x", ""]);
    });
}

#[test]
fn boundary_straddles_chunks() {
    // `case` already tries every chunk size; here a delimiter split at every
    // position into exactly two chunks.
    let body = b"preamble\r\n--simple boundary  \r\npart\r\n--simple boundary--\r\n";
    for cut in 0..=body.len() {
        let mut sc = Scanner::new(b"simple boundary");
        let mut ev = Vec::new();
        sc.push(&body[..cut], &mut ev);
        sc.push(&body[cut..], &mut ev);
        assert!(sc.finish(&mut ev));
        assert_eq!(
            ev,
            [
                Event::PartStart { offset: 31 },
                Event::PartEnd { offset: 35 },
                Event::Close {
                    offset: body.len() as u64
                }
            ],
            "cut {cut}"
        );
    }
}

#[test]
fn long_padding_streams_in_bounded_memory() {
    let mut body = b"--b".to_vec();
    body.extend(std::iter::repeat_n(b' ', 100_000));
    body.extend_from_slice(b"\r\nx\r\n--b--\r\n");
    let s = check_all(&body, b"b", &[1000]);
    assert_eq!(s.parts.len(), 1);
    assert_eq!(s.parts[0], 100_005..100_006);
}

#[test]
fn illegal_boundaries() {
    // CR/LF can never be inside one line; empty boundary works like any other.
    assert!(case("--a\nb\n--a\nb--\n", "a\nb").parts.is_empty());
    assert!(case("--a\r\n", "a\r").parts.is_empty());
    both("x\n--\ny\n----\n", "", |body, s| {
        assert_eq!(texts(body, &s.parts), ["y"]);
        assert!(s.closed);
    });
}

fn fragment(b: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => Just(format!("--{b}")),
        2 => Just(format!("--{b}--")),
        1 => Just(format!("--{b}X")),
        1 => Just(format!("--{}", &b[..b.len() - 1])),
        1 => Just(format!(" --{b}")),
        1 => Just(format!("---{b}")),
        1 => Just(format!("--{b}-")),
        1 => Just(format!("--{b}---")),
        1 => Just(format!("--{b} --")),
        6 => Just("\r\n".to_string()),
        5 => Just("\n".to_string()),
        1 => Just("\r".to_string()),
        2 => Just(" ".to_string()),
        1 => Just("\t".to_string()),
        2 => Just("-".to_string()),
        2 => Just("text".to_string()),
        1 => Just(b.to_string()),
    ]
    .prop_map(String::into_bytes)
    .boxed()
    .prop_union(proptest::collection::vec(any::<u8>(), 1..4).boxed())
}

/// Well-formed-ish bodies: parts made of lines, some of them near misses.
fn structured(b: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let line = prop_oneof![
        Just(String::new()),
        Just("hello world".to_string()),
        Just(format!("--{b}X")),
        Just(format!("--{}", &b[..b.len() - 1])),
        Just(format!(" --{b}")),
        Just(format!("---{b}")),
        Just(format!("--{b}--")),
        Just(format!("--{b}  ")),
        "[a-z -]{0,12}",
    ];
    let part = proptest::collection::vec((line, any::<bool>()), 0..5);
    (
        proptest::collection::vec(part, 0..5),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(parts, crlf, close, tail)| {
            let mut s = String::from("preamble\n");
            for p in parts {
                s.push_str(&format!("--{b}\n"));
                for (l, lf) in p {
                    s.push_str(&l);
                    s.push_str(if lf { "\r\n" } else { "\n" });
                }
            }
            if close {
                s.push_str(&format!("--{b}--"));
            }
            if tail {
                s.push_str("\nepilogue\n--");
                s.push_str(b);
            }
            if crlf {
                s = s.replace('\n', "\r\n").replace("\r\r\n", "\r\n");
            }
            s.into_bytes()
        })
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![0..3usize, 1..20usize, 20..200usize], 1..8)
}

const BOUNDARIES: [&str; 4] = ["b", "ab", "simple boundary", "=_Part_0_12.34"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_fragments_agree(
        (bi, frags) in (0..BOUNDARIES.len()).prop_flat_map(|i| {
            (Just(i), proptest::collection::vec(fragment(BOUNDARIES[i]), 0..40))
        }),
        sizes in sizes(),
    ) {
        let b = BOUNDARIES[bi].as_bytes();
        let body = frags.concat();
        check_all(&body, b, &sizes);
        check_all(&body, b, &[]);
    }

    #[test]
    fn structured_bodies_agree(
        bi in 0..BOUNDARIES.len(),
        body in (0..BOUNDARIES.len()).prop_flat_map(|i| structured(BOUNDARIES[i])),
        sizes in sizes(),
    ) {
        // Also scan with a boundary the body was not built for (prefix cases).
        check_all(&body, BOUNDARIES[bi].as_bytes(), &sizes);
        for b in BOUNDARIES {
            check_all(&body, b.as_bytes(), &sizes);
        }
    }

    #[test]
    fn arbitrary_bytes_agree(
        body in proptest::collection::vec(prop_oneof![Just(b'-'), Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'b'), any::<u8>()], 0..200),
        boundary in proptest::collection::vec(prop_oneof![Just(b'-'), Just(b'b'), Just(b' '), Just(b'\r')], 0..4),
        sizes in sizes(),
    ) {
        check_all(&body, &boundary, &sizes);
    }
}

#[test]
fn every_delimiter_reports_repeats_as_they_end() {
    // The streaming walker's scanner: each opening delimiter line gives a
    // PartStart as soon as it ends, a repeated one too (its part is empty);
    // the caller applies the repeated-delimiter rule.
    let body = b"--b\n--b\nx\n--b--\n";
    let mut sc = Scanner::every_delimiter(b"b");
    let mut ev = Vec::new();
    sc.push(&body[..8], &mut ev);
    assert_eq!(
        ev,
        [
            Event::PartStart { offset: 4 },
            Event::PartEnd { offset: 4 },
            Event::PartStart { offset: 8 },
        ]
    );
    sc.push(&body[8..], &mut ev);
    assert!(sc.finish(&mut ev));
    assert_eq!(
        ev[3..],
        [Event::PartEnd { offset: 9 }, Event::Close { offset: 16 }]
    );
    // The plain scanner drops the repeated part.
    let (ev, _) = scan(body, b"b", &[]);
    assert_eq!(
        ev,
        [
            Event::PartStart { offset: 8 },
            Event::PartEnd { offset: 9 },
            Event::Close { offset: 16 }
        ]
    );
}
