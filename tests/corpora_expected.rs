//! Our parser against the expected results that the shared corpora ship.
//!
//! stalwart-mail-parser writes, beside each of its `eml/*/*.eml` messages, a
//! `.json` with its own parse of the message with LF line ends, and a
//! `.crlf.json` of it with CRLF line ends (its `.eml` files are stored in
//! either form; both forms are made here and both compared). Read from it,
//! where its conventions map onto ours:
//!
//! * the entity tree, in pre-order: `multipart` parts are our multiparts,
//!   `message` parts (with a `nested` message) our message/rfc822 entities,
//!   every other kind (`text`, `html`, `binary`, `inline_binary`) a leaf;
//! * the byte ranges: `offset_header`, `offset_body` and `offset_end` are
//!   our `range().start`, `body_range().start` and `range().end`;
//! * the decoded body: `binary` (Base64 of the bytes) against `decoded()`,
//!   `text` against `text()` (the body through its charset);
//! * the media type (`Content-Type` header's `type`/`subtype`);
//! * the filename (the `Content-Disposition` `filename` attribute, else the
//!   `Content-Type` `name`, both decoded) against `filename()`;
//! * each message's Subject (`text`) and From/To/Cc addresses (`address`:
//!   mailboxes with `name` and `address`, and groups of them).
//!
//! What does not map, and is not compared:
//!
//! * a message carried in a base64 or quoted-printable message/rfc822
//!   (`"source": {"decoded": part}`): RFC 2046 §5.2.1 forbids that encoding
//!   and we read such an entity as a leaf whose payload is the message (see
//!   `python/tests/test_message.py`, `encoded-message`), where stalwart
//!   parses the decoded text; that entity's subtree is cut from the
//!   comparison and its kind is compared as a leaf;
//! * `roles`, `text_body`/`html_body`/`attachments`: stalwart's choice of
//!   which part is "the" body, an API of its own with no counterpart here;
//! * `decode_problems`, `flags`: its own defect names, not ours;
//! * other header values (dates, ids, received, unstructured fields):
//!   `tests/header.rs` compares those with CPython's `email`.
//!
//! enmime's `.golden` files (`enmime/testdata/encode/`) are the output of
//! its *encoder* for inputs written in its Go tests, not expected parses:
//! only two are a parse of a message in the corpus (`parser-raw-content-*-
//! option.raw`) re-encoded, and for those the subject, addresses, media type
//! and decoded text of the golden must equal ours of the input.
//!
//! Differences of convention are recognised from the two values by the
//! rules of `DELIBERATE` (U+FFFD against our charset fallback, comments in
//! display names, x-uuencode, ...), printed and counted apart from the
//! compared values. Other disagreements (mostly broken structures, where
//! each parser guesses) are listed by (message, field) in `KNOWN`, each
//! with its reason: a new disagreement fails, and so does a listed one that
//! went away. Where the trees differ, that message's parts are not compared
//! further. Counts are printed (`--nocapture`). The corpora may be absent (a
//! fresh clone): then the test is skipped, and fails under
//! `MIMEFLOW_REQUIRE_ORACLES=1` (`support/oracle.rs`).

#[path = "support/oracle.rs"]
mod oracle;

use std::collections::BTreeMap;
use std::fmt::{Debug, Write as _};
use std::path::{Path, PathBuf};

use mimeflow::header::parse_address_list;
use mimeflow::message::{EntityRef, Kind, Message, TransferEncoding};
use serde_json::Value;

/// Differences of convention, each recognised by a precise test of the two
/// values (never by the message's name), counted and printed as such.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "8bit-fallback",
        "raw 8-bit bytes where no charset applies: we read UTF-8, else windows-1252 \
         (the crate's charset fallback); stalwart writes U+FFFD",
    ),
    (
        "comment-in-display-name",
        "RFC 5322 §3.2.2: a comment is CFWS, not part of the display name; \
         stalwart keeps \"(...)\" in the name",
    ),
    (
        "bare-word-mailbox",
        "a mailbox with no '@' and no angle address (\"From: Whomever\"): we keep \
         the word as the address, stalwart as the name; neither is RFC 5322",
    ),
    (
        "uuencode",
        "Content-Transfer-Encoding: x-uuencode: we decode the body, stalwart \
         returns the encoded text",
    ),
    (
        "empty-body-before-delimiter",
        "RFC 2046 §5.1.1: the line end before a delimiter belongs to the delimiter, \
         also when it ends an empty part's header block; stalwart counts it in the part",
    ),
];

