"""Python-level throughput of mimeflow's Base64 functions against the stdlib
(``base64``/``binascii``) and pybase64 where installed: the Python side of
``mimeflow bench``, with the same operations, sizes, checks and report
formats (table, JSON, CSV).

    python -m mimeflow.bench                      # 1K,64K,16M, all ops
    python -m mimeflow.bench --quick --json
    python -m mimeflow.bench --op mime-decode --sizes 4K --csv

``run(...)`` returns the rows as dicts. Throughput is GB/s (10**9 bytes/s)
of *input* bytes; ``ns_per_call`` (bytes over the median throughput) keeps
the fixed cost of a call visible at small sizes. Each implementation's
output is checked once against the stdlib's before it is timed; a wrong
answer is reported as ``mismatch`` and not timed. Timing: warm-up, then
batches of calls (each long enough to time well) until a time budget is
used; the median and p10-p90 of the batches are reported. Quoted-printable
is not exposed to Python yet, so the ``qp-*`` operations are CLI-only.
"""

import argparse
import base64
import binascii
import json
import os
import platform
import sys
import time

import mimeflow
from mimeflow import _native

try:
    # The `bench` extra; the test extra (which type-checks this file) has
    # no reason to install it.
    import pybase64  # type: ignore[import-not-found]
except ImportError:  # optional peer
    pybase64 = None  # type: ignore[assignment]

__all__ = ["OPS", "COLUMNS", "parse_sizes", "percentile", "run", "to_json", "to_csv", "to_table", "main"]

OPS = ["encode", "decode", "mime-encode", "mime-decode"]
COLUMNS = ["op", "size", "contender", "status", "median_gbps", "p10_gbps", "p90_gbps", "ns_per_call"]
_UNITS = {"": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20, "g": 30, "gb": 30, "gib": 30}


def parse_sizes(text):
    """``"1K,64K,16M"`` -> ``[1024, 65536, 16777216]`` (powers of 1024)."""
    sizes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        digits = part.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        unit = part[len(digits):].lower()
        if unit not in _UNITS or not digits.strip().isdigit() or int(digits) <= 0:
            raise ValueError(f"bad size {part!r}: expected a positive number with K, M or G")
        sizes.append(int(digits) << _UNITS[unit])
    if not sizes:
        raise ValueError("no sizes given")
    return sizes


def size_label(n):
    for unit, shift in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def percentile(samples, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not samples:
        raise ValueError("no samples")
    s = sorted(samples)
    rank = min(max(p, 0.0), 100.0) / 100.0 * (len(s) - 1)
    lo, hi = int(rank // 1), int(-(-rank // 1))
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


def _crlf(text):
    return text.replace(b"\n", b"\r\n")


def operations(raw):
    """{op: (input, reference output, {contender: callable})}."""
    enc = base64.b64encode(raw)
    mime = _crlf(base64.encodebytes(raw))
    ops = {
        "encode": (raw, enc, {
            "mimeflow": mimeflow.b64encode,
            "base64 (stdlib)": base64.b64encode,
            "binascii (stdlib)": lambda s: binascii.b2a_base64(s, newline=False),
        }),
        "decode": (enc, raw, {
            "mimeflow": lambda s: mimeflow.b64decode(s, validate=True),
            "base64 (stdlib)": lambda s: base64.b64decode(s, validate=True),
            "binascii (stdlib)": lambda s: binascii.a2b_base64(s, strict_mode=True),
        }),
        "mime-encode": (raw, mime, {
            "mimeflow": lambda s: mimeflow.encodebytes(s, crlf=True),
            "base64 (stdlib) encodebytes+CRLF": lambda s: _crlf(base64.encodebytes(s)),
        }),
        "mime-decode": (mime, raw, {
            "mimeflow": mimeflow.decodebytes,
            "base64 (stdlib)": base64.decodebytes,
            "binascii (stdlib)": binascii.a2b_base64,
        }),
    }
    if pybase64 is not None:
        ops["encode"][2]["pybase64"] = pybase64.b64encode
        ops["decode"][2]["pybase64"] = lambda s: pybase64.b64decode(s, validate=True)
        ops["mime-encode"][2]["pybase64 encodebytes+CRLF"] = lambda s: _crlf(pybase64.encodebytes(s))
        ops["mime-decode"][2]["pybase64"] = pybase64.b64decode  # it has no decodebytes
    for op in ops.values():
        # The ceiling: one copy of the input (bytes(b) of bytes is free).
        op[2]["memcpy"] = bytearray
    return ops


def _measure(fn, arg, budget, batch=0.002, min_batches=5):
    """GB/s samples, one per timed batch."""
    t0 = time.perf_counter()
    fn(arg)  # warm-up, which also sizes the batches
    per_call = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(batch / per_call))
    samples = []
    start = time.perf_counter()
    while len(samples) < min_batches or time.perf_counter() - start < budget:
        t = time.perf_counter()
        for _ in range(number):
            fn(arg)
        samples.append(len(arg) * number / max(time.perf_counter() - t, 1e-9) / 1e9)
    return samples


def run(ops=None, sizes=(1 << 10, 64 << 10, 16 << 20), quick=False, budget=None, contenders=None, progress=None):
    """Checks, then times every contender; returns rows (dicts with COLUMNS).

    ``contenders``: an optional ``{op: {name: callable}}`` replacing the
    default ones (tests inject a wrong one this way). ``progress`` is called
    with ``(op, size, contender)`` before each contender runs.
    """
    ops = list(ops or OPS)
    for op in ops:
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}: expected one of {', '.join(OPS)}")
    if budget is None:
        budget = 0.01 if quick else 0.3
    rows = []
    for size in sizes:
        raw = os.urandom(size)
        table = operations(raw)
        for op in ops:
            arg, want, fns = table[op]
            if contenders is not None and op in contenders:
                fns = contenders[op]
            for name, fn in fns.items():
                if progress:
                    progress(op, size, name)
                row = {"op": op, "size": size, "contender": name, "status": "ok",
                       "median_gbps": None, "p10_gbps": None, "p90_gbps": None, "ns_per_call": None}
                try:
                    got = fn(arg)
                    ok = got == (arg if name == "memcpy" else want)  # the copy is checked too
                except Exception as e:  # a peer that rejects the input
                    row["status"] = "error"
                    row["error"] = f"{type(e).__name__}: {e}"
                    rows.append(row)
                    continue
                if not ok:
                    row["status"] = "mismatch"
                else:
                    s = _measure(fn, arg, budget, min_batches=3 if quick else 10)
                    median = percentile(s, 50)
                    # The fixed cost shows at small sizes: bytes / (bytes/ns).
                    row.update(median_gbps=median, p10_gbps=percentile(s, 10), p90_gbps=percentile(s, 90),
                               ns_per_call=len(arg) / median)
                rows.append(row)
    return rows


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "features": [f"backend={_native.backend()}"], "jobs": 1}


