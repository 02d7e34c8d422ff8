//! The message tree: section numbering both ways, byte-exact round trips on
//! our testdata and the shared corpora, every documented limit, and linear
//! behaviour on hostile shapes (deep nesting, many siblings, huge headers).
//! No timing asserts here except a generous per-message bound on the
//! corpora; speed lives in `benches/message.rs`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mimeflow::message::{write_tree, DefectCode, EntityRef, Kind, Limits, Message, ParseOptions};

#[path = "support/oracle.rs"]
mod oracle;

fn testdata() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eml");
    let mut out = Vec::new();
    for dir in ["rfc", "legacy", "malformed"] {
        for entry in fs::read_dir(root.join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Inputs the fuzz targets found (`testdata/fuzz-findings/`), kept as
/// regression cases for the tree checks.
fn fuzz_findings() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz-findings");
    let mut out: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    out.sort();
    out
}

fn eml(name: &str) -> Message {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/eml")
        .join(name);
    Message::parse(fs::read(p).unwrap())
}

/// Every message file listed in `../shared/corpora/*/MANIFEST.tsv`, or
/// nothing when the corpora are absent (a fresh clone; a failure under
/// `MIMEFLOW_REQUIRE_ORACLES=1`).
fn corpora() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    let Ok(dirs) = fs::read_dir(&root) else {
        oracle::missing(&format!("{} is absent", root.display()));
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in dirs {
        let d = d.unwrap().path();
        let Ok(manifest) = fs::read_to_string(d.join("MANIFEST.tsv")) else {
            continue;
        };
        for line in manifest
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let rel = line.split('\t').next().unwrap();
            out.push(d.join(rel));
        }
    }
    out.sort();
    if out.is_empty() {
        oracle::missing(&format!("{} lists no messages", root.display()));
    }
    eprintln!("{} corpora messages listed", out.len());
    out
}

fn sections(msg: &Message) -> Vec<String> {
    msg.walk().map(|e| e.section()).collect()
}

/// Every entity's section finds an entity with that section, the first in
/// walk order that has it (a carried multipart shares its part's number).
fn check_sections_round_trip(msg: &Message) {
    let all = sections(msg);
    assert_eq!(all, msg.sections());
    for (i, s) in all.iter().enumerate() {
        let found = msg
            .section(s)
            .unwrap_or_else(|| panic!("section {s:?} not found"));
        assert_eq!(found.section(), *s);
        let first = all.iter().position(|x| x == s).unwrap();
        assert_eq!(found.index(), first, "section {s:?} of entity {i}");
    }
}

