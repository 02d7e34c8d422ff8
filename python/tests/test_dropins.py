"""mimeflow.binascii and mimeflow.install() against the running stdlib.

Every test is differential: the stdlib function of this interpreter is the
oracle, called on the same input, and the result (or the exception's type
and message) must be the same, byte for byte. CPython's own test suites run
against the same functions in scripts/cpython_conformance.sh.
"""

import array
import base64
import binascii
import email
import email._encoded_words as ew
import email.base64mime
import email.contentmanager
import email.encoders
import email.generator
import email.header
import email.message
import email.policy
import email.quoprimime
import io
import quopri
import subprocess
import sys
from email.message import EmailMessage

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import mimeflow
import mimeflow.email._hotspots as hot
import mimeflow.email.base64mime as mbm
import mimeflow.email.encoded_words as mew
import mimeflow.email.quoprimime as mqm
import mimeflow.quopri as mq
from mimeflow import binascii as mb

STRICT = sys.version_info >= (3, 11)


def outcome(f, *args, **kwargs):
    """("ok", result) or ("err", exception) of a call."""
    try:
        return "ok", f(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the exception is the result
        return "err", e


def assert_same(ours, theirs, messages=True):
    """Same result, or an exception of the stdlib's type (or a subclass)
    with the same message."""
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "ok":
        assert type(ours[1]) is type(theirs[1])
        assert ours[1] == theirs[1]
    else:
        assert isinstance(ours[1], type(theirs[1])), (ours, theirs)
        if messages:
            assert str(ours[1]) == str(theirs[1])


def check_decode(data, **kwargs):
    ours = outcome(mb.a2b_base64, data, **kwargs)
    assert_same(ours, outcome(binascii.a2b_base64, data, **kwargs))
    if ours[0] == "err":
        # Decode errors are mimeflow's, and still binascii.Error.
        assert isinstance(ours[1], (mimeflow.DecodeError, TypeError, ValueError))
    return ours


def modes():
    return [{}, {"strict_mode": False}, {"strict_mode": True}] if STRICT else [{}]


# The alphabet of padding corner cases: data, padding, and what strict mode
# refuses, in short strings where every combination is reachable.
corner = st.binary(max_size=24).map(lambda b: bytes(b"AQ=\n *"[c % 6] for c in b))


@given(st.binary(max_size=300))
@example(b"")
@example(b"QUJD=")
@example(b"=QUJD")
@example(b"QUJD=QQ==")
@example(b"abcd====")
@example(b"a")
@example(b"A\tB\nC ??DE")
def test_decode_random_bytes(data):
    for kwargs in modes():
        check_decode(data, **kwargs)


@given(corner)
def test_decode_padding_corners(data):
    for kwargs in modes():
        check_decode(data, **kwargs)


@given(
    st.binary(max_size=200),
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(b" \t\r\n\x0b\x0c!#$%-.:?@_~\x00\xff")), max_size=20),
)
def test_decode_random_whitespace(raw, inserts):
    # Valid Base64 with stray bytes put in at random places.
    text = bytearray(binascii.b2a_base64(raw, newline=False))
    for pos, byte in inserts:
        text.insert(pos % (len(text) + 1), byte)
    for kwargs in modes():
        check_decode(bytes(text), **kwargs)


@given(st.binary(min_size=0, max_size=600), st.sampled_from([b"\n", b"\r\n"]))
def test_decode_every_line_length(raw, eol):
    text = binascii.b2a_base64(raw, newline=False)
    for width in range(1, 201):
        wrapped = eol.join(text[i : i + width] for i in range(0, len(text), width)) + eol
        for kwargs in modes():
            check_decode(wrapped, **kwargs)
        assert mb.a2b_base64(wrapped) == raw


@given(st.one_of(corner, st.binary(max_size=40)), st.sampled_from([True, 1, "yes", False, 0]))
@example(b"QUJD=", True)
@example(b"QU=JD", 1)
def test_b64decode_validate(data, validate):
    # mimeflow.b64decode is what install() puts into base64: validate as the
    # running interpreter's (a pattern check before 3.11, strict_mode after;
    # any true value counts). mimeflow's messages add the offset.
    ours = outcome(mimeflow.b64decode, data, validate=validate)
    theirs = outcome(base64.b64decode, data, validate=validate)
    assert_same(ours, theirs, messages=False)
    if ours[0] == "err":
        assert str(ours[1]).startswith(str(theirs[1]))


