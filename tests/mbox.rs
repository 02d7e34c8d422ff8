//! mbox reading, writing, sniffing, range splitting and streaming.

use std::io::Write;

use mimeflow::mbox::{
    plan_splits, read, read_range, sniff, stream, write_mboxrd, Entry, LineEnding, MboxError,
    OwnedEntry, ReadOptions, SuspiciousKind, Variant,
};

fn opts(v: Option<Variant>) -> ReadOptions {
    ReadOptions {
        variant: v,
        unquote_mboxo: false,
    }
}

fn owned(es: impl Iterator<Item = Entry<'static>>) -> Vec<OwnedEntry> {
    es.map(|e| e.to_owned_entry()).collect()
}

fn all(data: &[u8], o: &ReadOptions) -> Vec<OwnedEntry> {
    read(data, o).map(|e| e.to_owned_entry()).collect()
}

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

fn eol(s: &str, e: LineEnding) -> Vec<u8> {
    s.replace('\n', std::str::from_utf8(e.as_bytes()).unwrap())
        .into_bytes()
}

const ENDINGS: [LineEnding; 3] = [LineEnding::Lf, LineEnding::Crlf, LineEnding::Cr];

#[test]
fn variant_names() {
    for v in [
        Variant::Mboxo,
        Variant::Mboxrd,
        Variant::Mboxcl,
        Variant::Mboxcl2,
    ] {
        assert_eq!(Variant::from_name(v.name()), Some(v));
    }
    assert_eq!(Variant::from_name("MBOXRD"), Some(Variant::Mboxrd));
    assert_eq!(Variant::from_name("maildir"), None);
}

#[test]
fn from_line_forms_and_endings() {
    let src = "From alice@example.com Thu Jan  1 00:00:00 1970\nSubject: a\n\nhello\n\n\
               From 1545668983435175434@xxx Fri Sep 16 22:26:51 +0000 2016\nX-GM-THRID: 1\n\nbody\nFrom here on\n\n\
               From - Mon Jan  1 00:00:00 2001\nSubject: c\n\nlast\n\n";
    for e in ENDINGS {
        let data = eol(src, e);
        let s = sniff(&data);
        assert!(s.is_mbox);
        assert_eq!(s.line_ending, e);
        let r = read(&data, &opts(None));
        let msgs: Vec<_> = r.collect();
        assert_eq!(msgs.len(), 3, "{e:?}");
        assert_eq!(
            msgs[0].envelope,
            b"alice@example.com Thu Jan  1 00:00:00 1970"
        );
        assert_eq!(
            msgs[1].envelope,
            b"1545668983435175434@xxx Fri Sep 16 22:26:51 +0000 2016"
        );
        assert_eq!(msgs[2].envelope, b"- Mon Jan  1 00:00:00 2001");
        assert_eq!(&*msgs[0].message, &eol("Subject: a\n\nhello\n", e)[..]);
        assert_eq!(
            &*msgs[1].message,
            &eol("X-GM-THRID: 1\n\nbody\nFrom here on\n", e)[..]
        );
        assert_eq!(msgs[0].offset, 0);
        let total: u64 = msgs.iter().map(|m| m.length).sum();
        assert_eq!(total, data.len() as u64);
        for m in &msgs {
            assert!(data[m.offset as usize..].starts_with(b"From "));
        }
    }
}

#[test]
fn separator_needs_blank_line_and_envelope() {
    let data = b"From a Thu Jan  1 00:00:00 1970\n\nbody\nFrom b Thu Jan  1 00:00:00 1970\n\nFrom the desk of X\n\nend\n\n";
    let mut r = read(data, &opts(Some(Variant::Mboxo)));
    let msgs: Vec<_> = r.by_ref().collect();
    assert_eq!(msgs.len(), 1);
    assert_eq!(r.suspicious().len(), 2);
    assert_eq!(
        r.suspicious_kinds(),
        &[SuspiciousKind::NoBlankLine, SuspiciousKind::NotEnvelope]
    );
    let off = r.suspicious()[1] as usize;
    assert!(data[off..].starts_with(b"From the desk"));
}