#[test]
fn sections_follow_imap_numbering() {
    // multipart > [text, message/rfc822 > multipart > [text, rfc822 > text, alternative > [text, html]], binary]
    let msg = eml("rfc/020.eml");
    let got: Vec<(String, Kind, String)> = msg
        .walk()
        .map(|e| (e.section(), e.kind(), e.mime_type()))
        .collect();
    let want = [
        ("", Kind::Multipart, "multipart/mixed"),
        ("1", Kind::Leaf, "text/plain"),
        ("2", Kind::Message, "message/rfc822"),
        ("2", Kind::Multipart, "multipart/mixed"),
        ("2.1", Kind::Leaf, "text/plain"),
        ("2.2", Kind::Message, "message/rfc822"),
        ("2.2.1", Kind::Leaf, "text/plain"),
        ("2.3", Kind::Multipart, "multipart/alternative"),
        ("2.3.1", Kind::Leaf, "text/plain"),
        ("2.3.2", Kind::Leaf, "text/html"),
        ("3", Kind::Leaf, "application/octet-stream"),
    ];
    let want: Vec<(String, Kind, String)> = want
        .iter()
        .map(|(s, k, t)| (s.to_string(), *k, t.to_string()))
        .collect();
    assert_eq!(got, want);
    // Lookup the other way.
    assert_eq!(
        msg.section("2.2.1").unwrap().text(),
        "Part 2.2 carries this body, numbered 2.2.1."
    );
    assert_eq!(msg.section("2.3.2").unwrap().mime_type(), "text/html");
    assert_eq!(msg.section("2").unwrap().kind(), Kind::Message);
    assert_eq!(msg.section("").unwrap().index(), 0);
    assert_eq!(msg.section(" 2.1 ").unwrap().index(), 4);
    for bad in [
        "0",
        "4",
        "1.1",
        "2.4",
        "2.2.2",
        "2.2.1.1",
        "a",
        "1.",
        ".1",
        "2..1",
        "-1",
        "99999999999",
    ] {
        assert!(msg.section(bad).is_none(), "{bad:?}");
    }

    // A non-multipart message's body is 1, and "" is not an entity.
    let plain = eml("rfc/001.eml");
    assert_eq!(sections(&plain), ["1"]);
    assert!(plain.section("").is_none());
    assert!(plain.section("1.1").is_none());

    // message/rfc822 at the root: root 1, carried body 1.1.
    let root_msg = eml("rfc/007.eml");
    assert_eq!(sections(&root_msg), ["1", "1.1"]);

    // message/rfc822 part 2 carrying a multipart: its parts are 2.1, 2.2.
    let fw = eml("rfc/005.eml");
    assert_eq!(sections(&fw), ["", "1", "2", "2", "2.1", "2.2"]);
    assert_eq!(fw.section("2.2").unwrap().mime_type(), "text/html");

    // Digest parts default to message/rfc822.
    let digest = eml("rfc/006.eml");
    assert_eq!(sections(&digest), ["", "1", "1.1", "2", "2.1", "3"]);
    assert!(!digest.section("1").unwrap().has_explicit_type());
    assert_eq!(digest.section("1").unwrap().mime_type(), "message/rfc822");
    assert_eq!(digest.section("2.1").unwrap().text(), "Café au lait.\n");
}

#[test]
fn sections_round_trip_on_testdata() {
    for p in testdata() {
        let msg = Message::parse(fs::read(&p).unwrap());
        check_sections_round_trip(&msg);
    }
}

/// Where `part` starts in `whole` (a subslice of it).
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    let at = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
    assert!(at + part.len() <= whole.len(), "not a subslice");
    at
}

