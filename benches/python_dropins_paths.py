#!/usr/bin/env python3
"""What ``mimeflow.install()`` changes for the stdlib's own mail paths
(issue 14, figures with no target), stdlib against installed in the same
run. Run on a release build of the extension (``maturin develop --release``):

    python benches/python_dropins_paths.py                 # both paths, 5 runs
    python benches/python_dropins_paths.py --repeat 9 --only compose
    python benches/python_dropins_paths.py --quick         # does it work

Two paths, each timed with the stdlib as it is and inside
``mimeflow.installed()``, alternating run by run (so a busy neighbour
slows both alike), as medians:

- compose: an ``email.message.EmailMessage`` (``policy.default``) with a
  short UTF-8 text body and a 10 MiB binary attachment (``add_attachment``,
  so ``email.contentmanager`` encodes it as Base64), serialised with
  ``as_bytes()`` (its policy's ``\n``) and with ``email.policy.SMTP``
  (``\r\n``); the composing and the serialising are timed apart too,
  since most of the latter is the generator's line loop, not a codec;
- corpora: every message of the shared corpora (``../shared/corpora``, see
  its README; the row is skipped when it is absent) parsed with
  ``email.message_from_bytes(policy=email.policy.default)``, every header
  read as its ``str`` (the header parser, which decodes every RFC 2047
  encoded word) and every leaf part's ``get_payload(decode=True)``.

Before anything is timed, both modes' results are compared (the
serialised message; every header string and decoded payload of the
corpora), so a wrong answer stops the bench instead of being measured.
"""

import argparse
import email
import email.policy
import pathlib
import random
import re
import statistics
import sys
import time
from email.message import EmailMessage

from _timing import cpu

import mimeflow
from mimeflow import _native

CORPORA = pathlib.Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
_FROM_LINE = re.compile(rb"(?:^|\n)From ")


def corpus_messages():
    """Every message of the corpora as bytes (mailboxes cut at "From "
    lines), in a stable order; the same reading as python/tests/test_corpora.py."""
    items = []
    for manifest in sorted(CORPORA.glob("*/MANIFEST.tsv")):
        for line in manifest.read_text().splitlines():
            if not line or line.startswith("#"):
                continue
            rel, _, kind = line.partition("\t")
            path = manifest.parent / rel
            if not path.is_file():
                continue
            data = path.read_bytes()
            if kind == "eml":
                items.append(data)
            elif kind in ("mbox", "mboxrd"):
                starts = [m.start() + (1 if m.group().startswith(b"\n") else 0) for m in _FROM_LINE.finditer(data)]
                starts.append(len(data))
                for a, b in zip(starts, starts[1:]):
                    chunk = data[a:b]
                    nl = chunk.find(b"\n")
                    items.append(chunk[nl + 1 :] if nl >= 0 else b"")
    return items


def read_all(messages):
    """Parse every message, read every header and decode every leaf part:
    what the run produced (header strings, payloads, or the exception's
    class name where the stdlib raises)."""
    out = []
    for raw in messages:
        try:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            for part in msg.walk():
                out.extend(str(v) for v in part.values())
                if not part.is_multipart():
                    out.append(part.get_payload(decode=True))
        except Exception as e:  # noqa: BLE001 - the stdlib's failure is a result too
            out.append(type(e).__name__)
    return out


def compose(attachment):
    msg = EmailMessage()
    msg["From"] = "Jörg Müller <joerg@example.org>"
    msg["To"] = "Пётр <petr@example.org>"
    msg["Subject"] = "Grüße: der Bericht, 10 MiB"
    msg.set_content("Hallo,\n\nanbei der Bericht.\n\nSchöne Grüße\nJörg\n")
    msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="bericht.bin")
    msg.set_boundary("==boundary==")
    return msg


def serialise(msg):
    return msg.as_bytes()


def serialise_smtp(msg):
    return msg.as_bytes(policy=email.policy.SMTP)


def timed(fn, *args):
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def compare(name, fn, repeat, *args):
    """Median seconds of `fn(*args)` without and with install(), runs
    alternating; prints the row."""
    std, ours = [], []
    for _ in range(repeat):
        std.append(timed(fn, *args))
        with mimeflow.installed():
            ours.append(timed(fn, *args))
    s, o = statistics.median(std), statistics.median(ours)
    print(f"{name:34} {s:9.3f} s {o:9.3f} s {s / o:7.2f}x", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per median")
    ap.add_argument("--size", type=int, default=10 << 20, help="attachment bytes")
    ap.add_argument("--only", choices=["compose", "corpora"], help="one path")
    ap.add_argument("--quick", action="store_true", help="64 KiB attachment, 50 messages, one run")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeat, args.size = 1, 64 << 10

    print(f"cpu: {cpu()}")
    print(f"python {sys.version.split()[0]}, mimeflow backend {_native.backend()}")
    print(f"command: {' '.join([sys.executable.rsplit('/', 1)[-1]] + sys.argv)}")
    print(f"median of {args.repeat} runs each, stdlib and install() alternating; ratio = stdlib / installed\n")
    print(f"{'path':34} {'stdlib':>11} {'installed':>11} {'ratio':>8}")

    if args.only in (None, "compose"):
        attachment = random.Random(4).randbytes(args.size)
        plain = serialise(compose(attachment))
        with mimeflow.installed():
            ours = serialise(compose(attachment))
            ours_smtp = serialise_smtp(compose(attachment))
        assert ours == plain, "install() changed the serialised message"
        assert ours_smtp == serialise_smtp(compose(attachment)), "install() changed the SMTP serialisation"
        label = f"{args.size / (1 << 20):g} MiB"
        compare(f"compose ({label} attachment)", compose, args.repeat, attachment)
        msg = compose(attachment)
        compare("serialise (as_bytes)", serialise, args.repeat, msg)
        compare("serialise (as_bytes, SMTP: CRLF)", serialise_smtp, args.repeat, msg)
        compare("compose + serialise", lambda a: serialise(compose(a)), args.repeat, attachment)

    if args.only in (None, "corpora"):
        if not CORPORA.is_dir():
            print(f"corpora: skipped, {CORPORA} is absent")
        else:
            messages = corpus_messages()
            if args.quick:
                messages = messages[:50]
            plain = read_all(messages)
            with mimeflow.installed():
                ours = read_all(messages)
            assert ours == plain, "install() changed what the corpora read as"
            mb = sum(map(len, messages)) / 1e6
            compare(f"corpora ({len(messages)} msgs, {mb:.1f} MB)", read_all, args.repeat, messages)


if __name__ == "__main__":
    main()
