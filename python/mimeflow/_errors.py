"""The exceptions of mimeflow: one hierarchy under :class:`MimeflowError`.

They are defined here, in Python, because :class:`DecodeError` must be both
a :class:`MimeflowError` and a :class:`binascii.Error` (so code written for
the stdlib's ``base64`` keeps catching it); the native module raises these
classes.
"""

import binascii

__all__ = [
    "MimeflowError",
    "DecodeError",
    "ParseError",
    "MboxError",
    "ConvertError",
    "ComposeError",
]


class MimeflowError(Exception):
    """Base class of every mimeflow exception."""


class DecodeError(MimeflowError, binascii.Error):
    """Invalid Base64 input (also a :class:`binascii.Error`, hence a
    :class:`ValueError`). The message uses binascii's wording followed by
    the byte offset where the decoder noticed the problem."""


class ParseError(MimeflowError, ValueError):
    """Malformed input a parser could not recover from."""


class MboxError(MimeflowError, ValueError):
    """An archive that cannot be read as asked: not an mbox at all
    (``kind == "not_mbox"``), an operation refused for it, such as
    splitting a compressed or mboxcl2 archive into byte ranges
    (``kind == "refused"``), or a streamed message over the in-memory limit
    (``kind == "too_large"``). I/O failures are :class:`OSError` instead."""

    kind: str = "refused"


class ConvertError(MimeflowError, ValueError):
    """A conversion that cannot run: the source is neither an mbox, a
    Maildir nor a folder of ``.eml`` files, the destination is in the way,
    or the state of the run to resume does not fit. I/O failures are
    :class:`OSError`, archive problems :class:`MboxError`."""


class ComposeError(MimeflowError, ValueError):
    """A message that cannot be composed: an address that is not
    ``local@domain``, a header name that is invalid or one the builder
    writes itself, a Message-ID or Content-ID that could end its field (a
    line break, another control, whitespace, ``<`` or ``>``), a MIME type
    that is not ``type/subtype``, or a date outside the years 1900 to 9999.
    Unreadable attachment files raise :class:`OSError`."""