/// Whether `line` is a delimiter line of `boundary`: "--boundary", then
/// "--" for the close delimiter, then only transport padding (RFC 2046 §5.1.1).
fn is_delimiter_line(line: &[u8], boundary: &[u8], close: bool) -> bool {
    // A boundary cannot end in a blank (bcharsnospace): trailing blanks of
    // the parameter are transport padding on the line.
    let boundary = boundary.trim_ascii_end();
    let Some(rest) = line
        .strip_prefix(b"--")
        .and_then(|l| l.strip_prefix(boundary))
    else {
        return false;
    };
    let rest = if close {
        match rest.strip_prefix(b"--") {
            Some(r) => r,
            None => return false,
        }
    } else {
        rest
    };
    rest.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Appends to `out` the entity `e` rebuilt from the tree alone: its header
/// block and the blank line, then a leaf's body, or a carried message, or a
/// multipart's preamble, delimiters, parts and epilogue. Checks on the way
/// that each piece between two parts is a delimiter of this multipart, and
/// that nothing but line ends separates a header block from its body.
fn rebuild(e: EntityRef<'_>, out: &mut Vec<u8>) {
    let src = &e.message().source()[..];
    let range = e.range();
    let header = e.header_bytes();
    let header_at = offset_in(src, header);
    let body = e.body_range();
    assert_eq!(
        header_at,
        range.start,
        "entity {}: header starts it",
        e.index()
    );
    assert_eq!(body.end, range.end, "entity {}: body ends it", e.index());
    out.extend_from_slice(header);
    // Exactly the one empty line that ends the block (none when the entity
    // is all header): a body starting a byte early or late into the line
    // end would otherwise go through.
    let separator = &src[header_at + header.len()..body.start];
    assert!(
        matches!(separator, b"" | b"\n" | b"\r\n"),
        "entity {}: {separator:?} between header and body",
        e.index()
    );
    assert!(
        !separator.is_empty() || body.is_empty(),
        "entity {}: a body with no empty line before it",
        e.index()
    );
    out.extend_from_slice(separator);
    let children: Vec<EntityRef<'_>> = e.children().collect();
    match e.kind() {
        Kind::Leaf => {
            assert!(children.is_empty());
            out.extend_from_slice(e.body_bytes());
        }
        Kind::Message => {
            assert_eq!(children.len(), 1, "entity {}", e.index());
            let inner = children[0].range();
            assert!(
                src[body.start..inner.start].is_empty() && src[inner.end..body.end].is_empty(),
                "entity {}: a carried message is the whole body",
                e.index()
            );
            rebuild(children[0], out);
        }
        Kind::Multipart => {
            let boundary = e
                .content_type()
                .boundary()
                .expect("a multipart has a boundary");
            let boundary = boundary.as_bytes();
            let mut at = body.start;
            for (i, c) in children.iter().enumerate() {
                // The gap before the first part is the preamble and a
                // delimiter line; between two parts it is exactly the line
                // end that belongs to the delimiter and the delimiter line
                // (repeated: two delimiter lines in a row hold no part).
                let gap = &src[at..c.range().start];
                let delimiters: Vec<&[u8]> = if i == 0 {
                    gap.split_inclusive(|&b| b == b'\n')
                        .next_back()
                        .into_iter()
                        .collect()
                } else {
                    let eol = usize::from(gap.starts_with(b"\n"))
                        + 2 * usize::from(gap.starts_with(b"\r\n"));
                    assert!(
                        eol > 0,
                        "entity {}: no line end before part {}",
                        e.index(),
                        c.index()
                    );
                    gap[eol..].split_inclusive(|&b| b == b'\n').collect()
                };
                assert!(
                    !delimiters.is_empty()
                        && delimiters
                            .iter()
                            .all(|l| is_delimiter_line(l, boundary, false)),
                    "entity {}: {:?} before part {} is no delimiter of {:?}",
                    e.index(),
                    String::from_utf8_lossy(gap),
                    c.index(),
                    String::from_utf8_lossy(boundary)
                );
                out.extend_from_slice(gap);
                rebuild(*c, out);
                at = c.range().end;
            }
            // After the last part: the close delimiter, then the epilogue;
            // or nothing more when the close delimiter is missing.
            let tail = &src[at..body.end];
            // A close delimiter right after a delimiter line ends an empty
            // part: the one line end between them ended the first line.
            let last_empty_at_close = e
                .children()
                .last()
                .is_some_and(|c| c.range().is_empty() && c.range().start == at)
                && is_delimiter_line(
                    tail.split_inclusive(|&b| b == b'\n').next().unwrap_or(tail),
                    boundary,
                    true,
                );
            let closed = last_empty_at_close
                || [&b"\n"[..], b"\r\n"].iter().any(|eol| {
                    tail.strip_prefix(*eol).is_some_and(|t| {
                        let line = t.split_inclusive(|&b| b == b'\n').next().unwrap_or(t);
                        is_delimiter_line(line, boundary, true)
                    })
                });
            let missing = e.defects().iter().any(|d| {
                d.code == DefectCode::MissingCloseDelimiter || d.code == DefectCode::PartsLimit
            });
            assert!(
                closed || missing,
                "entity {}: {tail:?} after the last part holds no close delimiter",
                e.index()
            );
            out.extend_from_slice(tail);
        }
    }
}

#[test]
fn a_multipart_header_cut_short_by_a_delimiter_has_no_body() {
    // The part's header block ends at the outer close delimiter, with no
    // empty line; the part names the outer's boundary. The delimiter line
    // closes the outer multipart: the part is an empty multipart that never
    // saw its boundary (a leaf, as for any multipart without one).
    for eol in ["\n", "\r\n"] {
        let src = [
            "Content-Type: multipart/mixed; boundary=b",
            "",
            "--b",
            "Content-Type: multipart/mixed; boundary=b",
            "--b--",
        ]
        .join(eol);
        let msg = Message::parse(src.clone().into_bytes());
        let root = msg.root();
        let parts: Vec<EntityRef<'_>> = root.children().collect();
        assert_eq!(parts.len(), 1, "{eol:?}");
        let part = parts[0];
        assert_eq!(part.kind(), Kind::Leaf);
        assert!(part.body_range().is_empty(), "{:?}", part.body_range());
        // It ends where the delimiter's line end begins.
        let at = src.rfind("--b--").unwrap() - eol.len();
        assert_eq!(part.range().end, at);
        assert!(codes(&msg).contains(&DefectCode::MissingHeaderBodySeparator));
        assert!(part
            .defects()
            .iter()
            .any(|d| d.code == DefectCode::MissingBoundary));
        assert!(!root
            .defects()
            .iter()
            .any(|d| d.code == DefectCode::MissingCloseDelimiter));
        let mut out = Vec::new();
        rebuild(root, &mut out);
        assert_eq!(out, src.as_bytes());
    }
}

#[test]
fn tree_rebuilds_the_source_on_testdata_and_corpora() {
    // `to_bytes()` is the source itself, so comparing it with the input
    // proves nothing: rebuild the message from the entity ranges instead.
    let mut n = 0;
    for p in testdata()
        .into_iter()
        .chain(fuzz_findings())
        .chain(corpora())
    {
        let src = fs::read(&p).unwrap();
        let msg = Message::parse(src.clone());
        let root = msg.root();
        assert_eq!(root.range(), 0..src.len(), "{}", p.display());
        let mut out = Vec::with_capacity(src.len());
        rebuild(root, &mut out);
        assert!(
            out == src,
            "{}: the rebuilt tree differs from the source",
            p.display()
        );
        n += 1;
    }
    eprintln!("{n} messages rebuilt from their trees");
}

#[test]
fn corpora_parse_without_panic_in_bounded_time() {
    // Generous: a debug build on a loaded 2-core machine.
    let bound = Duration::from_secs(20);
    let mut n = 0;
    for p in corpora() {
        let src = fs::read(&p).unwrap();
        let t = Instant::now();
        let msg = Message::parse(src);
        for e in msg.walk() {
            let _ = e.decoded_with_defects();
            let _ = e.filename();
            let _ = e.charset();
        }
        check_sections_round_trip(&msg);
        let _ = msg.to_json();
        write_tree(&msg, &mut io::sink()).unwrap();
        let took = t.elapsed();
        assert!(took < bound, "{} took {took:?}", p.display());
        n += 1;
    }
    eprintln!("{n} corpora messages parsed");
}

// ---- limits ----------------------------------------------------------------

fn with_limits(limits: Limits) -> ParseOptions {
    ParseOptions {
        limits,
        strict: false,
    }
}

fn codes(msg: &Message) -> Vec<DefectCode> {
    msg.defects().map(|d| d.code).collect()
}

/// `depth` multiparts nested inside each other, a text leaf innermost.
fn nested_multiparts(depth: usize) -> Vec<u8> {
    let mut s = Vec::with_capacity(depth * 60);
    for i in 0..depth {
        write!(
            s,
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        )
        .unwrap();
    }
    s.extend_from_slice(b"Content-Type: text/plain\n\ninnermost\n");
    for i in (0..depth).rev() {
        writeln!(s, "--b{i}--").unwrap();
    }
    s
}

/// `depth` message/rfc822 entities each carrying the next, a text leaf innermost.
fn nested_messages(depth: usize) -> Vec<u8> {
    let mut s = b"Content-Type: message/rfc822\n\n".repeat(depth);
    s.extend_from_slice(b"Subject: innermost\n\ninnermost\n");
    s
}

fn siblings(n: usize) -> Vec<u8> {
    let mut s = b"Content-Type: multipart/mixed; boundary=sib\n\n".to_vec();
    for i in 0..n {
        write!(s, "--sib\n\npart {i}\n").unwrap();
    }
    s.extend_from_slice(b"--sib--\n");
    s
}

#[test]
fn depth_limit_reads_deeper_composites_as_leaves() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let msg = Message::parse_with(nested_multiparts(6), &with_limits(limits)).unwrap();
    // Depths 0, 1, 2 are multiparts; the one at depth 3 is a leaf holding the rest.
    let kinds: Vec<Kind> = msg.walk().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            Kind::Multipart,
            Kind::Multipart,
            Kind::Multipart,
            Kind::Leaf
        ]
    );
    let leaf = msg.section("1.1.1").unwrap();
    assert_eq!(leaf.mime_type(), "multipart/mixed");
    assert!(leaf
        .defects()
        .iter()
        .any(|d| d.code == DefectCode::DepthLimit));
    assert!(leaf.body_bytes().starts_with(b"--b3\n"));
    assert!(leaf.body_bytes().ends_with(b"--b3--"));
    // No missing-delimiter noise: the outer delimiters still match.
    assert_eq!(codes(&msg), [DefectCode::DepthLimit]);

    let msg = Message::parse_with(nested_messages(6), &with_limits(limits)).unwrap();
    assert_eq!(msg.len(), 4);
    assert_eq!(msg.get(3).unwrap().kind(), Kind::Leaf);
    assert_eq!(msg.get(3).unwrap().mime_type(), "message/rfc822");
    assert_eq!(codes(&msg), [DefectCode::DepthLimit]);
}

