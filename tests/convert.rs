//! `mimeflow convert | split | count` end to end: every output format, round
//! trips back to mbox, thread-count independence, resume after a kill,
//! --force, refusals, hostile attachment names and bad input.
#![cfg(feature = "cli")]

#[path = "support/cli.rs"]
mod cli;
#[path = "support/memory.rs"]
mod memory;
#[allow(unused_imports)]
use cli::*;

use std::fs;
use std::path::Path;

#[test]
fn every_format_and_summary_line() {
    let d = scratch("formats");
    for to in ["maildir", "eml", "mbox", "jsonl"] {
        let dest = d.join(format!("out-{to}"));
        let stdout = ok(&[&"convert", &SAMPLE, &"--to", &to, &dest]);
        let summary = stdout.lines().last().unwrap();
        assert!(
            summary.starts_with(&format!("converted {SAMPLE_MESSAGES} messages from ")),
            "{summary}"
        );
        assert!(
            summary.contains(&format!(
                "{SAMPLE_MESSAGES} written, 0 skipped, 1 unparseable"
            )),
            "{summary}"
        );
        assert!(dest.exists());
        assert!(!d.join(format!("out-{to}.partial")).exists());
    }
    // Maildir: flags from Status/X-Status/X-Mozilla-Status, deleted kept as T.
    let md = tree(&d.join("out-maildir"));
    assert_eq!(
        md.keys()
            .filter(|k| k.starts_with("cur/") || k.starts_with("new/"))
            .count(),
        SAMPLE_MESSAGES
    );
    assert!(
        md.keys()
            .any(|k| k.starts_with("cur/") && k.ends_with(":2,FRS")),
        "{:?}",
        md.keys()
    );
    assert_eq!(
        md.keys().filter(|k| k.ends_with('T')).count(),
        2,
        "{:?}",
        md.keys()
    );
    // mtime from the Date header (2023).
    let first = fs::read_dir(d.join("out-maildir/cur"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let mtime = first.metadata().unwrap().modified().unwrap();
    let year_secs = mtime
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (1_672_531_200..1_704_067_200).contains(&year_secs),
        "{year_secs}"
    );
    // eml: one file per message, numbered.
    assert!(d.join("out-eml/00000000.eml").is_file());
    assert_eq!(tree(&d.join("out-eml")).len(), SAMPLE_MESSAGES);
    // jsonl: one object per message with the index fields.
    let jsonl = fs::read_to_string(d.join("out-jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), SAMPLE_MESSAGES);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i);
        for k in [
            "offset",
            "length",
            "sha256",
            "envelope",
            "headers",
            "parts",
            "references",
        ] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
    }
    let gmail = lines
        .iter()
        .find(|l| l["gmail_thread_id"] == "1780123456789012345")
        .unwrap();
    assert_eq!(gmail["gmail_labels"][2], "Category Updates");
    let reply = lines
        .iter()
        .find(|l| l["in_reply_to"] == "<msg008@example.org>")
        .unwrap();
    assert_eq!(reply["references"].as_array().unwrap().len(), 2);
    // --skip-deleted leaves the two deleted messages out and counts them.
    let stdout = ok(&[
        &"convert",
        &SAMPLE,
        &"--to",
        &"mbox",
        &"--skip-deleted",
        &d.join("kept.mbox"),
    ]);
    assert!(
        stdout.contains(&format!("{} written, 2 skipped", SAMPLE_MESSAGES - 2)),
        "{stdout}"
    );
    assert_eq!(messages(&d.join("kept.mbox")).len(), SAMPLE_MESSAGES - 2);
}

#[test]
fn jsonl_text_turns_html_into_text() {
    let d = scratch("text");
    let dest = d.join("out.jsonl");
    ok(&[
        &"-q", &"convert", &SAMPLE, &"--to", &"jsonl", &"--text", &dest,
    ]);
    let jsonl = fs::read_to_string(&dest).unwrap();
    let news: serde_json::Value = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["headers"]["subject"] == "Newsletter")
        .unwrap();
    assert_eq!(news["text"], "News\nHello & welcome back!\none\ntwo\n");
}

#[test]
fn round_trips_give_the_original_messages() {
    let d = scratch("roundtrip");
    let original = messages(Path::new(SAMPLE));
    assert_eq!(original.len(), SAMPLE_MESSAGES);
    for via in ["maildir", "eml"] {
        let mid = d.join(via);
        let back = d.join(format!("back-{via}.mbox"));
        ok(&[&"-q", &"convert", &SAMPLE, &"--to", &via, &mid]);
        ok(&[&"-q", &"convert", &mid, &"--to", &"mbox", &back]);
        assert!(
            messages(&back) == original,
            "mbox -> {via} -> mbox changed messages"
        );
    }
    // mbox -> mbox keeps envelopes too: the archive comes back identical
    // but for the one CRLF message, whose separator follows its own line ends.
    let same = d.join("same.mbox");
    ok(&[&"-q", &"convert", &SAMPLE, &"--to", &"mbox", &same]);
    assert!(messages(&same) == original);
}

#[test]
fn output_does_not_depend_on_thread_count() {
    let d = scratch("jobs");
    let src = d.join("big.mbox");
    big_archive(&src, 400); // ~17 MB: several ranges
    for to in ["jsonl", "eml", "maildir"] {
        let a = d.join(format!("{to}-j1"));
        let b = d.join(format!("{to}-j2"));
        ok(&[&"-q", &"-j1", &"convert", &src, &"--to", &to, &a]);
        ok(&[&"-q", &"-j2", &"convert", &src, &"--to", &to, &b]);
        if a.is_dir() {
            assert!(tree(&a) == tree(&b), "{to}: -j1 and -j2 differ");
        } else {
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{to}: -j1 and -j2 differ"
            );
        }
    }
    let c = ok(&[&"count", &src]);
    assert!(
        c.starts_with(&format!("{} messages, ", 400 * SAMPLE_MESSAGES)),
        "{c}"
    );
}

