//! Criterion benches for whole-message parsing: parse AND decode every part.
//!
//! Groups: `list_mail` (a ~4 KB mailing-list message: long trace header,
//! multipart/alternative with quoted-printable text and HTML), `attachment`
//! (a message with a 10 MiB base64 attachment), `deep` (50 nested
//! multiparts, inside the default depth limit). Each group holds mimeflow
//! and the `mail-parser` crate doing the same job: mail-parser parses and
//! decodes eagerly, so its side is `MessageParser::default().parse(bytes)`
//! and a touch of every part's contents; ours parses, then decodes every
//! leaf (text/* through its charset into a `String`, as mail-parser does,
//! others to bytes) and the subject. Every timed call asserts its result.
//!
//! `linearity`: nesting (unlimited limits) and siblings at n and 4n; the
//! ratio time(4n)/time(n) is printed after the group (linear: about 4; the
//! issue asks < 6), measured apart from criterion with a median of runs.
//!
//! Run: `cargo bench --bench message`; short:
//! `cargo bench --bench message -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mail_parser::MessageParser;
use mimeflow::message::{Kind, Limits, Message, ParseOptions};

/// A realistic mailing-list message of about 4 KB.
fn list_mail() -> Vec<u8> {
    let mut m = Vec::new();
    let hops = [
        ("mail-lists.example.org", "lists.example.org", "10.0.0.12"),
        ("lists.example.org", "mx1.example.net", "192.0.2.44"),
        ("mx1.example.net", "mailstore3.example.net", "198.51.100.7"),
    ];
    for (i, (from, by, ip)) in hops.iter().enumerate() {
        write!(
            m,
            "Received: from {from} ({from} [{ip}])\r\n\tby {by} (Postfix) with ESMTPS id 4Q{i}x7Lk2bz9\r\n\tfor <reader@example.net>; Tue, 4 Mar 2025 09:1{i}:03 +0000 (UTC)\r\n"
        )
        .unwrap();
    }
    m.extend_from_slice(
        b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=lists;\r\n\
          \tt=1741079403; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
          \th=From:To:Subject:Date:List-Id;\r\n\
          \tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgbG9va3MgbGlrZSBvbmUgdG8gdGhlIHBhcnNlcg==\r\n\
          From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.org>\r\n\
          To: dev@lists.example.org\r\n\
          Cc: \"Ann Other\" <ann@example.com>, bob@example.net\r\n\
          Subject: Re: [dev] =?UTF-8?Q?Proposal:_faster_boundary_scanning_=E2=80=94_v2?=\r\n\
          Date: Tue, 4 Mar 2025 10:09:57 +0100\r\n\
          Message-ID: <20250304090957.GA12345@workstation.example.org>\r\n\
          In-Reply-To: <CAF=abc123@mail.example.com>\r\n\
          References: <CAF=abc123@mail.example.com> <87h6xyz.fsf@example.net>\r\n\
          List-Id: Developers <dev.lists.example.org>\r\n\
          List-Unsubscribe: <mailto:dev-leave@lists.example.org>, <https://lists.example.org/unsub/dev>\r\n\
          List-Archive: <https://lists.example.org/archive/dev/>\r\n\
          List-Post: <mailto:dev@lists.example.org>\r\n\
          Precedence: list\r\n\
          MIME-Version: 1.0\r\n\
          Content-Type: multipart/alternative; boundary=\"000000000000a1b2c3d4e5f60718\"\r\n\r\n",
    );
    let para = "On Mon, 3 Mar 2025 at 18:22, Ann Other wrote: the scanner now looks for the \
                delimiter with one memmem pass and checks the rest of the line only on a hit, \
                which keeps the common case fast. Gr=C3=BC=C3=9Fe, J=C3=BCrgen.";
    m.extend_from_slice(b"--000000000000a1b2c3d4e5f60718\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    for i in 0..6 {
        write!(m, "> {i}: ").unwrap();
        for chunk in para.as_bytes().chunks(70) {
            m.extend_from_slice(chunk);
            m.extend_from_slice(b"=\r\n");
        }
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"\r\n--000000000000a1b2c3d4e5f60718\r\nContent-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<div dir=3D\"ltr\">");
    for i in 0..4 {
        write!(m, "<p>{i}: ").unwrap();
        for chunk in para.as_bytes().chunks(70) {
            m.extend_from_slice(chunk);
            m.extend_from_slice(b"=\r\n");
        }
        m.extend_from_slice(b"</p>\r\n");
    }
    m.extend_from_slice(b"</div>\r\n\r\n--000000000000a1b2c3d4e5f60718--\r\n");
    m
}

/// Base64 of pseudo-random bytes, 76-column CRLF lines.
fn base64_lines(n: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(n + n / 38 + 2);
    let mut col = 0;
    let mut data = 0;
    while data < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(ALPHABET[(x >> 58) as usize]);
        data += 1;
        col += 1;
        if col == 76 {
            out.extend_from_slice(b"\r\n");
            col = 0;
        }
    }
    out
}

