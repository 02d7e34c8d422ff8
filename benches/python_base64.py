#!/usr/bin/env python3
"""Python-level Base64 throughput: mimeflow vs pybase64 (and the stdlib).

Run on a release build of the extension (``maturin develop --release``):

    python benches/python_base64.py                  # 256 B ... 64 MiB, both thread settings
    python benches/python_base64.py --threads 1      # RAYON_NUM_THREADS=1 only
    python benches/python_base64.py --sizes 4096 --repeat 9 --stdlib

Sizes go from 256 B to 64 MiB in steps of 4x (``--sizes`` picks others).
Each thread setting runs in a child process of its own, since rayon reads
``RAYON_NUM_THREADS`` once: ``1`` is the required comparison (pybase64 runs
on one thread), ``default`` is what a user gets (rayon's threads share
inputs from ``PARALLEL_THRESHOLD`` up).

Throughput is in GB/s of *binary* (decoded) bytes for every operation, so
encode and decode rows compare directly; each figure is the median of
``--repeat`` timeit runs (each >= ~20 ms), the contenders' runs taken in
turn so that a busy spell of a shared machine falls on all of them, and the
ratio is mimeflow's median over pybase64's. Every implementation's output is
checked against the stdlib's once before it is timed, so a wrong answer
fails the bench instead of being measured. pybase64 has no
``decodebytes``: its row compares with ``pybase64.b64decode`` (not
validating, which skips the line breaks). The stdlib column is off by
default (``--stdlib``): at 64 MiB one of its calls takes a good part of a
second.
"""

import argparse
import base64
import os
import subprocess
import sys

from _timing import cpu, human, measure_interleaved

SIZES = [256 << (2 * i) for i in range(10)]  # 256 B, 1 KiB, ..., 64 MiB


def operations(data):
    """(name, input, {impl: callable}) for one binary payload."""
    import mimeflow
    import pybase64

    enc = base64.b64encode(data)
    mime_lf = base64.encodebytes(data)
    mime_crlf = mime_lf.replace(b"\n", b"\r\n")
    return [
        ("b64encode", data, {
            "mimeflow": mimeflow.b64encode,
            "pybase64": pybase64.b64encode,
            "stdlib": base64.b64encode,
        }),
        ("b64decode", enc, {
            "mimeflow": mimeflow.b64decode,
            "pybase64": pybase64.b64decode,
            "stdlib": base64.b64decode,
        }),
        ("b64decode(validate=True)", enc, {
            "mimeflow": lambda s: mimeflow.b64decode(s, validate=True),
            "pybase64": lambda s: pybase64.b64decode(s, validate=True),
            "stdlib": lambda s: base64.b64decode(s, validate=True),
        }),
        ("encodebytes", data, {
            "mimeflow": mimeflow.encodebytes,
            "pybase64": pybase64.encodebytes,
            "stdlib": base64.encodebytes,
        }),
        ("decodebytes LF", mime_lf, {
            "mimeflow": mimeflow.decodebytes,
            "pybase64": pybase64.b64decode,  # it has no decodebytes
            "stdlib": base64.decodebytes,
        }),
        ("decodebytes CRLF", mime_crlf, {
            "mimeflow": mimeflow.decodebytes,
            "pybase64": pybase64.b64decode,  # it has no decodebytes
            "stdlib": base64.decodebytes,
        }),
    ]


def run_one(args):
    """The table for this process's thread setting."""
    import pybase64

    from mimeflow import _native

    impls = ["mimeflow", "pybase64"] + (["stdlib"] if args.stdlib else [])
    threads = os.environ.get("RAYON_NUM_THREADS", "default")
    print(f"RAYON_NUM_THREADS={threads} (cores: {os.cpu_count()}), python {sys.version.split()[0]}, "
          f"mimeflow backend {_native.backend()}, PARALLEL_THRESHOLD "
          f"{human(_native.PARALLEL_THRESHOLD)}, pybase64 {pybase64.__version__} "
          f"({pybase64.get_version()})")
    print(f"GB/s of binary data, median of {args.repeat} runs; ratio = mimeflow / pybase64\n")
    head = f"{'operation':26} {'size':>7} " + " ".join(f"{i:>9}" for i in impls) + f" {'ratio':>7}"
    print(head)
    print("-" * len(head))
    worst = None
    for size in args.sizes:
        data = os.urandom(size)
        enc, mime = base64.b64encode(data), base64.encodebytes(data)
        for name, arg, fns in operations(data):
            fns = {i: fns[i] for i in impls}
            want = {"b64encode": enc, "encodebytes": mime}.get(name, data)
            for impl, fn in fns.items():
                assert fn(arg) == want, f"{impl} {name} {size}: wrong output"
            secs = measure_interleaved(fns, arg, args.repeat)
            gbps = {i: size / secs[i] / 1e9 for i in impls}
            ratio = gbps["mimeflow"] / gbps["pybase64"]
            if worst is None or ratio < worst[0]:
                worst = (ratio, name, size)
            flag = "" if ratio >= 1.0 else "  <"
            print(f"{name:26} {human(size):>7} " + " ".join(f"{gbps[i]:9.2f}" for i in impls)
                  + f" {ratio:6.2f}x{flag}", flush=True)
    print(f"\nlowest ratio: {worst[0]:.2f}x ({worst[1]}, {human(worst[2])})\n", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="binary sizes in bytes")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", choices=["1", "default", "both"], default="both",
                    help="RAYON_NUM_THREADS=1, rayon's default, or one run of each (default)")
    ap.add_argument("--stdlib", action="store_true", help="time the stdlib too")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_one(args)
        return
    print(cpu())
    settings = ["1", "default"] if args.threads == "both" else [args.threads]
    for setting in settings:
        env = dict(os.environ)
        env.pop("RAYON_NUM_THREADS", None)
        if setting == "1":
            env["RAYON_NUM_THREADS"] = "1"
        argv = [sys.executable, __file__, "--child", "--repeat", str(args.repeat), "--sizes",
                *map(str, args.sizes)] + (["--stdlib"] if args.stdlib else [])
        subprocess.run(argv, env=env, check=True)


if __name__ == "__main__":
    main()