/// Messages where we knowingly differ from stalwart's expected result: (file,
/// field, reason). A file stands for both its LF and CRLF forms. Every entry
/// must still differ (one that agrees now fails the test: remove it).
const KNOWN: &[(&str, &str, &str)] = &[
    // Broken structure, where each parser guesses; ours follows RFC 2046
    // (delimiters only at the start of a line, a multipart with no opening
    // delimiter is read as one text leaf with a defect).
    ("eml/malformed/000.eml", "tree", "a delimiter line right after another: stalwart reads an empty part between them, we none"),
    ("eml/malformed/004.eml", "tree", "no delimiter of the boundary (\"--ab\", \"--ac\" for \"a\"): we read one leaf; stalwart matches a prefix"),
    ("eml/malformed/013.eml", "tree", "nested multiparts sharing one boundary, never closed, ending on a delimiter line: an empty last part for us"),
    ("eml/malformed/014.eml", "tree", "a last delimiter line with nothing after it: an empty last part for us"),
    ("eml/malformed/017.eml", "tree", "no ';' before boundary=: the parameter is lost (bad_parameter), and a multipart without one is a leaf; stalwart reads it"),
    ("eml/malformed/020.eml", "tree", "two Content-Type fields in one part: we use the first (multipart/alternative, as CPython does), stalwart the last"),
    ("eml/malformed/021.eml", "tree", "as malformed/020"),
    ("eml/malformed/022.eml", "tree", "message/rfc822 whose body is not a message: we parse it as one (header-less) message; stalwart as a leaf"),
    ("eml/malformed/023.eml", "tree", "\"--b5Content-Type:...\" is no delimiter line (RFC 2046 §5.1.1): no parts for us"),
    ("eml/regressions/boundary-of-dashes.eml", "tree", "no line is a delimiter of \"----------\": one leaf for us, an empty multipart for stalwart"),
    ("eml/regressions/close-delimiter-first.eml", "tree", "no opening delimiter: a leaf for us, an empty multipart for stalwart"),
    ("eml/regressions/close-delimiter-mid-line.eml", "tree", "a close delimiter mid-line is text (RFC 2046 §5.1.1)"),
    ("eml/regressions/no-delimiter-close-mid-line.eml", "tree", "a close delimiter mid-line is text (RFC 2046 §5.1.1)"),
    ("eml/regressions/fallback-delimiter-after-text.eml", "tree", "\"junk --b\" is not a delimiter line: no parts for us"),
    ("eml/regressions/empty-part-then-cut-part.eml", "tree", "as malformed/000: no empty part between two delimiter lines in a row"),
    ("eml/regressions/empty-nested-message.eml", "tree", "an empty message/rfc822 still carries an (empty) message for us"),
    ("eml/regressions/empty-nested-message-in-multipart.eml", "tree", "as empty-nested-message, inside a multipart"),
    ("eml/regressions/fallback-delimiter-mid-line.eml", "ranges", "\"text invalid--1--\": a close delimiter mid-line is text (RFC 2046 §5.1.1)"),
    ("eml/regressions/fallback-delimiter-mid-line.eml", "body text", "as its ranges"),
    ("eml/thirdparty/005.eml", "ranges", "\"invalid--1--\": a close delimiter mid-line is text (RFC 2046 §5.1.1)"),
    ("eml/thirdparty/005.eml", "body text", "as its ranges"),
    // Decoding.
    ("eml/thirdparty/002.eml", "body text", "base64 \"...Cg== ignored\": the data ends at the padding (RFC 4648 §3.3); stalwart decodes on"),
    ("eml/thirdparty/010.eml", "body text", "DEFECT OF OURS, reported: text() reads UTF-8 bytes under the implied us-ascii charset as windows-1252, where its doc says UTF-8 when valid"),
    ("eml/legacy/049.eml", "ranges", "the file ends in a lone CR, which stalwart's LF copy lacks: a copy artifact"),
    ("eml/legacy/049.eml", "body text", "as its ranges"),
    // Header fields.
    ("eml/regressions/garbage-line-before-fold.eml", "subject", "a line with no colon and its continuation \" Subject: x\" are skipped together (RFC 5322 §2.2.3: a fold continues the line before)"),
    ("eml/rfc/000.eml", "addresses", "\"From: (mailbox in US-ASCII)\" is a comment only, no mailbox: an empty list for us"),
];

