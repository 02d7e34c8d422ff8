#!/usr/bin/env python3
"""DKIM verification: mimeflow against dkimpy, in one process, same run.

Generates an archive of signed text messages (list-sized, about 2 KB; the
keys are the test keys of testdata/dkim/, RSA-2048 by default, or a mix of
RSA-2048 and Ed25519 with ``--mixed``), then verifies every message:

* ``dkimpy``: ``dkim.DKIM(msg).verify(dnsfunc=...)`` per message, keys
  from a dict (no DNS), in this process (pure-Python RSA);
* ``mimeflow.dkim``: ``mimeflow.dkim.verify(msg, keys=held)`` per message,
  one call at a time (one core), ``held = mimeflow.dkim.DkimKeys(dict)``
  read once before the runs (as ``dkim verify --keys`` reads its file
  once, and as dkimpy's ``dnsfunc`` answers from one dict);
* ``mimeflow.dkim (dict)``: the same with the dict itself as ``keys``,
  which is read again on every call;
* with ``--cli PATH``: ``PATH dkim verify ARCHIVE --keys ZONE -j1`` and
  ``-j2`` (wall time of the process, archive read and table included), for
  the scaling figure;
* with ``--per-process N``: the journalists' way on the first N messages,
  one ``dkimverify`` process per message, in turn (dkimpy's own
  ``dkim.dkimverify.main``, the message on standard input; its only change
  is that the key comes from the test keys instead of the system resolver,
  which the benchmark must not touch: ``dkim.dnsplug._get_txt`` is
  replaced before ``main`` runs). Reported per message beside the others.

The three in-process contenders take turns on slices of ``--slice``
messages (2,000), each run's time the sum of its slices, so that a slow
spell of a shared machine falls on all three. A turn has a cold start:
the first verification after another contender's turn costs several
warm ones (94-101 us against 20 us here on a Zen 4; a Rust loop alone
shows the same after a 50 ms pause of any kind, and none when the pause
itself verifies: cold caches and predictors, as far as we can tell). An
archive run pays that once; turns of 200 messages charged it to mimeflow
50 times per 10,000 messages, 0.3-0.4 us a message (dkimpy's 500 us a
message hide its own). The benchmark prints the median first
verification of mimeflow's turns beside its warm per-message time, so
the cost stays visible. Every run checks its own answer (every
signature must pass), prints the median of ``--repeat`` runs per
contender and the ratios against dkimpy measured in the same run.
Report the CPU line with any figure:
``grep -m1 -E "cpu family|model\\s*:" /proc/cpuinfo``.

    python benches/python_dkim.py [--messages 2000] [--repeat 5] [--mixed] [--cli target/release/mimeflow] [--per-process 500] [--slice 2000]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import dkim

from mimeflow import dkim as mdkim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "testdata", "dkim")


def records():
    """The zone file's records, as {name: txt}."""
    keys = {}
    with open(os.path.join(DATA, "keys.zone"), "rb") as f:
        text = f.read()
    # The library reads zone files; reuse it through a throwaway signature
    # check would be roundabout, so parse the simple layout written there.
    import re

    for m in re.finditer(rb'^(\S+)\._domainkey[^"]*((?:"[^"]*"\s*)+)', text, re.M):
        txt = b"".join(re.findall(rb'"([^"]*)"', m.group(2))).decode()
        keys[m.group(1).decode() + "._domainkey.example.org"] = txt
    return keys


def corpus(n, mixed):
    para = (
        "Hello list,\n\nthe release candidate is out; please test it on your "
        "platforms and report back before Friday. Notes follow below.\n\n"
    )
    body = para * 12
    keys = {
        "rsa2048": open(os.path.join(DATA, "rsa2048.pem")).read(),
        "ed": open(os.path.join(DATA, "ed25519.pem")).read(),
    }
    out = []
    for i in range(n):
        sel = "ed" if mixed and i % 2 else "rsa2048"
        msg = (
            f"From: Dev {i} <dev{i}@example.org>\nTo: list@example.net\n"
            f"Subject: [list] release candidate {i}\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
            f"Message-ID: <{i}@example.org>\nList-Id: <list.example.net>\n\n{body}"
        ).encode()
        out.append(mdkim.sign(msg, "example.org", sel, keys[sel], timestamp=1_700_000_000))
    return out


def run_dkimpy(msgs, keys):
    def dnsfunc(name, timeout=5):
        return keys[name.decode().rstrip(".")].encode()

    for m in msgs:
        if not dkim.DKIM(m).verify(dnsfunc=dnsfunc):
            raise SystemExit("dkimpy: a signature did not verify")


def run_mimeflow_dict(msgs, keys):
    for m in msgs:
        r = mdkim.verify(m, keys=keys)
        if r[0].result != "pass":
            raise SystemExit(f"mimeflow: {r[0]}")