#[test]
fn quoting_mboxrd_and_mboxo() {
    let body = "From a Thu Jan  1 00:00:00 1970\nS: x\n\n>From one\n>>From two\n>>>From three\n>From\nx >From\n\n";
    let rd: Vec<_> = read(body.as_bytes(), &opts(Some(Variant::Mboxrd))).collect();
    assert_eq!(
        &*rd[0].message,
        b"S: x\n\nFrom one\n>From two\n>>From three\n>From\nx >From\n"
    );
    let o: Vec<_> = read(body.as_bytes(), &opts(Some(Variant::Mboxo))).collect();
    assert_eq!(
        &*o[0].message,
        b"S: x\n\n>From one\n>>From two\n>>>From three\n>From\nx >From\n"
    );
    assert!(matches!(o[0].message, std::borrow::Cow::Borrowed(_)));
    let ou: Vec<_> = read(
        body.as_bytes(),
        &ReadOptions {
            variant: Some(Variant::Mboxo),
            unquote_mboxo: true,
        },
    )
    .collect();
    assert_eq!(
        &*ou[0].message,
        b"S: x\n\nFrom one\n>>From two\n>>>From three\n>From\nx >From\n"
    );
    // Writing quotes every ^>*From line once more.
    let mut out = Vec::new();
    write_mboxrd(
        &mut out,
        Some(b"a Thu Jan  1 00:00:00 1970"),
        b"From x\n>From y\n>>From z\n",
        LineEnding::Lf,
    )
    .unwrap();
    assert_eq!(
        out,
        b"From a Thu Jan  1 00:00:00 1970\n>From x\n>>From y\n>>>From z\n\n"
    );
    let back: Vec<_> = read(&out, &opts(None)).collect();
    assert_eq!(&*back[0].message, b"From x\n>From y\n>>From z\n");
}

#[test]
fn sniff_variants() {
    let rd = b"From a Thu Jan  1 00:00:00 1970\n\n>>From x\n\n";
    let s = sniff(rd);
    assert_eq!(
        (s.variant, s.confident),
        (Variant::Mboxrd, true),
        "{}",
        s.reason
    );
    let plain = b"From a Thu Jan  1 00:00:00 1970\n\nhi\n\n";
    assert_eq!(sniff(plain).variant, Variant::Mboxrd);
    assert!(!sniff(plain).confident);
    // mboxcl2: Content-Length spans an unquoted From_ line.
    let body = "x\n\nFrom b Thu Jan  1 00:00:00 1970\ny\n";
    let cl2 = format!(
        "From a Thu Jan  1 00:00:00 1970\nContent-Length: {}\n\n{body}\nFrom c Thu Jan  1 00:00:00 1970\nContent-Length: 2\n\nz\n\n",
        body.len()
    );
    let s = sniff(cl2.as_bytes());
    assert_eq!(s.variant, Variant::Mboxcl2, "{}", s.reason);
    let msgs: Vec<_> = read(cl2.as_bytes(), &opts(None)).collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        &*msgs[0].message,
        format!("Content-Length: {}\n\n{body}", body.len()).as_bytes()
    );
    assert!(plan_splits(cl2.as_bytes(), 4, Variant::Mboxcl2).is_err());
    // mboxcl: Content-Length checks out and >From quoting.
    let b2 = ">From q\n";
    let cl = format!(
        "From a Thu Jan  1 00:00:00 1970\nContent-Length: {}\n\n{b2}\n",
        b2.len()
    );
    let s = sniff(cl.as_bytes());
    assert_eq!(s.variant, Variant::Mboxcl, "{}", s.reason);
    let m: Vec<_> = read(
        cl.as_bytes(),
        &ReadOptions {
            variant: None,
            unquote_mboxo: true,
        },
    )
    .collect();
    assert_eq!(
        &*m[0].message,
        format!("Content-Length: {}\n\nFrom q\n", b2.len()).as_bytes()
    );
    // A Content-Length that does not check out is ignored and reported.
    let bad = "From a Thu Jan  1 00:00:00 1970\nContent-Length: 999\n\nx\n\nFrom b Thu Jan  1 00:00:00 1970\n\ny\n\n";
    assert_eq!(sniff(bad.as_bytes()).variant, Variant::Mboxrd);
    let mut r = read(bad.as_bytes(), &opts(Some(Variant::Mboxcl2)));
    assert_eq!(r.by_ref().count(), 2);
    assert_eq!(r.suspicious(), &[0]);
    assert_eq!(r.suspicious_kinds(), &[SuspiciousKind::ContentLength]);
}

