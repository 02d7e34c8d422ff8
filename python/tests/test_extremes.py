"""Every Python entry point, called with extreme numbers in every parameter
(issue 9 item 12): the only outcomes allowed are a result or one of the
documented exceptions, all of them ``Exception`` subclasses. A panic in the
native code reaches Python as ``pyo3_runtime.PanicException``, a
``BaseException`` that ``except Exception`` misses; an abort, a hang or an
attempt to allocate without bound are failures too.

The entry points are enumerated, not listed: ``mimeflow.__all__``, the
``__all__`` of its submodules, every public callable of ``_native``, and the
public methods, properties and protocol methods of every class found there.
``RECIPES`` says how to call each with valid arguments; a new entry point
without a recipe fails ``test_every_entry_point_has_a_recipe``. Each entry
point then runs in a child interpreter (``python test_extremes.py NAME
DIR``), so that a crash or a hang is reported as such, with each of its
parameters in turn replaced by each value of ``EXTREMES``.
"""

import inspect
import json
import os
import pathlib
import subprocess
import sys

import pytest

import mimeflow
from mimeflow import _native

EXTREMES = [
    0,
    -1,
    2**31,
    2**32,
    2**62 + 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63),
    1e20,
    -1e20,
    1e300,
    float("inf"),
    float("-inf"),
    float("nan"),
]

# What the documentation promises: bad arguments are TypeError or
# ValueError (every mimeflow error but I/O is one), out-of-range integers
# OverflowError, files OSError; iterators end with StopIteration.
ALLOWED = (TypeError, ValueError, OverflowError, OSError, StopIteration)

PROTOCOL = ("__len__", "__iter__", "__next__", "__repr__")

# A child gets this long for all calls of one entry point.
CHILD_TIMEOUT = 120


def entry_points():
    """Qualified names of every public callable and property."""
    found = {}

    def add_class(prefix, cls):
        for name in dir(cls):
            if name.startswith("_") and name not in PROTOCOL:
                continue
            if name.startswith("_") and name not in cls.__dict__:
                continue
            found.setdefault(f"{prefix}.{name}", (cls, name))

    def add(prefix, obj):
        if isinstance(obj, type):
            if not issubclass(obj, BaseException):
                add_class(prefix, obj)
        elif callable(obj):
            found.setdefault(prefix, obj)

    for name in mimeflow.__all__:
        obj = getattr(mimeflow, name)
        if inspect.ismodule(obj):
            for sub in obj.__all__:
                add(f"{name}.{sub}", getattr(obj, sub))
        else:
            add(name, obj)
    seen = {id(v) for v in found.values() if not isinstance(v, tuple)}
    seen |= {id(v[0]) for v in found.values() if isinstance(v, tuple)}
    for name in dir(_native):
        obj = getattr(_native, name)
        if name.startswith("_") or id(obj) in seen:
            continue
        if isinstance(obj, type) or callable(obj):
            add(f"_native.{name}", obj)
    return sorted(found)


class Fresh:
    """An argument made anew for each call (an output path, a reader)."""

    def __init__(self, make):
        self.make = make


MESSAGE = (
    b"Subject: two\nContent-Type: multipart/mixed; boundary=b\n\n"
    b"--b\nContent-Type: text/plain\n\nx\n--b\n"
    b"Content-Disposition: attachment; filename=a.bin\n"
    b"Content-Transfer-Encoding: base64\n\nAAEC\n--b--\n"
)
MBOX = (
    b"From a@example.org Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n\n"
    b"From b@example.org Mon Jan  1 00:00:01 2024\n" + MESSAGE
)


