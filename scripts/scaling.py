#!/usr/bin/env python3
"""Thread scaling, -j1 against -jN, measured only on an idle machine.

    python3 scripts/scaling.py [--archive MBOX] [--runs 5] [--jobs 2]
                               [--wait 1800] [--only CASE ...] [--json FILE]

First the idle check: one CPU-bound process alone, then two at once; the
machine is idle when the slower of the two takes at most 1.1x the one
alone. If it is not, the script says so, measures nothing and checks
again every 30 seconds for up to ``--wait`` seconds (30 minutes), then
gives up (exit 3). "Not idle" never counts as a result.

Then each case runs ``--runs`` times at -j1 and at -jN, alternated so both
see the same machine; it prints the medians of wall and CPU time, the
speed-up (target 1.8x at -j2) and the CPU ratio, which says where a case
that does not scale loses: CPU time that stays flat while wall time does
not halve is a serial part; CPU time that grows with the threads is
contention (memory bandwidth, locks, the page allocator). ``fixed`` is the
same command on an empty input (process and interpreter start, set-up),
and ``bound`` the speed-up Amdahl allows when that fixed cost is the only
serial part: a case whose bound is under the target cannot reach it
whatever the threads do. The idle check
runs again after the cases; if it fails then, every figure is marked
NOISY (exit 3) and must not be published.

Cases (``--only`` picks some):
- ``jsonl``: ``mimeflow convert ARCHIVE --to jsonl`` into a temporary file;
- ``maildir``: ``convert --to maildir`` into a folder on tmpfs (/dev/shm),
  so the disk is out of it;
- ``b64-encode``, ``b64-decode``: ``mimeflow b64 encode|decode`` of 64 MiB
  (random bytes; their MIME Base64) to /dev/null;
- ``mbox-python``: iterating ``mimeflow.mbox.open(ARCHIVE)`` from Python,
  ``RAYON_NUM_THREADS`` 1 against N (run with the interpreter that has
  mimeflow installed);
- ``dkim``: ``mimeflow dkim verify`` of 5,000 signed list messages
  (RSA-2048, the test keys; generated with ``mimeflow.dkim``).

The archive defaults to a 100 MB text archive made by
``scripts/gen_archive.py``. Needs the release binary
(``cargo build --release --features cli``; ``MIMEFLOW=`` names another).
Report the CPU line printed at the top with every figure.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPIN = "x = 0\nfor i in range(25_000_000):\n    x += i\n"


def cpu_line():
    """The CPU line of benches/_timing.py, with the core count."""
    sys.path.insert(0, os.path.join(ROOT, "benches"))
    import _timing  # noqa: E402  (benches/, shared by the benchmarks)

    return f"{_timing.cpu()}, {os.cpu_count()} cores"


def idle_ratio():
    """The slower of two concurrent CPU-bound processes over one alone."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", SPIN], check=True)
    one = time.perf_counter() - t
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(2)]
    ends = []
    for p in procs:
        p.wait()
        ends.append(time.perf_counter() - t)
    return max(ends) / one


def wait_for_idle(limit, wait):
    deadline = time.monotonic() + wait
    while True:
        r = idle_ratio()
        if r <= limit:
            print(f"idle check: {r:.2f}x (<= {limit}x): idle")
            return r
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"idle check: {r:.2f}x (> {limit}x): NOT IDLE; gave up after {wait} s, nothing measured")
            sys.exit(3)
        print(f"idle check: {r:.2f}x (> {limit}x): not idle, measuring nothing; again in 30 s")
        time.sleep(min(30, left))


def timed(argv, env, stdout):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, env=env, stdout=stdout, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--wait", type=int, default=1800, help="seconds to wait for an idle machine")
    ap.add_argument("--idle-limit", type=float, default=1.1)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--json")
    a = ap.parse_args()
    binary = os.environ.get("MIMEFLOW", os.path.join(ROOT, "target", "release", "mimeflow"))
    if not os.access(binary, os.X_OK):
        sys.exit(f"scaling: no binary at {binary} (cargo build --release --features cli)")
    print(cpu_line())
    tmp = tempfile.mkdtemp(prefix="mimeflow-scaling.")
    shm = tempfile.mkdtemp(prefix="mimeflow-scaling.", dir="/dev/shm") if os.path.isdir("/dev/shm") else tmp
    try:
        return run(a, binary, tmp, shm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)