#[test]
fn garbage_and_truncation() {
    for g in [
        &b"Return-Path: <x>\nSubject: hi\n\nbody\n"[..],
        b"\x89PNG\r\n\x1a\n\0\0",
        b"From nobody\n\nx\n",
    ] {
        let s = sniff(g);
        assert!(!s.is_mbox, "{}", s.reason);
        assert!(matches!(s.check(), Err(MboxError::NotMbox { .. })));
        let r = read(g, &opts(None));
        assert!(r.check().is_err());
        assert_eq!(r.count(), 0);
        assert!(matches!(
            plan_splits(g, 4, Variant::Mboxrd),
            Err(MboxError::NotMbox { .. })
        ));
        let mut st = stream(g, &opts(None));
        assert!(matches!(st.next(), Some(Err(MboxError::NotMbox { .. }))));
        assert!(st.next().is_none());
    }
    assert_eq!(read(b"", &opts(None)).count(), 0);
    assert!(sniff(b"\n\n").is_mbox);
    let full = gen_archive(7, 30, LineEnding::Lf, false);
    for cut in (0..full.len()).step_by(37) {
        let d = &full[..cut];
        let a = all(d, &opts(Some(Variant::Mboxrd)));
        let s: Vec<_> = stream(d, &opts(Some(Variant::Mboxrd)))
            .map(Result::unwrap)
            .collect();
        assert_eq!(a, s);
        let _ = sniff(d);
    }
}

/// A deterministic archive: headers, text with From-ish lines, base64 parts.
fn gen_archive(seed: u64, n: usize, e: LineEnding, suspicious: bool) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    let mut out = Vec::new();
    for i in 0..n {
        let mut msg = format!(
            "From: a{i}@example.com\nSubject: m{i}\nDate: Mon, 1 Jan 2001 10:00:00 +0000\n\n"
        );
        for _ in 0..rnd(8) {
            match rnd(9) {
                0 => msg.push_str("From the body, unquoted\n"),
                1 => msg.push_str(">From quoted once\n"),
                2 => msg.push_str(">>From quoted twice\n"),
                3 => msg.push('\n'),
                4 if suspicious => msg.push_str("\nFrom somebody Thu Jan  1 00:00:00\n"),
                5 if suspicious => msg.push_str("\nFrom x\n"),
                6 => msg.push_str(&"QUJD".repeat(19 * (1 + rnd(40) as usize))),
                _ => msg.push_str("plain line of text\n"),
            }
            if !msg.ends_with('\n') {
                msg.push('\n');
            }
        }
        let msg = msg.replace('\n', std::str::from_utf8(e.as_bytes()).unwrap());
        let env = format!("s{i}@x Thu Jan  1 00:00:{:02} 1970", i % 60);
        write_mboxrd(&mut out, Some(env.as_bytes()), msg.as_bytes(), e).unwrap();
    }
    out
}