def recipes(tmp):
    """name -> (function, positional args, keyword args, post-processing)."""
    tmp = pathlib.Path(tmp)
    box = tmp / "in.mbox"
    box.write_bytes(MBOX)
    eml = tmp / "in.eml"
    eml.write_bytes(MESSAGE)
    counter = iter(range(10**9))

    def fresh_dir():
        return str(tmp / f"out{next(counter)}")

    # Over the 8 MiB parallel threshold, where b64encode's wrapped split
    # used to overflow (wrapcol=2**62+1).
    big = bytes(range(256)) * (9 << 12)
    big_b64 = mimeflow.b64encode(big)
    msg = mimeflow.parse(MESSAGE)
    part = msg.walk()[2]
    builder = (
        mimeflow.MessageBuilder()
        .from_("a@example.org")
        .to("b@example.org")
        .text("hi\n")
        .attach(b"data", "a.bin")
    )
    r = {}

    def add(name, fn, args=(), kwargs=None, post=None):
        r[name] = (fn, list(args), dict(kwargs or {}), post)

    def prop(name, obj, attr):
        add(name, lambda: getattr(obj, attr))

    # Base64, both layers.
    add("b64encode", mimeflow.b64encode, [big], {"altchars": None, "wrapcol": 76, "crlf": True})
    add("b64decode", mimeflow.b64decode, [big_b64], {"altchars": None, "validate": False})
    # The stdlib drop-ins (binascii's names; quoprimime's natives), and
    # install() with its inverse and context manager.
    qp_text = "Grüße, Привет = \t\n.\n".encode() * 4096
    add("binascii.b2a_base64", mimeflow.binascii.b2a_base64, [big], {"newline": True})
    if sys.version_info >= (3, 11):
        add("binascii.a2b_base64", mimeflow.binascii.a2b_base64, [big_b64.replace(b"\n", b"")],
            {"strict_mode": False})
    else:
        add("binascii.a2b_base64", mimeflow.binascii.a2b_base64, [big_b64])
    add("binascii.b2a_qp", mimeflow.binascii.b2a_qp, [qp_text],
        {"quotetabs": False, "istext": True, "header": False})
    add("binascii.a2b_qp", mimeflow.binascii.a2b_qp, [mimeflow.binascii.b2a_qp(qp_text)],
        {"header": False})
    add("_native.quoprimime_body_encode", _native.quoprimime_body_encode,
        [qp_text.decode().encode("latin-1", "replace"), 76, b"\n"])
    add("_native.quoprimime_decode", _native.quoprimime_decode, [b"a=3Db=\nc", b"\n"])
    add("_native.quoprimime_header_encode", _native.quoprimime_header_encode, [b"a b=c\xe9"])
    add("_native.quoprimime_header_decode", _native.quoprimime_header_decode, [b"a_b=3Dc"])
    # DKIM: an Ed25519 key of the test data signs; the verifier gets its
    # record as an offline key (no DNS: dns_server stays None).
    testdata = pathlib.Path(__file__).resolve().parents[2] / "testdata"
    dkim_key = (testdata / "dkim" / "ed25519.pem").read_text()
    record = mimeflow.dkim.key_record(dkim_key)
    # DKIM signs From (RFC 6376 §5.4): the signer refuses mail without one.
    signable = b"From: a@example.org\n" + MESSAGE
    signed = mimeflow.dkim.sign(signable, "example.org", "sel", dkim_key)
    dkim_keys = {"sel._domainkey.example.org": record}
    add("dkim.sign", mimeflow.dkim.sign, [signable, "example.org", "sel", dkim_key],
        {"timestamp": 1_700_000_000, "expiration": 1_800_000_000, "headers": None,
         "body_length": False})
    add("_native.dkim_sign", _native.dkim_sign, [signable, "example.org", "sel", dkim_key],
        {"timestamp": 1_700_000_000, "expiration": 1_800_000_000, "headers": None,
         "body_length": False})
    # dkim.verify is _native.dkim_verify itself: one entry point, one recipe.
    add("dkim.verify", mimeflow.dkim.verify, [signed],
        {"keys": dkim_keys, "as_of": 1_750_000_000, "allow_sha1": False,
         "dns_server": None, "dns_timeout": 2.0})
    add("dkim.key_record", mimeflow.dkim.key_record, [dkim_key])
    add("_native.dkim_key_record", _native.dkim_key_record, [dkim_key])
    verdict = mimeflow.dkim.verify(signed, keys=dkim_keys)[0]
    for n in ("domain", "selector", "algorithm", "result", "reason", "key_source"):
        prop(f"dkim.DkimResult.{n}", verdict, n)
    add("dkim.DkimResult.__repr__", verdict.__repr__)
    held = mimeflow.dkim.DkimKeys(dkim_keys)
    add("dkim.DkimKeys.__len__", held.__len__)
    add("dkim.DkimKeys.__repr__", held.__repr__)
    for n in ("install", "uninstall", "is_installed"):
        add(n, getattr(mimeflow, n))
    add("installed", mimeflow.installed,
        post=lambda cm: (cm.__enter__(), cm.__exit__(None, None, None)))
    for n in ("standard_b64encode", "urlsafe_b64encode"):
        add(n, getattr(mimeflow, n), [big])
    for n in ("standard_b64decode", "urlsafe_b64decode", "decodebytes"):
        add(n, getattr(mimeflow, n), [big_b64])
    add("encodebytes", mimeflow.encodebytes, [big], {"wrapcol": 76, "crlf": False})
    add(
        "_native.encode",
        _native.encode,
        [big, 76],
        {"crlf": False, "newline": True, "urlsafe": False},
    )
    add("_native.decode", _native.decode, [big_b64], {"strict": False, "altchars": None})
    add("_native.backend", _native.backend)

    # Parsing.
    add(
        "parse",
        mimeflow.parse,
        [MESSAGE],
        {
            "strict": False,
            "max_depth": 100,
            "max_parts": 1000,
            "max_header_fields": 100,
            "max_header_bytes": 1 << 16,
            "max_line_length": 1 << 16,
            "max_decoded_bytes": 1 << 20,
        },
        post=lambda m: [(p.section, repr(p), p.payload()) for p in m.walk()],
    )
    add("Message.__len__", lambda: len(msg))
    add("Message.__repr__", lambda: repr(msg))
    for n in ("defects", "headers", "parts", "raw_headers", "root"):
        prop(f"Message.{n}", msg, n)
    add("Message.get", msg.get, ["Subject"], {"default": None})
    add("Message.section", msg.section, ["2"])
    for n in ("attachments", "structure", "to_bytes", "to_email", "walk"):
        add(f"Message.{n}", getattr(msg, n))
    add("Part.__repr__", lambda: repr(part))
    for n in (
        "charset",
        "children",
        "content_type",
        "defects",
        "depth",
        "disposition",
        "filename",
        "headers",
        "index",
        "is_attachment",
        "is_multipart",
        "kind",
        "params",
        "parent",
        "raw_headers",
        "section",
        "transfer_encoding",
    ):
        prop(f"Part.{n}", part, n)
    add("Part.get", part.get, ["Content-Type"], {"default": None})
    for n in ("body", "decode_defects", "payload", "raw", "structure", "text", "to_email"):
        add(f"Part.{n}", getattr(part, n))

    # Archives.
    add(
        "mbox.open",
        mimeflow.mbox.open,
        [str(box)],
        {"variant": None, "unquote_mboxo": False, "with_info": True, "max_message": 1 << 20},
        post=lambda rd: [(i.index, i.offset, i.length, i.envelope, m.to_bytes()) for i, m in rd],
    )
    add("mbox.plan_splits", mimeflow.mbox.plan_splits, [str(box), 4], {"variant": None})
    add(
        "mbox.process_range",
        mimeflow.mbox.process_range,
        [str(box), 0, len(MBOX), "mboxrd"],
        {"unquote_mboxo": False},
    )

    def reader():
        return mimeflow.mbox.open(str(box), with_info=True)

    add("mbox.MboxReader.__iter__", lambda: iter(reader()))
    add("mbox.MboxReader.__next__", lambda: [next(reader()) for _ in range(1)])
    add("mbox.MboxReader.__repr__", lambda: repr(reader()))
    add("mbox.MboxReader.skipped", lambda: reader().skipped)
    add("mbox.MboxReader.variant", lambda: reader().variant)
    def consume(stream):
        # The rows themselves, through the Arrow C stream interface.
        try:
            import pyarrow
        except ImportError:
            return stream.__arrow_c_stream__()
        return pyarrow.table(stream).to_pylist()

    add(
        "mbox.read_arrow",
        mimeflow.mbox.read_arrow,
        [str(box), None],
        {"raw": True, "variant": None, "copy": False},
        post=consume,
    )
    add(
        "mbox.range_table",
        mimeflow.mbox.range_table,
        [str(box), 0, len(MBOX), "mboxrd", None],
        {"raw": True},
        post=consume,
    )
    add("mbox.ArrowStream.__repr__", lambda: repr(mimeflow.mbox.read_arrow(str(box))))
    # The pieces of a distributed reader (mimeflow.dask).
    add("mbox.sniff", mimeflow.mbox.sniff, [MBOX], {"complete": True})
    add(
        "mbox.find_cut",
        mimeflow.mbox.find_cut,
        [MBOX, 10, "lf"],
        {"archive_start": True, "eof": True},
    )
    add(
        "mbox.piece_table",
        mimeflow.mbox.piece_table,
        [MBOX, 0, str(box), "mboxrd", None],
        {"raw": True, "threads": 2},
        post=consume,
    )
    add(
        "mbox.files_table",
        mimeflow.mbox.files_table,
        [[("cur/1:2,S", MESSAGE), ("new/2", MBOX)]],
        {"maildir": True, "columns": None, "raw": True, "threads": 2},
        post=consume,
    )
    keys = ["source", "offset", "message_id", "in_reply_to", "references"]
    add(
        "mbox.thread_table",
        mimeflow.mbox.thread_table,
        [Fresh(lambda: mimeflow.mbox.read_arrow(str(box), keys))],
        post=consume,
    )
    add(
        "schema",
        mimeflow.schema,
        [],
        {"raw": True, "columns": None},
        post=lambda sch: (sch.names, sch.version, repr(sch)),
    )
    sch = mimeflow.schema()
    add("Schema.__repr__", lambda: repr(sch))
    prop("Schema.names", sch, "names")
    prop("Schema.version", sch, "version")
    info = next(reader())[0]
    for n in ("envelope", "index", "length", "offset"):
        prop(f"mbox.EntryInfo.{n}", info, n)
    add("mbox.EntryInfo.__repr__", lambda: repr(info))
    add(
        "convert",
        mimeflow.convert,
        [str(box), Fresh(fresh_dir)],
        {
            "to": "jsonl",
            "jobs": 2,
            "progress": lambda *a: None,
            "variant": None,
            "skip_deleted": False,
            "text": True,
            "attachments": Fresh(fresh_dir),
            "resume": False,
            "force": False,
            "dkim": True,
            "dkim_keys": dkim_keys,
            "dkim_as_of": 1_750_000_000,
            "dkim_allow_sha1": False,
        },
    )

    # Writing.
    add("normalize", mimeflow.normalize, [MESSAGE])
    add(
        "compose",
        mimeflow.compose,
        [],
        {
            "from_": "a@example.org",
            "to": "b@example.org",
            "cc": "c@example.org",
            "bcc": "d@example.org",
            "reply_to": "e@example.org",
            "subject": "s",
            "date": 0,
            "message_id": "x@y",
            "headers": {"X-A": "b"},
            "text": "t",
            "html": "<p>h</p>",
            "attachments": [(b"x", "a.txt")],
            "inline": {"logo": b"\x89PNG"},
            "messages": [MESSAGE],
            "transport": "7bit",
            "write_bcc": False,
        },
    )
    b = "MessageBuilder"
    add(f"{b}.__repr__", lambda: repr(builder))
    for n in ("from_", "to", "cc", "bcc", "reply_to"):
        add(f"{b}.{n}", Fresh(lambda n=n: getattr(builder.copy(), n)), ["x@example.org"])
    add(f"{b}.subject", Fresh(lambda: builder.copy().subject), ["s"])
    add(f"{b}.date", Fresh(lambda: builder.copy().date), [1.5e9])
    add(f"{b}.message_id", Fresh(lambda: builder.copy().message_id), ["x@y"])
    add(f"{b}.header", Fresh(lambda: builder.copy().header), ["X-A", "v"])
    add(f"{b}.text", Fresh(lambda: builder.copy().text), ["t"])
    add(f"{b}.html", Fresh(lambda: builder.copy().html), ["h"])
    add(
        f"{b}.attach",
        Fresh(lambda: builder.copy().attach),
        [b"x"],
        {"filename": "a.txt", "content_type": "text/plain"},
        post=lambda bb: bb.build(),
    )
    add(
        f"{b}.inline",
        Fresh(lambda: builder.copy().html("<img src=cid:c>").inline),
        [b"x", "c"],
        {"filename": "a.png", "content_type": "image/png"},
        post=lambda bb: bb.build(),
    )
    add(
        f"{b}.attach_message",
        Fresh(lambda: builder.copy().attach_message),
        [MESSAGE],
        {"filename": "m.eml"},
        post=lambda bb: bb.build(),
    )
    add(f"{b}.transport", Fresh(lambda: builder.copy().transport), ["8bit"])
    add(f"{b}.write_bcc", Fresh(lambda: builder.copy().write_bcc), [True])
    add(f"{b}.dkim_sign", Fresh(lambda: builder.copy().dkim_sign), ["example.org", "sel", dkim_key])
    for n in ("recipients", "copy", "build"):
        add(f"{b}.{n}", getattr(builder, n))
    add(f"{b}.write_to", builder.write_to, [Fresh(lambda: str(tmp / f"w{next(counter)}.eml"))])
    return r


