"""One of CPython's own test suites, run against mimeflow's drop-ins.

Run by scripts/cpython_conformance.sh (read it first) with the interpreter
under test, which has mimeflow installed:

    python scripts/cpython_conformance_runner.py --suite test_binascii --mode swap

``--mode swap``: before the tests run, every module of the suite and of the
stdlib (``binascii``, ``base64``, ``email.*``) is searched for names bound
to the stdlib functions the suite exercises, wherever they were bound
(``binascii.a2b_base64``, ``email.base64mime.a2b_base64`` from ``from
binascii import``, ``email.encoders._bencode``, a test module's own ``from
... import``), and each is replaced by mimeflow's function wrapped in a call
counter.

``--mode install``: ``mimeflow.install()`` only, as a user would call it;
the calls are counted by a profile hook (``sys.setprofile``, every thread)
that recognises mimeflow's function objects, so nothing is wrapped.

Either way, a function of the suite's list that was called zero times fails
the run: a name swapped after a module had bound the original would leave
the stdlib running and the tests passing untouched. So does a failing test
that is not among the known differences (``MIMEFLOW_CONFORMANCE_KNOWN``,
lines of ``test id|reason``, set by the shell script). The last line of
output is ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import io
import json
import os
import sys
import threading
import unittest
from typing import Any, Callable, Dict, List, Tuple

# What each suite exercises: (stdlib module, name) -> the mimeflow function
# that replaces it, by dotted name. Every one must be called at least once.
_B64_BINASCII = ["binascii.a2b_base64", "binascii.b2a_base64"]
_B64_MODULE = [
    "base64.b64encode",
    "base64.b64decode",
    "base64.standard_b64encode",
    "base64.standard_b64decode",
    "base64.urlsafe_b64encode",
    "base64.urlsafe_b64decode",
    "base64.encodebytes",
    "base64.decodebytes",
]
_QP_BINASCII = ["binascii.a2b_qp", "binascii.b2a_qp"]
_QUOPRI = ["quopri.encode", "quopri.decode", "quopri.encodestring", "quopri.decodestring"]
_BASE64MIME = ["email.base64mime.body_encode", "email.base64mime.decode", "email.base64mime.header_encode"]
_QUOPRIMIME = [
    "email.quoprimime.body_encode",
    "email.quoprimime.decode",
    "email.quoprimime.header_encode",
    "email.quoprimime.header_decode",
]
# email._encoded_words: the header parser calls decode and encode through
# the module (`from email import _encoded_words as _ew`), test__encoded_words
# calls every codec the same way, and email.message bound decode_b at import
# (get_payload(decode=True) runs it on every Base64 body).
_ENCODED_WORDS = [
    "email._encoded_words." + n for n in ("decode_q", "encode_q", "decode_b", "encode_b", "decode", "encode")
]
_EW_LENGTHS = ["email._encoded_words.len_q", "email._encoded_words.len_b"]
# The email package's private hot spots that install() replaces
# (mimeflow.email._hotspots): contentmanager's Base64 line loop and the
# generator's line writing, a method.
_HOTSPOTS = ["email.contentmanager._encode_base64", "email.generator.Generator._write_lines"]
SUITES: Dict[str, List[str]] = {
    "test_binascii": _B64_BINASCII + _QP_BINASCII,
    "test_base64": _B64_MODULE,
    "test_quopri": _QP_BINASCII + _QUOPRI,
    # The email package reaches binascii through base64mime (bound at
    # import) and contentmanager (at call time), base64 through
    # encoders._bencode (bound at import), quopri through
    # encoders._encodestring (bound at import) and the message's payload
    # decoding, base64mime through email.charset. (base64.b64encode and
    # b64decode are called by email._encoded_words alone, which mimeflow's
    # encoded words replace as a whole, natively.)
    "test_email": _B64_BINASCII
    + ["base64.encodebytes"]
    + ["quopri.encodestring", "quopri.decodestring"]
    + _BASE64MIME
    + _QUOPRIMIME
    + _ENCODED_WORDS
    + _EW_LENGTHS
    + _HOTSPOTS,
}

# Left out of swap mode: mimeflow.quopri, swapped in for quopri's functions,
# calls the native QP codec itself, not through binascii's names (which
# test_binascii swaps and counts); install() replaces both.
# Nor, in test_email, the encoded words' length functions: only encode()
# calls them, and mimeflow's encode(), swapped in, calls mimeflow's own
# (install() counts them); nor the private hot spots, which only install()
# replaces (a method is no module attribute to swap).
SWAP_LEAVES_OUT: Dict[str, List[str]] = {"test_quopri": _QP_BINASCII, "test_email": _EW_LENGTHS + _HOTSPOTS}

REPLACEMENT = {
    **{name: "mimeflow.binascii." + name.split(".")[1] for name in _B64_BINASCII + _QP_BINASCII},
    **{name: "mimeflow." + name.split(".")[1] for name in _B64_MODULE},
    **{name: "mimeflow." + name for name in _QUOPRI + _BASE64MIME + _QUOPRIMIME},
    **{name: "mimeflow.email.encoded_words." + name.rpartition(".")[2] for name in _ENCODED_WORDS + _EW_LENGTHS},
    "email.contentmanager._encode_base64": "mimeflow.email._hotspots.encode_base64_lines",
    "email.generator.Generator._write_lines": "mimeflow.email._hotspots.write_lines",
}


def resolve(dotted: str) -> Any:
    """The object a dotted name names: the longest importable module
    prefix, then attributes (a class's method too)."""
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def related_modules(suite: str) -> List[Any]:
    """The modules whose names may be bound to a stdlib function: the suite's
    own and the stdlib's mail codecs (loaded by now)."""
    prefixes = ("test." + suite, "email", "base64", "binascii", "quopri")
    return [
        m
        for name, m in list(sys.modules.items())
        if m is not None and (name in prefixes or name.startswith(tuple(p + "." for p in prefixes)))
    ]


def swap(suite: str, names: List[str], counts: Dict[str, int]) -> List[str]:
    """Replace every binding of the listed stdlib functions by a counting
    wrapper of mimeflow's; returns the bindings replaced."""
    by_id: Dict[int, Tuple[Any, Callable[..., Any]]] = {}
    for name in names:
        original = resolve(name)
        new = resolve(REPLACEMENT[name])

        def counted(*args: Any, __name: str = name, __new: Any = new, **kwargs: Any) -> Any:
            counts[__name] += 1
            return __new(*args, **kwargs)

        functools.update_wrapper(counted, new)
        by_id[id(original)] = (original, counted)
    replaced = []
    for module in related_modules(suite):
        for attr, value in list(vars(module).items()):
            hit = by_id.get(id(value))
            if hit is not None and hit[0] is value:
                setattr(module, attr, hit[1])
                replaced.append(f"{module.__name__}.{attr}")
    return replaced


def profile_counter(names: List[str], counts: Dict[str, int]) -> Callable[..., Any]:
    """A profile hook counting calls of mimeflow's replacement functions:
    native ones by identity (``c_call``), Python ones by code object."""
    native: Dict[int, str] = {}
    code: Dict[Any, str] = {}
    for name in names:
        fn = resolve(REPLACEMENT[name])
        if hasattr(fn, "__code__"):
            code[fn.__code__] = name
        else:
            native[id(fn)] = name

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            name = native.get(id(arg))
            if name is not None:
                counts[name] += 1
        elif event == "call":
            name = code.get(frame.f_code)
            if name is not None:
                counts[name] += 1

    return hook


def stale(suite: str, names: List[str]) -> List[str]:
    """Bindings still holding the stdlib's function after install()."""
    originals = {id(v): v for v in (saved_originals.get(n) for n in names) if v is not None}
    found = []
    for module in related_modules(suite):
        for attr, value in list(vars(module).items()):
            if id(value) in originals and originals[id(value)] is value:
                found.append(f"{module.__name__}.{attr}")
    return found


saved_originals: Dict[str, Any] = {}


def known_differences() -> Dict[str, str]:
    known = {}
    for line in os.environ.get("MIMEFLOW_CONFORMANCE_KNOWN", "").splitlines():
        if line.strip():
            test_id, _, reason = line.partition("|")
            known[test_id.strip()] = reason.strip()
    return known


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", required=True, choices=sorted(SUITES))
    ap.add_argument("--mode", required=True, choices=["swap", "install"])
    args = ap.parse_args()
    suite, names = args.suite, SUITES[args.suite]
    if args.mode == "swap":
        names = [n for n in names if n not in SWAP_LEAVES_OUT.get(suite, [])]

    import mimeflow

    for name in names:
        saved_originals[name] = resolve(name)
    tests = unittest.defaultTestLoader.loadTestsFromName("test." + suite)
    counts: Dict[str, int] = collections.Counter({n: 0 for n in names})
    notes: List[str] = []
    if args.mode == "swap":
        replaced = swap(suite, names, counts)
        notes.append("swapped: " + ", ".join(replaced))
    else:
        mimeflow.install()
        left = stale(suite, names)
        if left:
            notes.append("still the stdlib's after install(): " + ", ".join(left))
        hook = profile_counter(names, counts)
        threading.setprofile(hook)
        sys.setprofile(hook)

    stream = io.StringIO()
    try:
        result = unittest.TextTestRunner(stream=stream, verbosity=0).run(tests)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
        if args.mode == "install":
            mimeflow.uninstall()

    known = known_differences()
    listed, unlisted = [], []
    for test, trace in result.failures + result.errors + [(t, "unexpected success") for t in result.unexpectedSuccesses]:
        (listed if test.id() in known else unlisted).append((test.id(), trace))
    failed_ids = {t for t, _ in listed}
    now_passing = sorted(t for t in known if t.startswith("test." + suite) and t not in failed_ids)
    for test_id, trace in unlisted:
        print(f"FAIL {test_id}\n{trace}", file=sys.stderr)
    for test_id, _ in listed:
        print(f"listed difference: {test_id}: {known[test_id]}")
    for test_id in now_passing:
        print(f"note: listed difference passes now: {test_id}")
    uncalled = sorted(n for n in names if counts[n] == 0)
    for note in notes:
        print(note)
    for name in names:
        print(f"  calls {name:32} -> {REPLACEMENT[name]}: {counts[name]}")
    if not names:
        print("  no mimeflow functions for this suite yet: the stdlib ran alone")
    for name in uncalled:
        print(f"ERROR: {REPLACEMENT[name]} (for {name}) was never called", file=sys.stderr)
    skipped = len(result.skipped)
    bad = len(unlisted)
    passed = result.testsRun - len(result.failures) - len(result.errors) - skipped - len(result.unexpectedSuccesses)
    summary = {
        "suite": suite,
        "mode": args.mode,
        "run": result.testsRun,
        "passed": passed,
        "skipped": skipped,
        "listed": len(listed),
        "failed": bad,
        "uncalled": uncalled,
        "calls": sum(counts.values()),
        "mimeflow": bool(names),
    }
    print("RESULT " + json.dumps(summary))
    return 1 if bad or uncalled else 0


if __name__ == "__main__":
    sys.exit(main())
