#!/usr/bin/env python3
"""Python-level Base64 throughput: mimeflow vs the stdlib vs pybase64.

Run on a release build of the extension (``maturin develop --release``):

    python benches/python_base64.py            # 64 KiB and 16 MiB
    python benches/python_base64.py --sizes 4096 --repeat 9

Throughput is in GB/s of *binary* (decoded) bytes for every operation, so
encode and decode rows compare directly; each figure is the median of
``--repeat`` timeit runs, each run long enough (>= ~20 ms) to time well.
Every implementation's output is checked against the stdlib's once before
it is timed, so a wrong answer fails the bench instead of being measured.
pybase64 columns are skipped when it is not installed (``pip install
pybase64``).
"""

import argparse
import base64
import os
import sys

from _timing import human, measure

import mimeflow
from mimeflow import _native

try:
    import pybase64
except ImportError:  # optional peer
    pybase64 = None


def operations(data):
    """(name, input, {impl: callable}) for one binary payload."""
    enc = base64.b64encode(data)
    mime_lf = base64.encodebytes(data)
    mime_crlf = mime_lf.replace(b"\n", b"\r\n")
    ops = [
        (
            "b64encode",
            data,
            {
                "mimeflow": mimeflow.b64encode,
                "stdlib": base64.b64encode,
                "pybase64": pybase64 and pybase64.b64encode,
            },
        ),
        (
            "b64decode(validate=True)",
            enc,
            {
                "mimeflow": lambda s: mimeflow.b64decode(s, validate=True),
                "stdlib": lambda s: base64.b64decode(s, validate=True),
                "pybase64": pybase64 and (lambda s: pybase64.b64decode(s, validate=True)),
            },
        ),
        (
            "MIME decode LF (decodebytes)",
            mime_lf,
            {
                "mimeflow": mimeflow.decodebytes,
                "stdlib": base64.decodebytes,
                "pybase64": pybase64 and pybase64.b64decode,  # it has no decodebytes
            },
        ),
        (
            "MIME decode CRLF (decodebytes)",
            mime_crlf,
            {
                "mimeflow": mimeflow.decodebytes,
                "stdlib": base64.decodebytes,
                "pybase64": pybase64 and pybase64.b64decode,  # it has no decodebytes
            },
        ),
        (
            "MIME encode (encodebytes)",
            data,
            {
                "mimeflow": mimeflow.encodebytes,
                "stdlib": base64.encodebytes,
                "pybase64": pybase64 and pybase64.encodebytes,
            },
        ),
    ]
    return ops


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64 << 10, 16 << 20], help="binary sizes in bytes")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    impls = ["mimeflow", "stdlib"] + (["pybase64"] if pybase64 else [])
    print(f"python {sys.version.split()[0]}, mimeflow backend {_native.backend()}, "
          f"pybase64 {getattr(pybase64, '__version__', 'not installed')}"
          + (f" ({pybase64.get_version()})" if pybase64 else ""))
    print("GB/s of binary data, median of", args.repeat, "runs\n")
    head = f"{'operation':32} {'size':>7} " + " ".join(f"{i:>9}" for i in impls)
    head += f" {'ours/pyb64':>10} {'ours/std':>9}"
    print(head)
    print("-" * len(head))
    for size in args.sizes:
        data = os.urandom(size)
        for name, arg, fns in operations(data):
            want = fns["stdlib"](arg)
            gbps = {}
            for impl in impls:
                fn = fns[impl]
                got = fn(arg)
                assert got == want, f"{impl} {name} {size}: wrong output"
                gbps[impl] = size / measure(fn, arg, args.repeat) / 1e9
            row = f"{name:32} {human(size):>7} " + " ".join(f"{gbps[i]:9.2f}" for i in impls)
            pyb = f"{gbps['mimeflow'] / gbps['pybase64']:9.2f}x" if pybase64 else f"{'-':>10}"
            row += f" {pyb} {gbps['mimeflow'] / gbps['stdlib']:8.1f}x"
            print(row, flush=True)


if __name__ == "__main__":
    main()