#[test]
fn ranges_equal_serial() {
    let mut archives = vec![];
    for (i, e) in ENDINGS.into_iter().enumerate() {
        archives.push(gen_archive(i as u64, 0, e, false));
        archives.push(gen_archive(i as u64 + 10, 1, e, true));
        archives.push(gen_archive(i as u64 + 20, 5, e, true));
        archives.push(gen_archive(i as u64 + 30, 200, e, true));
    }
    archives.push(
        b"\n\nFrom a Thu Jan  1 00:00:00 1970\n\nx\n\nFrom b Thu Jan  1 00:00:00 1970\n".to_vec(),
    );
    for data in archives {
        let data = leak(data);
        for v in [Variant::Mboxrd, Variant::Mboxo, Variant::Mboxcl] {
            let o = opts(Some(v));
            let mut r = read(data, &o);
            let serial = owned(r.by_ref());
            let serial_sus = r.suspicious().to_vec();
            for n in 1..=16 {
                let plan = plan_splits(data, n, v).unwrap();
                assert!(plan.len() <= n.max(1));
                assert_eq!(plan[0].start, 0);
                assert_eq!(plan.last().unwrap().end, data.len() as u64);
                assert!(plan
                    .windows(2)
                    .all(|w| w[0].end == w[1].start && w[0].start < w[0].end));
                let mut got = vec![];
                let mut sus = vec![];
                for range in plan {
                    let mut rr = read_range(data, range, &o);
                    got.extend(owned(rr.by_ref()));
                    sus.extend_from_slice(rr.suspicious());
                }
                assert_eq!(got, serial, "n={n}");
                assert_eq!(sus, serial_sus, "n={n}");
            }
            // Any cover works, not only plans: cut at every byte of a small one.
            if data.len() < 400 {
                for cut in 0..=data.len() as u64 {
                    let mut got = owned(read_range(data, 0..cut, &o));
                    got.extend(owned(read_range(data, cut..data.len() as u64, &o)));
                    assert_eq!(got, serial, "cut={cut}");
                }
            }
        }
    }
}

#[test]
fn roundtrip_read_write_read() {
    for (i, e) in ENDINGS.into_iter().enumerate() {
        let data = gen_archive(i as u64 + 99, 60, e, true);
        let first = all(&data, &opts(None));
        assert_eq!(first.len(), 60);
        let mut out = Vec::new();
        for m in &first {
            write_mboxrd(&mut out, Some(&m.envelope), &m.message, e).unwrap();
        }
        assert_eq!(out, data, "{e:?}: writing back gives the archive");
        // mbox -> eml -> mbox without envelopes keeps the messages.
        let mut out2 = Vec::new();
        for m in &first {
            write_mboxrd(&mut out2, None, &m.message, e).unwrap();
        }
        let second = all(&out2, &opts(None));
        assert_eq!(second.len(), first.len());
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.message, b.message);
            assert_eq!(b.envelope, b"MAILER-DAEMON Mon Jan  1 10:00:00 2001");
        }
    }
}

