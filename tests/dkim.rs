//! DKIM verification and signing against the RFC 8463 example (its keys
//! and message as printed in appendix A) and against keys generated for
//! the tests (testdata/dkim/), through the public API only.

use std::path::Path;

use mimeflow::dkim::{
    self, KeySource, KeyStore, Lookup, SigResult, SignOptions, SigningKey, Verdict, VerifyOptions,
};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/dkim")
            .join(name),
    )
    .unwrap()
}

fn rfc_keys() -> KeyStore {
    KeyStore::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dkim/rfc8463.zone"))
        .unwrap()
}

fn test_keys() -> KeyStore {
    KeyStore::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dkim/keys.zone")).unwrap()
}

fn verdicts(msg: &[u8], keys: &dyn KeySource, opts: &VerifyOptions) -> Vec<(Verdict, String)> {
    dkim::verify_message(msg, keys, opts)
        .into_iter()
        .map(|r| (r.result, r.reason))
        .collect()
}

fn rfc_msg() -> String {
    String::from_utf8(data("rfc8463.eml")).unwrap()
}

#[test]
fn rfc_8463_example_verifies_crlf_and_lf() {
    let msg = rfc_msg();
    let keys = rfc_keys();
    let opts = VerifyOptions::default();
    let res = dkim::verify_message(msg.as_bytes(), &keys, &opts);
    let got: Vec<_> = res
        .iter()
        .map(|r| {
            (
                r.domain.as_str(),
                r.selector.as_str(),
                r.algorithm.as_str(),
                r.result,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "football.example.com",
                "brisbane",
                "ed25519-sha256",
                Verdict::Pass
            ),
            ("football.example.com", "test", "rsa-sha256", Verdict::Pass),
        ],
        "{res:?}"
    );
    assert!(res[0]
        .key_source
        .as_deref()
        .unwrap()
        .ends_with("rfc8463.zone"));
    // Stored with bare LF, as in an mbox: verified in its CRLF wire form.
    let lf = msg.replace("\r\n", "\n");
    assert_eq!(
        verdicts(lf.as_bytes(), &keys, &opts),
        vec![(Verdict::Pass, String::new()); 2]
    );
}

