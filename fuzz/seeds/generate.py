#!/usr/bin/env python3
"""Regenerates the committed seed corpora, fuzz/seeds/TARGET/.

Seeds are real inputs in each target's input format (a leading knob byte
where the target has one: 0 or 0xFF selects "take the rest as it is"), so a
short CI run starts from deep parser states instead of growing 6-byte
inputs. Sources: testdata/eml, testdata/mbox, testdata/base64, a fixed
sample of ../shared/corpora (every few files under 16 KiB, when present),
and the inputs fuzzing found (testdata/fuzz-findings/TARGET-*.bin, each a
seed of its TARGET as it is, so a fixed finding stays fixed).
Deterministic: same inputs, same files (named by content hash). Kept small
(about 1.5 MB in all).

    python3 fuzz/seeds/generate.py
"""

import hashlib
import pathlib
import re
import shutil

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "fuzz" / "seeds"
CORPORA = ROOT / ".." / "shared" / "corpora"
MAX_SEED = 16 << 10


def eml_files():
    return sorted((ROOT / "testdata" / "eml").glob("*/*.eml"))


def corpora_sample(every=5):
    """Every ``every``-th small message file listed in a corpora manifest,
    and every mailbox (sliced later)."""
    messages, mailboxes = [], []
    for manifest in sorted(CORPORA.glob("*/MANIFEST.tsv")):
        for line in manifest.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            rel, _, kind = line.partition("\t")
            p = manifest.parent / rel
            if not p.is_file():
                continue
            if kind == "eml" and p.stat().st_size <= MAX_SEED:
                messages.append(p)
            elif kind != "eml":
                mailboxes.append(p)
    return messages[::every], mailboxes


def write(target, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()).write_bytes(data)


def header_block(msg):
    m = re.search(rb"\r?\n\r?\n", msg)
    return msg[: m.start() + len(m.group())] if m else msg


def multipart_seed(msg):
    """A multipart's body with its boundary renamed to 7 bytes or fewer (the
    multipart target reads the boundary length from the first byte)."""
    m = re.search(rb'boundary="?([^";\r\n]+)"?', msg, re.I)
    if not m:
        return None
    start = re.search(rb"\r?\n\r?\n", msg)
    if not start:
        return None
    body = msg[start.end():].replace(m.group(1), b"b1")
    return bytes([2, 5, 11]) + b"b1" + body


def main():
    for t in ("message", "header", "multipart", "parse_vs_scanner", "mbox_split", "qp", "base64_garbage",
              "base64_roundtrip", "base64_simd_vs_scalar", "base64_stream_chunks", "dkim"):
        shutil.rmtree(OUT / t, ignore_errors=True)
    messages = [p.read_bytes() for p in eml_files()]
    mailboxes = [(ROOT / "testdata" / "mbox" / "sample.mbox").read_bytes()]
    if CORPORA.is_dir():
        sample, boxes = corpora_sample()
        messages += [p.read_bytes() for p in sample]
        mailboxes += [p.read_bytes() for p in boxes]
    dkim_data = ROOT / "testdata" / "dkim"
    rfc = (dkim_data / "rfc8463.eml").read_bytes()
    write("dkim", rfc)
    write("dkim", rfc.replace(b"\r\n", b"\n"))
    write("dkim", rfc.replace(b"hungry", b"angry"))
    for msg in messages:
        if re.search(rb"(?im)^dkim-signature\s*:", msg) and len(msg) <= MAX_SEED:
            write("dkim", msg)
    for msg in messages:
        write("message", b"\0" + msg)
        write("header", b"\0" + header_block(msg))
        mp = multipart_seed(msg)
        if mp:
            write("multipart", mp)
            write("parse_vs_scanner", mp)
        if re.search(rb"quoted-printable", msg, re.I):
            write("qp", msg[msg.find(b"\n\n") + 2:] if b"\n\n" in msg else msg)
    for mbox in mailboxes:
        # Whole small mailboxes, and the sample in slices of a few messages.
        starts = [m.start() + 1 for m in re.finditer(rb"\nFrom ", mbox)]
        cuts = [0] + starts[2::3] + [len(mbox)]
        kept = 0
        for a, b in zip(cuts, cuts[1:]):
            if b - a <= MAX_SEED and kept < 8:
                write("mbox_split", b"\xff" + mbox[a:b])
                kept += 1
    for finding in sorted((ROOT / "testdata" / "fuzz-findings").glob("*.bin")):
        target = finding.name.split("-", 1)[0]
        if (OUT / target).is_dir():
            write(target, finding.read_bytes())
    b64 = ROOT / "testdata" / "base64"
    text = (b64 / "attachment-crlf.b64").read_bytes()
    raw = (b64 / "random-64k.bin").read_bytes()
    greeting = (b64 / "greeting.txt").read_bytes()
    for n in (0, 1, 2, 3, 57, 76, 77, 1000, 4096):
        write("base64_garbage", text[:n])
        write("base64_simd_vs_scalar", text[:n])
        write("base64_roundtrip", bytes([n % 256]) + raw[:n])
        write("base64_stream_chunks", bytes([n % 3, 7, 64, 1]) + text[:n])
    write("base64_roundtrip", b"\x01" + greeting)


if __name__ == "__main__":
    main()