def to_json(rows):
    doc = dict(machine())
    doc["results"] = [{k: r[k] for k in COLUMNS} for r in rows]
    return json.dumps(doc, indent=2)


def to_csv(rows):
    lines = [",".join(COLUMNS)]
    for r in rows:
        fields = []
        for k in COLUMNS:
            v = r[k]
            if v is None:
                v = ""
            elif isinstance(v, float):
                v = f"{v:.4f}"
            v = str(v)
            if any(c in v for c in ',"\n'):
                v = '"' + v.replace('"', '""') + '"'
            fields.append(v)
        lines.append(",".join(fields))
    return "\n".join(lines) + "\n"


def to_table(rows):
    m = machine()
    out = [f"cpu: {m['cpu']}", f"python: {sys.version.split()[0]}, mimeflow backend {_native.backend()}, "
           f"pybase64 {getattr(pybase64, '__version__', 'not installed')}",
           "GB/s of input bytes: median (p10-p90)"]
    width = max([len(r["contender"]) for r in rows] + [9])
    groups = {}
    for r in rows:
        groups.setdefault((r["op"], r["size"]), []).append(r)
    for (op, size), group in groups.items():
        best = max((r["median_gbps"] for r in group if r["contender"] == "mimeflow" and r["median_gbps"]), default=None)
        copy = next((r["median_gbps"] for r in group if r["contender"] == "memcpy" and r["median_gbps"]), None)
        out.append("")
        out.append(f"{'op':<11} {'size':>5}  {'contender':<{width}}  {'median':>7}  {'p10-p90':>13}  {'/mimeflow':>9}  {'/memcpy':>8}")
        for r in group:
            if r["median_gbps"] is None:
                cells = (r["status"].upper(), "not timed", "", "")
            else:
                med = r["median_gbps"]
                cells = (f"{med:.2f}", f"{r['p10_gbps']:.2f}-{r['p90_gbps']:.2f}",
                         f"{med / best:.2f}x" if best else "-", f"{med / copy:.2f}x" if copy else "-")
            out.append(f"{op:<11} {size_label(size):>5}  {r['contender']:<{width}}  {cells[0]:>7}  {cells[1]:>13}  {cells[2]:>9}  {cells[3]:>8}")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mimeflow.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--op", default="all", choices=OPS + ["all"])
    ap.add_argument("--sizes", default="1K,64K,16M", type=parse_sizes, help="comma-separated, K/M/G = 1024**n")
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    ap.add_argument("--quick", action="store_true", help="a short run")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    args = ap.parse_args(argv)
    tty = sys.stderr.isatty()

    def progress(op, size, name):
        if args.quiet:
            return
        msg = f"{op} {size_label(size)} {name}"
        if tty:
            sys.stderr.write(f"\r\x1b[K{msg}")
            sys.stderr.flush()

    rows = run(ops=OPS if args.op == "all" else [args.op], sizes=args.sizes, quick=args.quick, progress=progress)
    if tty and not args.quiet:
        sys.stderr.write("\r\x1b[K")
    sys.stdout.write(to_json(rows) + "\n" if args.json else to_csv(rows) if args.csv else to_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