fn corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora")
}

/// Disagreements found, keyed by (message, field), with what differed.
#[derive(Default)]
struct Tally {
    /// field -> number of values compared.
    compared: BTreeMap<&'static str, usize>,
    /// field -> number of values that were not comparable (and why, once).
    skipped: BTreeMap<&'static str, (usize, String)>,
    differ: BTreeMap<(String, &'static str), String>,
    /// DELIBERATE case -> "message part" where it was met.
    deliberate: BTreeMap<&'static str, Vec<String>>,
}

impl Tally {
    /// Counts one compared value; records the first difference per
    /// (message, field). Returns whether they were equal.
    fn check<T: PartialEq + Debug + ?Sized>(
        &mut self,
        name: &str,
        field: &'static str,
        ours: &T,
        theirs: &T,
        at: &str,
    ) -> bool {
        *self.compared.entry(field).or_default() += 1;
        if ours == theirs {
            return true;
        }
        let cut = |s: String| s.chars().take(300).collect::<String>();
        self.differ
            .entry((name.to_string(), field))
            .or_insert_with(|| {
                format!(
                    "{at}: ours {} expected {}",
                    cut(format!("{ours:?}")),
                    cut(format!("{theirs:?}"))
                )
            });
        false
    }

    /// Records a value that differs as `case` (of `DELIBERATE`); counted
    /// apart from `compared`: the two values differ by convention.
    fn note(&mut self, name: &str, field: &'static str, case: &'static str, at: &str) {
        self.deliberate
            .entry(case)
            .or_default()
            .push(format!("{name} {at} [{field}]"));
    }

    /// `check` for text, with the `DELIBERATE` cases recognised.
    fn check_text(&mut self, name: &str, field: &'static str, ours: &str, theirs: &str, at: &str) {
        match (ours != theirs).then(|| text_case(ours, theirs)).flatten() {
            Some(case) => self.note(name, field, case, at),
            None => {
                self.check(name, field, ours, theirs, at);
            }
        }
    }

    fn skip(&mut self, field: &'static str, why: &str) {
        let e = self.skipped.entry(field).or_insert((0, why.to_string()));
        e.0 += 1;
    }
}

/// The `DELIBERATE` case that explains text `ours` != expected `theirs`,
/// line by line (address lists are one mailbox a line).
fn text_case(ours: &str, theirs: &str) -> Option<&'static str> {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.split('\n').collect(), theirs.split('\n').collect());
    if a.len() != b.len() {
        return None;
    }
    let mut case = None;
    for (x, y) in a.iter().zip(&b).filter(|(x, y)| x != y) {
        case = Some(line_case(x, y)?);
    }
    case
}

