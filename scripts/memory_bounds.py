#!/usr/bin/env python3
"""Peak heap and time of the decoding paths at n, 2n and 4n (issue 9, item 10).

Run by hand, not in CI (the largest inputs are gigabytes):

    cargo build --release --features cli --bin mimeflow
    scripts/memory_bounds.py [--bin target/release/mimeflow] [--scale 1.0] [CASE ...]

Each case generates its input in a temporary folder (removed afterwards,
never in the repository), runs the CLI on it, and samples
/proc/PID/status every few milliseconds for the peak RssAnon: the heap and
other anonymous memory. File-backed pages (the mapped archive, spooled
messages) are page cache, not heap, so VmHWM, which counts them, is printed
beside it but not judged.

Pass: peak RssAnon at most 256 MiB times the jobs, time(4n)/time(n) <= 5
(wall time and user CPU time both; system time is printed, not judged: it
follows the page cache), and RssAnon(4n) about RssAnon(n) (within 64 MiB,
or 1.5x).

Cases (sizes at --scale 1):

  gz-jsonl     one message with a base64 attachment of 512 MiB, 1 GiB,
               2 GiB decoded, in a .gz mbox: convert --to jsonl
  gz-text      the same with a 7bit text/plain body instead
  attachments  4 messages, each with a base64 attachment of 74, 148, 296 MB:
               convert --to jsonl --attachments DIR
  attachments-mbox  the same, --to mbox (each message's mboxrd copy waits
               in memory for the window's commit)
  addresses    one To: header of 3.5, 7, 14 MB of addresses: parse --json
  jsonl-j2     mbox of messages each with a 14 MB address list (29, 58, 115 MB):
               convert --to jsonl -j2
  mixed-j2     scripts/gen_archive.py mixed 29, 58, 115 MB: convert --to jsonl -j2
"""

import argparse
import base64
import gzip
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1 << 20


def cpu():
    fam = model = name = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "cpu family" and fam == "?":
                    fam = v
                elif k == "model" and model == "?":
                    model = v
                elif k == "model name" and name == "?":
                    name = v
    except OSError:
        pass
    return "%s (family %s, model %s), %d CPUs" % (name, fam, model, os.cpu_count())


