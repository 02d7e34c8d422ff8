#!/usr/bin/env python3
"""Normalize an archive of 8bit mail with Python's `email` and with
`mimeflow normalize`, and print MB/s for both and the ratio.

Python: parse each message with policy.SMTP, then write it back with
policy.SMTP.clone(cte_type='7bit'), which re-encodes 8bit text parts
(BytesGenerator falls back to the str Generator, which sets the payload
again with its charset: base64 or quoted-printable).
mimeflow: one `mimeflow normalize FILE -o OUT` per message, process start
included (so the default messages are 1 MB, to amortise it).

Usage: python3 benches/python_normalize.py [--bin target/release/mimeflow]
       [--dir DIR_OF_EML] [--count N] [--size BYTES]
Target: mimeflow >= 30x Python (single process, single message at a time).
"""
import argparse
import email
import os
import subprocess
import sys
import tempfile
import time
from email import policy

PARA = "Schöne Grüße aus Köln, the quick brown fox jumps over the lazy dog. Ça va très bien.\n"


def make_archive(d, count, size):
    paths = []
    reps = max(1, size // len(PARA.encode()))
    for i in range(count):
        kind = i % 3
        if kind == 0:
            m = (f"From: Jürgen Müller <j{i}@example.de>\nTo: a@example.org\nSubject: Grüße {i}\n"
                 "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                 "Content-Transfer-Encoding: 8bit\n\n" + PARA * reps).encode()
        elif kind == 1:
            m = (f"From: a@example.org\nSubject: caf{i}\nMIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
                 ).encode() + (PARA * reps).encode("latin-1", "replace")
        else:
            m = (f"From: a@example.org\r\nMIME-Version: 1.0\r\n"
                 f"Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                 + PARA * (reps // 2) + f"\r\n--b{i}\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n" * (reps // 4)
                 + f"--b{i}--\r\n").encode()
        p = os.path.join(d, f"{i:05}.eml")
        with open(p, "wb") as f:
            f.write(m)
        paths.append(p)
    return paths


def python_normalize(data):
    msg = email.message_from_bytes(data, policy=policy.SMTP)
    return msg.as_bytes(policy=policy.SMTP.clone(cte_type="7bit"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/mimeflow")
    ap.add_argument("--dir")
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--size", type=int, default=1 << 20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.dir:
            paths = sorted(os.path.join(a.dir, n) for n in os.listdir(a.dir) if n.endswith(".eml"))
        else:
            paths = make_archive(tmp, a.count, a.size)
        datas = [open(p, "rb").read() for p in paths]
        total = sum(map(len, datas))
        mb = total / 1e6

        t = time.perf_counter()
        ascii_ok = 0
        for d in datas:
            out = python_normalize(d)
            ascii_ok += out.isascii()
        py = time.perf_counter() - t

        outdir = os.path.join(tmp, "out")
        os.mkdir(outdir)
        t = time.perf_counter()
        for p in paths:
            subprocess.run([a.bin, "normalize", p, "-o", os.path.join(outdir, os.path.basename(p))], check=True)
        mf = time.perf_counter() - t
        mf_ascii = sum(open(os.path.join(outdir, os.path.basename(p)), "rb").read().isascii() for p in paths)

        print(f"archive: {len(paths)} messages, {mb:.1f} MB")
        print(f"python email (policy.SMTP, cte_type=7bit): {mb / py:8.1f} MB/s  ({ascii_ok}/{len(paths)} outputs 7-bit)")
        print(f"mimeflow normalize (one process per file): {mb / mf:8.1f} MB/s  ({mf_ascii}/{len(paths)} outputs 7-bit)")
        print(f"ratio mimeflow/python: {py / mf:.1f}x (target >= 30x)")


if __name__ == "__main__":
    sys.exit(main())