@given(st.binary(max_size=1000))
def test_encode(data):
    assert_same(outcome(mb.b2a_base64, data), outcome(binascii.b2a_base64, data))
    for newline in (True, False, 0, 1):
        assert_same(
            outcome(mb.b2a_base64, data, newline=newline),
            outcome(binascii.b2a_base64, data, newline=newline),
        )


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 70_000, (1 << 20) + 7])
def test_large_inputs(size):
    # Across the detach and parallel thresholds, with an error at the end.
    raw = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert mb.b2a_base64(raw) == binascii.b2a_base64(raw)
    text = binascii.b2a_base64(raw)
    for kwargs in modes():
        check_decode(text, **kwargs)
        check_decode(text.replace(b"\n", b"\n!"), **kwargs)
        check_decode(text[:-1] + b"A", **kwargs)
        check_decode(text + b"=A", **kwargs)


def inputs():
    yield b"QUJD"
    yield bytearray(b"QUJD")
    yield memoryview(b"QUJD")
    yield array.array("B", b"QUJD")
    yield array.array("I", [0x44434241])
    yield "QUJD"
    yield "QUJ\u00e9"
    yield "QUJ\ud800"
    yield memoryview(b"QxUxJxDx")[::2]
    yield 1
    yield None
    yield [1, 2]


@pytest.mark.parametrize("data", list(inputs()), ids=repr)
def test_input_types(data):
    check_decode(data)
    assert_same(outcome(mb.b2a_base64, data), outcome(binascii.b2a_base64, data))


@pytest.mark.parametrize("flag", [0, 1, 2, -1, True, False, 2.5, "x", "", None, 1 << 40, [1]], ids=repr)
def test_flags(flag):
    # Integers before 3.12, truth values from 3.12: as the running binascii.
    assert_same(
        outcome(mb.b2a_base64, b"abc", newline=flag),
        outcome(binascii.b2a_base64, b"abc", newline=flag),
        messages=False,
    )
    assert_same(
        outcome(mb.a2b_base64, b"QUJD=", strict_mode=flag),
        outcome(binascii.a2b_base64, b"QUJD=", strict_mode=flag),
        messages=False,
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda f: f(),
        lambda f: f(b"QUJD", True),
        lambda f: f(data=b"QUJD"),
        lambda f: f(b"QUJD", unknown=1),
    ],
)
def test_signature_errors(call):
    for ours, theirs in ((mb.a2b_base64, binascii.a2b_base64), (mb.b2a_base64, binascii.b2a_base64)):
        assert_same(outcome(call, ours), outcome(call, theirs), messages=False)


# Quoted-printable: the alphabet of its corner cases (escapes, soft
# breaks, blanks before line ends, lone dots, header underscores).
QP_ALPHABET = b"aZ=3Df \t\r\n._\x00\xe9\x0b\x1c\x1f"
qp_text = st.binary(max_size=300).map(lambda b: bytes(QP_ALPHABET[c % len(QP_ALPHABET)] for c in b))
qp_any = st.one_of(st.binary(max_size=300), qp_text)
# Lines of every length from 1 to 200 (plain, blank-ended, dotted).
line_lengths = st.tuples(
    st.integers(1, 200), st.sampled_from([b"x", b" ", b"\t", b".", b"=", b"\xe9", b"_"]), st.sampled_from([b"\n", b"\r\n"])
)


@given(qp_any, st.booleans())
@example(b"=", False)
@example(b"a=\r junk\nb", False)
@example(b"a_b=_", True)
def test_a2b_qp(data, header):
    assert_same(outcome(mb.a2b_qp, data, header=header), outcome(binascii.a2b_qp, data, header=header))
    assert_same(outcome(mq.decodestring, data, header), outcome(quopri.decodestring, data, header))


