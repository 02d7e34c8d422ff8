"""Drop-ins for the stdlib's :mod:`quopri`: :func:`encode`, :func:`decode`
(on binary file objects), :func:`encodestring`, :func:`decodestring`.

They do what ``quopri`` does when ``binascii`` has its quoted-printable
functions (always, in CPython), with mimeflow's
:func:`mimeflow.binascii.b2a_qp` and :func:`mimeflow.binascii.a2b_qp`: same
arguments, same bytes, same exceptions.
"""

from __future__ import annotations

from typing import IO

from mimeflow._native import a2b_qp, b2a_qp

__all__ = ["encode", "decode", "encodestring", "decodestring"]


def encode(input: IO[bytes], output: IO[bytes], quotetabs: bool, header: bool = False) -> None:
    """Read ``input`` to its end and write its quoted-printable encoding to
    ``output``. ``quotetabs`` escapes every space and tab; ``header``
    writes spaces as ``_`` (RFC 2047)."""
    output.write(b2a_qp(input.read(), quotetabs=quotetabs, header=header))


def encodestring(s: bytes, quotetabs: bool = False, header: bool = False) -> bytes:
    """The quoted-printable encoding of ``s``."""
    return b2a_qp(s, quotetabs=quotetabs, header=header)


def decode(input: IO[bytes], output: IO[bytes], header: bool = False) -> None:
    """Read ``input`` to its end and write its decoding to ``output``;
    ``header`` reads ``_`` as a space."""
    output.write(a2b_qp(input.read(), header=header))


def decodestring(s: bytes, header: bool = False) -> bytes:
    """The decoding of the quoted-printable ``s``."""
    return a2b_qp(s, header=header)
