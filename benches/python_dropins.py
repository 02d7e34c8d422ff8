#!/usr/bin/env python3
"""The stdlib drop-ins (issue 14) against the stdlib, in the same run.

Run on a release build of the extension (``maturin develop --release``):

    python benches/python_dropins.py              # 64 KiB and 16 MiB, 7 runs
    python benches/python_dropins.py --sizes 65536 --repeat 15
    python benches/python_dropins.py --quick      # tiny, one run: does it work

Every operation runs on four payloads of the same size: English, German
and Cyrillic UTF-8 text (LF lines of at most 72 characters, words drawn
with a fixed seed) and random binary bytes. Each row shows the median time
of ``--repeat`` runs for the stdlib and for mimeflow, as GB/s of the raw
payload (so encoders and decoders compare), their ratio (stdlib time over
mimeflow time: above 1 is faster) and issue 14's target next to it, with
MET or NOT MET. Rows without a target are reported for information.
Before anything is timed, mimeflow's output is checked against the
stdlib's, so a wrong answer stops the bench instead of being measured.

The stdlib's ``email.quoprimime.decode`` and ``header_decode`` are loops
in Python over each character; they run at 64 KiB only (16 MiB would take
minutes per run), and so do the header functions, which see short text in
practice.
"""

import argparse
import base64
import binascii
import email.base64mime
import email.quoprimime
import quopri
import random
import sys

from _timing import cpu, human, measure

import mimeflow.binascii as mb
import mimeflow.email.base64mime as mbm
import mimeflow.email.quoprimime as mqm
import mimeflow.quopri as mquopri
from mimeflow import _native

ENGLISH = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there one all we their been has when who will more no if "
    "out so said what up its about into than them can only other new some could time these two "
    "may then do first any my now such like our over man me even most made after also did many "
    "message mail server address subject reply forward attachment meeting Monday report, "
    "please. thanks! regards: (draft) 2024 invoice #1234 100% $50 e-mail"
).split()
GERMAN = (
    "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an "
    "werden aus er hat daß sie nach wird bei einer um am sind noch wie einem über einen so zum "
    "war haben nur oder aber vor zur bis mehr durch man Jahr Straße Grüße Mädchen schön Brücke "
    "öffentlich Käse Tür Fußgänger Größe müssen können würde Bürger Änderung Übersicht Bestätigung, "
    "Rückfrage. Anhang: Besprechung Montag (Entwurf) 2024 Rechnung #1234 100% 50€ E-Mail"
).split()
CYRILLIC = (
    "и в не на я быть он с что а по это она этот к но они мы как из у который то за свой что весь "
    "год от так о для ты же все тот мочь вы человек такой его сказать только или ещё бы себя "
    "один как уже до время если сам когда другой вот говорить наш мой знать стать при чтобы дело "
    "письмо сообщение адрес тема ответ вложение встреча понедельник отчёт, пожалуйста. спасибо! "
    "(черновик) 2024 счёт №1234 100% 50₽ почта"
).split()


def text(words, size, seed):
    """UTF-8 text of exactly `size` bytes: LF-ended lines of at most 72
    characters of words drawn with `seed` (cut at the end, possibly inside
    a character: the codecs take bytes)."""
    rng = random.Random(seed)
    out, n = [], 0
    line = []
    width = 0
    while n < size:
        w = rng.choice(words)
        if width + len(w) + 1 > 72:
            s = (" ".join(line) + "\n").encode()
            out.append(s)
            n += len(s)
            line, width = [], 0
        line.append(w)
        width += len(w) + 1
    return b"".join(out)[:size]


def payloads(size):
    return {
        "English": text(ENGLISH, size, 1),
        "German": text(GERMAN, size, 2),
        "Cyrillic": text(CYRILLIC, size, 3),
        "binary": random.Random(4).randbytes(size),
    }


# Issue 14's targets: (operation, payload kind) -> least ratio; absent: none.
def target(op, kind):
    if op in ("a2b_base64", "b2a_base64", "b2a_qp"):
        return 5.0
    if op == "a2b_qp":
        return 3.0 if kind == "binary" else 1.0
    if op == "quoprimime.body_encode":
        return {"English": 3.0, "German": 20.0, "Cyrillic": 20.0}.get(kind)
    return None


