#!/usr/bin/env python3
"""Linearity check for section numbers (issue 9 item 9).

Numbering every part of one message used to walk the preceding siblings of
each part, so it was quadratic in the number of parts: 35 s for
``[p.section for p in msg.walk()]`` at 100,000 parts, 91 s for
``mimeflow convert --attachments`` on one such message. This script times
both at n, 2n and 4n parts and passes when time(4n) / time(n) <= 5 (a
linear cost gives about 4, a quadratic one 16).

    python3 scripts/section_linearity.py [--parts N] [--cli PATH/TO/mimeflow]

Without --cli only the Python side is timed (the installed ``mimeflow``
package). Each time is the best of --repeat runs. Exit status 1 when a
ratio is over the bound.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

BOUND = 5.0


def message(parts):
    """One multipart/mixed message with `parts` small attachments."""
    out = [b"From: a@example.org\nSubject: many\nContent-Type: multipart/mixed; boundary=b\n\n"]
    for i in range(parts):
        out.append(
            b"--b\nContent-Type: application/octet-stream\n"
            b"Content-Disposition: attachment; filename=f%d.bin\n\nx%d\n" % (i, i)
        )
    out.append(b"--b--\n")
    return b"".join(out)


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def python_sections(raw):
    import mimeflow

    msg = mimeflow.parse(raw, max_parts=len(raw))

    def run():
        walk = msg.walk()
        sections = [p.section for p in walk]
        reprs = [repr(p) for p in walk]
        assert sections[-1] == str(len(walk) - 1) and len(reprs) == len(walk)

    return run


def cli_attachments(cli, raw, tmp):
    src = os.path.join(tmp, "one.mbox")
    with open(src, "wb") as f:
        f.write(b"From a@example.org Mon Jan  1 00:00:00 2024\n" + raw)

    def run():
        out = os.path.join(tmp, "out")
        att = os.path.join(tmp, "att")
        for p in (out, att):
            if os.path.isdir(p):
                shutil.rmtree(p)
            elif os.path.exists(p):
                os.remove(p)
        subprocess.run(
            [cli, "-q", "convert", src, "--to", "jsonl", "--attachments", att, out],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", type=int, default=50_000, help="n (default 50,000: 4n = 200,000)")
    ap.add_argument("--cli", help="a mimeflow binary: also time convert --attachments")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sizes = [args.parts, 2 * args.parts, 4 * args.parts]
    failed = False
    cases = [("python [p.section, repr(p) for p in walk()]", lambda raw, tmp: python_sections(raw))]
    if args.cli:
        cases.append(("cli convert --attachments", lambda raw, tmp: cli_attachments(args.cli, raw, tmp)))
    for label, make in cases:
        times = []
        for n in sizes:
            with tempfile.TemporaryDirectory() as tmp:
                times.append(best(make(message(n), tmp), args.repeat))
        ratio = times[2] / times[0]
        ok = ratio <= BOUND
        failed |= not ok
        figures = ", ".join(f"{n:,} parts {t:.3f} s" for n, t in zip(sizes, times))
        print(f"{label}: {figures}; time(4n)/time(n) = {ratio:.2f} {'ok' if ok else 'OVER ' + str(BOUND)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
