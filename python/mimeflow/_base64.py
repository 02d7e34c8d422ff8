"""The general case of mimeflow's stdlib Base64 functions.

``mimeflow.b64encode``, ``b64decode``, ``encodebytes`` and ``decodebytes``
are native (src/python/base64_stdlib.rs): they run the common arguments
themselves and hand every other call, unchanged, to the function of the
same name here, which does the stdlib's argument handling in its order, with
its types and exceptions, then calls the codec primitives
``_native.encode`` / ``_native.decode``. Nothing here calls those native
functions back.
"""

from __future__ import annotations

import binascii as _binascii
import re as _re
import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING

from mimeflow import _native
from mimeflow._errors import DecodeError

if _TYPE_CHECKING:
    from typing import Optional, Union

    from typing_extensions import Buffer

_encode = _native.encode
_decode = _native.decode

# The core's strict rules are those of CPython 3.13+, where '=' at a quantum
# boundary is "Excess padding not allowed"; before 3.13, binascii skipped it
# (b'QUJD=' decoded to b'ABC' with validate=True). On older interpreters that
# one error is handed to binascii itself, so results match the running stdlib.
_EXCESS_PADDING_IS_ERROR = _sys.version_info >= (3, 13)
# Before 3.11, binascii had no strict mode: b64decode(validate=True) was a
# regular expression over the input, then the lenient decoder (b'QUJD='
# decoded to b'ABC', b'QU=JD' was "Non-base64 digit found"), and any true
# value of validate counted.
_HAS_STRICT_MODE = _sys.version_info >= (3, 11)
_VALID_BEFORE_3_11 = _re.compile(b"[A-Za-z0-9+/]*={0,2}")


def _bytes_from_decode_data(s: Union[Buffer, str]) -> Union[bytes, bytearray]:
    # base64._bytes_from_decode_data, for the slow paths.
    if isinstance(s, str):
        try:
            return s.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError("string argument should contain only ASCII characters") from None
    if isinstance(s, (bytes, bytearray)):
        return s
    try:
        return memoryview(s).tobytes()
    except TypeError:
        raise TypeError(
            "argument should be a bytes-like object or ASCII string, not %r" % s.__class__.__name__
        ) from None


def _input_type_check(s: Buffer) -> memoryview:
    # base64._input_type_check, for encodebytes and decodebytes.
    try:
        m = memoryview(s)
    except TypeError as err:
        msg = "expected bytes-like object, not %s" % s.__class__.__name__
        raise TypeError(msg) from err
    if m.format not in ("c", "b", "B"):
        msg = "expected single byte elements, not %r from %s" % (m.format, s.__class__.__name__)
        raise TypeError(msg)
    if m.ndim != 1:
        msg = "expected 1-D data, not %d-D data from %s" % (m.ndim, s.__class__.__name__)
        raise TypeError(msg)
    return m


def b64encode(
    s: Buffer, altchars: Optional[Buffer] = None, *, wrapcol: int = 0, crlf: bool = False
) -> bytes:
    """Encode the bytes-like object s using Base64 and return a bytes object.

    Optional altchars should be a byte string of length 2 which specifies an
    alternative alphabet for the '+' and '/' characters. A non-zero wrapcol
    splits the output into lines of that many characters, separated by
    b'\\n' (b'\\r\\n' when crlf is true), with no newline after the last.
    """
    if altchars is None:
        return _encode(s, wrapcol, crlf)
    if altchars.__class__ is bytes and altchars == b"-_":
        return _encode(s, wrapcol, crlf, False, True)
    encoded = _encode(s, wrapcol, crlf)
    # The stdlib's own check, and len() of a non-bytes buffer raises as
    # it does there (Buffer promises no __len__, hence the ignore).
    assert len(altchars) == 2, repr(altchars)  # type: ignore[arg-type]
    return encoded.translate(bytes.maketrans(b"+/", altchars))


def b64decode(
    s: Union[Buffer, str], altchars: Union[Buffer, str, None] = None, validate: bool = False
) -> bytes:
    """Decode the Base64 encoded bytes-like object or ASCII string s.

    Optional altchars must be a bytes-like object or ASCII string of length 2
    which specifies the alternative alphabet used instead of the '+' and '/'
    characters (both alphabets then decode).

    If validate is False (the default), characters that are neither in the
    normal base-64 alphabet nor the alternative alphabet are discarded prior
    to the padding check. If validate is True, these non-alphabet characters
    in the input result in an error. Errors raise DecodeError, a
    binascii.Error.
    """
    if altchars is None:
        if validate is False:
            return _decode(s)
        if validate is True:
            return _decode_strict(s, None)
    # The general case, checked in the stdlib's order.
    s = _bytes_from_decode_data(s)
    if altchars is not None:
        altchars = _bytes_from_decode_data(altchars)
        assert len(altchars) == 2, repr(altchars)
        altchars = bytes(altchars)
    if validate is not True and validate is not False:
        if _HAS_STRICT_MODE:
            # binascii's own conversion of strict_mode: its TypeError for odd flags.
            _binascii.a2b_base64(b"", strict_mode=validate)
        validate = bool(validate)
    if validate:
        return _decode_strict(s, altchars)
    return _decode(s, False, altchars)


def _decode_strict(s: Union[Buffer, str], altchars: Optional[bytes]) -> bytes:
    if not _HAS_STRICT_MODE:
        s = _bytes_from_decode_data(s)
        if altchars is not None:
            s = s.translate(bytes.maketrans(altchars, b"+/"))
        if not _VALID_BEFORE_3_11.fullmatch(s):
            raise DecodeError("Non-base64 digit found")
        return _decode(s)
    try:
        return _decode(s, True, altchars)
    except DecodeError as e:
        if _EXCESS_PADDING_IS_ERROR or not e.args[0].startswith("Excess padding"):
            raise
    s = _bytes_from_decode_data(s)
    if altchars is not None:
        s = s.translate(bytes.maketrans(altchars, b"+/"))
    try:
        return _binascii.a2b_base64(s, strict_mode=True)
    except _binascii.Error as e:
        raise DecodeError(*e.args) from None


def encodebytes(s: Buffer, *, wrapcol: int = 76, crlf: bool = False) -> bytes:
    """Encode a bytes-like object into lines of Base64 (76 characters by
    default), each line, the last included, ended by b'\\n' (b'\\r\\n' when
    crlf is true). Empty input gives b''."""
    if s.__class__ is not bytes and not _input_type_check(s).nbytes:
        return b""  # the stdlib never touches an empty buffer, strided or not
    return _encode(s, wrapcol, crlf, True)


def decodebytes(s: Buffer) -> bytes:
    """Decode a bytes-like object of Base64 lines (MIME body text)."""
    if s.__class__ is not bytes:
        m = _input_type_check(s)
        if not m.c_contiguous:
            raise TypeError(
                "argument should be bytes, buffer or ASCII string, not %r" % s.__class__.__name__
            )
    return _decode(s)
