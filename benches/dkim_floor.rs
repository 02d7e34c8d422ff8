//! DKIM verification against its floor (issue 15: per message within 1.5x
//! of the key operation plus SHA-256 of the canonical bytes), per key type
//! and for a mixed archive, on one thread.
//!
//! The messages are list-sized text (about 2 KB, CRLF, so the canonical
//! body is the body itself under both canonicalizations), signed by the
//! crate's signer with the test keys of `testdata/dkim/`. Timed:
//! - `verify`: [`mimeflow::dkim::verify_message`] on each message, keys
//!   from a [`KeyStore`] (what `dkim verify --keys` does per message, less
//!   reading the archive);
//! - `floor`: per message, SHA-256 of its body and one verification with a
//!   key parsed once before the timer (`ParsedPublicKey::verify_sig`, which
//!   hashes the signed data itself) of a signature over a header-sized
//!   string: the two costs no verifier can avoid.
//!
//! A plain binary (`harness = false`): it prints medians and the ratio,
//! which criterion does not. Every verification must pass, or it stops.
//!
//! ```text
//! cargo bench --bench dkim_floor --features dkim [-- MESSAGES ROUNDS]
//! ```

#[cfg(feature = "dkim")]
fn main() {
    run::main();
}

#[cfg(not(feature = "dkim"))]
fn main() {
    eprintln!("dkim_floor: skipped (needs --features dkim or cli)");
}

#[cfg(feature = "dkim")]
mod run {
    use std::hint::black_box;
    use std::path::Path;
    use std::time::Instant;

    use aws_lc_rs::digest;
    use aws_lc_rs::signature::{self, KeyPair};
    use mimeflow::base64::{DecodeMode, STANDARD};
    use mimeflow::dkim::{
        sign_message, verify_message, KeyStore, SignOptions, SigningKey, Verdict, VerifyOptions,
    };

    /// The key types measured: name, PEM file, selector.
    const KEYS: [(&str, &str, &str); 2] = [
        ("RSA-2048", "rsa2048.pem", "rsa2048"),
        ("Ed25519", "ed25519.pem", "ed"),
    ];