#[test]
fn parts_limit_leaves_further_parts_in_the_multipart_body() {
    let limits = Limits {
        max_parts: 4,
        ..Limits::default()
    };
    let msg = Message::parse_with(siblings(10), &with_limits(limits)).unwrap();
    assert_eq!(msg.len(), 4);
    assert_eq!(sections(&msg), ["", "1", "2", "3"]);
    // Part 3 ends at the next delimiter; parts 4..10 belong to no part.
    assert_eq!(msg.section("3").unwrap().decoded(), b"part 2");
    assert_eq!(codes(&msg), [DefectCode::PartsLimit]);
    assert_eq!(msg.root().defects()[0].code, DefectCode::PartsLimit);

    // A message part at the limit is read as a leaf.
    let src = b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\n1\n--x\nContent-Type: message/rfc822\n\nSubject: s\n\nb\n--x--\n";
    let limits = Limits {
        max_parts: 3,
        ..Limits::default()
    };
    let msg = Message::parse_with(&src[..], &with_limits(limits)).unwrap();
    assert_eq!(msg.len(), 3);
    assert_eq!(msg.section("2").unwrap().kind(), Kind::Leaf);
    assert_eq!(codes(&msg), [DefectCode::PartsLimit]);
}

#[test]
fn parts_limit_is_recorded_on_every_multipart_that_loses_a_part() {
    // Found by the message fuzz target in CI: the limit cuts the inner
    // multipart, then the outer one, whose tail then holds a whole part
    // and its close delimiter. Each multipart's own defects must say its
    // body holds unread parts.
    let src = b"Content-Type: multipart/mixed; boundary=L0\n\n--L0\n\
Content-Type: multipart/mixed; boundary=L1\n\n--L1\n\none\n--L1\n\ntwo\n--L1--\n\
--L0\n\nthree\n--L0--\n";
    let limits = Limits {
        max_parts: 3,
        ..Limits::default()
    };
    let msg = Message::parse_with(&src[..], &with_limits(limits)).unwrap();
    assert_eq!(sections(&msg), ["", "1", "1.1"]);
    for s in ["", "1"] {
        let e = msg.section(s).unwrap();
        let cut = e
            .defects()
            .iter()
            .filter(|d| d.code == DefectCode::PartsLimit);
        assert_eq!(cut.count(), 1, "section {s:?}: {:?}", e.defects());
    }
    let mut out = Vec::new();
    rebuild(msg.root(), &mut out);
    assert_eq!(out, src);
}

