#!/usr/bin/env python3
"""mbox -> Maildir: `mimeflow convert --to maildir` against Python's mailbox.

Python's side is the usual script: iterate ``mailbox.mbox(SOURCE)`` (which
parses every message into an ``mboxMessage``) and ``add()`` each one to a
fresh ``mailbox.Maildir`` (which writes it to tmp/, links it into new/ or
cur/ with flags from Status/X-Status, and sets nothing else). mimeflow does
the same job plus the file mtime from Date. Both run here, in turn, into
fresh folders under a scratch directory; the medians of --runs runs are
printed in MB/s of source, with the ratio.

    benches/mbox_vs_python.py ARCHIVE [--bin target/release/mimeflow] [--jobs 1] [--runs 3]
                              [--scratch DIR] [--settle SECONDS]

The machine's load average is printed too: a loaded machine slows both.
"""

import argparse
import mailbox
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def python_job(source, dest):
    out = mailbox.Maildir(dest, create=True)
    n = 0
    for msg in mailbox.mbox(source, create=False):
        out.add(msg)
        n += 1
    return n


def mimeflow_job(binary, source, dest, jobs):
    subprocess.run([binary, "-q", "convert", source, "--to", "maildir", dest, "-j", str(jobs)],
                   check=True, stdout=subprocess.DEVNULL)


def count_files(dest):
    return sum(len(os.listdir(os.path.join(dest, s))) for s in ("new", "cur"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("archive")
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "mimeflow"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scratch", default=None, help="where the Maildirs go (default: beside the archive)")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds to wait (after sync) between runs: ext4 avoids reusing inodes freed in the last "
                         "seconds, so creating files right after removing a large Maildir is slow for whoever runs next")
    args = ap.parse_args()
    size = os.path.getsize(args.archive)
    scratch = tempfile.mkdtemp(prefix="mbox-vs-python-", dir=args.scratch or os.path.dirname(os.path.abspath(args.archive)))
    times = {"mimeflow": [], "python": []}
    counts = {}
    try:
        for r in range(args.runs):
            # Alternate the order so that cache and load effects fall on both.
            order = ["mimeflow", "python"] if r % 2 == 0 else ["python", "mimeflow"]
            for who in order:
                dest = os.path.join(scratch, "%s-%d" % (who, r))
                t = time.perf_counter()
                if who == "python":
                    python_job(args.archive, dest)
                else:
                    mimeflow_job(args.bin, args.archive, dest, args.jobs)
                times[who].append(time.perf_counter() - t)
                counts[who] = count_files(dest)
                shutil.rmtree(dest)
                if args.settle:
                    os.sync()
                    time.sleep(args.settle)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if counts["mimeflow"] != counts["python"]:
        sys.exit("message counts differ: %r" % counts)
    mb = size / 1e6
    print("archive: %s, %.1f MB, %d messages; load average %s" % (
        args.archive, mb, counts["python"], " ".join("%.2f" % x for x in os.getloadavg())))
    med = {k: statistics.median(v) for k, v in times.items()}
    for who in ("mimeflow", "python"):
        label = "mimeflow -j%d" % args.jobs if who == "mimeflow" else "python mailbox"
        print("%-16s median %7.3f s  %8.1f MB/s  %9.0f msg/s  (runs: %s)" % (
            label, med[who], mb / med[who], counts[who] / med[who], " ".join("%.3f" % t for t in times[who])))
    print("ratio mimeflow/python: %.1fx" % (med["python"] / med["mimeflow"]))


if __name__ == "__main__":
    main()