def operations(data, size, big):
    """(name, input, mimeflow fn, stdlib fn) for one payload. `big`: the
    size is past what the per-character stdlib loops are run at."""
    latin1 = data.decode("latin-1")
    qp_text = binascii.b2a_qp(data)
    b64_lines = base64.encodebytes(data)
    ops = [
        ("a2b_base64", b64_lines, mb.a2b_base64, binascii.a2b_base64),
        ("b2a_base64", data, mb.b2a_base64, binascii.b2a_base64),
        ("b2a_qp", data, mb.b2a_qp, binascii.b2a_qp),
        ("b2a_qp(quotetabs=True)", data,
         lambda s: mb.b2a_qp(s, quotetabs=True), lambda s: binascii.b2a_qp(s, quotetabs=True)),
        ("b2a_qp(header=True)", data,
         lambda s: mb.b2a_qp(s, header=True), lambda s: binascii.b2a_qp(s, header=True)),
        ("a2b_qp", qp_text, mb.a2b_qp, binascii.a2b_qp),
        ("quopri.encodestring", data, mquopri.encodestring, quopri.encodestring),
        ("quopri.decodestring", qp_text, mquopri.decodestring, quopri.decodestring),
        ("quoprimime.body_encode", latin1, mqm.body_encode, email.quoprimime.body_encode),
        ("base64mime.body_encode", data, mbm.body_encode, email.base64mime.body_encode),
        ("base64mime.decode", b64_lines, mbm.decode, email.base64mime.decode),
    ]
    if not big:
        body_qp = email.quoprimime.body_encode(latin1)
        head = data[: min(len(data), 65536)]
        ops += [
            ("quoprimime.decode", body_qp, mqm.decode, email.quoprimime.decode),
            ("quoprimime.header_encode", head, mqm.header_encode, email.quoprimime.header_encode),
            ("quoprimime.header_decode", email.quoprimime.header_encode(head)[15:-2],
             mqm.header_decode, email.quoprimime.header_decode),
        ]
    return ops


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64 << 10, 16 << 20], help="payload sizes in bytes")
    ap.add_argument("--repeat", type=int, default=7, help="runs per median")
    ap.add_argument("--min-time", type=float, default=0.05, help="least seconds per run")
    ap.add_argument("--only", nargs="+", help="operations to run (names as printed)")
    ap.add_argument("--quick", action="store_true", help="4 KiB, one short run: checks that it works")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat, args.min_time = [4096], 1, 0.0

    print(f"cpu: {cpu()}")
    print(f"python {sys.version.split()[0]}, mimeflow backend {_native.backend()}")
    print(f"command: {' '.join([sys.executable.rsplit('/', 1)[-1]] + sys.argv)}")
    print(f"GB/s of the raw payload, median of {args.repeat} runs; ratio = stdlib time / mimeflow time\n")
    head = (f"{'operation':26} {'data':8} {'size':>7} {'stdlib':>8} {'mimeflow':>9} "
            f"{'ratio':>8} {'target':>7}  verdict")
    print(head)
    print("-" * len(head))
    verdicts = []
    for size in args.sizes:
        big = size > (64 << 10)
        for kind, data in payloads(size).items():
            for name, arg, ours, theirs in operations(data, size, big):
                if args.only and name not in args.only:
                    continue
                want = theirs(arg)
                got = ours(arg)
                assert got == want, f"{name} {kind} {size}: mimeflow's output differs from the stdlib's"
                t_std = measure(theirs, arg, args.repeat, args.min_time)
                t_ours = measure(ours, arg, args.repeat, args.min_time)
                ratio = t_std / t_ours
                goal = target(name, kind)
                verdict = "" if goal is None else ("MET" if ratio >= goal else "NOT MET")
                if goal is not None:
                    verdicts.append(verdict == "MET")
                goal_s = "-" if goal is None else f"{goal:.1f}x"
                print(f"{name:26} {kind:8} {human(size):>7} {size / t_std / 1e9:8.3f} "
                      f"{size / t_ours / 1e9:9.3f} {ratio:7.2f}x {goal_s:>7}  {verdict}", flush=True)
    print(f"\ntargets met: {sum(verdicts)} of {len(verdicts)}")


if __name__ == "__main__":
    main()