# dkimverify with its key lookup answered from a JSON file (argv[1]).
PER_PROCESS = (
    "import json, sys\n"
    "import dkim.dnsplug\n"
    "keys = json.load(open(sys.argv.pop(1)))\n"
    "dkim.dnsplug._get_txt = lambda name, timeout=5: keys[name.rstrip('.')].encode()\n"
    "from dkim.dkimverify import main\n"
    "sys.exit(main())\n"
)


def run_per_process(msgs, keys_file):
    for m in msgs:
        out = subprocess.run(
            [sys.executable, "-c", PER_PROCESS, keys_file], input=m, capture_output=True, check=True
        ).stdout
        if out.strip() != b"signature ok":
            raise SystemExit(f"dkimverify: {out!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mixed", action="store_true")
    ap.add_argument("--cli")
    ap.add_argument("--per-process", type=int, default=0, metavar="N")
    ap.add_argument("--slice", type=int, default=2000, help="messages per turn of the in-process contenders")
    a = ap.parse_args()
    keys = records()
    msgs = corpus(a.messages, a.mixed)
    times = {"dkimpy": [], "mimeflow.dkim": [], "mimeflow.dkim (dict)": []}
    cli = {"cli -j1": [], "cli -j2": []}
    cold = []
    with tempfile.TemporaryDirectory() as tmp:
        mbox = os.path.join(tmp, "signed.mbox")
        with open(mbox, "wb") as f:
            for m in msgs:
                f.write(b"From dev@example.org Mon Jan  1 00:00:00 2024\n" + m + b"\n")
        held = mdkim.DkimKeys(keys)
        for _ in range(a.repeat):
            # The in-process contenders take turns on slices of the archive
            # (--slice messages each), so a slow spell of a shared machine
            # falls on all of them rather than on whichever ran then; each
            # run's time is the sum over the slices.
            run = dict.fromkeys(("dkimpy", "mimeflow.dkim", "mimeflow.dkim (dict)"), 0.0)
            for s in range(0, len(msgs), a.slice):
                part = msgs[s : s + a.slice]
                for name, fn, k in (
                    ("dkimpy", run_dkimpy, keys),
                    ("mimeflow.dkim", run_mimeflow_dict, held),
                    ("mimeflow.dkim (dict)", run_mimeflow_dict, keys),
                ):
                    t = time.perf_counter()
                    if name == "mimeflow.dkim":
                        # The turn's cold start, timed apart (see above).
                        fn(part[:1], k)
                        cold.append(time.perf_counter() - t)
                        fn(part[1:], k)
                    else:
                        fn(part, k)
                    run[name] += time.perf_counter() - t
            for name, took in run.items():
                times[name].append(took)
            if a.cli:
                for j in ("1", "2"):
                    t = time.perf_counter()
                    out = subprocess.run(
                        [a.cli, "dkim", "verify", mbox, "--keys", os.path.join(DATA, "keys.zone"), "-j", j],
                        check=True,
                        capture_output=True,
                    ).stdout.decode()
                    cli["cli -j" + j].append(time.perf_counter() - t)
                    last = out.strip().splitlines()[-1].split()
                    if last[:2] != ["all", str(a.messages)]:
                        raise SystemExit(f"cli: {out}")
        if a.per_process:
            # Once: N processes take a while, and the figure is per message.
            import json

            keys_file = os.path.join(tmp, "keys.json")
            with open(keys_file, "w") as f:
                json.dump(keys, f)
            sample = msgs[: a.per_process]
            t = time.perf_counter()
            run_per_process(sample, keys_file)
            per = (time.perf_counter() - t) / len(sample)
    times.update({k: v for k, v in cli.items() if v})
    base = statistics.median(times["dkimpy"])
    kind = "mixed RSA-2048/Ed25519" if a.mixed else "RSA-2048"
    print(f"{a.messages} signed messages ({kind}), median of {a.repeat} runs")
    print(f"{'contender':<21} {'seconds':>9} {'us/msg':>9} {'vs dkimpy':>10}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<21} {med:9.3f} {med / a.messages * 1e6:9.1f} {base / med:9.1f}x")
    turns = len(cold) // a.repeat
    ours = statistics.median(times["mimeflow.dkim"])
    warm = (ours - sum(cold) / a.repeat) / (a.messages - turns)
    print(
        f"mimeflow.dkim, first message of a turn: {statistics.median(cold) * 1e6:.1f} us"
        f" (the others {warm * 1e6:.1f} us; {turns} turns a run of {a.slice} messages)"
    )
    if a.per_process:
        print(
            f"{'dkimverify/msg':<21} {'':>9} {per * 1e6:9.1f} {base / a.messages / per:9.3f}x"
            f"  (one process per message, {len(sample)} messages)"
        )
    if cli["cli -j1"] and cli["cli -j2"]:
        print(f"scaling -j1 -> -j2: {statistics.median(cli['cli -j1']) / statistics.median(cli['cli -j2']):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
