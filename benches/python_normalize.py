#!/usr/bin/env python3
"""Normalize an archive of 8bit mail with Python's `email` and with
`mimeflow normalize`, and print MB/s for both and the ratio.

Method (both sides do the same multi-message workload, from files on disk
to files on disk, timed end to end with time.perf_counter):

- Python: for each message, read the file, parse it with policy.SMTP,
  write it back with policy.SMTP.clone(cte_type='7bit') (which re-encodes
  8bit text parts: BytesGenerator falls back to the str Generator, which
  sets the payload again with its charset: base64 or quoted-printable), and
  write the result to a file. One interpreter, already started.
- mimeflow: one `mimeflow normalize FILE... --out-dir DIR` process per
  batch of --batch files (default: the whole archive), process start
  included, one message at a time on one thread. The start-up cost of one
  process (`normalize` of an empty message) is printed beside it, so the
  per-process overhead can be judged; the old one-process-per-message way
  is also printed (`--per-file`), for comparison only.

Where the `mimeflow` package is importable (run with the virtualenv's
python after `maturin develop --release`), an in-memory line follows:
`mimeflow.normalize(data)` against the same `email` round trip on bytes
already read, in one interpreter: the codecs without the file system.

Each side runs --repeat times (default 5) and the median is reported. Each
run writes into a fresh, empty output folder (made and emptied outside the
timing), for both sides alike: replacing existing files costs more on some
file systems (ext4 starts writeback of the new data when a rename or a
truncate replaces a file, `auto_da_alloc`), which measures the disk, not
the normalizer. `--overwrite` reuses one folder per side instead, to show
that cost.

Usage: python3 benches/python_normalize.py [--bin target/release/mimeflow]
       [--dir DIR_OF_EML] [--count N] [--size BYTES] [--batch N]
       [--repeat N] [--per-file]
Target: mimeflow >= 30x Python (single thread, one message at a time).
"""
import argparse
import email
import os
import shutil
import statistics
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


def run_python(paths, outdir):
    ascii_ok = 0
    for p in paths:
        with open(p, "rb") as f:
            out = python_normalize(f.read())
        with open(os.path.join(outdir, os.path.basename(p)), "wb") as f:
            f.write(out)
        ascii_ok += out.isascii()
    return ascii_ok


def run_mimeflow(binary, paths, outdir, batch):
    for i in range(0, len(paths), batch):
        subprocess.run([binary, "normalize", *paths[i:i + batch], "--out-dir", outdir], check=True)


def run_mimeflow_per_file(binary, paths, outdir):
    for p in paths:
        subprocess.run([binary, "normalize", p, "-o", os.path.join(outdir, os.path.basename(p))], check=True)


def median_time(fn, repeat, fresh=None):
    """Median wall time of `fn()`; with `fresh`, that folder is made empty
    (untimed) before each run."""
    times = []
    for _ in range(repeat):
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)
            os.mkdir(fresh)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/mimeflow")
    ap.add_argument("--dir")
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--batch", type=int, default=0, help="files per mimeflow process (0: all)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--per-file", action="store_true", help="also time one process per message")
    ap.add_argument("--overwrite", action="store_true",
                    help="write over the previous run's files instead of into a fresh folder")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.dir:
            paths = sorted(os.path.join(a.dir, n) for n in os.listdir(a.dir) if n.endswith(".eml"))
        else:
            paths = make_archive(tmp, a.count, a.size)
        total = sum(os.path.getsize(p) for p in paths)
        mb = total / 1e6
        batch = a.batch or len(paths)
        py_out = os.path.join(tmp, "py")
        mf_out = os.path.join(tmp, "mf")
        os.mkdir(py_out)
        os.mkdir(mf_out)

        ascii_ok = run_python(paths, py_out)
        py = median_time(lambda: run_python(paths, py_out), a.repeat, None if a.overwrite else py_out)
        run_mimeflow(a.bin, paths, mf_out, batch)
        mf = median_time(lambda: run_mimeflow(a.bin, paths, mf_out, batch), a.repeat,
                         None if a.overwrite else mf_out)
        mf_ascii = sum(open(os.path.join(mf_out, os.path.basename(p)), "rb").read().isascii() for p in paths)
        empty = os.path.join(tmp, "empty.eml")
        with open(empty, "wb") as f:
            f.write(b"Subject: x\r\n\r\n")
        start = median_time(lambda: subprocess.run([a.bin, "normalize", empty, "-o", os.devnull], check=True), 11)

        where = "over the previous run's files" if a.overwrite else "into a fresh folder each run"
        print(f"archive: {len(paths)} messages, {mb:.1f} MB; median of {a.repeat} runs, writing {where}")
        print(f"python email (policy.SMTP, cte_type=7bit): {mb / py:8.1f} MB/s  ({ascii_ok}/{len(paths)} outputs 7-bit)")
        print(f"mimeflow normalize ({batch} files per process): {mb / mf:8.1f} MB/s  ({mf_ascii}/{len(paths)} outputs 7-bit)")
        print(f"mimeflow process start (empty message): {start * 1e3:.1f} ms")
        print(f"ratio mimeflow/python: {py / mf:.1f}x (target >= 30x)")
        try:
            import mimeflow
        except ImportError:
            mimeflow = None
        if mimeflow is not None:
            datas = [open(p, "rb").read() for p in paths]
            assert all(mimeflow.normalize(d).isascii() for d in datas)
            py_mem = median_time(lambda: [python_normalize(d) for d in datas], a.repeat)
            mf_mem = median_time(lambda: [mimeflow.normalize(d) for d in datas], a.repeat)
            print(f"in memory: python email {mb / py_mem:.1f} MB/s, mimeflow.normalize "
                  f"{mb / mf_mem:.1f} MB/s, ratio {py_mem / mf_mem:.1f}x")
        if a.per_file:
            pf = median_time(lambda: run_mimeflow_per_file(a.bin, paths, mf_out), a.repeat,
                             None if a.overwrite else mf_out)
            print(f"mimeflow, one process per message: {mb / pf:8.1f} MB/s, ratio {py / pf:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