#[test]
fn non_empty_destination_is_refused_and_force_never_deletes() {
    let d = scratch("force");
    let victim = d.join("victim");
    fs::write(&victim, b"not yours").unwrap();
    // -j1: the commit creates the message files; -j2: the workers do.
    for jobs in ["-j1", "-j2"] {
        let dest = d.join(format!("eml{jobs}"));
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("keep.txt"), b"mine").unwrap();
        fs::write(dest.join("00000000.eml"), b"an older message").unwrap();
        std::os::unix::fs::symlink(&victim, dest.join("00000001.eml")).unwrap();
        let out = run(&[&jobs, &"convert", &SAMPLE, &"--to", &"eml", &dest]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not empty"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let force = [
            &"-q" as &dyn AsRef<std::ffi::OsStr>,
            &jobs,
            &"convert",
            &SAMPLE,
        ];
        let force = [&force[..], &[&"--to", &"eml", &"--force", &dest]].concat();
        ok(&force);
        assert_eq!(fs::read(dest.join("keep.txt")).unwrap(), b"mine", "{jobs}");
        assert_eq!(
            fs::read(dest.join("00000000.eml")).unwrap(),
            b"an older message",
            "{jobs}"
        );
        assert!(dest.join("00000000-1.eml").is_file(), "{jobs}");
        // The planted link is stepped around, never written through.
        assert_eq!(fs::read(&victim).unwrap(), b"not yours", "{jobs}");
        assert!(fs::symlink_metadata(dest.join("00000001.eml"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(dest.join("00000001-1.eml").is_file(), "{jobs}");
        assert_eq!(tree(&dest).len(), SAMPLE_MESSAGES + 3, "{jobs}");
        // Again with --force: identical files are recognised, nothing doubles.
        ok(&force);
        assert_eq!(tree(&dest).len(), SAMPLE_MESSAGES + 3, "{jobs}");
    }
    // A single-file output is never overwritten.
    let file = d.join("x.mbox");
    fs::write(&file, b"keep").unwrap();
    assert_eq!(
        run(&[&"convert", &SAMPLE, &"--to", &"mbox", &"--force", &file])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(fs::read(&file).unwrap(), b"keep");
}

#[test]
fn refusals_name_the_flag_in_the_cli_and_none_in_the_library() {
    let d = scratch("refusals");
    let stderr = |args: &[&dyn AsRef<std::ffi::OsStr>]| {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };
    // A non-empty output folder.
    let eml = d.join("eml");
    fs::create_dir(&eml).unwrap();
    fs::write(eml.join("keep.txt"), b"mine").unwrap();
    assert_eq!(
        stderr(&[&"convert", &SAMPLE, &"--to", &"eml", &eml]),
        format!(
            "mimeflow: converting {SAMPLE}: {}: is not empty: use --force to add to it (nothing is deleted) or --resume to continue\n",
            eml.display()
        )
    );
    // A non-empty attachments folder.
    let att = d.join("att");
    fs::create_dir(&att).unwrap();
    fs::write(att.join("keep.txt"), b"mine").unwrap();
    let jsonl = d.join("x.jsonl");
    assert_eq!(
        stderr(&[&"convert", &SAMPLE, &"--to", &"jsonl", &"--attachments", &att, &jsonl]),
        format!(
            "mimeflow: converting {SAMPLE}: {}: is not empty: use --force to add to it or --resume to continue\n",
            att.display()
        )
    );
    // The refused start left nothing behind that blocks the next run.
    let left: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("x.jsonl"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    fs::remove_file(att.join("keep.txt")).unwrap();
    ok(&[
        &"-q",
        &"convert",
        &SAMPLE,
        &"--to",
        &"jsonl",
        &"--attachments",
        &att,
        &jsonl,
    ]);
    // The state file of an interrupted run.
    let mbox = d.join("y.mbox");
    let state = d.join(".y.mbox.mimeflow-state");
    fs::write(&state, b"{}").unwrap();
    assert_eq!(
        stderr(&[&"convert", &SAMPLE, &"--to", &"mbox", &mbox]),
        format!(
            "mimeflow: converting {SAMPLE}: {}: an interrupted run left {}: rerun with --resume to continue it\n",
            mbox.display(),
            state.display()
        )
    );
    // The library says the same without naming any front end's switch.
    use mimeflow::batch::{self, BatchError, ConvertOptions, Folder, Format, Hooks};
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let hooks = Hooks {
        cancel: &cancel,
        progress: &|_| {},
        report: &|_| {},
    };
    let lib = |dest: &Path, format| {
        batch::convert(
            Path::new(SAMPLE),
            dest,
            &ConvertOptions::new(format),
            &hooks,
        )
        .unwrap_err()
    };
    let e = lib(&mbox, Format::Mbox);
    assert!(
        matches!(&e, BatchError::Unfinished { dest, state: s } if *dest == mbox && *s == state),
        "{e:?}"
    );
    let e2 = lib(&eml, Format::Eml);
    assert!(
        matches!(&e2, BatchError::NotEmpty { path, folder: Folder::Output } if *path == eml),
        "{e2:?}"
    );
    for e in [e, e2] {
        assert!(!e.to_string().contains("--"), "{e}");
    }
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn hostile_attachment_names_stay_inside_the_folder() {
    let d = scratch("attach");
    let att = d.join("att");
    fs::create_dir(&att).unwrap();
    let outside = d.join("outside.txt");
    fs::write(&outside, b"untouched").unwrap();
    // Plant a symlink where the hostile attachment ("echo pwned\n") would go.
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(b"echo pwned")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    #[cfg(unix)]
    std::os::unix::fs::symlink(&outside, att.join(format!("{}-evilr.sh", &sha[..16]))).unwrap();
    let stdout = ok(&[
        &"convert",
        &SAMPLE,
        &"--to",
        &"jsonl",
        &"--attachments",
        &att,
        &"--force",
        &d.join("o.jsonl"),
    ]);
    assert!(
        stdout.contains("7 attachments written, 1 duplicates"),
        "{stdout}"
    );
    assert_eq!(fs::read(&outside).unwrap(), b"untouched");
    for name in tree(&att).keys() {
        assert!(
            !name.contains('/') && !name.chars().any(char::is_control),
            "{name}"
        );
    }
    let index = fs::read_to_string(att.join("attachments.jsonl")).unwrap();
    let hostile: serde_json::Value = index
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["sha256"] == sha)
        .unwrap();
    let path = hostile["path"].as_str().unwrap();
    assert!(
        att.join(path).symlink_metadata().unwrap().is_file(),
        "{path}"
    );
    assert_eq!(fs::read(att.join(path)).unwrap(), b"echo pwned");
    assert!(!d.join("etc").exists());
}

#[test]
fn garbage_and_truncated_input_fail_cleanly() {
    let d = scratch("bad");
    let garbage = d.join("garbage.bin");
    fs::write(&garbage, b"\x00\x01 this is not mail\nat all\n").unwrap();
    for to in ["maildir", "mbox"] {
        let dest = d.join(format!("g-{to}"));
        let out = run(&[&"convert", &garbage, &"--to", &to, &dest]);
        assert_eq!(out.status.code(), Some(1));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not an mbox"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dest.exists() && !d.join(format!("g-{to}.partial")).exists());
    }
    // A gzip archive cut in the middle: an error, and no output left.
    let big = d.join("big.mbox");
    big_archive(&big, 50);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &fs::read(&big).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    let cut = d.join("cut.mbox.gz");
    fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    for to in ["maildir", "jsonl"] {
        let dest = d.join(format!("t-{to}"));
        let out = run(&[&"convert", &cut, &"--to", &to, &dest]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!dest.exists() && !d.join(format!("t-{to}.partial")).exists());
    }
    // The whole .gz converts like the plain file.
    let whole = d.join("whole.mbox.gz");
    fs::write(&whole, &gz).unwrap();
    ok(&[
        &"-q",
        &"convert",
        &whole,
        &"--to",
        &"mbox",
        &d.join("from-gz.mbox"),
    ]);
    assert!(messages(&d.join("from-gz.mbox")) == messages(&big));
}

#[test]
fn count_and_split() {
    let d = scratch("split");
    let c = ok(&[&"count", &SAMPLE]);
    assert!(
        c.starts_with(&format!(
            "{SAMPLE_MESSAGES} messages, {} bytes, mboxrd",
            fs::metadata(SAMPLE).unwrap().len()
        )),
        "{c}"
    );
    let j: serde_json::Value = serde_json::from_str(&ok(&[&"count", &"--json", &SAMPLE])).unwrap();
    assert_eq!(j["messages"], SAMPLE_MESSAGES);
    let dest = d.join("split");
    ok(&[&"-q", &"split", &SAMPLE, &dest]);
    assert_eq!(tree(&dest).len(), SAMPLE_MESSAGES);
    assert!(ok(&[&"count", &dest]).starts_with(&format!("{SAMPLE_MESSAGES} messages")));
    ok(&[
        &"-q",
        &"convert",
        &SAMPLE,
        &"--to",
        &"maildir",
        &d.join("md"),
    ]);
    assert!(ok(&[&"count", &d.join("md")]).contains("maildir"));
}

/// An archive whose first message (a 6 MiB attachment, past the 4 MiB the
/// stream reads to sniff) and one later message (2.5 MiB) are large, the
/// rest the sample's; mboxrd-quoted `From ` lines in the large ones.
fn archive_with_large_messages(path: &Path) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut b64_lines = |lines: usize| {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::with_capacity(lines * 77);
        for _ in 0..lines {
            for _ in 0..76 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                out.push(ALPHABET[(x % 64) as usize]);
            }
            out.push(b'\n');
        }
        out
    };
    let large = |id: &str, body: Vec<u8>| {
        let mut m = format!(
            "From: big@example.org\nTo: you@example.org\nSubject: large {id}\n\
             Message-ID: <{id}@example.org>\nDate: Mon, 1 Jan 2001 10:00:00 +0000\n\
             MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b-{id}\"\n\n\
             --b-{id}\nContent-Type: text/plain\n\nFrom the start of a line\n>From quoted\n\n\
             --b-{id}\nContent-Type: application/octet-stream; name=\"{id}.bin\"\n\
             Content-Disposition: attachment; filename=\"{id}.bin\"\n\
             Content-Transfer-Encoding: base64\n\n"
        )
        .into_bytes();
        m.extend_from_slice(&body);
        m.extend_from_slice(format!("--b-{id}--\n").as_bytes());
        m
    };
    let env = b"big@example.org Mon Jan  1 10:00:00 2001";
    let mut out = Vec::new();
    let first = large("first", b64_lines(80_000));
    mimeflow::mbox::write_mboxrd(&mut out, Some(env), &first, mimeflow::mbox::LineEnding::Lf)
        .unwrap();
    let small = d_sample_copies(3);
    out.extend_from_slice(&small);
    let later = large("later", b64_lines(34_000));
    mimeflow::mbox::write_mboxrd(&mut out, Some(env), &later, mimeflow::mbox::LineEnding::Lf)
        .unwrap();
    out.extend_from_slice(&small);
    fs::write(path, out).unwrap();
}

/// `copies` copies of the sample, as one mbox (see [`big_archive`]).
fn d_sample_copies(copies: usize) -> Vec<u8> {
    let d = scratch("copies");
    let p = d.join("copies.mbox");
    big_archive(&p, copies);
    fs::read(p).unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data).unwrap();
    gz.finish().unwrap()
}

/// A streamed (gzip) archive whose large messages are spooled (threshold
/// lowered to 1 MiB) converts exactly like the plain, memory-mapped file,
/// and leaves nothing in the spool folder.
#[test]
fn spooled_messages_convert_like_the_plain_file() {
    let d = scratch("spool");
    let plain = d.join("large.mbox");
    archive_with_large_messages(&plain);
    let gz = d.join("large.mbox.gz");
    fs::write(&gz, gzip(&fs::read(&plain).unwrap())).unwrap();
    let spool = d.join("spool");
    fs::create_dir_all(&spool).unwrap();
    let convert = |src: &Path, to: &str, dest: &Path, extra: &[String]| {
        let out = bin()
            .env("TMPDIR", &spool)
            .args(["-q", "convert"])
            .arg(src)
            .args(["--to", to, "--spool-threshold", "1048576"])
            .args(extra)
            .arg(dest)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for to in ["eml", "jsonl", "mbox"] {
        let (a, b) = (d.join(format!("plain-{to}")), d.join(format!("gz-{to}")));
        let (aa, ba) = (
            d.join(format!("plain-{to}-att")),
            d.join(format!("gz-{to}-att")),
        );
        let att = |p: &Path| vec!["--attachments".to_string(), p.display().to_string()];
        let (a_extra, b_extra) = if to == "jsonl" {
            (att(&aa), att(&ba))
        } else {
            (Vec::new(), Vec::new())
        };
        convert(&plain, to, &a, &a_extra);
        convert(&gz, to, &b, &b_extra);
        if a.is_dir() {
            let (ta, tb) = (tree(&a), tree(&b));
            assert_eq!(ta.len(), 2 + 6 * SAMPLE_MESSAGES, "{to}");
            assert!(ta == tb, "{to}: outputs differ");
        } else if to == "jsonl" {
            assert!(
                jsonl_records(&a) == jsonl_records(&b),
                "{to}: outputs differ"
            );
        } else {
            assert!(
                fs::read(&a).unwrap() == fs::read(&b).unwrap(),
                "{to}: outputs differ"
            );
        }
        if to == "jsonl" {
            let (ta, tb) = (tree(&aa), tree(&ba));
            assert!(
                ta.values().any(|v| v.len() > 4 << 20),
                "the large attachment"
            );
            assert!(ta == tb, "attachments differ");
        }
        if to == "mbox" {
            assert!(messages(&b) == messages(&plain));
        }
    }
    assert_eq!(fs::read_dir(&spool).unwrap().count(), 0, "spool files left");
}

/// Bounded memory: a gzip archive holding a ~300 MB message converts with
/// peak anonymous memory far below the message size (default spool
/// threshold). Slow in debug builds (compressing 300 MB): run with
/// `cargo test --release --test convert -- --ignored --nocapture`.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "compresses 300 MB; run in release"]
fn huge_streamed_message_keeps_memory_bounded() {
    let d = scratch("huge");
    let gz = d.join("huge.mbox.gz");
    {
        let file = std::io::BufWriter::new(fs::File::create(&gz).unwrap());
        let mut w = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        use std::io::Write as _;
        w.write_all(
            b"From big@example.org Mon Jan  1 10:00:00 2001\nFrom: big@example.org\n\
              Subject: huge\nMessage-ID: <huge@example.org>\n\n",
        )
        .unwrap();
        let line = [
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo".repeat(2).as_slice(),
            b"AB\n",
        ]
        .concat();
        let block = line.repeat((1 << 20) / line.len());
        let mut size = 0;
        while size < 300_000_000 {
            w.write_all(&block).unwrap();
            size += block.len();
        }
        w.write_all(b"\nFrom small@example.org Mon Jan  1 10:00:00 2001\nSubject: after\n\nbye\n")
            .unwrap();
        w.finish().unwrap().flush().unwrap();
    }
    let dest = d.join("out");
    let child = bin()
        .env("TMPDIR", &d)
        .args(["-q", "convert"])
        .arg(&gz)
        .args(["--to", "eml"])
        .arg(&dest)
        .spawn()
        .unwrap();
    let (anon, hwm, status) = memory::peak_memory(child);
    assert!(status.success());
    let sizes: Vec<u64> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .collect();
    assert_eq!(sizes.len(), 2);
    assert!(sizes.iter().any(|&n| n > 300_000_000), "{sizes:?}");
    eprintln!(
        "huge streamed message: peak RssAnon {:.1} MiB, VmHWM {:.1} MiB (file-backed map pages included)",
        anon as f64 / (1 << 20) as f64,
        hwm as f64 / (1 << 20) as f64
    );
    assert!(anon < 100 << 20, "peak RssAnon {anon} bytes");
}

#[test]
fn dash_is_no_destination() {
    let d = scratch("dash-dest");
    for args in [
        vec!["convert", SAMPLE, "--to", "mbox", "-"],
        vec!["convert", SAMPLE, "--to", "jsonl", "-"],
        vec!["split", SAMPLE, "-"],
    ] {
        let out = bin().current_dir(&d).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!d.join("-").exists(), "{args:?} made a file named -");
    }
}