def _value(v):
    return v.make() if isinstance(v, Fresh) else v


def call(recipe, pos=None, key=None, value=None):
    """Calls the recipe, with positional `pos` or keyword `key` replaced."""
    fn, args, kwargs, post = recipe
    args = [_value(a) for a in args]
    kwargs = {k: _value(v) for k, v in kwargs.items()}
    if pos is not None:
        args[pos] = value
    if key is not None:
        kwargs[key] = value
    result = _value(fn)(*args, **kwargs)
    if post is not None:
        post(result)


def run_child(name, tmp):
    """Every call of entry point `name`; returns what went wrong."""
    recipe = recipes(tmp)[name]
    problems = []

    def attempt(label, **how):
        try:
            call(recipe, **how)
        except ALLOWED:
            pass
        except BaseException as e:  # noqa: BLE001 - PanicException is the point
            problems.append(f"{name}({label}): {type(e).__module__}.{type(e).__name__}: {e}")

    # The recipe itself must work: it is what the extremes are compared to.
    try:
        call(recipe)
    except BaseException as e:  # noqa: BLE001
        problems.append(f"{name}: the recipe fails: {type(e).__name__}: {e}")
    _, args, kwargs, _ = recipe
    for value in EXTREMES:
        for i in range(len(args)):
            attempt(f"arg {i} = {value!r}", pos=i, value=value)
        for k in kwargs:
            attempt(f"{k}={value!r}", key=k, value=value)
    return problems


def test_every_entry_point_has_a_recipe(tmp_path):
    assert sorted(recipes(tmp_path)) == entry_points()


@pytest.mark.parametrize("name", entry_points())
def test_extreme_numbers(name, tmp_path):
    try:
        out = subprocess.run(
            [sys.executable, __file__, name, str(tmp_path)],
            capture_output=True,
            timeout=CHILD_TIMEOUT,
            env={**os.environ, "RUST_BACKTRACE": "0"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: no answer within {CHILD_TIMEOUT} s (a hang on an extreme value)")
    assert out.returncode == 0, (
        f"{name}: the child died (status {out.returncode}):\n{out.stderr.decode()[-2000:]}"
    )
    problems = json.loads(out.stdout.decode().splitlines()[-1])
    assert problems == []


if __name__ == "__main__":
    print(json.dumps(run_child(sys.argv[1], sys.argv[2])))