fn line_case(ours: &str, theirs: &str) -> Option<&'static str> {
    let (x, y): (Vec<char>, Vec<char>) = (ours.chars().collect(), theirs.chars().collect());
    if x.len() == y.len()
        && x.iter()
            .zip(&y)
            .all(|(a, b)| a == b || (*b == '\u{fffd}' && !a.is_ascii()))
    {
        return Some("8bit-fallback");
    }
    // "name <address>" lines.
    let split = |l: &str| -> Option<(String, String)> {
        let (n, a) = l.rsplit_once(" <")?;
        Some((n.to_string(), a.strip_suffix('>')?.to_string()))
    };
    let ((on, oa), (tn, ta)) = (split(ours)?, split(theirs)?);
    if on.is_empty() && ta.is_empty() && oa == tn {
        return Some("bare-word-mailbox");
    }
    let mut bare = String::new();
    let mut depth = 0usize;
    for c in tn.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => bare.push(c),
            _ => {}
        }
    }
    (oa == ta && tn.contains('(') && bare.split_whitespace().eq(on.split_whitespace()))
        .then_some("comment-in-display-name")
}

fn base64_decode(s: &str) -> Vec<u8> {
    mimeflow::base64::STANDARD
        .decode_to_vec(s.as_bytes(), mimeflow::base64::DecodeMode::Strict)
        .expect("valid base64 in the expected result")
}

/// One part of the expected tree, in pre-order.
struct ExpPart<'v> {
    part: &'v Value,
    /// Our kind for it: "multipart", "message" or "leaf".
    kind: &'static str,
    /// Whether its offsets are in the source (not in a decoded body).
    in_source: bool,
    /// Whether it is the root of a message (the top one or a carried one).
    root: bool,
}

/// The expected parts in pre-order from message `m`'s root. A message part
/// whose carried message was read from a decoded body is a leaf for us
/// (see the module docs): its subtree is not walked.
fn walk<'v>(json: &'v Value, m: u64, out: &mut Vec<ExpPart<'v>>, t: &mut Tally) {
    let find = |k: &str, id: u64| -> &'v Value {
        json[k]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["id"].as_u64() == Some(id)))
            .unwrap_or_else(|| panic!("no {k} {id} in the expected result"))
    };
    let msg = find("messages", m);
    let in_source = msg["source"] == "raw";
    let mut stack = vec![(msg["root"].as_u64().expect("a root part"), true)];
    while let Some((id, root)) = stack.pop() {
        let part = find("parts", id);
        let mut kind = match part["kind"].as_str() {
            Some("multipart") => "multipart",
            Some("message") => "message",
            _ => "leaf",
        };
        let nested = part["nested"].as_u64();
        if let Some(n) = nested {
            if find("messages", n)["source"] != "raw" {
                kind = "leaf";
                t.skip("subtree", "a message/rfc822 in base64 or QP: a leaf for us");
            }
        }
        out.push(ExpPart {
            part,
            kind,
            in_source,
            root,
        });
        if kind == "message" {
            walk(json, nested.expect("a nested message"), out, t);
        }
        if let Some(children) = part["children"].as_array() {
            stack.extend(
                children
                    .iter()
                    .rev()
                    .map(|c| (c.as_u64().expect("a part id"), false)),
            );
        }
    }
}