#[test]
fn stream_equals_plain_and_compressed() {
    let data = gen_archive(5, 3000, LineEnding::Lf, true).repeat(4);
    assert!(
        data.len() > 4 << 20,
        "bigger than the sniff sample and many chunks"
    );
    let plain = all(&data, &opts(None));
    let s: Vec<_> = stream(&data[..], &opts(None)).map(Result::unwrap).collect();
    assert_eq!(s, plain);
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("a.mbox.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    let zst = dir.path().join("a.mbox.zst");
    std::fs::write(&zst, zstd::encode_all(&data[..], 1).unwrap()).unwrap();
    let xz = dir.path().join("a.mbox.xz");
    let mut enc = liblzma::write::XzEncoder::new(std::fs::File::create(&xz).unwrap(), 0);
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    let raw = dir.path().join("a.mbox");
    std::fs::write(&raw, &data).unwrap();
    for p in [gz, zst, xz] {
        match mimeflow::mbox::open_path(&p).unwrap() {
            mimeflow::mbox::Archive::Stream(r) => {
                let got: Vec<_> = stream(r, &opts(None)).map(Result::unwrap).collect();
                assert_eq!(got, plain, "{}", p.display());
            }
            other => panic!("{other:?}"),
        }
    }
    match mimeflow::mbox::open_path(&raw).unwrap() {
        mimeflow::mbox::Archive::Mapped(m) => assert_eq!(all(&m, &opts(None)), plain),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_refuses_large_message_and_goes_on() {
    let mut data = Vec::new();
    write_mboxrd(
        &mut data,
        Some(b"a Thu Jan  1 00:00:00 1970"),
        b"small\n",
        LineEnding::Lf,
    )
    .unwrap();
    write_mboxrd(
        &mut data,
        Some(b"b Thu Jan  1 00:00:00 1970"),
        // Past the 4 MiB the stream reads first (to sniff), so that it is
        // still incomplete when the buffer passes the spool threshold.
        &b"x\n".repeat(3_000_000),
        LineEnding::Lf,
    )
    .unwrap();
    write_mboxrd(
        &mut data,
        Some(b"c Thu Jan  1 00:00:00 1970"),
        b"after\n",
        LineEnding::Lf,
    )
    .unwrap();
    // Refused from memory (threshold above the cap), and refused while
    // spooling (threshold below it): the same outcome.
    for threshold in [usize::MAX, 100_000] {
        let got: Vec<_> = stream(&data[..], &opts(None))
            .max_message(Some(300_000))
            .spool_threshold(threshold)
            .collect();
        assert_eq!(got.len(), 3);
        assert_eq!(&got[0].as_ref().unwrap().message[..], b"small\n");
        assert!(
            matches!(got[1], Err(MboxError::TooLarge { offset, .. }) if offset > 0),
            "{:?}",
            got[1]
        );
        assert_eq!(&got[2].as_ref().unwrap().message[..], b"after\n");
    }
    // No cap (the default): the large message comes through, spooled.
    let got: Vec<_> = stream(&data[..], &opts(None))
        .spool_threshold(100_000)
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, all(&data, &opts(None)));
    assert_eq!(
        got.iter().map(|e| e.spooled).collect::<Vec<_>>(),
        [false, true, false]
    );
}

/// Spooled messages (tiny threshold, chunked input) equal the serial
/// reader's entries for every variant, quoting and line ending.
#[test]
fn stream_spools_large_messages() {
    /// Hands out at most 100 000 bytes per read, so records straddle reads.
    struct Chunky<'a>(&'a [u8]);
    impl std::io::Read for Chunky<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(self.0.len()).min(100_000);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let spool = tempfile::tempdir().unwrap();
    for e in ENDINGS {
        // A large quoted first message, past the 4 MiB read to sniff:
        // spooled from the start of the archive (mboxrd and asked-for mboxo
        // unquoting go through a second file).
        let mut data = Vec::new();
        let mut big = eol("Subject: big\n\n", e);
        for i in 0..250_000 {
            big.extend_from_slice(&eol(&format!("line {i} of the text\n"), e));
            if i % 1000 == 0 {
                big.extend_from_slice(&eol("From quoted body line\n>From q\n", e));
            }
        }
        write_mboxrd(&mut data, Some(b"big Thu Jan  1 00:00:00 1970"), &big, e).unwrap();
        assert!(data.len() > 4 << 20);
        data.extend_from_slice(&gen_archive(12, 40, e, true));
        let variants = [
            None,
            Some(Variant::Mboxo),
            Some(Variant::Mboxrd),
            Some(Variant::Mboxcl),
            Some(Variant::Mboxcl2),
        ];
        for v in variants {
            let mboxo = matches!(v, Some(Variant::Mboxo | Variant::Mboxcl));
            for unquote_mboxo in [false, true].into_iter().filter(|&u| mboxo || !u) {
                let o = ReadOptions {
                    variant: v,
                    unquote_mboxo,
                };
                let want = all(&data, &o);
                let serial = {
                    let mut r = read(&data, &o);
                    r.by_ref().for_each(drop);
                    r.suspicious().to_vec()
                };
                for threshold in [0, 64 << 10] {
                    let mut s = stream(Chunky(&data), &o)
                        .spool_threshold(threshold)
                        .spool_dir(spool.path());
                    let got: Vec<_> = s.by_ref().map(Result::unwrap).collect();
                    assert_eq!(got, want, "{e:?} {v:?} {threshold}");
                    assert!(got[0].spooled, "{e:?} {v:?} {threshold}");
                    assert_eq!(s.suspicious(), serial);
                }
            }
        }
    }
    // Unnamed files: nothing left in the spool folder.
    assert_eq!(std::fs::read_dir(spool.path()).unwrap().count(), 0);
}

/// `plan_splits` costs one search per cut it makes, whatever `n`: a plan
/// for `n` up to `usize::MAX` comes back at once with a range per message
/// (it used to loop `n` times: for ever at 2**63), the same plan as for `n`
/// equal to the data's length.
#[test]
fn plan_splits_any_n_is_bounded() {
    let data = leak(gen_archive(7, 300, LineEnding::Lf, true));
    let serial = all(data, &opts(Some(Variant::Mboxrd)));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let plans: Vec<_> = [
            data.len(),
            data.len() + 1,
            1 << 40,
            (1 << 63) + 1,
            usize::MAX,
        ]
        .into_iter()
        .map(|n| (n, plan_splits(data, n, Variant::Mboxrd).unwrap()))
        .collect();
        tx.send(plans).unwrap();
    });
    let plans = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("plan_splits with a huge n did not return within 20 s");
    for (n, plan) in plans {
        assert_eq!(plan.len(), serial.len(), "n={n}: one range per message");
        for (range, e) in plan.iter().zip(&serial) {
            assert_eq!(range.start, e.offset, "n={n}");
            assert_eq!(range.end, e.offset + e.length, "n={n}");
        }
    }
    // Tiny data and n = 0 or huge.
    let one = b"From a Thu Jan  1 00:00:00 1970\n\nx\n";
    for n in [0, 1, usize::MAX] {
        let plan = plan_splits(one, n, Variant::Mboxrd).unwrap();
        assert_eq!(plan.len(), 1, "n={n}");
        assert_eq!(plan[0], 0..one.len() as u64, "n={n}");
    }
}

