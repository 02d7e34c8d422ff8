"""mimeflow's Base64 functions against the stdlib's, differentially.

Every function must give the stdlib's output for every input, or raise where
the stdlib raises: decode errors as a ``mimeflow.DecodeError`` (which is a
``binascii.Error``) whose message starts with binascii's, other errors with
the stdlib's exact type and message.
"""

import array
import base64
import binascii
import inspect
import os
import sys
import threading
import time
import types

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import mimeflow
from mimeflow import _native

MIB = 1 << 20


def outcome(f, *args, **kwargs):
    try:
        return ("ok", f(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - any exception is an outcome here
        return ("err", e)


def assert_same(ours, theirs, *args, **kwargs):
    """`ours(*args)` behaves as `theirs(*args)`: same value, or same error."""
    want = outcome(theirs, *args, **kwargs)
    got = outcome(ours, *args, **kwargs)
    if want[0] == "ok":
        assert got == want, (args, kwargs)
        assert type(got[1]) is bytes
        return
    assert got[0] == "err", (args, kwargs, want, got)
    exp, err = want[1], got[1]
    if isinstance(exp, binascii.Error):
        assert isinstance(err, mimeflow.DecodeError), (args, kwargs, exp, err)
        assert isinstance(err, binascii.Error)
        assert isinstance(err, mimeflow.MimeflowError)
        assert str(err).startswith(str(exp)), (args, kwargs, str(exp), str(err))
    else:
        assert type(err) is type(exp), (args, kwargs, exp, err)
        if not isinstance(exp, AssertionError):
            assert str(err) == str(exp), (args, kwargs)


# --- encoders ---------------------------------------------------------------

ENCODERS = [
    (mimeflow.b64encode, base64.b64encode),
    (mimeflow.standard_b64encode, base64.standard_b64encode),
    (mimeflow.urlsafe_b64encode, base64.urlsafe_b64encode),
    (mimeflow.encodebytes, base64.encodebytes),
    (lambda s: mimeflow.b64encode(s, b"-_"), lambda s: base64.b64encode(s, b"-_")),
    (lambda s: mimeflow.b64encode(s, b"*!"), lambda s: base64.b64encode(s, b"*!")),
    (
        lambda s: mimeflow.b64encode(s, bytearray(b"._")),
        lambda s: base64.b64encode(s, bytearray(b"._")),
    ),
]


@given(st.binary(max_size=3000))
def test_encoders_random(data):
    for ours, theirs in ENCODERS:
        assert ours(data) == theirs(data)


@pytest.mark.parametrize("n", [*range(201), 4095, 4096, 4097, MIB, MIB + 1, MIB + 2])
def test_encodebytes_decodebytes_sizes(n):
    data = os.urandom(n)
    enc = mimeflow.encodebytes(data)
    assert enc == base64.encodebytes(data)
    assert mimeflow.decodebytes(enc) == data
    assert mimeflow.b64encode(data) == base64.b64encode(data)
    assert mimeflow.urlsafe_b64encode(data) == base64.urlsafe_b64encode(data)
    assert mimeflow.b64decode(enc) == data
    crlf = mimeflow.encodebytes(data, crlf=True)
    assert crlf == enc.replace(b"\n", b"\r\n")
    assert mimeflow.decodebytes(crlf) == data


def reference_lines(data, wrapcol, crlf, trailing):
    """An independent wrapper: the stdlib's one-line output, sliced."""
    text = base64.b64encode(data)
    if not wrapcol or not text:
        return text + (b"\n" if trailing and text else b"")
    eol = b"\r\n" if crlf else b"\n"
    lines = [text[i : i + wrapcol] for i in range(0, len(text), wrapcol)]
    return eol.join(lines) + (eol if trailing else b"")


@given(st.binary(max_size=2000), st.integers(0, 200), st.booleans())
@example(b"x" * 57, 76, False)
@example(b"", 76, True)
@example(b"abc", 1, True)
def test_wrapcol(data, wrapcol, crlf):
    assert mimeflow.b64encode(data, wrapcol=wrapcol, crlf=crlf) == reference_lines(
        data, wrapcol, crlf, trailing=False
    )
    got = mimeflow.encodebytes(data, wrapcol=wrapcol, crlf=crlf)
    if wrapcol:
        assert got == reference_lines(data, wrapcol, crlf, trailing=True)
    else:
        assert got == (base64.b64encode(data) + (b"\r\n" if crlf else b"\n") if data else b"")


@pytest.mark.parametrize("wrapcol", [1, 3, 4, 5, 64, 75, 76, 77, 1000])
@pytest.mark.parametrize("crlf", [False, True])
def test_wrapcol_large(wrapcol, crlf):
    # Large enough for the multi-threaded encoder.
    data = os.urandom(3 * MIB + 5)
    assert mimeflow.b64encode(data, wrapcol=wrapcol, crlf=crlf) == reference_lines(
        data, wrapcol, crlf, trailing=False
    )
    assert mimeflow.encodebytes(data, wrapcol=wrapcol, crlf=crlf) == reference_lines(
        data, wrapcol, crlf, trailing=True
    )


def test_encodebytes_matches_textwrap():
    import textwrap

    data = os.urandom(1000)
    text = base64.b64encode(data).decode()
    want = "".join(line + "\n" for line in textwrap.wrap(text, 76))
    assert mimeflow.encodebytes(data) == want.encode()


# --- decoders ---------------------------------------------------------------

DECODERS = [
    (mimeflow.b64decode, base64.b64decode),
    (lambda s: mimeflow.b64decode(s, validate=True), lambda s: base64.b64decode(s, validate=True)),
    (mimeflow.standard_b64decode, base64.standard_b64decode),
    (mimeflow.urlsafe_b64decode, base64.urlsafe_b64decode),
    (mimeflow.decodebytes, base64.decodebytes),
    (lambda s: mimeflow.b64decode(s, b"-_"), lambda s: base64.b64decode(s, b"-_")),
    (
        lambda s: mimeflow.b64decode(s, b"-_", validate=True),
        lambda s: base64.b64decode(s, b"-_", validate=True),
    ),
    (lambda s: mimeflow.b64decode(s, b"*!"), lambda s: base64.b64decode(s, b"*!")),
    (
        lambda s: mimeflow.b64decode(s, "*!", validate=True),
        lambda s: base64.b64decode(s, "*!", validate=True),
    ),
]

TOKENS = [
    *[bytes([c]) for c in b"AQgw+/09az"],
    b"QUJD",
    b"QUJDRA",
    b"=",
    b"==",
    b" ",
    b"\n",
    b"\r\n",
    b"\t",
    b"-",
    b"_",
    b"!",
    b"*",
    b"\x00",
    b"\xff",
    b".",
]
adversarial = st.lists(st.sampled_from(TOKENS), max_size=40).map(b"".join)


@st.composite
def noisy_encodings(draw):
    """Valid encodings (std or URL-safe, MIME lines or not) with a few edits."""
    data = draw(st.binary(max_size=300))
    enc = draw(
        st.sampled_from(
            [base64.b64encode, base64.urlsafe_b64encode, base64.encodebytes, lambda d: base64.encodebytes(d).replace(b"\n", b"\r\n")]
        )
    )(data)
    edits = draw(st.lists(st.tuples(st.integers(0, max(len(enc), 1)), st.sampled_from(TOKENS + [b""])), max_size=3))
    for pos, tok in edits:
        enc = enc[:pos] + tok + enc[pos + 1 :]
    return enc


KNOWN_CORNERS = [
    b"",
    b"QQ==QQ==",
    b"=QQ==",
    b"QQ=",
    b"QQ=a=",
    b"QUJD==",
    b"QUJD=",
    b"QUJD=QUJD",
    b" QQ==",
    b"QQ==\n",
    b"QQ",
    b"Q",
    b"Q=",
    b"Q=UJD",
    b"QUJDQ=U=",
    b"QU=A=",
    b"QU=\n=",
    b"QUJ==",
    b"==",
    b"=",
    b"QUJDQ",
    b"QUJDQ=",
    b"QU-_",
    b"QU+/",
    b"YQ==\r\n",
]


@pytest.mark.parametrize("s", KNOWN_CORNERS)
def test_decoders_corners(s):
    for ours, theirs in DECODERS:
        assert_same(ours, theirs, s)


def test_validate_corners():
    assert mimeflow.b64decode(b"QQ==QQ==") == b"A"
    for s in [b"=QQ==", b"QQ=", b"QQ=a=", b" QQ==", b"QQ==\n"]:
        with pytest.raises(mimeflow.DecodeError):
            mimeflow.b64decode(s, validate=True)
    # CPython before 3.13 skips '=' at a quantum boundary in strict mode.
    if sys.version_info < (3, 13):
        assert mimeflow.b64decode(b"QUJD==", validate=True) == b"ABC"
    else:
        with pytest.raises(mimeflow.DecodeError, match="Excess padding"):
            mimeflow.b64decode(b"QUJD==", validate=True)


@given(adversarial)
def test_decoders_adversarial(s):
    for ours, theirs in DECODERS:
        assert_same(ours, theirs, s)


@given(noisy_encodings())
def test_decoders_noisy(s):
    for ours, theirs in DECODERS:
        assert_same(ours, theirs, s)


@given(st.binary(max_size=200))
def test_decoders_random_bytes(s):
    for ours, theirs in DECODERS:
        assert_same(ours, theirs, s)


def test_error_messages():
    with pytest.raises(mimeflow.DecodeError, match=r"^Incorrect padding \(at byte 2\)$"):
        mimeflow.b64decode(b"QQ")
    # validate=True follows the running interpreter: before 3.11 the stdlib
    # checks a pattern first and says so in its own words.
    if sys.version_info >= (3, 11):
        expected = r"^Only base64 data is allowed \(at byte 2\)$"
    else:
        expected = r"^Non-base64 digit found$"
    with pytest.raises(mimeflow.DecodeError, match=expected):
        mimeflow.b64decode(b"QQ!=", validate=True)
    with pytest.raises(mimeflow.DecodeError, match=r"number of data characters \(5\)"):
        mimeflow.b64decode(b"QU!JDQ")
    with pytest.raises(binascii.Error):
        mimeflow.decodebytes(b"QUJDQ")


def test_exception_hierarchy():
    assert issubclass(mimeflow.DecodeError, mimeflow.MimeflowError)
    assert issubclass(mimeflow.DecodeError, binascii.Error)
    assert issubclass(mimeflow.DecodeError, ValueError)
    assert issubclass(mimeflow.ParseError, mimeflow.MimeflowError)
    assert issubclass(mimeflow.ParseError, ValueError)
    assert not issubclass(mimeflow.ParseError, binascii.Error)


# --- large inputs (multi-threaded and detached paths) -----------------------


@pytest.fixture(scope="module")
def big():
    data = os.urandom(4 * MIB + 7)
    return data, base64.b64encode(data), base64.encodebytes(data)


@pytest.mark.parametrize("validate", [False, True])
def test_large_roundtrip(big, validate):
    data, enc, mime = big
    assert mimeflow.b64decode(enc, validate=validate) == data
    assert mimeflow.b64decode(bytearray(enc), validate=validate) == data
    assert mimeflow.b64decode(memoryview(enc), validate=validate) == data
    assert mimeflow.b64decode(enc.decode(), validate=validate) == data
    assert mimeflow.decodebytes(mime) == data
    assert mimeflow.decodebytes(mime.replace(b"\n", b"\r\n")) == data
    assert mimeflow.urlsafe_b64decode(base64.urlsafe_b64encode(data)) == data


@pytest.mark.parametrize("where", [0, 1, 262143, 262144, 262145, 1 << 21, -5, -1])
@pytest.mark.parametrize("bad", [b"!", b"=", b"\n", b"A"])
def test_large_errors(big, where, bad):
    """An irregularity anywhere in a large input: exact stdlib outcome."""
    _, enc, mime = big
    for text in (enc, mime):
        s = bytearray(text)
        s[where] = bad[0]
        s = bytes(s)
        for ours, theirs in DECODERS[:2]:
            assert_same(ours, theirs, s)


def test_large_inserted_padding(big):
    _, enc, _ = big
    s = enc[: 1 << 20] + b"=" + enc[1 << 20 :]
    for ours, theirs in DECODERS[:5]:
        assert_same(ours, theirs, s)


# --- input types ------------------------------------------------------------

B64 = b"QUJDRA=="


def typed_inputs():
    return [
        B64,
        bytearray(B64),
        memoryview(B64),
        memoryview(b"QxUxJxDxRxAx=x=x")[::2],  # strided
        memoryview(B64).cast("c"),
        memoryview(B64).cast("b"),
        memoryview(B64).cast("B", (2, 4)),  # 2-D
        array.array("B", B64),
        array.array("b", B64),
        array.array("i", [0x44434251, 0x3D3D4152]),  # 'QBCDRA==' little-endian
        memoryview(b""),
        memoryview(b"")[::2],
        type("BytesSub", (bytes,), {})(B64),
        B64.decode(),
        "QUJDRA==\u00e9",
        "\udcff",
        "",
        5,
        None,
        [65, 66],
        object(),
    ]


@pytest.mark.parametrize("idx", range(len(typed_inputs())))
def test_input_types(idx):
    s = typed_inputs()[idx]
    for ours, theirs in DECODERS + ENCODERS:
        assert_same(ours, theirs, s)


ALTCHARS = [None, b"-_", b"*!", b"+/", b"--", "-_", bytearray(b"-_"), memoryview(b"*!"), b"-", b"-_x", "-_x", "\u00e9_", 5]


@pytest.mark.parametrize("altchars", ALTCHARS, ids=repr)
@pytest.mark.parametrize("validate", [False, True, 1, 0, None, "x", 2.5])
def test_altchars_and_validate(altchars, validate):
    for s in [b"QU-_", b"QU+/", b"QU*!", "QU-_", b"QUJD", b"QU-", 5, B64, b"QUJD=\n"]:
        assert_same(mimeflow.b64decode, base64.b64decode, s, altchars, validate)


@pytest.mark.parametrize("altchars", ALTCHARS, ids=repr)
def test_encode_altchars(altchars):
    for s in [b"\xfb\xff\xbf", b"", "str", memoryview(b"\xfb\xff\xbf")[::2], bytearray(b"\xfb\xef")]:
        assert_same(mimeflow.b64encode, base64.b64encode, s, altchars)


# --- the GIL is released for large inputs -----------------------------------


def progress_during(call, calls=200, budget_s=5.0):
    """How far a pure-Python thread got while `call()` ran, per call.

    With a huge switch interval the interpreter never forces a thread off
    the GIL, and the counting thread gives it up after every step
    (``sleep(0)``), so the counter can only move while the calling thread
    is inside ``call`` if ``call`` itself released the GIL: without a
    release every entry is exactly 0. With one, the counting thread still
    needs the OS to wake it within the call (about a millisecond here), so
    this keeps calling until the counter moves, up to `calls` calls or
    `budget_s` seconds.
    """
    state = {"n": 0, "stop": False}

    def count():
        while not state["stop"]:
            state["n"] += 1
            time.sleep(0)

    old = sys.getswitchinterval()
    t = threading.Thread(target=count)
    t.start()
    try:
        while state["n"] == 0:
            time.sleep(0.001)
        sys.setswitchinterval(1000.0)
        time.sleep(0)  # let the counter settle into its give-and-take
        advances = []
        deadline = time.monotonic() + budget_s
        while len(advances) < calls and time.monotonic() < deadline:
            before = state["n"]
            call()
            advances.append(state["n"] - before)
            if advances[-1]:
                break
        return advances
    finally:
        sys.setswitchinterval(old)
        state["stop"] = True
        t.join()


@pytest.mark.skipif(hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled(), reason="no GIL")
def test_gil_released_for_large_inputs():
    data = os.urandom(12 * MIB)
    enc = base64.b64encode(data)
    mime = base64.encodebytes(data)
    for call in [
        lambda: mimeflow.b64decode(enc),
        lambda: mimeflow.b64decode(enc, validate=True),
        lambda: mimeflow.decodebytes(mime),
        lambda: mimeflow.b64encode(data),
        lambda: mimeflow.encodebytes(data),
        lambda: mimeflow.urlsafe_b64decode(enc),
    ]:
        assert max(progress_during(call)) > 0
    # Control: a small call stays attached, and nothing ever moves meanwhile.
    assert set(progress_during(lambda: mimeflow.b64decode(b"QUJD"), calls=2000)) == {0}


def test_threads_decode_concurrently(big):
    data, enc, mime = big
    results = [None] * 4

    def work(i):
        results[i] = mimeflow.decodebytes(mime) if i % 2 else mimeflow.b64decode(enc, validate=True)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == data for r in results)


# --- package surface --------------------------------------------------------


def test_all_exports():
    assert sorted(mimeflow.__all__) == sorted(
        [
            "b64encode",
            "b64decode",
            "standard_b64encode",
            "standard_b64decode",
            "urlsafe_b64encode",
            "urlsafe_b64decode",
            "encodebytes",
            "decodebytes",
            "MimeflowError",
            "DecodeError",
            "ParseError",
            "parse",
            "Message",
            "Part",
            "MboxError",
            "ConvertError",
            "ComposeError",
            "mbox",
            "convert",
            "MessageBuilder",
            "compose",
            "normalize",
            "schema",
            "Schema",
            "binascii",
            "dkim",
            "install",
            "uninstall",
            "installed",
            "is_installed",
        ]
    )
    for name in mimeflow.__all__:
        assert hasattr(mimeflow, name)
    assert isinstance(_native.backend(), str)


def test_backend_uses_the_cli_names():
    # The names MIMEFLOW_SIMD and `mimeflow bench` use, not Rust's Debug form.
    assert _native.backend() in {"scalar", "base64-simd", "avx2", "avx512vbmi"}


# --- the stdlib functions are one native call --------------------------------


@pytest.mark.parametrize("name", ["b64encode", "b64decode", "encodebytes", "decodebytes"])
def test_native_with_stdlib_parameters(name):
    """The four are the extension's functions themselves (no Python frame in
    front: at 256 B it cost as much as a whole pybase64 call), and take the
    stdlib's parameters by the stdlib's names."""
    ours = getattr(mimeflow, name)
    assert ours is getattr(mimeflow._native, name)
    assert isinstance(ours, types.BuiltinFunctionType)
    theirs = inspect.signature(getattr(base64, name)).parameters
    mine = inspect.signature(ours).parameters
    for param, p in theirs.items():
        assert mine[param].kind == p.kind and mine[param].default == p.default, param
    data = b"\xfb\xff\xbf" * 100
    enc = base64.b64encode(data)
    by_keyword = {
        "b64encode": lambda: ours(s=data),
        "b64decode": lambda: ours(s=enc, altchars=None, validate=True),
        "encodebytes": lambda: ours(s=data),
        "decodebytes": lambda: ours(s=base64.encodebytes(data)),
    }
    want = enc if name == "b64encode" else base64.encodebytes(data) if name == "encodebytes" else data
    assert by_keyword[name]() == want


@pytest.mark.parametrize("arg", [bytearray(b"QUJD\n"), memoryview(b"QUJD\n"), memoryview(b"QxUxJxDx")[::2],
                                 array.array("B", b"QUJD"), array.array("H", b"QUJD"), "QUJD", None])
def test_bytes_buffers_other_than_bytes(arg):
    """What the native encodebytes/decodebytes hand to mimeflow._base64 (any
    input but an exact bytes) raises or returns as the stdlib does."""
    assert_same(mimeflow.decodebytes, base64.decodebytes, arg)
    assert_same(mimeflow.encodebytes, base64.encodebytes, arg)