/// The expected value of the first header named `name` of `part`.
fn header<'v>(part: &'v Value, name: &str) -> Option<&'v Value> {
    part["headers"]
        .as_array()?
        .iter()
        .find(|h| {
            h["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .map(|h| &h["value"])
}

/// Expected mailboxes as "name <address>" lines, a group's members each
/// after "[group] ".
fn expected_addresses(v: &Value) -> Option<String> {
    let list = v["address"].as_array()?;
    let mut out = String::new();
    let mut push = |group: Option<&str>, m: &Value| {
        if let Some(g) = group {
            let _ = write!(out, "[{g}] ");
        }
        let _ = writeln!(
            out,
            "{} <{}>",
            m["name"].as_str().unwrap_or(""),
            m["address"].as_str().unwrap_or("")
        );
    };
    for item in list {
        if let Some(m) = item.get("mailbox") {
            push(None, m);
        } else if let Some(g) = item.get("group") {
            let name = g["name"].as_str().unwrap_or("");
            for m in g["mailboxes"].as_array().into_iter().flatten() {
                push(Some(name), m);
            }
        }
    }
    Some(out)
}

/// Our mailboxes of the first field `name`, as `expected_addresses` writes them.
fn our_addresses(e: &EntityRef<'_>, name: &str) -> String {
    let mut out = String::new();
    if let Some(v) = e.header(name) {
        for a in parse_address_list(v, 0, &mut Vec::new()) {
            if let Some(g) = &a.group {
                let _ = write!(out, "[{g}] ");
            }
            let _ = writeln!(out, "{} <{}>", a.name.as_deref().unwrap_or(""), a.address);
        }
    }
    out
}

/// Compares our parse of `src` with the expected `json`.
fn compare(name: &str, src: &[u8], json: &Value, t: &mut Tally) {
    let msg = Message::parse(src.to_vec());
    let mut theirs = Vec::new();
    walk(json, 0, &mut theirs, t);
    let ours: Vec<EntityRef<'_>> = msg.walk().collect();
    let our_kinds: Vec<&str> = ours
        .iter()
        .map(|e| match e.kind() {
            Kind::Multipart => "multipart",
            Kind::Message => "message",
            _ => "leaf",
        })
        .collect();
    let their_kinds: Vec<&str> = theirs.iter().map(|p| p.kind).collect();
    if !t.check(name, "tree", &our_kinds, &their_kinds, "pre-order kinds") {
        return;
    }
    for (e, p) in ours.iter().zip(&theirs) {
        let at = format!("part {:?}", e.section());
        let v = p.part;
        if p.in_source {
            let want = ["offset_header", "offset_body", "offset_end"]
                .map(|k| v[k].as_u64().expect("an offset") as usize);
            let got = [e.range().start, e.body_range().start, e.range().end];
            let eol = |i: usize| match src.get(i..) {
                Some([b'\n', ..]) => 1,
                Some([b'\r', b'\n', ..]) => 2,
                _ => 0,
            };
            // Both bodies empty, theirs after the line end ours leaves to
            // the delimiter.
            if got != want
                && got[0] == want[0]
                && got[1] == got[2]
                && want[1] == want[2]
                && eol(got[2]) > 0
                && got[2] + eol(got[2]) == want[2]
            {
                t.note(name, "ranges", "empty-body-before-delimiter", &at);
            } else {
                t.check(name, "ranges", &got, &want, &at);
            }
        } else {
            t.skip("ranges", "offsets in a decoded body");
        }
        if let Some(ct) = header(v, "Content-Type").and_then(|h| h.get("content_type")) {
            let want = format!(
                "{}/{}",
                ct["type"].as_str().unwrap_or(""),
                ct["subtype"].as_str().unwrap_or("")
            )
            .to_ascii_lowercase();
            t.check(name, "media type", &e.mime_type(), &want, &at);
        }
        let param = |h: &str, k: &str| {
            header(v, h)?["content_type"]["attributes"]
                .as_array()?
                .iter()
                .find(|a| a[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(k)))
                .and_then(|a| a[1].as_str())
        };
        if let Some(want) =
            param("Content-Disposition", "filename").or(param("Content-Type", "name"))
        {
            t.check_text(
                name,
                "filename",
                &e.filename().unwrap_or_default(),
                want,
                &at,
            );
        }
        if p.kind == "leaf" {
            let uu = *e.transfer_encoding() == TransferEncoding::Uuencode;
            if let Some(b) = v["binary"].as_str() {
                let (ours, theirs) = (e.decoded(), base64_decode(b));
                if uu && ours != theirs {
                    t.note(name, "decoded body", "uuencode", &at);
                } else {
                    t.check(name, "decoded body", &ours, &theirs, &at);
                }
            } else if let Some(text) = v["text"].as_str() {
                let ours = e.text();
                if uu && ours != text {
                    t.note(name, "body text", "uuencode", &at);
                } else {
                    t.check_text(name, "body text", &ours, text, &at);
                }
            }
        }
        if p.root {
            if let Some(subject) = header(v, "Subject").and_then(|h| h["text"].as_str()) {
                let ours = e.header_text("Subject").unwrap_or_default();
                t.check_text(name, "subject", &ours, subject, &at);
            }
            for field in ["From", "To", "Cc"] {
                if let Some(want) = header(v, field).and_then(expected_addresses) {
                    t.check_text(name, "addresses", &our_addresses(e, field), &want, &at);
                }
            }
        }
    }
}

/// The `.eml` messages of stalwart's corpus with their expected results:
/// (name, source, expected) for the message as it is and in CRLF form.
fn stalwart() -> Vec<(String, Vec<u8>, Value)> {
    let dir = corpora().join("stalwart-mail-parser");
    let Ok(manifest) = std::fs::read_to_string(dir.join("MANIFEST.tsv")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let Some(rel) = line.strip_suffix("\teml") else {
            continue;
        };
        let eml = dir.join(rel);
        let lf = to_lf(&std::fs::read(&eml).expect("a listed message"));
        for (suffix, json, bytes) in [
            ("", eml.with_extension("json"), lf.clone()),
            ("+crlf", eml.with_extension("crlf.json"), to_crlf(&lf)),
        ] {
            let Ok(text) = std::fs::read_to_string(&json) else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).expect("valid JSON");
            out.push((format!("{rel}{suffix}"), bytes, v));
        }
    }
    out
}

/// `src` with every CRLF made LF: the form stalwart's `.json` reads (its
/// files are stored in either form).
fn to_lf(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    for (i, &b) in src.iter().enumerate() {
        if !(b == b'\r' && src.get(i + 1) == Some(&b'\n')) {
            out.push(b);
        }
    }
    out
}

/// `src` with every LF not after a CR made CRLF: the form stalwart's
/// `.crlf.json` reads.
fn to_crlf(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() + src.len() / 32);
    for (i, &b) in src.iter().enumerate() {
        if b == b'\n' && (i == 0 || src[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

#[test]
fn stalwart_expected_results_agree() {
    let items = stalwart();
    if items.is_empty() {
        oracle::missing("../shared/corpora/stalwart-mail-parser holds no expected results");
        return;
    }
    let mut t = Tally::default();
    for (name, src, json) in &items {
        compare(name, src, json, &mut t);
    }
    report("stalwart-mail-parser", items.len(), &t, KNOWN);
}

/// Prints the counts, the deliberate cases and the disagreements; fails on
/// one not in `known`, or a `known` one that went away.
fn report(label: &str, messages: usize, t: &Tally, known: &[(&str, &str, &str)]) {
    eprintln!("{label}: {messages} expected results");
    for (field, n) in &t.compared {
        let bad = t.differ.keys().filter(|(_, f)| f == field).count();
        let noted = t.deliberate.values().flatten();
        let noted = noted.filter(|w| w.ends_with(&format!("[{field}]"))).count();
        eprintln!(
            "  {field}: {n} values compared, {bad} messages differ (see KNOWN/DIFFER); \
             {noted} more differ by a DELIBERATE convention"
        );
    }
    for (field, (n, why)) in &t.skipped {
        eprintln!("  not compared: {n} {field} ({why})");
    }
    for (case, reason) in DELIBERATE.iter().filter(|_| !t.deliberate.is_empty()) {
        let met = t.deliberate.get(case).map_or(&[][..], Vec::as_slice);
        eprintln!(
            "DELIBERATE {case} [{reason}]: {}: {}",
            met.len(),
            met.iter().take(6).cloned().collect::<Vec<_>>().join(", ")
        );
    }
    let file = |m: &str| m.strip_suffix("+crlf").unwrap_or(m).to_string();
    let is_known = |m: &str, f: &str| known.iter().any(|k| k.0 == file(m) && k.1 == f);
    let mut new = Vec::new();
    for ((m, f), what) in &t.differ {
        let tag = if is_known(m, f) {
            "KNOWN"
        } else {
            new.push(format!("{m} [{f}]"));
            "DIFFER"
        };
        eprintln!("{tag} {m} [{f}] {what}");
    }
    let gone: Vec<_> = known
        .iter()
        .filter(|k| !t.differ.keys().any(|(m, f)| file(m) == k.0 && *f == k.1))
        .map(|k| format!("{} [{}]", k.0, k.1))
        .collect();
    assert!(
        new.is_empty(),
        "{label}: {} new disagreements: {new:?}",
        new.len()
    );
    assert!(
        gone.is_empty(),
        "{label}: listed in KNOWN but agree now (remove them): {gone:?}"
    );
    assert!(!t.compared.is_empty(), "{label}: nothing was compared");
}

/// enmime's parse-then-encode goldens: `X-{false,true}.raw.golden` is its
/// parse of `X.raw` written back out (the option picks the transfer
/// encoding). Our reading of the golden must be our reading of the input:
/// subject, addresses, media type, charset and the text (line ends aside:
/// a quoted-printable hard break is CRLF, RFC 2045 §6.7, an 8bit one as
/// written).
#[test]
fn enmime_reencoded_messages_agree() {
    let dir = corpora().join("enmime/testdata/encode");
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let golden = entry.path();
        let Some(stem) = golden
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".raw.golden"))
        else {
            continue;
        };
        let Some(input) = ["-false", "-true"]
            .iter()
            .find_map(|o| stem.strip_suffix(o))
            .map(|s| dir.join(format!("{s}.raw")))
        else {
            continue;
        };
        if input.is_file() {
            pairs.push((input, golden));
        }
    }
    if pairs.is_empty() {
        oracle::missing("../shared/corpora/enmime holds no parse-then-encode goldens");
        return;
    }
    pairs.sort();
    let mut t = Tally::default();
    for (input, golden) in &pairs {
        let name = golden.file_name().unwrap().to_string_lossy().into_owned();
        let ours = Message::parse(std::fs::read(input).expect("readable"));
        let theirs = Message::parse(std::fs::read(golden).expect("readable"));
        let (a, b) = (ours.root(), theirs.root());
        let at = "root";
        t.check(
            name.as_str(),
            "subject",
            &a.header_text("Subject"),
            &b.header_text("Subject"),
            at,
        );
        for field in ["From", "To"] {
            t.check(
                &name,
                "addresses",
                &our_addresses(&a, field),
                &our_addresses(&b, field),
                at,
            );
        }
        t.check(&name, "media type", &a.mime_type(), &b.mime_type(), at);
        t.check(&name, "charset", &a.charset(), &b.charset(), at);
        let lf = |s: String| s.replace("\r\n", "\n");
        t.check(&name, "body text", &lf(a.text()), &lf(b.text()), at);
    }
    report("enmime", pairs.len(), &t, &[]);
}

/// The DELIBERATE rules explain only the difference they name: anything
/// else still reaches KNOWN/DIFFER.
#[test]
fn deliberate_rules_are_narrow() {
    assert_eq!(
        line_case("Heinz Müller", "Heinz M\u{fffd}ller"),
        Some("8bit-fallback")
    );
    assert_eq!(line_case("Heinz Muller", "Heinz M\u{fffd}ller"), None);
    assert_eq!(line_case("Heinz Müller", "Heinz Mxller"), None);
    assert_eq!(
        line_case("Art V <a@b.c>", "Art V (Vandelay) <a@b.c>"),
        Some("comment-in-display-name")
    );
    assert_eq!(line_case("Art V <a@b.c>", "Bob (Vandelay) <a@b.c>"), None);
    assert_eq!(line_case("Art V <a@b.c>", "Art V (Vandelay) <x@b.c>"), None);
    assert_eq!(
        line_case(" <Whomever>", "Whomever <>"),
        Some("bare-word-mailbox")
    );
    assert_eq!(line_case(" <Whomever>", "Someone <>"), None);
    assert_eq!(text_case("a\nb\n", "a\nc\n"), None);
    assert_eq!(text_case("a\n", "a\nb\n"), None);
    let mut t = Tally::default();
    t.check_text("m", "subject", "x", "y", "root");
    assert_eq!(t.differ.len(), 1, "an unexplained difference is recorded");
}
