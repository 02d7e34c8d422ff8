"""Drop-in for the stdlib's private :mod:`email._encoded_words`, RFC 2047
encoded words (``=?charset*lang?cte?text?=``): :func:`decode_q`,
:func:`encode_q`, :func:`len_q`, :func:`decode_b`, :func:`encode_b`,
:func:`len_b`, :func:`decode` and :func:`encode`.

The ``email`` package calls these for every encoded word its header parser
(``email._header_value_parser``, behind ``email.policy.default``) reads or
writes, and ``email.message.Message.get_payload(decode=True)`` decodes every
Base64 body with :func:`decode_b`, so they are on the path of all modern
``email`` code. Each returns what the stdlib's returns on the running
interpreter, defect lists included (the same ``email.errors`` classes, in
the same order), and raises what it raises.

What runs natively: the ``Q`` codec is ``email.quoprimime``'s header codec
(``_native.quoprimime_header_*``: the same safe characters, ``_`` for a
space), and :func:`decode_b` is :func:`mimeflow.binascii.a2b_base64`
(CPython's ``base64.b64decode(validate=True)`` is ``a2b_base64`` in strict
mode from 3.11, a regular-expression check and ``a2b_base64`` before).
Arguments other than ``bytes`` (``bytearray`` too, for :func:`decode_b`) go
to the stdlib's own function.

The module's source is the same in CPython 3.9 to 3.13; what changes with
the interpreter is underneath (``b64decode``'s strict mode from 3.11, its
excess-padding rule from 3.13), and :func:`mimeflow.binascii.a2b_base64`
follows that.
"""

from __future__ import annotations

import binascii
import re
import sys
from email import _encoded_words as _std
from email import errors
from typing import Callable, Dict, List, Tuple, Union

from mimeflow import _native
from mimeflow.binascii import a2b_base64

__all__ = [
    "decode_q",
    "encode_q",
    "decode_b",
    "encode_b",
    "len_q",
    "len_b",
    "decode",
    "encode",
]

# The stdlib's functions as they were when this module was imported
# (before any mimeflow.install()), for the arguments handed back to them.
_std_decode_q = _std.decode_q
_std_encode_q = _std.encode_q
_std_len_q = _std.len_q
_std_decode_b = _std.decode_b
_std_encode_b = _std.encode_b

# The bytes that the Q encoding writes as themselves, and the space it
# writes as `_` (email._encoded_words._QByteMap.safe, plus the space).
_Q_LITERAL = b"-!*+/ ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

# base64.b64decode(s, validate=True): a2b_base64 in strict mode from 3.11;
# before, a regular expression's check, then a2b_base64.
_STRICT = sys.version_info >= (3, 11)
_valid_b64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}").fullmatch

# Defects, and the stdlib's CharsetError (an exception that decode() puts
# in the list of an unknown charset, as the stdlib does).
Defects = List[Union[errors.MessageDefect, errors.MessageError]]


def decode_q(encoded: bytes) -> Tuple[bytes, Defects]:
    """The bytes of a ``Q`` encoded word's text: ``_`` is a space and
    ``=XX`` (hex, either case) a byte; anything else stands for itself. The
    defect list is always empty."""
    if encoded.__class__ is not bytes:
        return _std_decode_q(encoded)
    return _native.quoprimime_header_decode(encoded), []


def encode_q(bstring: bytes) -> str:
    """The ``Q`` encoding of ``bstring``: letters, digits and ``-!*+/`` as
    themselves, a space as ``_``, every other byte as ``=XX``."""
    if bstring.__class__ is not bytes:
        return _std_encode_q(bstring)
    return _native.quoprimime_header_encode(bstring).decode("ascii")


def len_q(bstring: bytes) -> int:
    """The length of :func:`encode_q`'s result, without encoding."""
    if bstring.__class__ is not bytes:
        return _std_len_q(bstring)
    return len(bstring) + 2 * len(bstring.translate(None, _Q_LITERAL))