/// `read_spooled` gives the input's bytes, on the heap up to the threshold
/// and from a spool file past it, exactly at the edges too.
#[test]
fn read_spooled_edges() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for threshold in [0, 1, 999, 1000, 1001, 10_000, 1 << 20] {
        for n in [0, 1, 999, 1000, 1001, 10_000] {
            let got = mimeflow::mbox::read_spooled(&data[..n], threshold).unwrap();
            assert!(got[..] == data[..n], "threshold {threshold}, {n} bytes");
        }
    }
}

#[test]
fn streamed_file_that_shrinks_is_an_error_and_one_that_grows_is_read_on() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mbox");
    let data = gen_archive(5, 3000, LineEnding::Lf, true).repeat(20);
    std::fs::write(&path, &data).unwrap();

    // Truncated by another program after the first read: the end comes
    // early, which is an error, not a shorter archive.
    let mut r = mimeflow::mbox::open_path_streamed(&path).unwrap();
    let mut buf = vec![0; 4096];
    let first = r.read(&mut buf).unwrap();
    assert!(first > 0);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(first as u64)
        .unwrap();
    let mut rest = Vec::new();
    let err = r.read_to_end(&mut rest).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("shrank"), "{err}");

    // Appended to (new mail arriving): read to the new end.
    std::fs::write(&path, &data).unwrap();
    let mut r = mimeflow::mbox::open_path_streamed(&path).unwrap();
    let first = r.read(&mut buf).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&data)
        .unwrap();
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert_eq!(first + rest.len(), 2 * data.len());
}
