"""The exceptions of mimeflow: one hierarchy under :class:`MimeflowError`.

They are defined here, in Python, because :class:`DecodeError` must be both
a :class:`MimeflowError` and a :class:`binascii.Error` (so code written for
the stdlib's ``base64`` keeps catching it); the native module raises these
classes.
"""

import binascii

__all__ = ["MimeflowError", "DecodeError", "ParseError"]


class MimeflowError(Exception):
    """Base class of every mimeflow exception."""


class DecodeError(MimeflowError, binascii.Error):
    """Invalid Base64 input (also a :class:`binascii.Error`, hence a
    :class:`ValueError`). The message uses binascii's wording followed by
    the byte offset where the decoder noticed the problem."""


class ParseError(MimeflowError, ValueError):
    """Malformed input a parser could not recover from."""
