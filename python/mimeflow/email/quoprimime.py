"""Drop-in for :mod:`email.quoprimime`: :func:`body_encode`,
:func:`body_decode` (:func:`decode`), :func:`header_encode`,
:func:`header_decode`, with the stdlib's types: bodies and headers are
``str`` whose characters are bytes (latin-1), ``header_encode`` takes
``bytes``.

The work runs natively (``mimeflow._native.quoprimime_*``) for the text
mail gives these functions: latin-1 ``str`` to encode, ASCII ``str`` to
decode. Other arguments (characters beyond latin-1, whose line breaks
``str.splitlines`` would see differently, ``bytes`` where the stdlib wants
``str``, odd line lengths) go to the stdlib's own function, so results and
exceptions stay the stdlib's in every case.
"""

from __future__ import annotations

import email.quoprimime as _std
from email.quoprimime import (
    body_check,
    body_length,
    header_check,
    header_length,
    quote,
    unquote,
)

from mimeflow import _native

__all__ = [
    "body_decode",
    "body_encode",
    "body_length",
    "decode",
    "decodestring",
    "header_check",
    "header_decode",
    "header_encode",
    "header_length",
    "quote",
    "unquote",
    "body_check",
]

CRLF = "\r\n"
NL = "\n"
EMPTYSTRING = ""

# The stdlib's functions as they were when this module was imported
# (before any mimeflow.install()), for the arguments handed back to them.
_std_body_encode = _std.body_encode
_std_decode = _std.decode
_std_header_encode = _std.header_encode
_std_header_decode = _std.header_decode

_MAX_LINE = 1 << 62


def header_encode(header_bytes: bytes, charset: str = "iso-8859-1") -> str:
    """Encode a header with the RFC 2047 ``Q`` encoding, as
    ``=?charset?q?...?=``; empty input gives ``''``."""
    if not header_bytes:
        return ""
    if header_bytes.__class__ is not bytes:
        return _std_header_encode(header_bytes, charset)
    encoded = _native.quoprimime_header_encode(header_bytes).decode("ascii")
    return "=?%s?q?%s?=" % (charset, encoded)


def body_encode(body: str, maxlinelen: int = 76, eol: str = NL) -> str:
    """Encode with quoted-printable, in lines of at most ``maxlinelen``
    characters (at least 4) with soft breaks, ended by ``eol``."""
    if (
        body.__class__ is not str
        or eol.__class__ is not str
        or maxlinelen.__class__ is not int
        or not 4 <= maxlinelen < _MAX_LINE
    ):
        return _std_body_encode(body, maxlinelen, eol)
    if not body:
        return body
    try:
        data = body.encode("latin-1")
        eol_bytes = eol.encode("latin-1")
    except UnicodeEncodeError:
        return _std_body_encode(body, maxlinelen, eol)
    return _native.quoprimime_body_encode(data, maxlinelen, eol_bytes)


def decode(encoded: str, eol: str = NL) -> str:
    """Decode a quoted-printable string; lines are ended by ``eol``."""
    if not encoded:
        return encoded
    if encoded.__class__ is not str or eol.__class__ is not str or not encoded.isascii():
        return _std_decode(encoded, eol)
    try:
        eol_bytes = eol.encode("latin-1")
    except UnicodeEncodeError:
        return _std_decode(encoded, eol)
    return _native.quoprimime_decode(encoded.encode("ascii"), eol_bytes).decode("latin-1")


body_decode = decode
decodestring = decode


def header_decode(s: str) -> str:
    """Decode a header's ``Q`` encoded text (without the
    ``=?charset?q?...?=`` around it): ``_`` is a space, ``=XX`` a byte."""
    if s.__class__ is not str or not s.isascii():
        return _std_header_decode(s)
    return _native.quoprimime_header_decode(s.encode("ascii")).decode("latin-1")
