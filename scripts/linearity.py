#!/usr/bin/env python3
"""Linearity check for the many-parts paths of issue 9 (item 9): time and
peak RSS at n, 2n and 4n parts, by hand (not in CI).

    scripts/linearity.py [--bin target/release/mimeflow] [--n 25000] [--repeat 3]

Cases:
  extract-same-name   one message, n attachments all named "x.txt";
                      `mimeflow extract MSG DIR` (name collisions)
  convert-attachments one message with n attachments;
                      `mimeflow convert MBOX --to jsonl OUT --attachments DIR`
  python-sections     one message with n parts; [p.section for p in
                      msg.walk()] and repr(p) in Python (needs the package)

Each time is the best of --repeat runs. Pass: time(4n) / time(n) <= 5 for
each case (a linear cost gives about 4, a quadratic one 16). Prints one line per size and a
verdict per case; exit status 1 if a case fails.

The cases create up to 4n files: on a disk file system the write-back of
the previous size's files can dominate (and moves with whatever else the
machine does), so measure the CPU side with TMPDIR on a tmpfs
(`TMPDIR=/dev/shm scripts/linearity.py`).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time


def message(n, same_name):
    out = [
        b"From: a@example.org\r\nSubject: many\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    ]
    for i in range(n):
        name = b"x.txt" if same_name else b"f%d.txt" % i
        out.append(
            b"--b\r\nContent-Type: text/plain\r\n"
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n\r\n"
            b"part %d\r\n" % i
        )
    out.append(b"--b--\r\n")
    return b"".join(out)


def timed(cmd, **kw):
    """Wall seconds and peak RSS (MiB) of one command, via /usr/bin/time."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, **kw)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"{cmd}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    rss_kib = int(r.stderr.decode().strip().splitlines()[-1])
    return secs, rss_kib / 1024


def case_extract(binary, n, tmp):
    msg = os.path.join(tmp, "m.eml")
    with open(msg, "wb") as f:
        f.write(message(n, True))
    out = os.path.join(tmp, "x")
    return timed([binary, "extract", msg, out, "-q"])


def case_convert(binary, n, tmp):
    mbox = os.path.join(tmp, "m.mbox")
    with open(mbox, "wb") as f:
        f.write(b"From a@example.org Thu Jan  1 00:00:00 2015\n")
        f.write(message(n, False).replace(b"\r\n", b"\n"))
    return timed(
        [binary, "convert", mbox, "--to", "jsonl", os.path.join(tmp, "o.jsonl"),
         "--attachments", os.path.join(tmp, "att"), "-q"]
    )


def case_python(_binary, n, tmp):
    msg = os.path.join(tmp, "m.eml")
    with open(msg, "wb") as f:
        f.write(message(n, False))
    code = (
        "import mimeflow, sys\n"
        "m = mimeflow.parse(open(sys.argv[1], 'rb').read())\n"
        "s = [p.section for p in m.walk()]\n"
        "r = [repr(p) for p in m.walk()]\n"
        "assert len(s) == len(r) > sys.argv.__len__()\n"
    )
    return timed([sys.executable, "-c", code, msg])


CASES = {
    "extract-same-name": case_extract,
    "convert-attachments": case_convert,
    "python-sections": case_python,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="target/release/mimeflow")
    ap.add_argument("--n", type=int, default=25000)
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    failed = False
    for name in args.case or list(CASES):
        rows = []
        for k in (1, 2, 4):
            best = None
            for _ in range(max(1, args.repeat)):
                tmp = tempfile.mkdtemp(prefix="mimeflow-linearity-")
                try:
                    got = CASES[name](args.bin, k * args.n, tmp)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                best = got if best is None or got[0] < best[0] else best
            secs, rss = best
            rows.append((k * args.n, secs, rss))
            print(f"{name:20} n={k * args.n:>8}  {secs:8.3f} s  peak RSS {rss:8.1f} MiB")
        ratio = rows[2][1] / rows[0][1]
        ok = ratio <= 5
        failed |= not ok
        print(f"{name:20} time(4n)/time(n) = {ratio:.2f}  {'pass' if ok else 'FAIL'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
