#!/usr/bin/env python3
"""Maildir and .eml output against the file system's own cost (issue 13).

    python3 benches/folders_vs_fs.py [--archive MBOX] [--runs 5] [--jobs 1 2]
                                      [--to maildir eml] [--roots /dev/shm DIR]

The floor is ``benches/folder_floor.rs``: the same folders and files, with
the same bytes, modification times and calls per file (openat with
O_EXCL|O_NOFOLLOW, write, futimens, close), from a plain loop on as many
threads as the CLI's ``-j``. For each output kind and file-system root:

1. ``mimeflow convert ARCHIVE --to KIND REF`` once, the reference whose
   files the floor writes again (read into memory before its timer);
2. ``--runs`` times, alternated: the CLI into a fresh folder at ``-j N``
   (wall time of the process: reading and parsing the archive included)
   and the floor into another fresh folder with N threads (its own timer);
   each run writes into a fresh folder, and the folders are removed only
   after the root's last run (ext4 creates files slowly, for a while,
   after a mass delete, even in a new folder: 3.2 against 5.6 s for the
   same floor run), and ``sync`` runs before each run, so no run pays for
   another's write-back (the disk needs room for all the runs' copies);
3. the medians and their ratio (target: at most 1.2x), and the median
   CPU time (user and system) of each: the CLI process's whole, the
   floor's timed part. On a 2-core machine the CLI at ``-j 2`` runs both
   cores full, so its wall time follows its CPU time, and the difference
   to the floor's is what the CLI does besides the calls.

Nothing is removed before a root's last run on a disk: right after a
mass delete, this machine's ext4 (mounted with ``discard``) created files
at 600-950 us each for over four minutes, against 25 us before. On tmpfs,
which has no such state, the reverse holds: file creation slowed as the
runs' files accumulated (9-11 us at the start, 23-31 us after the
maildir and eml runs, on Zen 4 and Zen 5), so there each run's folder is
removed right after the run, outside every timer. A probe (2,000 files of
1 KiB) before the first run and after each kind's runs shows the file
system's state; a root whose probes differ by over 3x (the slow ext4
state is 10-30x) is marked UNSTABLE and its figures are not to be
published.

The roots default to /dev/shm (tmpfs) and a folder on the disk
(``target/folders-bench`` in the checkout). The archive defaults to a
100 MB text archive of ``scripts/gen_archive.py`` (many small messages:
the file system's share is largest there). The idle check of
``scripts/scaling.py`` runs before and after; a failed one after marks
every figure NOISY. Needs the release binary (``cargo build --release
--features cli``; ``MIMEFLOW=`` names another) and builds the floor with
``cargo bench --bench folder_floor --no-run``. Report the CPU line.
"""

import argparse
import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import scaling  # noqa: E402  (the idle check and the CPU line)