def run(a, binary, tmp, shm):
    cases = ["jsonl", "maildir", "b64-encode", "b64-decode", "mbox-python", "dkim"]
    if a.only:
        unknown = set(a.only) - set(cases)
        if unknown:
            sys.exit(f"scaling: unknown cases {sorted(unknown)}; known: {cases}")
        cases = [c for c in cases if c in a.only]
    # Inputs, made before the idle check so making them is not measured.
    archive = a.archive
    if archive is None and {"jsonl", "maildir", "mbox-python"} & set(cases):
        archive = os.path.join(tmp, "text.mbox")
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "scripts", "gen_archive.py"), "text", "100", archive],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    raw = os.path.join(tmp, "random.bin")
    b64 = os.path.join(tmp, "random.b64")
    if {"b64-encode", "b64-decode"} & set(cases):
        with open(raw, "wb") as f:
            f.write(os.urandom(64 << 20))
        with open(b64, "wb") as f:
            subprocess.run([binary, "b64", "encode", raw], stdout=f, check=True)
    signed = os.path.join(tmp, "signed.mbox")
    zone = os.path.join(ROOT, "testdata", "dkim", "keys.zone")
    if "dkim" in cases:
        sys.path.insert(0, os.path.join(ROOT, "benches"))
        import python_dkim  # noqa: E402  (benches/, for its corpus)

        with open(signed, "wb") as f:
            for m in python_dkim.corpus(5000, False):
                f.write(b"From dev@example.org Mon Jan  1 00:00:00 2024\n" + m + b"\n")
    iterate = "import sys, mimeflow.mbox as m\nn = sum(1 for _ in m.open(sys.argv[1]))\nprint(n)\n"

    # An empty input for every case: the same command on it measures the
    # fixed cost no thread count changes (process and interpreter start,
    # set-up), the serial part that bounds the speed-up from outside.
    empty = os.path.join(tmp, "empty")
    open(empty, "wb").close()

    def argv_of(case, j, fixed=False):
        # Outputs go in a folder of their own, emptied before each run
        # (jsonl writes companions beside its file: out.threads.jsonl).
        out = {"jsonl": os.path.join(tmp, "out", "out.jsonl"), "maildir": os.path.join(shm, "out", "Maildir")}
        env = dict(os.environ)
        src = {"archive": empty if fixed else archive, "raw": empty if fixed else raw}
        src["b64"] = empty if fixed else b64
        src["signed"] = empty if fixed else signed
        if case in out:
            return [binary, "-q", "convert", src["archive"], "--to", case, out[case], f"-j{j}"], env, out[case]
        if case == "b64-encode":
            return [binary, "-q", "b64", "encode", src["raw"], f"-j{j}"], env, None
        if case == "b64-decode":
            return [binary, "-q", "b64", "decode", src["b64"], f"-j{j}"], env, None
        if case == "mbox-python":
            env["RAYON_NUM_THREADS"] = str(j)
            return [sys.executable, "-c", iterate, src["archive"]], env, None
        return [binary, "-q", "dkim", "verify", src["signed"], "--keys", zone, f"-j{j}"], env, None

    before = wait_for_idle(a.idle_limit, a.wait)
    results = []
    jobs = a.jobs
    print(
        f"{'case':<12} {'-j1 wall':>9} {'-j1 cpu':>8} {f'-j{jobs} wall':>9} {f'-j{jobs} cpu':>8}"
        f" {'speed-up':>9} {'cpu ratio':>10} {'fixed':>7} {'bound':>7}"
    )
    for case in cases:
        walls = {1: [], jobs: [], "fixed": []}
        cpus = {1: [], jobs: [], "fixed": []}
        for _ in range(a.runs):
            for j in (1, jobs, "fixed"):
                argv, env, out = argv_of(case, 1, fixed=True) if j == "fixed" else argv_of(case, j)
                if out:
                    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
                    os.makedirs(os.path.dirname(out))
                wall, cpu = timed(argv, env, subprocess.DEVNULL)
                walls[j].append(wall)
                cpus[j].append(cpu)
        w1, wn = statistics.median(walls[1]), statistics.median(walls[jobs])
        c1, cn = statistics.median(cpus[1]), statistics.median(cpus[jobs])
        fixed = statistics.median(walls["fixed"])
        # Amdahl with the fixed cost as the only serial part: the best
        # speed-up -jN could reach if everything else divided by N.
        bound = w1 / (fixed + max(w1 - fixed, 0.0) / jobs)
        row = {
            "case": case, "runs": a.runs, "jobs": jobs, "wall_1": w1, "cpu_1": c1, "wall_n": wn,
            "cpu_n": cn, "speedup": w1 / wn, "cpu_ratio": cn / c1, "fixed": fixed, "bound": bound,
        }
        results.append(row)
        print(
            f"{case:<12} {w1:9.3f} {c1:8.3f} {wn:9.3f} {cn:8.3f} {w1 / wn:8.2f}x {cn / c1:9.2f}x"
            f" {fixed:7.3f} {bound:6.2f}x"
        )
    after = idle_ratio()
    noisy = after > a.idle_limit
    print(f"idle check after: {after:.2f}x" + (" -> NOISY: the machine got busy; do not publish these figures" if noisy else ""))
    target = 1.8 if jobs == 2 else None
    if target and not noisy:
        met = [r["case"] for r in results if r["speedup"] >= target]
        print(f"target {target}x at -j2: met by {met or 'none'}; not met by {[r['case'] for r in results if r['case'] not in met] or 'none'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu_line(), "idle_before": before, "idle_after": after, "noisy": noisy, "results": results}, f, indent=1)
    return 3 if noisy else 0


if __name__ == "__main__":
    sys.exit(main())