#[test]
fn header_count_limit_ignores_further_fields() {
    let mut src = Vec::new();
    for i in 0..10 {
        writeln!(src, "X-Field-{i}: {i}").unwrap();
    }
    src.extend_from_slice(b"Content-Type: text/html\n\nbody\n");
    let limits = Limits {
        max_header_fields: 5,
        ..Limits::default()
    };
    let msg = Message::parse_with(src, &with_limits(limits)).unwrap();
    assert_eq!(msg.root().headers().count(), 5);
    assert_eq!(
        msg.root().mime_type(),
        "text/plain",
        "Content-Type was beyond the limit"
    );
    assert_eq!(msg.root().decoded(), b"body\n");
    assert_eq!(codes(&msg), [DefectCode::HeaderCountLimit]);
}

#[test]
fn header_size_limit_ignores_fields_beyond_it_but_keeps_the_body() {
    let src = b"Subject: one\nX-Big: 0123456789012345678901234567890123456789\nContent-Type: text/html\n\nbody\n";
    let limits = Limits {
        max_header_bytes: 20,
        ..Limits::default()
    };
    let msg = Message::parse_with(&src[..], &with_limits(limits)).unwrap();
    let names: Vec<&[u8]> = msg.root().headers().map(|(n, _)| n).collect();
    assert_eq!(names, [&b"Subject"[..]]);
    assert_eq!(msg.root().mime_type(), "text/plain");
    assert_eq!(msg.root().decoded(), b"body\n");
    assert_eq!(codes(&msg), [DefectCode::HeaderSizeLimit]);
}