def floor_binary():
    """Builds benches/folder_floor.rs (release) and returns its path."""
    out = subprocess.run(
        ["cargo", "bench", "--bench", "folder_floor", "--no-run", "--message-format=json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    import json

    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "folder_floor":
            if msg.get("executable"):
                return msg["executable"]
    raise SystemExit("folder_floor: no executable built")


PROBE_FILES = 2000


def fs_type(path):
    """The file-system type of the mount that holds `path`, from
    /proc/self/mountinfo (the longest mount point that is a prefix)."""
    path = os.path.realpath(path)
    best, kind = "", None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mount = fields[4].replace("\\040", " ")
            fstype = fields[fields.index("-") + 1]
            inside = path == mount or path.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, kind = mount, fstype
    return kind


def probe(work):
    """Seconds a file takes to create (O_EXCL, 1 KiB, close) in a fresh
    folder under `work`, over PROBE_FILES files; the folder is removed."""
    d = tempfile.mkdtemp(prefix="probe-", dir=work)
    data = b"x" * 1024
    t = time.perf_counter()
    for i in range(PROBE_FILES):
        fd = os.open(os.path.join(d, str(i)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.close(fd)
    took = (time.perf_counter() - t) / PROBE_FILES
    shutil.rmtree(d)
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archive")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--to", nargs="+", default=["maildir", "eml"])
    ap.add_argument("--roots", nargs="+")
    ap.add_argument("--wait", type=int, default=1800)
    a = ap.parse_args()
    binary = os.environ.get("MIMEFLOW", os.path.join(ROOT, "target", "release", "mimeflow"))
    floor = floor_binary()
    print(scaling.cpu_line())
    roots = a.roots or ["/dev/shm", os.path.join(ROOT, "target", "folders-bench")]
    with tempfile.TemporaryDirectory() as tmp:
        archive = a.archive
        if not archive:
            archive = os.path.join(tmp, "text.mbox")
            subprocess.run(
                [sys.executable, os.path.join(ROOT, "scripts", "gen_archive.py"), "text", "100", archive],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        before = scaling.wait_for_idle(1.1, a.wait)
        rows = []
        probes = {}
        for root in roots:
            os.makedirs(root, exist_ok=True)
            work = tempfile.mkdtemp(prefix="folders-", dir=root)
            # tmpfs: remove each run's folder after the run (see the docs).
            tidy = fs_type(work) == "tmpfs"
            try:
                base = min(probe(work) for _ in range(3))
                print(
                    f"{root} ({fs_type(work)}): creating a file takes {base * 1e6:.0f} us"
                    f" (probe of {PROBE_FILES}); "
                    + ("each run's folder removed after it" if tidy else "folders kept to the end")
                )
                probes[root] = [base]
                for kind in a.to:
                    ref = os.path.join(work, f"ref-{kind}")
                    subprocess.run([binary, "convert", archive, "--to", kind, ref, "-q"], check=True)
                    files = sum(len(f) for _, _, f in os.walk(ref))
                    for j in a.jobs:
                        cli, low, cli_cpu, low_cpu = [], [], [], []
                        for r in range(a.runs):
                            dest = os.path.join(work, f"cli-{kind}-{j}-{r}")
                            os.sync()  # no write-back of an earlier run inside this one's timer
                            used = resource.getrusage(resource.RUSAGE_CHILDREN)
                            t = time.perf_counter()
                            subprocess.run(
                                [binary, "convert", archive, "--to", kind, dest, "-q", "-j", str(j)],
                                check=True,
                            )
                            cli.append(time.perf_counter() - t)
                            now = resource.getrusage(resource.RUSAGE_CHILDREN)
                            cli_cpu.append(
                                now.ru_utime - used.ru_utime + now.ru_stime - used.ru_stime
                            )
                            if tidy:
                                shutil.rmtree(dest)
                            dest = os.path.join(work, f"floor-{kind}-{j}-{r}")
                            os.sync()
                            out = subprocess.run(
                                [floor, ref, dest, str(j)], check=True, capture_output=True, text=True
                            ).stdout
                            fields = dict(f.split("=") for f in out.split())
                            if int(fields["files"]) != files:
                                raise SystemExit(f"floor wrote {fields['files']} files, the CLI {files}")
                            low.append(float(fields["floor_s"]))
                            low_cpu.append(float(fields["cpu_s"]))
                            if tidy:
                                shutil.rmtree(dest)
                        c, f = statistics.median(cli), statistics.median(low)
                        rows.append((kind, root, j, files, c, f, c / f))
                        print(
                            f"  {kind} -j{j}: mimeflow {c:.3f} s, floor {f:.3f} s;"
                            f" CPU time mimeflow {statistics.median(cli_cpu):.3f} s,"
                            f" floor {statistics.median(low_cpu):.3f} s",
                            flush=True,
                        )
                    took = probe(work)
                    print(f"{root}: after {kind}, creating a file takes {took * 1e6:.0f} us")
                    probes[root].append(took)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        after = scaling.idle_ratio()
    noisy = after > 1.1
    print(f"idle check after: {after:.2f}x" + ("  NOISY: do not publish" if noisy else ""))
    unstable = [r for r, p in probes.items() if max(p) > 3 * min(p)]
    for root in unstable:
        shown = ", ".join(f"{p * 1e6:.0f}" for p in probes[root])
        print(f"{root}: creating a file took {shown} us in turn: UNSTABLE, do not publish")
    print(f"{'to':<8} {'root':<28} {'-j':>3} {'files':>7} {'mimeflow s':>11} {'floor s':>9} {'ratio':>7}")
    for kind, root, j, files, c, f, ratio in rows:
        mark = "" if ratio <= 1.2 else "  (target 1.2x: not met)"
        print(f"{kind:<8} {root:<28} {j:>3} {files:>7} {c:11.3f} {f:9.3f} {ratio:6.2f}x{mark}")
    print(f"archive {archive}, medians of {a.runs} alternated runs, idle {before:.2f}x before")
    return 3 if noisy or unstable else 0


if __name__ == "__main__":
    sys.exit(main())