def b64_body(out, nbytes, seed):
    """Writes Base64 lines for `nbytes` of data: one 57-byte line pattern
    (distinct per seed) repeated, so gzip shrinks it to almost nothing."""
    line = bytes((seed * 31 + i * 7) % 256 for i in range(57))
    enc = base64.b64encode(line) + b"\r\n"
    full, rest = divmod(nbytes, 57)
    block = enc * 4096
    for _ in range(full // 4096):
        out.write(block)
    out.write(enc * (full % 4096))
    if rest:
        out.write(base64.b64encode(line[:rest]) + b"\r\n")


def text_body(out, nbytes):
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    block = line * 4096
    for _ in range(nbytes // len(block)):
        out.write(block)
    out.write(line * ((nbytes % len(block)) // len(line)))


def head(i, extra=b""):
    return (
        b"From sender@example.org Mon Jan  1 00:00:00 2024\r\n"
        b"From: Sender <sender@example.org>\r\n"
        b"To: Receiver <rcpt@example.net>\r\n"
        b"Subject: message %d\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        b"Message-ID: <m%d@example.org>\r\n"
        b"MIME-Version: 1.0\r\n" % (i, i)
    ) + extra


def gen_gz(path, nbytes, text):
    with gzip.open(path, "wb", compresslevel=1) as out:
        if text:
            out.write(head(0, b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"))
            text_body(out, nbytes)
        else:
            out.write(
                head(
                    0,
                    b"Content-Type: application/octet-stream; name=\"big.bin\"\r\n"
                    b"Content-Disposition: attachment; filename=\"big.bin\"\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\n",
                )
            )
            b64_body(out, nbytes, 0)
        out.write(b"\r\n")


def gen_attachments(path, nbytes, count=4):
    with open(path, "wb") as out:
        for i in range(count):
            out.write(
                head(
                    i,
                    b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
                    b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
                    b"--b\r\nContent-Type: application/octet-stream\r\n"
                    b"Content-Disposition: attachment; filename=\"f%d.bin\"\r\n"
                    b"Content-Transfer-Encoding: base64\r\n\r\n" % i,
                )
            )
            b64_body(out, nbytes, i + 1)
            out.write(b"--b--\r\n\r\n")


def address_header(nbytes, seed=0):
    """One To: field of short addresses (about 11 bytes each, folded every
    eight), the shape that cost 1.4 KB of heap per address."""
    parts = [b"To: "]
    size, i = 4, 0
    while size < nbytes:
        a = b"u%x.%d@e.io," % (i, seed) + (b"\r\n " if i % 8 == 7 else b" ")
        parts.append(a)
        size += len(a)
        i += 1
    parts.append(b"last@e.io\r\n")
    return b"".join(parts)


def gen_addresses(path, nbytes):
    with open(path, "wb") as out:
        out.write(b"From: Sender <sender@example.org>\r\n")
        out.write(address_header(nbytes))
        out.write(b"Subject: many\r\n\r\nhello\r\n")


def gen_address_mbox(path, nbytes, per_message=14_000_000):
    with open(path, "wb") as out:
        i, size = 0, 0
        while size < nbytes:
            m = head(i).replace(b"To: Receiver <rcpt@example.net>\r\n", address_header(per_message, i))
            m += b"Content-Type: text/plain\r\n\r\nhello\r\n\r\n"
            out.write(m)
            size += len(m)
            i += 1


def gen_mixed(path, nbytes):
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen_archive.py"), "mixed", str(nbytes // 1_000_000), path],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run(cmd, stdout=None):
    """Runs `cmd`; returns (wall seconds, user CPU seconds, system CPU
    seconds, peak RssAnon, peak VmHWM), the last two in bytes."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    status = "/proc/%d/status" % p.pid
    peak_anon = hwm = 0
    while True:
        pid, code, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(code)
            break
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak_anon = max(peak_anon, int(line.split()[1]) * 1024)
                    elif line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]) * 1024)
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.003)
    secs = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(cmd), p.returncode, err))
    return secs, usage.ru_utime, usage.ru_stime, peak_anon, hwm


CASES = {
    # name: (sizes at scale 1, jobs, generate(path, n), command(bin, src, tmp), input suffix)
    "gz-jsonl": (
        [512 * MIB, 1024 * MIB, 2048 * MIB], 1,
        lambda p, n: gen_gz(p, n, text=False),
        lambda b, s, t: [b, "convert", "-q", "-j1", s, "--to", "jsonl", os.path.join(t, "out.jsonl")],
        ".mbox.gz",
    ),
    "gz-text": (
        [512 * MIB, 1024 * MIB, 2048 * MIB], 1,
        lambda p, n: gen_gz(p, n, text=True),
        lambda b, s, t: [b, "convert", "-q", "-j1", s, "--to", "jsonl", os.path.join(t, "out.jsonl")],
        ".mbox.gz",
    ),
    "attachments": (
        [74_000_000, 148_000_000, 296_000_000], 1,
        gen_attachments,
        lambda b, s, t: [b, "convert", "-q", "-j1", s, "--to", "jsonl", os.path.join(t, "out.jsonl"),
                         "--attachments", os.path.join(t, "att")],
        ".mbox",
    ),
    "attachments-mbox": (
        [74_000_000, 148_000_000, 296_000_000], 1,
        gen_attachments,
        lambda b, s, t: [b, "convert", "-q", "-j1", s, "--to", "mbox", os.path.join(t, "out.mbox"),
                         "--attachments", os.path.join(t, "att")],
        ".mbox",
    ),
    "addresses": (
        [3_500_000, 7_000_000, 14_000_000], 1,
        gen_addresses,
        lambda b, s, t: [b, "parse", "--json", s],
        ".eml",
    ),
    "jsonl-j2": (
        [29_000_000, 58_000_000, 115_000_000], 2,
        gen_address_mbox,
        lambda b, s, t: [b, "convert", "-q", "-j2", s, "--to", "jsonl", os.path.join(t, "out.jsonl")],
        ".mbox",
    ),
    "mixed-j2": (
        [29_000_000, 58_000_000, 115_000_000], 2,
        gen_mixed,
        lambda b, s, t: [b, "convert", "-q", "-j2", s, "--to", "jsonl", os.path.join(t, "out.jsonl")],
        ".mbox",
    ),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "target", "release", "mimeflow"))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every input size")
    ap.add_argument("--tmp", default=None, help="folder for the inputs (default: TMPDIR)")
    ap.add_argument("cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    print("CPU: %s; %s" % (cpu(), platform.platform()))
    print("binary: %s" % os.path.abspath(args.bin))
    failed = False
    for name in args.cases:
        sizes, jobs, gen, cmd, suffix = CASES[name]
        rows = []
        for n in sizes:
            n = int(n * args.scale)
            tmp = tempfile.mkdtemp(prefix="mimeflow-mem-", dir=args.tmp)
            try:
                src = os.path.join(tmp, "input" + suffix)
                gen(src, n)
                with open(os.path.join(tmp, "stdout"), "wb") as out:
                    secs, user, system, anon, hwm = run(cmd(args.bin, src, tmp), stdout=out)
                rows.append((n, os.path.getsize(src), secs, user, anon, hwm))
                print("  %-12s n=%6.1f MB  input %7.1f MB  wall %6.2f s  user %6.2f s  sys %6.2f s"
                      "  RssAnon %7.1f MiB  VmHWM %7.1f MiB"
                      % (name, n / 1e6, rows[-1][1] / 1e6, secs, user, system, anon / MIB, hwm / MIB),
                      flush=True)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        (_, _, t1, c1, a1, _), (_, _, t4, c4, a4, _) = rows[0], rows[-1]
        bound = 256 * MIB * jobs
        ok_heap = max(r[4] for r in rows) <= bound
        # Wall time on a shared machine swings with its neighbours, and
        # system time with the page cache (a spooled 2.7 GB temp file);
        # user CPU time, the program's own work, is judged beside wall time.
        ok_time = t4 / max(t1, 1e-3) <= 5 and c4 / max(c1, 1e-3) <= 5
        ok_flat = a4 <= max(a1 * 1.5, a1 + 64 * MIB)
        verdict = "PASS" if ok_heap and ok_time and ok_flat else "FAIL"
        failed |= verdict == "FAIL"
        print("%s %s: peak RssAnon <= %d MiB: %s; wall(4n)/wall(n) = %.2f, user(4n)/user(n) = %.2f;"
              " RssAnon(4n)/RssAnon(n) = %.2f"
              % (verdict, name, bound // MIB, ok_heap, t4 / max(t1, 1e-3), c4 / max(c1, 1e-3),
                 a4 / max(a1, 1)), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