#[test]
fn rfc_8463_seed_signs_what_the_rfc_printed() {
    // RFC 8463 A.1's secret key, in dkimpy's raw-seed form: Ed25519 is
    // deterministic, so re-signing the example's header gives its b=.
    let key = SigningKey::from_pem(b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=").unwrap();
    assert_eq!(
        key.key_record(),
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
    );
    let msg = rfc_msg();
    let body_start = msg.find("From: Joe").unwrap();
    let opts = SignOptions {
        domain: "football.example.com".into(),
        selector: "brisbane".into(),
        timestamp: Some(1528637909),
        expiration: None,
        headers: None,
        body_length: false,
    };
    let signed = dkim::sign_message(&msg.as_bytes()[body_start..], &key, &opts).unwrap();
    assert_eq!(
        verdicts(&signed, &rfc_keys(), &VerifyOptions::default())[0],
        (Verdict::Pass, String::new())
    );
}

#[test]
fn tampering_fails_with_its_reason() {
    let msg = rfc_msg();
    let keys = rfc_keys();
    let opts = VerifyOptions::default();
    let fail = |m: String| verdicts(m.as_bytes(), &keys, &opts);
    let body = vec![(Verdict::Fail, "body hash mismatch".to_string()); 2];
    let sig = vec![(Verdict::Fail, "signature mismatch".to_string()); 2];
    assert_eq!(fail(msg.replace("hungry", "angry")), body);
    assert_eq!(fail(msg.replace("dinner", "lunch")), sig);
    // From is over-signed: one added above breaks both signatures.
    assert_eq!(
        fail(msg.replace("From: Joe", "From: M <m@evil.example>\r\nFrom: Joe")),
        sig
    );
    // An unsigned field may be added.
    let added = fail(msg.replace("Message-ID:", "X-Mailer: any\r\nMessage-ID:"));
    assert_eq!(added, vec![(Verdict::Pass, String::new()); 2]);
    // Relaxed ignores whitespace changes in the header and body.
    let ws = fail(
        msg.replace("Subject: Is dinner", "Subject:   Is \t dinner")
            .replace("Joe.\r\n", "Joe.  \r\n"),
    );
    assert_eq!(ws, vec![(Verdict::Pass, String::new()); 2]);
    // Flipped bh= / b=.
    let flipped = fail(msg.replacen("bh=2jUSOH9N", "bh=2jUSOH9M", 1));
    assert_eq!(flipped[0], body[0]);
    let flipped = fail(msg.replacen("b=/gCrinpcQ", "b=/gCrinpcR", 1));
    assert_eq!(flipped[0], sig[0]);
}

struct Fixed(Lookup);

impl KeySource for Fixed {
    fn lookup(&self, _: &str) -> Lookup {
        self.0.clone()
    }
}

#[test]
fn key_outcomes_follow_rfc_6376_6_1_2() {
    let msg = rfc_msg();
    let opts = VerifyOptions::default();
    let first = |keys: &dyn KeySource| verdicts(msg.as_bytes(), keys, &opts).remove(0);
    let no_source = first(&KeyStore::new("empty"));
    assert_eq!(no_source.0, Verdict::Temperror);
    assert!(no_source.1.contains("no key source"), "{no_source:?}");
    let nx = first(&Fixed(Lookup::NotFound {
        source: "dns".into(),
    }));
    assert_eq!(nx.0, Verdict::Permerror);
    assert!(nx.1.contains("key not found"));
    let servfail = first(&Fixed(Lookup::TempFail {
        reason: "SERVFAIL".into(),
    }));
    assert_eq!(servfail, (Verdict::Temperror, "SERVFAIL".into()));
    let record = |r: &str| {
        Fixed(Lookup::Found {
            record: r.as_bytes().into(),
            source: "t".into(),
        })
    };
    assert_eq!(
        first(&record("v=DKIM1; k=ed25519; p=")),
        (Verdict::Permerror, "key revoked".into())
    );
    let garbage = first(&record("\u{1}garbage;;=="));
    assert_eq!(garbage.0, Verdict::Permerror);
    assert!(garbage.1.starts_with("bad key"), "{garbage:?}");
    let swapped = first(&record(
        "v=DKIM1; k=ed25519; p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ));
    assert_eq!(swapped, (Verdict::Fail, "signature mismatch".into()));
    let other = first(&record("v=DKIM1; k=rsa; p=AQAB"));
    assert_eq!(other.0, Verdict::Permerror);
    // t=s: i= must be exactly d=.
    let strict = record("v=DKIM1; k=ed25519; t=s; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    let sub = msg.replacen("i=@football.example.com", "i=@a.football.example.com", 1);
    assert_eq!(
        verdicts(sub.as_bytes(), &strict, &opts)[0].0,
        Verdict::Permerror
    );
}

#[test]
fn as_of_decides_expiry_and_future_signatures() {
    let key = SigningKey::from_pem(&data("ed25519.pem")).unwrap();
    let keys = test_keys();
    let opts = SignOptions {
        domain: "example.org".into(),
        selector: "ed".into(),
        timestamp: Some(1_600_000_000),
        expiration: Some(1_600_086_400),
        headers: None,
        body_length: false,
    };
    let signed =
        dkim::sign_message(b"From: a@example.org\nSubject: x\n\nbody\n", &key, &opts).unwrap();
    let at = |t: i64| {
        verdicts(
            &signed,
            &keys,
            &VerifyOptions {
                as_of: Some(t),
                allow_sha1: false,
            },
        )
        .remove(0)
    };
    assert_eq!(at(1_600_000_100).0, Verdict::Pass);
    let expired = at(1_700_000_000);
    assert_eq!(expired.0, Verdict::Permerror);
    assert!(
        expired.1.starts_with("expired as of 1700000000"),
        "{expired:?}"
    );
    let future = at(1_500_000_000);
    assert_eq!(future.0, Verdict::Permerror);
    assert!(future.1.contains("future"), "{future:?}");
    // No as-of time: not judged.
    assert_eq!(
        verdicts(&signed, &keys, &VerifyOptions::default())[0].0,
        Verdict::Pass
    );
}

#[test]
fn generated_keys_sign_and_verify() {
    let keys = test_keys();
    let msg = b"From: Ada <ada@example.org>\nTo: b@example.net\nSubject: =?utf-8?q?caf=C3=A9?=\n \tfolded\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nline one  \n\xc3\xa9t\xc3\xa9\n\n\n";
    for (file, selector) in [
        ("rsa2048.pem", "rsa2048"),
        ("rsa2048.pkcs8.pem", "rsa2048"),
        ("rsa4096.pem", "rsa4096"),
        ("ed25519.pem", "ed"),
    ] {
        let key = SigningKey::from_pem(&data(file)).unwrap();
        for crlf in [false, true] {
            let m = if crlf {
                String::from_utf8_lossy(msg)
                    .replace('\n', "\r\n")
                    .into_bytes()
            } else {
                msg.to_vec()
            };
            let opts = SignOptions {
                domain: "example.org".into(),
                selector: selector.into(),
                timestamp: None,
                expiration: None,
                headers: None,
                body_length: false,
            };
            let signed = dkim::sign_message(&m, &key, &opts).unwrap();
            assert!(
                signed.ends_with(&m),
                "the message is unchanged below the field"
            );
            let ok = verdicts(&signed, &keys, &VerifyOptions::default());
            assert_eq!(
                ok,
                vec![(Verdict::Pass, String::new())],
                "{file} crlf={crlf}"
            );
            // Stored the other way round: still the same wire form.
            let other = if crlf {
                String::from_utf8_lossy(&signed)
                    .replace("\r\n", "\n")
                    .into_bytes()
            } else {
                String::from_utf8_lossy(&signed)
                    .replace('\n', "\r\n")
                    .into_bytes()
            };
            assert_eq!(
                verdicts(&other, &keys, &VerifyOptions::default())[0].0,
                Verdict::Pass
            );
        }
    }
    // Signing refuses 1024-bit RSA (verification accepts it: see the RFC test).
    assert!(SigningKey::from_pem(&data("rsa1024.pem"))
        .unwrap_err()
        .contains("2048 to 4096"));
}

#[test]
fn a_from_field_the_signature_does_not_cover_fails() {
    // RFC 6376 §8.15: a From added to a signed message must not ride on
    // its signature. Ours over-signs From, so the header hash breaks; a
    // signature that names From only as often as the message had it
    // (most signers' h=) fails by the count of From fields.
    let keys = test_keys();
    let key = SigningKey::from_pem(&data("rsa2048.pem")).unwrap();
    let msg = b"From: Ada <ada@example.org>\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n";
    let opts = SignOptions {
        domain: "example.org".into(),
        selector: "rsa2048".into(),
        timestamp: None,
        expiration: None,
        headers: None,
        body_length: false,
    };
    let signed = dkim::sign_message(msg, &key, &opts).unwrap();
    let text = String::from_utf8(signed.clone()).unwrap();
    assert!(text.contains("h=from:from:to:subject;"), "{text}");
    let added = [&b"From: Mallory <m@evil.example>\r\n"[..], &signed].concat();
    let got = verdicts(&added, &keys, &VerifyOptions::default());
    assert_eq!(got[0].0, Verdict::Fail, "{got:?}");
    // h= without the over-signing entry: the count of From fields decides.
    let once = opts.clone();
    let plain = dkim::sign_message(msg, &key, &once).unwrap();
    let plain = String::from_utf8(plain).unwrap().replacen(
        "h=from:from:to:subject;",
        "h=from:to:subject;",
        1,
    );
    // The edit breaks the signature itself; what matters is which reason
    // wins: the uncovered From comes before the header hash.
    let added = format!("From: Mallory <m@evil.example>\r\n{plain}");
    let got = verdicts(added.as_bytes(), &keys, &VerifyOptions::default());
    assert_eq!(got[0].0, Verdict::Fail);
    assert!(got[0].1.contains("From field it does not cover"), "{got:?}");
    // No From field (here a byte-order mark makes the line no field): the
    // signer refuses, as RFC 6376 §5.4 has it sign From.
    for no_from in [
        &b"To: b@example.net\r\nSubject: x\r\n\r\nbody\r\n"[..],
        b"\xef\xbb\xbfFrom: a@example.org\r\nSubject: x\r\n\r\nbody\r\n",
    ] {
        let err = dkim::sign_message(no_from, &key, &opts).unwrap_err();
        assert!(err.contains("no From field"), "{err}");
    }
    // A message with two From fields, both signed (and over-signed): a pass.
    let two = b"From: a@example.org\r\nFrom: b@example.org\r\nSubject: x\r\n\r\nbody\r\n";
    let signed = dkim::sign_message(two, &key, &opts).unwrap();
    assert_eq!(
        verdicts(&signed, &keys, &VerifyOptions::default()),
        vec![(Verdict::Pass, String::new())]
    );
}

#[test]
fn body_length_limits_what_is_signed() {
    let key = SigningKey::from_pem(&data("ed25519.pem")).unwrap();
    let keys = test_keys();
    let base = |l: bool| SignOptions {
        domain: "example.org".into(),
        selector: "ed".into(),
        timestamp: None,
        expiration: None,
        headers: None,
        body_length: l,
    };
    let msg = b"From: a@example.org\n\nsigned text\n";
    let opts = VerifyOptions::default();
    for l in [true, false] {
        let signed = dkim::sign_message(msg, &key, &base(l)).unwrap();
        let mut appended = signed.clone();
        appended.extend_from_slice(b"appended later\n");
        let got = verdicts(&appended, &keys, &opts)[0].0;
        assert_eq!(got, if l { Verdict::Pass } else { Verdict::Fail }, "l={l}");
        // Cut the body short: l= past the end is a permerror.
        let cut = &signed[..signed.len() - 5];
        let r = verdicts(cut, &keys, &opts).remove(0);
        if l {
            assert_eq!(r.0, Verdict::Permerror);
            assert!(r.1.contains("past the end"), "{r:?}");
        } else {
            assert_eq!(r.0, Verdict::Fail);
        }
    }
}

#[test]
fn sha1_is_policy_unless_allowed() {
    let msg = rfc_msg().replacen("a=rsa-sha256", "a=rsa-sha1", 1);
    let msg = msg.replacen(
        "bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=F45",
        "bh=AAAAAAAAAAAAAAAAAAAAAAAAAAA=;\r\n b=F45",
        1,
    );
    let keys = rfc_keys();
    let r = verdicts(msg.as_bytes(), &keys, &VerifyOptions::default());
    assert_eq!(r[1].0, Verdict::Policy);
    let allowed = verdicts(
        msg.as_bytes(),
        &keys,
        &VerifyOptions {
            as_of: None,
            allow_sha1: true,
        },
    );
    assert_eq!(
        allowed[1].0,
        Verdict::Fail,
        "verified (and failed), not refused"
    );
}

#[test]
fn bad_input_is_a_permerror_never_a_pass() {
    let msg = rfc_msg();
    let keys = rfc_keys();
    let opts = VerifyOptions::default();
    let huge_h = format!("h={};", vec!["from"; 25_000].join(":"));
    let cases: Vec<(String, &str)> = vec![
        (
            msg.replacen("v=1; a=ed25519", "v=1; v=1; a=ed25519", 1),
            "twice",
        ),
        (
            msg.replacen(
                "DKIM-Signature: v=1; a=ed25519-sha256;",
                "DKIM-Signature: garbage",
                1,
            ),
            "does not parse",
        ),
        (msg.replacen("b=/gCrinpcQ", "b=/gCr!npcQ", 1), "not base64"),
        (
            msg.replacen("h=from : to :", &format!("{huge_h} x=from : to :"), 1),
            "h=",
        ),
        (
            msg.replacen("s=brisbane;", "s=brisbane; l=99999;", 1),
            "past the end",
        ),
        (
            msg.replacen("a=ed25519-sha256", "a=dsa-sha256", 1),
            "unsupported algorithm",
        ),
        (
            msg.replacen("i=@football.example.com", "i=@example.net", 1),
            "not within",
        ),
        (
            msg.replacen(
                "h=from : to :\r\n subject : date : message-id : from : subject : date;",
                "h=to : subject;",
                1,
            ),
            "header not signed",
        ),
        (
            msg.replacen("t=1528637909;", "t=1528637909; x=1;", 1),
            "x= is before t=",
        ),
    ];
    for (m, reason) in cases {
        let r = verdicts(m.as_bytes(), &keys, &opts).remove(0);
        assert_eq!(r.0, Verdict::Permerror, "{reason}: {r:?}");
        assert!(r.1.contains(reason), "{reason}: {r:?}");
    }
    // Zero-length body with l=: fine at l=0, a permerror past it.
    let empty = msg.split("\r\n\r\n").next().unwrap().to_string() + "\r\n\r\n";
    let r = verdicts(
        empty
            .replacen("s=brisbane;", "s=brisbane; l=5;", 1)
            .as_bytes(),
        &keys,
        &opts,
    );
    assert_eq!(r[0].0, Verdict::Permerror);
    // Truncated messages and noise never panic and never pass.
    let bytes = msg.as_bytes();
    for cut in (0..bytes.len()).step_by(7) {
        for r in dkim::verify_message(&bytes[..cut], &keys, &opts) {
            assert_ne!(r.result, Verdict::Pass, "cut at {cut}");
        }
    }
    // Unsigned mail: no results (RFC 8601 none).
    assert!(dkim::verify_message(b"From: a@b\n\nhi\n", &keys, &opts).is_empty());
}

#[test]
fn used_keys_are_saved_for_an_offline_rerun() {
    let keys = rfc_keys();
    let msg = rfc_msg();
    let first: Vec<SigResult> =
        dkim::verify_message(msg.as_bytes(), &keys, &VerifyOptions::default());
    let mut again = KeyStore::new("saved.json");
    again.add_json(keys.used_json().as_bytes()).unwrap();
    assert_eq!(again.len(), 2);
    let second = dkim::verify_message(msg.as_bytes(), &again, &VerifyOptions::default());
    let strip = |v: &[SigResult]| {
        v.iter()
            .map(|r| (r.result, r.reason.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&first), strip(&second));
}

#[test]
fn many_signatures_and_fields_stay_bounded() {
    // 200 copies of the RFC's Ed25519 signature over 9,000 unsigned
    // fields (the header parser reads at most 10,000): the first 32 are verified (and pass), the rest are refused.
    let msg = rfc_msg();
    let sig_end = msg.find("DKIM-Signature: v=1; a=rsa-sha256").unwrap();
    let sig = &msg[..sig_end];
    let rest = &msg[msg.find("From: Joe").unwrap()..];
    let mut big = sig.repeat(200);
    big += &"X-Filler: y\r\n".repeat(9_000);
    big += rest;
    let res = verdicts(big.as_bytes(), &rfc_keys(), &VerifyOptions::default());
    assert_eq!(res.len(), 200);
    assert!(
        res[..32].iter().all(|r| r.0 == Verdict::Pass),
        "{:?}",
        &res[..2]
    );
    assert!(res[32..]
        .iter()
        .all(|r| r.0 == Verdict::Permerror && r.1.contains("more than 32")));
}

#[test]
fn message_builder_signs_as_the_last_step() {
    use mimeflow::compose::{Attachment, MessageBuilder};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("mimeflow-dkim-builder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data.bin");
    std::fs::write(
        &file,
        (0..200_000u32).map(|i| (i * 7) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let keys = test_keys();
    for (pem, selector) in [("ed25519.pem", "ed"), ("rsa2048.pem", "rsa2048")] {
        let key = Arc::new(SigningKey::from_pem(&data(pem)).unwrap());
        let b = MessageBuilder::new()
            .from("Ada <ada@example.org>")
            .unwrap()
            .to("b@example.net")
            .unwrap()
            .subject("Grüße, a long subject that the builder folds over more than one line of the header block")
            .text("Hallo  \n\nwelt\n\n\n")
            .attach(Attachment::file(&file))
            .dkim_sign("example.org", selector, key);
        let built = b.to_vec().unwrap();
        assert!(built.starts_with(b"DKIM-Signature:"));
        let ok = verdicts(&built, &keys, &VerifyOptions::default());
        assert_eq!(
            ok,
            vec![(Verdict::Pass, String::new())],
            "{selector} to_vec"
        );
        // write_to: two passes (the file read twice), the same verdict.
        let mut streamed = Vec::new();
        b.write_to(&mut streamed).unwrap();
        let ok = verdicts(&streamed, &keys, &VerifyOptions::default());
        assert_eq!(
            ok,
            vec![(Verdict::Pass, String::new())],
            "{selector} write_to"
        );
        // Below the field, both are the unsigned message.
        let body = |m: &[u8]| {
            let s = String::from_utf8_lossy(m).into_owned();
            let at = s.find("\r\nDate:").or_else(|| s.find("\r\nFrom:")).unwrap();
            s[at..].to_string()
        };
        let (a, c) = (body(&built), body(&streamed));
        // Date and Message-ID are made per call; compare the rest.
        let strip = |s: &str| {
            s.lines()
                .filter(|l| !l.starts_with("Date:") && !l.starts_with("Message-ID:"))
                .filter(|l| !l.contains("boundary") && !l.starts_with("--"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&a).len(), strip(&c).len());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