def decode_b(encoded: Union[bytes, bytearray]) -> Tuple[Union[bytes, bytearray], Defects]:
    """The bytes of a ``B`` encoded word's text, decoded as leniently as the
    stdlib does it: missing padding is added (an
    ``InvalidBase64PaddingDefect``), characters outside the alphabet are
    skipped (an ``InvalidBase64CharactersDefect``), and text that cannot be
    decoded at all (one character past a multiple of 4) comes back as it is
    with an ``InvalidBase64LengthDefect``."""
    if encoded.__class__ is not bytes and encoded.__class__ is not bytearray:
        return _std_decode_b(encoded)
    # The stdlib's steps, each with mimeflow's a2b_base64 where the stdlib
    # has base64.b64decode.
    pad_err = len(encoded) % 4
    missing_padding = b"==="[: 4 - pad_err] if pad_err else b""
    padded = encoded + missing_padding
    try:
        if _STRICT:
            value = a2b_base64(padded, strict_mode=True)
        elif _valid_b64(padded):
            value = a2b_base64(padded)
        else:
            raise binascii.Error("Non-base64 digit found")
        return value, [errors.InvalidBase64PaddingDefect()] if pad_err else []
    except binascii.Error:
        try:
            return a2b_base64(encoded), [errors.InvalidBase64CharactersDefect()]
        except binascii.Error:
            try:
                return (
                    a2b_base64(encoded + b"=="),
                    [errors.InvalidBase64CharactersDefect(), errors.InvalidBase64PaddingDefect()],
                )
            except binascii.Error:
                # One character past a multiple of 4: nothing decodes it
                # (bpo-27397), so the text is returned as it is.
                return encoded, [errors.InvalidBase64LengthDefect()]


def encode_b(bstring: bytes) -> str:
    """The ``B`` (Base64) encoding of ``bstring``, one line, no line end."""
    if bstring.__class__ is not bytes:
        return _std_encode_b(bstring)
    return _native.encode(bstring).decode("ascii")


def len_b(bstring: bytes) -> int:
    """The length of :func:`encode_b`'s result, without encoding."""
    groups_of_3, leftover = divmod(len(bstring), 3)
    return groups_of_3 * 4 + (4 if leftover else 0)


_cte_decoders: Dict[str, Callable[[bytes], Tuple[Union[bytes, bytearray], Defects]]] = {
    "q": decode_q,
    "b": decode_b,
}
_cte_encoders: Dict[str, Callable[[bytes], str]] = {"q": encode_q, "b": encode_b}
_cte_encode_length: Dict[str, Callable[[bytes], int]] = {"q": len_q, "b": len_b}


def decode(ew: str) -> Tuple[str, str, str, Defects]:
    """Decode a whole encoded word (``=?charset*lang?cte?text?=``, checked
    no further than the stdlib checks it) to ``(text, charset, lang,
    defects)``. Bytes the charset cannot decode, or an unknown charset, are
    kept as surrogate escapes, with a defect."""
    _, charset, cte, cte_string, _ = ew.split("?")
    charset, _, lang = charset.partition("*")
    cte = cte.lower()
    raw, defects = _cte_decoders[cte](cte_string.encode("ascii", "surrogateescape"))
    try:
        string = raw.decode(charset)
    except UnicodeDecodeError:
        defects.append(
            errors.UndecodableBytesDefect(f"Encoded word contains bytes not decodable using {charset!r} charset")
        )
        string = raw.decode(charset, "surrogateescape")
    except (LookupError, UnicodeEncodeError):
        string = raw.decode("ascii", "surrogateescape")
        if charset.lower() != "unknown-8bit":
            defects.append(errors.CharsetError(f"Unknown charset {charset!r} in encoded word; decoded as unknown bytes"))
    return string, charset, lang, defects


def encode(string: str, charset: str = "utf-8", encoding: Union[str, None] = None, lang: str = "") -> str:
    """``string`` as one encoded word in ``charset``, with the ``Q`` or
    ``B`` encoding (``encoding`` ``'q'`` or ``'b'``; by default the shorter,
    ``Q`` unless it is 5 or more characters longer), and ``*lang`` after the
    charset when ``lang`` is given."""
    if charset == "unknown-8bit":
        bstring = string.encode("ascii", "surrogateescape")
    else:
        bstring = string.encode(charset)
    if encoding is None:
        qlen = _cte_encode_length["q"](bstring)
        blen = _cte_encode_length["b"](bstring)
        encoding = "q" if qlen - blen < 5 else "b"
    encoded = _cte_encoders[encoding](bstring)
    if lang:
        lang = "*" + lang
    return "=?{}{}?{}?{}?=".format(charset, lang, encoding, encoded)