fn attachment_mail() -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: the report\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"----=_Part_1_2.3\"\r\n\r\n\
        ------=_Part_1_2.3\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe report is attached.\r\n\
        ------=_Part_1_2.3\r\nContent-Type: application/pdf; name=report.pdf\r\n\
        Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=report.pdf\r\n\r\n"
        .to_vec();
    // 10 MiB of base64 text (7.5 MiB decoded).
    m.extend_from_slice(&base64_lines(10 << 20));
    m.extend_from_slice(b"\r\n------=_Part_1_2.3--\r\n");
    m
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..depth {
        write!(
            s,
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        )
        .unwrap();
    }
    s.extend_from_slice(b"Content-Type: text/plain\r\n\r\ninnermost\r\n");
    for i in (0..depth).rev() {
        write!(s, "--b{i}--\r\n").unwrap();
    }
    s
}

fn siblings(n: usize) -> Vec<u8> {
    let mut s = b"Content-Type: multipart/mixed; boundary=sib\r\n\r\n".to_vec();
    for i in 0..n {
        write!(s, "--sib\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n").unwrap();
    }
    s.extend_from_slice(b"--sib--\r\n");
    s
}

/// Parses and decodes every part; returns (entities, decoded bytes).
fn ours(src: &[u8], opts: &ParseOptions) -> (usize, usize) {
    let msg = Message::parse_with(src.to_vec(), opts).unwrap();
    let mut bytes = msg.root().header_text("subject").map_or(0, |s| s.len());
    for e in msg.walk() {
        if e.kind() != Kind::Leaf {
            continue;
        }
        bytes += if e.content_type().type_ == "text" {
            e.text().len()
        } else {
            e.decoded().len()
        };
    }
    (msg.len(), bytes)
}

/// mail-parser: parsing decodes everything; touch every part, nested
/// messages included. Returns (parts, content bytes).
fn peer(src: &[u8]) -> (usize, usize) {
    let msg = MessageParser::default().parse(src).unwrap();
    let mut stack = vec![msg];
    let (mut parts, mut bytes) = (0, 0);
    while let Some(m) = stack.pop() {
        bytes += m.subject().map_or(0, |s| s.len());
        for p in m.parts.into_iter() {
            parts += 1;
            match p.body {
                mail_parser::PartType::Message(inner) => stack.push(inner),
                ref b => {
                    bytes += match b {
                        mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => t.len(),
                        mail_parser::PartType::Binary(b)
                        | mail_parser::PartType::InlineBinary(b) => b.len(),
                        _ => 0,
                    }
                }
            }
        }
    }
    (parts, bytes)
}

fn bench_pair(
    c: &mut Criterion,
    group: &str,
    src: &[u8],
    want_ours: (usize, usize),
    check_peer: impl Fn((usize, usize)) + Copy,
) {
    let opts = ParseOptions::default();
    assert_eq!(ours(src, &opts), want_ours, "{group}: mimeflow result");
    check_peer(peer(src));
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(src.len() as u64));
    g.bench_with_input(BenchmarkId::new("mimeflow", src.len()), src, |b, src| {
        b.iter(|| assert_eq!(ours(black_box(src), &opts), want_ours))
    });
    g.bench_with_input(BenchmarkId::new("mail-parser", src.len()), src, |b, src| {
        b.iter(|| check_peer(peer(black_box(src))))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let list = list_mail();
    assert!(
        (2000..=5000).contains(&list.len()),
        "list mail is {} bytes",
        list.len()
    );
    let want = ours(&list, &ParseOptions::default());
    assert_eq!(want.0, 3);
    bench_pair(c, "list_mail", &list, want, |(n, bytes)| {
        assert!(n == 3 && bytes > 2000, "{n} {bytes}")
    });

    let att = attachment_mail();
    let decoded = (10 << 20) / 4 * 3;
    let want = (
        3,
        "the report".len() + "The report is attached.".len() + decoded,
    );
    bench_pair(c, "attachment", &att, want, move |(n, bytes)| {
        assert!(n == 3 && bytes >= decoded, "{n} {bytes}")
    });

    let deep = nested(50);
    bench_pair(c, "deep", &deep, (51, "innermost".len()), |(n, _)| {
        assert!(n >= 2, "{n}")
    });

    linearity(c);
}

fn linearity(c: &mut Criterion) {
    let unlimited = ParseOptions {
        limits: Limits::unlimited(),
        strict: false,
    };
    let n = std::env::var("MIMEFLOW_BENCH_LINEAR_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    type Shape = (&'static str, fn(usize) -> Vec<u8>);
    let shapes: [Shape; 2] = [("nesting", nested), ("siblings", siblings)];
    let mut g = c.benchmark_group("linearity");
    for (name, make) in shapes {
        for size in [n, 4 * n] {
            let src = make(size);
            let want = ours(&src, &unlimited);
            g.throughput(Throughput::Bytes(src.len() as u64));
            g.bench_with_input(BenchmarkId::new(name, size), &src, |b, src| {
                b.iter(|| assert_eq!(ours(black_box(src), &unlimited), want))
            });
        }
    }
    g.finish();
    for (name, make) in shapes {
        let time = |size: usize| {
            let src = make(size);
            let mut runs: Vec<f64> = (0..7)
                .map(|_| {
                    let t = Instant::now();
                    black_box(ours(&src, &unlimited));
                    t.elapsed().as_secs_f64()
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[3]
        };
        let (t1, t4) = (time(n), time(4 * n));
        eprintln!(
            "linearity/{name}: time({})/time({n}) = {:.2} (linear: 4, limit 6)",
            4 * n,
            t4 / t1
        );
    }
}

criterion_group!(message, benches);
criterion_main!(message);
