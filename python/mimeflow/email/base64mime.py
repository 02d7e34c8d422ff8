"""Drop-in for :mod:`email.base64mime`: :func:`body_encode`,
:func:`body_decode` (:func:`decode`), :func:`header_encode`, and the
stdlib's :func:`header_length`.

``body_encode`` with the usual line lengths (a multiple of 4, so that each
line holds whole groups of 3 bytes) and ``\\n`` or ``\\r\\n`` line ends is one
native call that writes every line; other lengths and line ends encode each
line separately with :func:`mimeflow.binascii.b2a_base64`, as the stdlib
does. Decoding is :func:`mimeflow.binascii.a2b_base64`.
"""

from __future__ import annotations

import sys
from typing import Union

from email.base64mime import header_length

from mimeflow import _native
from mimeflow._native import a2b_base64, b2a_base64

__all__ = [
    "body_decode",
    "body_encode",
    "decode",
    "decodestring",
    "header_encode",
    "header_length",
]

CRLF = "\r\n"
NL = "\n"
EMPTYSTRING = ""
MISC_LEN = 7

# Python 3.9's body_encode returns empty input itself; 3.10 and later, "".
_EMPTY_IS_INPUT = sys.version_info < (3, 10)


def header_encode(header_bytes: Union[bytes, str], charset: str = "iso-8859-1") -> str:
    """Encode a single header line with Base64 encoding in a given charset
    (RFC 2047 ``=?charset?b?...?=``); a ``str`` is encoded in ``charset``
    first."""
    if not header_bytes:
        return ""
    if isinstance(header_bytes, str):
        header_bytes = header_bytes.encode(charset)
    encoded = _native.encode(header_bytes).decode("ascii")
    return "=?%s?b?%s?=" % (charset, encoded)


def body_encode(s: bytes, maxlinelen: int = 76, eol: str = NL) -> str:
    """Encode bytes with Base64 in lines of at most ``maxlinelen``
    characters, each ended by ``eol`` (the last included)."""
    if not s:
        return s if _EMPTY_IS_INPUT else ""  # type: ignore[return-value]
    max_unencoded = maxlinelen * 3 // 4
    if (
        max_unencoded > 0
        and max_unencoded % 3 == 0
        and (eol == NL or eol == CRLF)
        and maxlinelen.__class__ is int
    ):
        return _native.encode(s, max_unencoded // 3 * 4, eol == CRLF, True).decode("ascii")
    encvec = []
    for i in range(0, len(s), max_unencoded):
        enc = b2a_base64(s[i : i + max_unencoded]).decode("ascii")
        if enc.endswith(NL) and eol != NL:
            enc = enc[:-1] + eol
        encvec.append(enc)
    return EMPTYSTRING.join(encvec)


def decode(string: Union[bytes, str]) -> bytes:
    """Decode a raw Base64 string (not a whole ``=?...?b?...?=`` word)."""
    if not string:
        return bytes()
    elif isinstance(string, str):
        return a2b_base64(string.encode("raw-unicode-escape"))
    else:
        return a2b_base64(string)


body_decode = decode
decodestring = decode