#[test]
fn line_length_limit_flags_and_cuts_long_fields() {
    let src = b"Content-Type: text/plain; charset=iso-8859-1; x-padding=aaaaaaaaaaaaaaaaaaaa\nSubject: short\n\nbody\n";
    // Cut inside the charset value: only "text/plain; charset=iso" is read.
    let limits = Limits {
        max_line_length: 24,
        ..Limits::default()
    };
    let msg = Message::parse_with(&src[..], &with_limits(limits)).unwrap();
    assert_eq!(codes(&msg), [DefectCode::HeaderLineTooLong]);
    assert_eq!(msg.root().mime_type(), "text/plain");
    assert_eq!(msg.root().charset().as_deref(), Some("iso"));
    // The raw field is still whole.
    assert_eq!(msg.root().header("subject"), Some(&b" short"[..]));
}

#[test]
fn decoded_size_limit_cuts_bodies() {
    let src = b"Content-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n";
    let limits = Limits {
        max_decoded_bytes: 5,
        ..Limits::default()
    };
    let msg = Message::parse_with(&src[..], &with_limits(limits)).unwrap();
    let (body, defects) = msg.root().decoded_with_defects();
    assert_eq!(body, b"hello");
    assert_eq!(
        defects.iter().map(|d| d.code).collect::<Vec<_>>(),
        [DefectCode::DecodedSizeLimit]
    );
    assert_eq!(Message::parse(&src[..]).root().decoded(), b"hello world");
}

#[test]
fn strict_mode_fails_on_the_first_defect() {
    let strict = ParseOptions {
        strict: true,
        ..ParseOptions::default()
    };
    // Clean mail passes.
    for name in ["rfc/002.eml", "rfc/005.eml", "rfc/020.eml"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/eml")
            .join(name);
        assert!(
            Message::parse_with(fs::read(p).unwrap(), &strict).is_ok(),
            "{name}"
        );
    }
    // The first defect in source order is the error.
    let src = b"Subject: x\nno colon here\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nunclosed\n";
    let err = Message::parse_with(&src[..], &strict).unwrap_err();
    assert_eq!(err.0.code, DefectCode::HeaderWithoutColon);
    assert_eq!(err.0.offset, 11);
    let lenient = Message::parse(&src[..]);
    assert_eq!(
        codes(&lenient),
        [
            DefectCode::HeaderWithoutColon,
            DefectCode::MissingCloseDelimiter
        ]
    );
    // A limit is a defect too.
    let opts = ParseOptions {
        strict: true,
        limits: Limits {
            max_depth: 2,
            ..Limits::default()
        },
    };
    let err = Message::parse_with(nested_multiparts(4), &opts).unwrap_err();
    assert_eq!(err.0.code, DefectCode::DepthLimit);
}

// ---- hostile shapes ----------------------------------------------------------

#[test]
fn ten_thousand_levels_with_default_limits() {
    let msg = Message::parse(nested_multiparts(10_000));
    assert_eq!(
        msg.len(),
        101,
        "depth limit 100: 100 multiparts and one leaf"
    );
    assert_eq!(codes(&msg), [DefectCode::DepthLimit]);
    let _ = msg.to_json();
    write_tree(&msg, &mut io::sink()).unwrap();

    let msg = Message::parse(nested_messages(10_000));
    assert_eq!(msg.len(), 101);
    drop(msg);
}

