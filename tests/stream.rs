//! `extract -` and `cat - SECTION` read standard input as a stream
//! (`mimeflow::message::stream`); their answers must be those of the
//! parsed message: every section's body (decoded and raw) and every
//! attachment file, on the bundled messages and on the shared corpora
//! (skipped when absent, a failure under `MIMEFLOW_REQUIRE_ORACLES=1`),
//! with the input arriving in reads of every size from 1 byte up, so
//! delimiters and header lines straddle reads.

#[path = "support/oracle.rs"]
mod oracle;

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use mimeflow::extract::{extract_attachments, extract_attachments_from};
use mimeflow::message::stream::write_section;
use mimeflow::message::Message;

/// A reader that hands out its bytes in reads of the sizes in `sizes`, in turn.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    turn: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.sizes[self.turn % self.sizes.len()]
            .min(buf.len())
            .min(self.data.len());
        self.turn += 1;
        buf[..k].copy_from_slice(&self.data[..k]);
        self.data = &self.data[k..];
        Ok(k)
    }
}

const READS: [&[usize]; 3] = [&[1 << 20], &[1, 2, 3, 5, 7, 11, 13], &[4096, 1, 65536, 17]];

fn messages() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eml")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "eml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

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
            out.push(d.join(line.split('\t').next().unwrap()));
        }
    }
    out.sort();
    if out.is_empty() {
        oracle::missing(&format!("{} lists no messages", root.display()));
    }
    out
}

/// Every section of `src`, decoded and raw, streamed in reads of `sizes`.
fn check_sections(name: &str, src: &[u8], sizes: &[usize]) -> Result<(), String> {
    let msg = Message::parse(src.to_vec());
    let mut sections = msg.sections();
    sections.push(String::new());
    sections.push("99".into());
    sections.dedup();
    for s in &sections {
        let want = msg.section(s);
        for raw in [false, true] {
            let mut out = Vec::new();
            let input = Chunked {
                data: src,
                sizes,
                turn: 0,
            };
            let found = write_section(input, s, raw, &mut out)
                .map_err(|e| format!("{name} {s:?} raw={raw}: {e}"))?;
            let expect = want.map(|e| {
                if raw {
                    e.body_bytes().to_vec()
                } else {
                    e.decoded()
                }
            });
            if found != expect.is_some() || expect.as_ref().is_some_and(|x| *x != out) {
                return Err(format!(
                    "{name} section {s:?} raw={raw} reads={sizes:?}: found {found}, {} bytes, want {:?} bytes",
                    out.len(),
                    expect.map(|x| x.len())
                ));
            }
        }
    }
    Ok(())
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The attachments of `src` streamed in reads of `sizes` equal the parsed ones.
fn check_extract(name: &str, src: &[u8], sizes: &[usize], scratch: &Path) -> Result<(), String> {
    let (a, b) = (scratch.join("file"), scratch.join("stream"));
    let _ = fs::remove_dir_all(scratch);
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let msg = Message::parse(src.to_vec());
    let want = extract_attachments(&msg, &a).unwrap();
    let input = Chunked {
        data: src,
        sizes,
        turn: 0,
    };
    let got = extract_attachments_from(input, &b).map_err(|e| format!("{name}: {e}"))?;
    let strip = |v: Vec<mimeflow::extract::Extracted>, d: &Path| {
        v.into_iter()
            .map(|x| {
                (
                    x.section,
                    x.path.strip_prefix(d).unwrap().to_owned(),
                    x.size,
                )
            })
            .collect::<Vec<_>>()
    };
    if strip(want, &a) != strip(got, &b) || tree(&a) != tree(&b) {
        return Err(format!("{name} reads={sizes:?}: extracted files differ"));
    }
    Ok(())
}

fn check_all(tag: &str, files: &[PathBuf], reads: &[&[usize]]) {
    let scratch =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("stream-{tag}-{}", std::process::id()));
    let mut failures = Vec::new();
    for f in files {
        let src = fs::read(f).unwrap();
        let name = f.display().to_string();
        for sizes in reads {
            if let Err(e) = check_sections(&name, &src, sizes) {
                failures.push(e);
                break;
            }
            if let Err(e) = check_extract(&name, &src, sizes, &scratch) {
                failures.push(e);
                break;
            }
        }
    }
    let _ = fs::remove_dir_all(&scratch);
    assert!(
        failures.is_empty(),
        "{} of {} messages differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn bundled_messages_stream_like_the_parser() {
    let files = messages();
    assert!(files.len() > 20, "{} messages", files.len());
    check_all("bundled", &files, &READS);
}

#[test]
fn corpora_stream_like_the_parser() {
    let files = corpora();
    check_all("corpora", &files, &READS[..1]);
}