@given(qp_any, st.booleans(), st.booleans(), st.booleans())
@example(b".", False, True, False)
@example(b"a \nb\t", False, True, False)
def test_b2a_qp(data, quotetabs, istext, header):
    kw = dict(quotetabs=quotetabs, istext=istext, header=header)
    ours = outcome(mb.b2a_qp, data, **kw)
    assert_same(ours, outcome(binascii.b2a_qp, data, **kw))
    assert mb.a2b_qp(ours[1], header=header) == binascii.a2b_qp(ours[1], header=header)
    assert_same(
        outcome(mq.encodestring, data, quotetabs, header),
        outcome(quopri.encodestring, data, quotetabs, header),
    )


@given(line_lengths, st.integers(1, 4))
def test_qp_every_line_length(shape, lines):
    width, byte, eol = shape
    data = eol.join([b"a" * (width - 1) + byte] * lines) + eol
    for kw in (dict(), dict(quotetabs=True), dict(header=True), dict(istext=False)):
        assert mb.b2a_qp(data, **kw) == binascii.b2a_qp(data, **kw)
    text = data.decode("latin-1")
    for maxlinelen in (4, 5, 76, width):
        if maxlinelen >= 4:
            assert mqm.body_encode(text, maxlinelen) == email.quoprimime.body_encode(text, maxlinelen)
    encoded = email.quoprimime.body_encode(text)
    assert mqm.decode(encoded) == email.quoprimime.decode(encoded)


def test_quopri_files():
    data = b"Gr\xfc\xdfe = hello \n.\n" * 100
    for quotetabs in (False, True):
        ours, theirs = io.BytesIO(), io.BytesIO()
        mq.encode(io.BytesIO(data), ours, quotetabs)
        quopri.encode(io.BytesIO(data), theirs, quotetabs)
        assert ours.getvalue() == theirs.getvalue()
        back_ours, back_theirs = io.BytesIO(), io.BytesIO()
        mq.decode(io.BytesIO(ours.getvalue()), back_ours)
        quopri.decode(io.BytesIO(theirs.getvalue()), back_theirs)
        assert back_ours.getvalue() == back_theirs.getvalue() == data


@pytest.mark.parametrize("data", ["QUJD", "=41", "\u00e9", 1, None, memoryview(b"=41")], ids=repr)
def test_qp_input_types(data):
    assert_same(outcome(mb.a2b_qp, data), outcome(binascii.a2b_qp, data))
    assert_same(outcome(mb.b2a_qp, data), outcome(binascii.b2a_qp, data))


texts = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=300),
    st.text(max_size=50),
    qp_text.map(lambda b: b.decode("latin-1")),
)
eols = st.sampled_from(["\n", "\r\n", "", "\r", "\u00e9", "\u2028"])


@given(texts, st.integers(-1, 120), eols)
def test_quoprimime_body_encode(text, maxlinelen, eol):
    assert_same(
        outcome(mqm.body_encode, text, maxlinelen, eol),
        outcome(email.quoprimime.body_encode, text, maxlinelen, eol),
    )


@given(texts, eols)
def test_quoprimime_decode(text, eol):
    # Arbitrary text, and the encoding of it.
    for encoded in (text, email.quoprimime.body_encode(text)):
        assert_same(outcome(mqm.decode, encoded, eol), outcome(email.quoprimime.decode, encoded, eol))


@given(st.binary(max_size=200), texts)
def test_quoprimime_headers(raw, text):
    assert_same(outcome(mqm.header_encode, raw), outcome(email.quoprimime.header_encode, raw))
    assert_same(outcome(mqm.header_encode, raw, "utf-8"), outcome(email.quoprimime.header_encode, raw, "utf-8"))
    assert_same(outcome(mqm.header_decode, text), outcome(email.quoprimime.header_decode, text))


@given(st.binary(max_size=500), st.integers(-2, 200), st.sampled_from(["\n", "\r\n", "", "\r"]))
def test_base64mime(raw, maxlinelen, eol):
    assert_same(
        outcome(mbm.body_encode, raw, maxlinelen, eol),
        outcome(email.base64mime.body_encode, raw, maxlinelen, eol),
    )
    text = email.base64mime.body_encode(raw) or ""  # 3.9: b'' for b''
    assert_same(outcome(mbm.decode, text), outcome(email.base64mime.decode, text))
    assert_same(outcome(mbm.decode, text.encode()), outcome(email.base64mime.decode, text.encode()))
    assert_same(outcome(mbm.header_encode, raw), outcome(email.base64mime.header_encode, raw))
    latin = raw.decode("latin-1")
    assert_same(outcome(mbm.header_encode, latin), outcome(email.base64mime.header_encode, latin))