#[test]
fn hundred_thousand_siblings() {
    let msg = Message::parse(siblings(99_999));
    assert_eq!(msg.len(), 100_000);
    assert!(codes(&msg).is_empty());
    assert_eq!(msg.section("99999").unwrap().decoded(), b"part 99998");
    check_sections_round_trip_sampled(&msg);
    let json = msg.to_json();
    assert_eq!(json["parts"].as_array().unwrap().len(), 100_000);

    // One more reaches the default parts limit (100,000 entities).
    let msg = Message::parse(siblings(100_000));
    assert_eq!(msg.len(), 100_000);
    assert_eq!(codes(&msg), [DefectCode::PartsLimit]);
}

fn check_sections_round_trip_sampled(msg: &Message) {
    let all = msg.sections();
    for i in (0..msg.len()).step_by(997) {
        assert_eq!(msg.section(&all[i]).unwrap().index(), i);
    }
}

#[test]
fn ten_megabyte_header_block() {
    // Many fields: the count limit stops reading them, the body follows.
    let mut src = Vec::with_capacity(10 << 20);
    let mut i = 0;
    while src.len() < 10 << 20 {
        writeln!(src, "X-Field-{i}: some value to fill the header block").unwrap();
        i += 1;
    }
    src.extend_from_slice(b"\nbody\n");
    let msg = Message::parse(src);
    assert_eq!(msg.root().headers().count(), 10_000);
    assert_eq!(codes(&msg), [DefectCode::HeaderCountLimit]);
    assert_eq!(msg.root().decoded(), b"body\n");

    // One folded field of 10 MB.
    let mut src = b"Subject: start".to_vec();
    while src.len() < 10 << 20 {
        src.extend_from_slice(b"\n continued folded text of the subject line");
    }
    src.extend_from_slice(b"\n\nbody\n");
    let msg = Message::parse(src);
    assert_eq!(msg.root().headers().count(), 1);
    assert!(msg.root().header_text("subject").unwrap().len() > 9 << 20);
    assert_eq!(msg.root().decoded(), b"body\n");
}

/// Counts bytes written; keeps nothing.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn hundred_thousand_levels_unlimited() {
    let opts = with_limits(Limits::unlimited());
    for (shape, src) in [
        ("multipart", nested_multiparts(100_000)),
        ("message", nested_messages(100_000)),
    ] {
        let msg = Message::parse_with(src, &opts).unwrap();
        assert_eq!(msg.len(), 100_001, "{shape}");
        assert!(codes(&msg).is_empty(), "{shape}: {:?}", codes(&msg).first());
        let deepest = msg.get(100_000).unwrap();
        assert_eq!(deepest.depth(), 100_000);
        let want: &[u8] = if shape == "multipart" {
            b"innermost"
        } else {
            b"innermost\n"
        };
        assert_eq!(deepest.decoded(), want);
        // The whole section of the deepest entity, and its lookup.
        let s = deepest.section();
        assert_eq!(
            s.len(),
            if shape == "multipart" {
                2 * 100_000 - 1
            } else {
                2 * 100_001 - 1
            }
        );
        assert_eq!(msg.section(&s).unwrap().index(), 100_000);
        // Serialisers print deep sections cut (linear output; see
        // `section::all`): JSON and the tree stay small.
        let json = msg.to_json();
        let parts = json["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 100_001);
        let last = parts[100_000]["section"].as_str().unwrap();
        assert!(last.contains(".[+") && last.len() < 1024, "{}", &last[..64]);
        let mut counter = Counter(0);
        serde_json::to_writer(&mut counter, &json).unwrap();
        assert!(counter.0 < 200 << 20, "JSON is {} bytes", counter.0);
        drop(json);
        let mut counter = Counter(0);
        write_tree(&msg, &mut counter).unwrap();
        assert!(counter.0 < 200 << 20, "tree is {} bytes", counter.0);
        drop(msg);
    }
}