    fn pem_der(pem: &[u8]) -> Vec<u8> {
        let b64: Vec<u8> = pem
            .split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"-----"))
            .flatten()
            .copied()
            .collect();
        STANDARD.decode_to_vec(&b64, DecodeMode::Mime).unwrap()
    }

    /// A key parsed once, and a signature over `data` made with it.
    fn floor_key(kind: &str, pem: &[u8], data: &[u8]) -> (signature::ParsedPublicKey, Vec<u8>) {
        let der = pem_der(pem);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        if kind == "Ed25519" {
            let pair = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap();
            let h = digest::digest(&digest::SHA256, data);
            let sig = pair.sign(h.as_ref()).as_ref().to_vec();
            let key =
                signature::ParsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref());
            (key.unwrap(), sig)
        } else {
            let pair = signature::RsaKeyPair::from_der(&der).unwrap();
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, data, &mut sig)
                .unwrap();
            let key = signature::ParsedPublicKey::new(
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
                pair.public_key().as_ref(),
            );
            (key.unwrap(), sig)
        }
    }

    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    pub fn main() {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        let n = args.first().copied().unwrap_or(2000);
        let rounds = args.get(1).copied().unwrap_or(5);
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/dkim");
        let para = "Hello list,\r\n\r\nthe release candidate is out; please test it on your \
                    platforms and report back before Friday. Notes follow below.\r\n\r\n";
        let body = para.repeat(12);
        let mut store = KeyStore::new("bench");
        let mut keys = Vec::new();
        for (kind, file, selector) in KEYS {
            let pem = std::fs::read(data.join(file)).unwrap();
            let key = SigningKey::from_pem(&pem).unwrap();
            store.insert(
                &format!("{selector}._domainkey.example.org"),
                key.key_record().into_bytes(),
            );
            keys.push((kind, selector, key, pem));
        }
        // Messages per key type: signed mail, and the floor's inputs.
        let mut sets = Vec::new();
        for (kind, selector, key, pem) in &keys {
            let opts = SignOptions {
                domain: "example.org".into(),
                selector: (*selector).into(),
                timestamp: Some(1_700_000_000),
                expiration: None,
                headers: None,
                body_length: false,
            };
            let msgs: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let m = format!(
                        "From: Dev {i} <dev{i}@example.org>\r\nTo: list@example.net\r\n\
                         Subject: [list] release candidate {i}\r\n\
                         Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\
                         Message-ID: <{i}@example.org>\r\nList-Id: <list.example.net>\r\n\r\n{body}"
                    );
                    sign_message(m.as_bytes(), key, &opts).unwrap()
                })
                .collect();
            let header_len = msgs[0].windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 2;
            let data = msgs[0][..header_len].to_vec();
            let (parsed, sig) = floor_key(kind, pem, &data);
            sets.push(Set {
                ed25519: *kind == "Ed25519",
                msgs,
                header_len,
                parsed,
                sig,
                data,
            });
        }
        // The mixed archive: the two key types alternating.
        let mixed: Vec<Vec<u8>> = (0..n).map(|i| sets[i % 2].msgs[i].clone()).collect();
        let opts = VerifyOptions {
            as_of: None,
            allow_sha1: false,
        };
        let verify_all = |msgs: &[Vec<u8>]| {
            for m in msgs {
                let r = verify_message(m, &store, &opts);
                assert!(
                    r.len() == 1 && r[0].result == Verdict::Pass,
                    "{:?}",
                    r.first()
                );
            }
        };
        let floor_one = |set: &Set, m: &[u8]| {
            black_box(digest::digest(&digest::SHA256, &m[set.header_len + 2..]));
            if set.ed25519 {
                // RFC 8463: Ed25519 signs the SHA-256 of the header data.
                let h = digest::digest(&digest::SHA256, &set.data);
                set.parsed.verify_sig(h.as_ref(), &set.sig).unwrap();
            } else {
                set.parsed.verify_sig(&set.data, &set.sig).unwrap();
            }
        };
        println!(
            "{n} signed messages per case (about {} bytes each), one thread, median of {rounds} rounds",
            sets[0].msgs[0].len()
        );
        println!(
            "{:<10} {:>12} {:>12} {:>10}",
            "case", "verify us", "floor us", "ratio"
        );
        let mut cases: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
        for name in ["RSA-2048", "Ed25519", "mixed"] {
            cases.push((name.into(), Vec::new(), Vec::new()));
        }
        for _ in 0..rounds {
            for (ci, case) in cases.iter_mut().enumerate() {
                let msgs: &[Vec<u8>] = if ci < 2 { &sets[ci].msgs } else { &mixed };
                let t = Instant::now();
                verify_all(msgs);
                case.1.push(t.elapsed().as_secs_f64() / n as f64 * 1e6);
                let t = Instant::now();
                for (i, m) in msgs.iter().enumerate() {
                    let set = if ci < 2 { &sets[ci] } else { &sets[i % 2] };
                    floor_one(set, m);
                }
                case.2.push(t.elapsed().as_secs_f64() / n as f64 * 1e6);
            }
        }
        for (name, v, f) in cases {
            let (v, f) = (median(v), median(f));
            println!("{name:<10} {v:>12.2} {f:>12.2} {:>9.2}x", v / f);
        }
    }

    /// One key type's messages and the floor's inputs: the length of each
    /// message's header block (the same for all), a key parsed once, and a
    /// signature with it over a header block (`data`), the size of the
    /// data a verifier signs over (the signed fields and the signature
    /// field).
    struct Set {
        ed25519: bool,
        msgs: Vec<Vec<u8>>,
        header_len: usize,
        parsed: signature::ParsedPublicKey,
        sig: Vec<u8>,
        data: Vec<u8>,
    }
}