def test_huge_outputs():
    # Outputs past buffer::HUGE_OUTPUT (8 MiB), whose fresh storage is
    # advised for huge pages: b2a_qp's pieces written into its bytes, and
    # body_encode's str made by one copy. Cyrillic UTF-8: nearly every
    # byte escaped, 3 MiB in, 9 MiB out.
    line = "Съешь же ещё этих мягких французских булок, да выпей чаю.\n".encode()
    raw = line * ((3 << 20) // len(line))
    assert mb.b2a_qp(raw) == binascii.b2a_qp(raw)
    assert mb.b2a_base64(raw * 3) == binascii.b2a_base64(raw * 3)
    text = raw.decode("latin-1")
    for eol in ("\n", "\r\n", "\u00e9"):
        assert mqm.body_encode(text, 76, eol) == email.quoprimime.body_encode(text, 76, eol)


def test_fresh_huge_outputs():
    # Outputs past glibc's 32 MiB mmap threshold are new memory every
    # call, which buffer::Prefault faults in before the codec's threads
    # write it: every call site that does so, against the stdlib.
    raw = bytes(range(256)) * ((33 << 20) // 256) + b"tail"
    enc = base64.b64encode(raw)
    assert mimeflow.b64encode(raw) == enc
    assert mb.b2a_base64(raw) == binascii.b2a_base64(raw)
    assert mimeflow.encodebytes(raw) == base64.encodebytes(raw)
    for validate in (False, True):
        assert mimeflow.b64decode(enc, validate=validate) == raw
    url = base64.urlsafe_b64encode(raw)
    assert mimeflow.urlsafe_b64decode(url) == raw
    assert mb.a2b_base64(enc) == raw


# email._encoded_words: results with their defect lists, compared by the
# defects' classes and messages (each call makes new defect objects).


def plain(result):
    """A result with every defect replaced by (class, message), and every
    other value by (type, value), so that bytes and bytearray differ."""
    if isinstance(result, tuple):
        return tuple(plain(r) for r in result)
    if isinstance(result, list):
        return [(type(d), str(d)) for d in result]
    return (type(result), result)


def assert_same_ew(ours, theirs):
    def norm(o):
        return o if o[0] == "err" else ("ok", plain(o[1]))

    assert_same(norm(ours), norm(theirs))


# Base64 words: what encoders write, with its padding cut short, whitespace
# and stray characters put in, and random bytes.
b64_text = st.binary(max_size=60).map(lambda b: base64.b64encode(b))
b64_words = st.one_of(
    b64_text,
    b64_text.map(lambda b: b.rstrip(b"=")),
    st.tuples(b64_text, st.lists(st.tuples(st.integers(0, 100), st.sampled_from(b" \t\r\n?!=_*-\x80\xff")))).map(
        lambda t: _insert(t[0], t[1])
    ),
    corner,
    st.binary(max_size=40),
)


def _insert(data, inserts):
    out = bytearray(data)
    for pos, c in inserts:
        out.insert(pos % (len(out) + 1), c)
    return bytes(out)


q_words = st.one_of(
    st.binary(max_size=80).map(lambda b: ew.encode_q(b).encode("ascii")),
    st.binary(max_size=40).map(lambda b: bytes(b"=_aF0gG \x80"[c % 9] for c in b)),
    st.binary(max_size=80),
)


@given(b64_words)
@example(b"QUJD=")
@example(b"QUJD=QQ==")
@example(b"A")
@example(b"AB=C")
@example(b"YWJj\nZA")
def test_ew_decode_b(data):
    assert_same_ew(outcome(mew.decode_b, data), outcome(ew.decode_b, data))
    assert_same_ew(outcome(mew.decode_b, bytearray(data)), outcome(ew.decode_b, bytearray(data)))


@given(st.integers(1, 200), st.sampled_from([b"\n", b"\r\n", b" "]), st.binary(max_size=400))
def test_ew_decode_b_every_line_length(width, sep, raw):
    # Message.get_payload(decode=True) hands decode_b a whole body with its
    # line breaks taken out; the word text may also keep them.
    text = base64.b64encode(raw)
    lines = sep.join(text[i : i + width] for i in range(0, len(text), width))
    for data in (lines, lines.replace(sep, b"")):
        assert_same_ew(outcome(mew.decode_b, data), outcome(ew.decode_b, data))


@given(q_words)
@example(b"=4")
@example(b"=5F_=5f")
def test_ew_decode_q(data):
    assert_same_ew(outcome(mew.decode_q, data), outcome(ew.decode_q, data))


@given(st.binary(max_size=200))
def test_ew_encoders(raw):
    for name in ("encode_q", "len_q", "encode_b", "len_b"):
        assert_same(outcome(getattr(mew, name), raw), outcome(getattr(ew, name), raw))


@pytest.mark.parametrize("data", ["QUJD", "=41", 1, None, memoryview(b"=41"), bytearray(b"=41 x"), [65, 32]], ids=repr)
def test_ew_input_types(data):
    for name in ("decode_q", "encode_q", "len_q", "decode_b", "encode_b", "len_b"):
        assert_same_ew(outcome(getattr(mew, name), data), outcome(getattr(ew, name), data))


charsets = st.sampled_from(["utf-8", "latin-1", "iso-8859-1", "us-ascii", "koi8-r", "unknown-8bit", "x-unknown", "UTF-8"])


@given(
    st.one_of(st.text(max_size=60), st.text(alphabet=st.characters(max_codepoint=255), max_size=60)),
    charsets,
    st.sampled_from([None, "q", "b", "x"]),
    st.sampled_from(["", "en", "de-CH"]),
)
def test_ew_encode_and_decode(text, charset, encoding, lang):
    ours = outcome(mew.encode, text, charset, encoding, lang)
    assert_same(ours, outcome(ew.encode, text, charset, encoding, lang))
    if ours[0] == "ok":
        assert_same_ew(outcome(mew.decode, ours[1]), outcome(ew.decode, ours[1]))


@given(charsets, st.sampled_from(["q", "Q", "b", "B", "x"]), st.one_of(b64_words, q_words), st.sampled_from(["", "*en"]))
@example("utf-8", "b", b"QUJD=", "")
@example("utf-8", "q", b"=C3=A9=FF", "")
def test_ew_decode_words(charset, cte, raw, lang):
    # The word's text as the header parser hands it over: str, with
    # undecodable bytes as surrogate escapes.
    word = "=?%s%s?%s?%s?=" % (charset, lang, cte, raw.replace(b"?", b"").decode("ascii", "surrogateescape"))
    assert_same_ew(outcome(mew.decode, word), outcome(ew.decode, word))


@pytest.mark.parametrize("word", ["=?utf-8?q?a?b?=", "=?utf-8?q?", "", "=?utf-8?x?abc?=", "=?ut\udcff?q?a?="], ids=repr)
def test_ew_malformed_words(word):
    assert_same_ew(outcome(mew.decode, word), outcome(ew.decode, word))


# The email package's private hot spots (mimeflow.email._hotspots).


@given(st.binary(max_size=2000), st.one_of(st.integers(-2, 200), st.sampled_from([None, 78.0])))
@example(b"", 78)
@example(b"abc", 3)
def test_encode_base64_lines(data, max_line_length):
    import email.contentmanager

    std = hot._std_encode_base64
    assert email.contentmanager._encode_base64 in (std, hot.encode_base64_lines)
    for d in (data, bytearray(data), memoryview(data)):
        assert_same(outcome(hot.encode_base64_lines, d, max_line_length), outcome(std, d, max_line_length))


line_ends = st.lists(st.sampled_from(["a", "b c", "\r", "\n", "\r\n", "\u00e9", "=", "\udcff"]), max_size=60).map("".join)


@given(line_ends, st.sampled_from(["\n", "\r\n", "\r", "", "\\1", "\\n", "X\\g<0>"]))
@example("a\rb\r\n\nc\n", "\\")
@example("a\nb\n", "\r\n")
@example("a\nb", "\\1")
def test_write_lines(text, linesep):
    # Through Generator and BytesGenerator, with the policy's line end
    # (backslashes included, which a template would read).
    import email.generator

    def run(write_lines):
        saved = email.generator.Generator._write_lines
        email.generator.Generator._write_lines = write_lines
        try:
            policy = email.policy.default.clone(linesep=linesep)
            sio, bio = io.StringIO(), io.BytesIO()
            out = []
            for cls, f in ((email.generator.Generator, sio), (email.generator.BytesGenerator, bio)):
                g = cls(f, policy=policy)
                g._NL = policy.linesep  # as flatten() sets it
                out.append(outcome(g._write_lines, text)[0])
                out.append(f.getvalue())  # what was written before any error
            return out
        finally:
            email.generator.Generator._write_lines = saved

    assert run(hot.write_lines) == run(hot._std_write_lines)


def test_module_attributes():
    assert mb.Error is binascii.Error
    assert mb.Incomplete is binascii.Incomplete
    assert issubclass(mimeflow.DecodeError, binascii.Error)
    assert ("strict_mode" in mb.a2b_base64.__text_signature__) == STRICT


# install() / uninstall() / installed()

PATCHED = [
    (binascii, "a2b_base64", lambda: mb.a2b_base64),
    (binascii, "b2a_base64", lambda: mb.b2a_base64),
    (base64, "b64encode", lambda: mimeflow.b64encode),
    (base64, "b64decode", lambda: mimeflow.b64decode),
    (base64, "encodebytes", lambda: mimeflow.encodebytes),
    (base64, "decodebytes", lambda: mimeflow.decodebytes),
    (base64, "urlsafe_b64decode", lambda: mimeflow.urlsafe_b64decode),
    (email.base64mime, "a2b_base64", lambda: mb.a2b_base64),
    (email.base64mime, "b2a_base64", lambda: mb.b2a_base64),
    (email.base64mime, "b64encode", lambda: mimeflow.b64encode),
    (email.encoders, "_bencode", lambda: mimeflow.encodebytes),
    (email.encoders, "_encodestring", lambda: mq.encodestring),
    (binascii, "a2b_qp", lambda: mb.a2b_qp),
    (binascii, "b2a_qp", lambda: mb.b2a_qp),
    (quopri, "a2b_qp", lambda: mb.a2b_qp),
    (quopri, "b2a_qp", lambda: mb.b2a_qp),
    (quopri, "encodestring", lambda: mq.encodestring),
    (quopri, "decode", lambda: mq.decode),
    (email.base64mime, "body_encode", lambda: mbm.body_encode),
    (email.base64mime, "body_decode", lambda: mbm.body_decode),
    (email.quoprimime, "body_encode", lambda: mqm.body_encode),
    (email.quoprimime, "decode", lambda: mqm.decode),
    (email.quoprimime, "header_decode", lambda: mqm.header_decode),
    (email.message, "decode_b", lambda: mew.decode_b),
    (ew, "decode_q", lambda: mew.decode_q),
    (ew, "encode_q", lambda: mew.encode_q),
    (ew, "len_q", lambda: mew.len_q),
    (ew, "decode_b", lambda: mew.decode_b),
    (ew, "encode_b", lambda: mew.encode_b),
    (ew, "len_b", lambda: mew.len_b),
    (ew, "decode", lambda: mew.decode),
    (ew, "encode", lambda: mew.encode),
    (email.contentmanager, "_encode_base64", lambda: hot.encode_base64_lines),
    (email.generator.Generator, "_write_lines", lambda: hot.write_lines),
]

# The entries of email._encoded_words's codec tables (filled at import).
TABLES = [(getattr(ew, t), cte, getattr(mew, t)[cte]) for t in ("_cte_decoders", "_cte_encoders", "_cte_encode_length") for cte in "qb"]


@pytest.fixture
def clean():
    mimeflow.uninstall()
    originals = [getattr(m, n) for m, n, _ in PATCHED]
    yield originals
    mimeflow.uninstall()
    assert [getattr(m, n) for m, n, _ in PATCHED] == originals


def test_install_and_uninstall(clean):
    assert not mimeflow.is_installed()
    mimeflow.install()
    assert mimeflow.is_installed()
    for module, name, ours in PATCHED:
        assert getattr(module, name) is ours(), (module.__name__, name)
    tables = [table[cte] for table, cte, _ in TABLES]
    assert tables == [ours for _, _, ours in TABLES]
    mimeflow.install()  # a second call changes nothing
    mimeflow.uninstall()
    assert not mimeflow.is_installed()
    assert [getattr(m, n) for m, n, _ in PATCHED] == clean
    assert all(table[cte] is not ours and table[cte].__module__ == "email._encoded_words" for table, cte, ours in TABLES)
    mimeflow.uninstall()  # nor does a second uninstall


def test_installed_context(clean):
    with mimeflow.installed():
        assert binascii.a2b_base64 is mb.a2b_base64
    assert binascii.a2b_base64 is clean[0]
    # Already installed on entry: still installed on exit.
    mimeflow.install()
    with mimeflow.installed():
        pass
    assert binascii.a2b_base64 is mb.a2b_base64


def test_import_runs_only_what_it_uses():
    # `import mimeflow` (which imports mimeflow.mbox, .dkim and the
    # install machinery, which imports the stdlib modules it patches only when
    # install() runs) brings in no module it only names in annotations:
    # typing and what it imports were 7 of its 18 ms. Measured against the
    # modules the interpreter had before, in a fresh one.
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import mimeflow, mimeflow.mbox, mimeflow.dkim\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "mimeflow._native" in out
    assert not {"typing", "contextlib", "datetime", "re", "threading"} & set(out), out


def test_uninstall_leaves_foreign_patches(clean):
    def foreign(data):
        return b""

    mimeflow.install()
    binascii.b2a_base64 = foreign
    try:
        mimeflow.uninstall()
        assert binascii.b2a_base64 is foreign
        assert binascii.a2b_base64 is clean[0]
    finally:
        binascii.b2a_base64 = clean[1]


def test_import_installs_nothing():
    code = (
        "import binascii, email.base64mime, mimeflow, mimeflow.binascii as mb;"
        "assert binascii.a2b_base64 is not mb.a2b_base64;"
        "assert email.base64mime.b2a_base64 is not mb.b2a_base64;"
        "assert not mimeflow.is_installed()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _message(attachment):
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.org"
    msg["Subject"] = "Grüße, ein Anhang"
    msg.set_content("Hallo Welt, schöne Grüße \n.\n" * 20, cte="quoted-printable")
    msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="x.bin")
    msg.set_boundary("b")
    return msg.as_bytes(policy=email.policy.SMTP)


@given(st.binary(max_size=3000))
def test_email_round_trip_installed(attachment):
    plain = _message(attachment)
    with mimeflow.installed():
        ours = _message(attachment)
        parsed = email.message_from_bytes(ours, policy=email.policy.default)
        payloads = [p.get_payload(decode=True) for p in parsed.walk() if not p.is_multipart()]
        legacy = email.base64mime.body_encode(attachment)
        assert email.base64mime.decode(legacy) == attachment
    assert ours == plain
    assert payloads[-1] == attachment
    # get_payload(decode=True) ran mimeflow's decode_b on the Base64 part.
    assert parsed.get_payload()[-1].defects == []
    assert legacy == email.base64mime.body_encode(attachment)


def _legacy(text):
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    outer = MIMEMultipart()
    outer["Subject"] = email.header.Header(text[:40], "latin-1")
    outer.attach(MIMEText(text, "plain", "latin-1"))  # quoted-printable
    outer.attach(MIMEText(text, "plain", "utf-8"))  # base64
    outer.attach(MIMEApplication(text.encode("utf-8"), _encoder=email.encoders.encode_quopri))
    outer.attach(MIMEApplication(text.encode("utf-8")))  # encoders._bencode
    outer.set_boundary("b")
    return outer.as_bytes()


def _read(raw):
    parsed = email.message_from_bytes(raw)
    parts = [p.get_payload(decode=True) for p in parsed.walk() if not p.is_multipart()]
    subject = str(email.header.make_header(email.header.decode_header(parsed["Subject"])))
    return parts, subject


@given(st.text(alphabet=st.characters(max_codepoint=255), max_size=400))
def test_legacy_api_installed(text):
    # email.mime, email.header and email.charset: quoted-printable and
    # Base64 bodies and headers, written and read back.
    plain = _legacy(text)
    read_plain = _read(plain)
    with mimeflow.installed():
        ours = _legacy(text)
        read_ours = _read(ours)
    assert ours == plain
    assert read_ours == read_plain
    assert read_ours[0][3] == text.encode("utf-8")  # Base64 keeps every byte
