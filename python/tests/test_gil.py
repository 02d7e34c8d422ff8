"""The GIL is released while mimeflow works: parse, mbox iteration,
convert and compose (the README's claim; ``test_base64`` covers the codec).

Each check runs the call while a pure-Python thread counts, using
``test_base64.progress_during``: with a huge switch interval the counter
can only move while the call is running if the call itself gave up the
GIL. An attached call is the control (a small parse, a builder setter):
the counter never moves meanwhile.
"""

import ctypes
import itertools
import os
import sys

import pytest

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



class _ArrowArray(ctypes.Structure):
    # The Arrow C data interface's ArrowArray: its fields are not read here,
    # only released.
    _fields_ = [
        ("length", ctypes.c_int64),
        ("null_count", ctypes.c_int64),
        ("offset", ctypes.c_int64),
        ("n_buffers", ctypes.c_int64),
        ("n_children", ctypes.c_int64),
        ("buffers", ctypes.c_void_p),
        ("children", ctypes.c_void_p),
        ("dictionary", ctypes.c_void_p),
        ("release", ctypes.PYFUNCTYPE(None, ctypes.c_void_p)),
        ("private_data", ctypes.c_void_p),
    ]


class _ArrowArrayStream(ctypes.Structure):
    pass


# PYFUNCTYPE: ctypes calls these holding the GIL, as a C extension that
# reads the stream without releasing it does.
_ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.c_void_p),
    ("get_next", ctypes.PYFUNCTYPE(
        ctypes.c_int, ctypes.POINTER(_ArrowArrayStream), ctypes.POINTER(_ArrowArray))),
    ("get_last_error", ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(_ArrowArrayStream))),
    ("release", ctypes.PYFUNCTYPE(None, ctypes.POINTER(_ArrowArrayStream))),
    ("private_data", ctypes.c_void_p),
]


def read_holding_the_gil(source):
    """Rows of ``source`` (an ``__arrow_c_stream__`` object), pulled
    through the C stream interface by calls that keep the GIL."""
    capsule = source.__arrow_c_stream__()
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    stream = _ArrowArrayStream.from_address(get_pointer(capsule, b"arrow_array_stream"))
    rows = 0
    try:
        while True:
            array = _ArrowArray()
            rc = stream.get_next(ctypes.byref(stream), ctypes.byref(array))
            assert rc == 0, stream.get_last_error(ctypes.byref(stream))
            if not array.release:
                return rows  # the end of the stream
            rows += array.length
            array.release(ctypes.addressof(array))
    finally:
        stream.release(ctypes.byref(stream))  # the capsule then frees nothing


def test_reading_an_arrow_stream_releases_the_gil(tmp_path):
    # The C stream's get_next waits for the producer thread. pyarrow and
    # polars call it with the GIL released on their own; a consumer that
    # keeps the GIL gets it released by the stream for the wait (the
    # Detached wrapper of src/python/arrow.rs).
    path = tmp_path / "big.mbox"
    archive(path, 300)
    assert read_holding_the_gil(mbox.read_arrow(path, ["subject"])) == 300
    # Opened beforehand: opening detaches by itself. Streamed (copy=True),
    # the archive comes in several windows, so get_next waits for parsing.
    streams = iter([mbox.read_arrow(path, ["subject", "body_text"], copy=True) for _ in range(5)])
    assert max(progress_during(lambda: read_holding_the_gil(next(streams)), calls=5)) > 0
    # The control: a ctypes call into the interpreter that keeps the GIL.
    assert stays_attached(lambda: ctypes.pythonapi.Py_IsInitialized())
