#!/usr/bin/env python3
"""Python mbox iteration: mimeflow.mbox.open vs fast-mail-parser vs stdlib.

Each contender reads the whole archive and, for every message, walks its
parts and decodes every leaf:

* ``mimeflow``: ``mimeflow.mbox.open(path)`` (split, parsed in parallel
  ahead of the caller, off the interpreter), then ``walk()`` and
  ``payload()`` of every leaf in Python.
* ``mimeflow copy=True``: the same, the archive read with ``read(2)``
  instead of mapped (the mode that survives a truncation under it);
  ``--copy-cost`` adds bare iteration both ways.
* ``fast-mail-parser``: it has no mbox reader, so the archive is read into
  memory and split in Python at ``\\n\\nFrom `` (a regex, the cheapest
  split there is), each message then parsed by ``parse_email`` (which
  decodes every attachment) and its parts touched.
* ``stdlib``: ``mailbox.mbox`` + ``email`` (policy.default),
  ``get_payload(decode=True)`` of every leaf (skipped with ``--no-stdlib``).

    python scripts/gen_archive.py mixed 80 /tmp/mixed.mbox
    python benches/python_mbox.py /tmp/mixed.mbox [--repeat 3] [--no-stdlib] [--copy-cost]

Prints a table of the best of ``--repeat`` runs.
"""

import argparse
import email
import email.policy
import mailbox
import os
import re
import sys
import time

import mimeflow
from mimeflow import mbox

try:
    import fast_mail_parser
except ImportError:  # optional peer
    fast_mail_parser = None

_SPLIT = re.compile(rb"\n\n(?=From )")


def run_mimeflow(path, copy=False):
    n = parts = size = 0
    for msg in mbox.open(path, copy=copy):
        n += 1
        for p in msg.walk():
            if p.kind == "leaf":
                parts += 1
                size += len(p.payload())
    return n, parts, size


def run_mimeflow_copy(path):
    return run_mimeflow(path, copy=True)


def run_iterate(path, copy=False):
    """Iteration alone (no Python work per message): where the cost of
    ``copy=True`` shows most."""
    n = size = 0
    for msg in mbox.open(path, copy=copy):
        n += 1
        size += len(msg)
    return n, 0, 0


def run_iterate_copy(path):
    return run_iterate(path, copy=True)


def run_fast_mail_parser(path):
    with open(path, "rb") as f:
        data = f.read()
    n = parts = size = 0
    for chunk in _SPLIT.split(data):
        nl = chunk.find(b"\n")
        raw = chunk[nl + 1 :]
        try:
            m = fast_mail_parser.parse_email(raw)
        except Exception:  # its parser refuses some messages; count them
            n += 1
            continue
        n += 1
        parts += 1 + len(m.attachments)
        size += len(m.text_plain[0]) if m.text_plain else 0
        for a in m.attachments:
            size += len(a.content)
    return n, parts, size


def run_stdlib(path):
    n = parts = size = 0
    box = mailbox.mbox(path, create=False)
    for key in box.keys():
        msg = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        n += 1
        for p in msg.walk():
            if not p.is_multipart():
                parts += 1
                size += len(p.get_payload(decode=True) or b"")
    box.close()
    return n, parts, size


def best(fn, path, repeat):
    times = []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn(path)
        times.append(time.perf_counter() - t)
    return min(times), result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("archive")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-stdlib", action="store_true")
    ap.add_argument("--copy-cost", action="store_true",
                    help="also time bare iteration, mapped and with copy=True")
    args = ap.parse_args()
    mb = os.path.getsize(args.archive) / 1e6
    rows = [("mimeflow", run_mimeflow), ("mimeflow copy=True", run_mimeflow_copy)]
    if args.copy_cost:
        rows += [("iterate only", run_iterate), ("iterate only, copy=True", run_iterate_copy)]
    if fast_mail_parser is not None:
        rows.append(("fast-mail-parser", run_fast_mail_parser))
    else:
        print("fast-mail-parser not installed (pip install fast-mail-parser)", file=sys.stderr)
    if not args.no_stdlib:
        rows.append(("stdlib mailbox+email", run_stdlib))
    print(f"archive: {args.archive} ({mb:.1f} MB), {os.cpu_count()} CPUs, "
          f"mimeflow backend {mimeflow._native.backend()}")
    results = []
    for name, fn in rows:
        secs, (n, parts, size) = best(fn, args.archive, 1 if name.startswith("stdlib") else args.repeat)
        results.append((name, secs, n, parts, size))
    base = results[0][1]
    print(f"{'reader':<22}{'messages':>9}{'leaves':>8}{'decoded MB':>11}{'seconds':>9}{'MB/s':>8}{'vs mimeflow':>12}")
    for name, secs, n, parts, size in results:
        print(f"{name:<22}{n:>9}{parts:>8}{size / 1e6:>11.1f}{secs:>9.3f}{mb / secs:>8.1f}{secs / base:>11.2f}x")


if __name__ == "__main__":
    main()
