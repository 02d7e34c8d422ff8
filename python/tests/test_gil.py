"""The GIL is released while mimeflow works: parse, mbox iteration,
convert and compose (the README's claim; ``test_base64`` covers the codec).

Each check runs the call while a pure-Python thread counts, using
``test_base64.progress_during``: with a huge switch interval the counter
can only move while the call is running if the call itself gave up the
GIL. An attached call is the control (a small parse, a builder setter):
the counter never moves meanwhile.
"""

import itertools
import os
import sys

import pytest

import _oracles
import mimeflow
from mimeflow import mbox
from test_base64 import progress_during

pytestmark = pytest.mark.skipif(
    hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled(), reason="no GIL to release"
)

MIB = 1 << 20


def big_message(parts=2000, attachment=8 * MIB):
    """A multipart message of ``parts`` text parts and one base64 attachment."""
    import base64

    out = [b"From: a@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"]
    for i in range(parts):
        out.append(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % i)
    out.append(b"--b\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n")
    out.append(base64.encodebytes(os.urandom(attachment)).replace(b"\n", b"\r\n"))
    out.append(b"--b--\r\n")
    return b"".join(out)


def archive(path, copies):
    msg = big_message(parts=50, attachment=64 << 10)
    with open(path, "wb") as f:
        for i in range(copies):
            f.write(b"From a@example.org Mon Jan  1 10:00:00 2001\n")
            f.write(msg.replace(b"\r\n", b"\n").replace(b"Subject: big", b"Subject: %d" % i))
            f.write(b"\n")


def released(call):
    return max(progress_during(call)) > 0


def stays_attached(call):
    return set(progress_during(call, calls=300)) == {0}


def test_parse_releases_the_gil():
    data = big_message()
    assert released(lambda: mimeflow.parse(data))
    assert stays_attached(lambda: mimeflow.parse(b"Subject: x\r\n\r\nsmall\r\n"))


def test_mbox_iteration_releases_the_gil(tmp_path):
    path = tmp_path / "big.mbox"
    archive(path, 300)
    assert released(lambda: sum(1 for _ in mbox.open(path)))


def test_convert_releases_the_gil(tmp_path):
    path = tmp_path / "big.mbox"
    archive(path, 300)
    n = itertools.count()
    assert released(lambda: mimeflow.convert(path, tmp_path / ("out%d.mbox" % next(n)), to="mbox"))


def test_compose_releases_the_gil():
    payload = os.urandom(12 * MIB)

    def build():
        b = mimeflow.MessageBuilder().from_("a@example.org").to("b@example.org").subject("x")
        return b.text("hello").attach(payload, filename="a.bin").build()

    assert released(build)
    # build() always detaches (it may read attached files); the builder's
    # setters do not: the control.
    small = mimeflow.MessageBuilder().from_("a@example.org").to("b@example.org")
    assert stays_attached(lambda: small.subject("x"))


def test_reading_an_arrow_stream_releases_the_gil(tmp_path):
    # The C stream's get_next waits for the producer thread. pyarrow calls
    # it with the GIL released on its own; polars (DataFrame from a
    # PyCapsule stream) calls it holding the GIL,
    # which the stream then gives up while it waits (the Detached wrapper).
    try:
        import polars
    except ImportError:
        _oracles.missing("polars is not installed (pip install -e .[test])")
    path = tmp_path / "big.mbox"
    archive(path, 300)
    assert released(lambda: polars.DataFrame(mbox.read_arrow(path, ["subject", "body_text"])))
    # The control: a polars call that crosses no stream stays attached.
    frame = polars.DataFrame({"a": [1, 2, 3]})
    assert stays_attached(lambda: frame.height)
