"""mimeflow: a fast MIME and Base64 engine.

The Base64 functions are drop-in replacements for the stdlib's ``base64``
module: same arguments, same results, same exception types (decode errors
are :class:`DecodeError`, which is also a :class:`binascii.Error`), for every
input type the stdlib takes. The work runs in Rust, detached from the
interpreter for large inputs, so other threads keep running.

Additions over the stdlib: ``b64encode`` and ``encodebytes`` take
``wrapcol`` (characters per line) and ``crlf`` (end lines with CRLF).

MIME: :func:`parse` reads a message (``bytes`` without a copy) into a
:class:`Message` whose :class:`Part` objects are byte ranges into the source,
decoded on demand (``Part.payload()``, ``Part.text()``); malformed mail is
read leniently and its problems listed in ``defects`` (``strict=True``
raises :class:`ParseError` instead). ``Message.to_email()`` hands the same
bytes to the stdlib ``email`` package.

Archives: :mod:`mimeflow.mbox` iterates over mbox archives (plain or
compressed), parsing messages in parallel ahead of the caller, and cuts
plain ones into byte ranges for multi-process work. :func:`convert` is
``mimeflow convert``: mbox, Maildir or ``.eml`` folders to Maildir, ``.eml``
files, mboxrd or JSON lines, returning the run's statistics.

Stdlib drop-ins: :mod:`mimeflow.binascii` holds ``a2b_base64`` and
``b2a_base64`` as the running interpreter's ``binascii`` has them;
:func:`install` (opt-in, reversible with :func:`uninstall`, or for a
``with`` block with :func:`installed`) puts mimeflow's Base64 functions into
``binascii``, ``base64`` and the ``email`` package's modules.

Writing: :class:`MessageBuilder` (and its keyword form :func:`compose`)
composes messages, 7-bit clean and CRLF, streaming big attachment files
with ``write_to``; :func:`normalize` makes an existing message 7-bit clean.
"""

# Annotations are strings (PEP 563), never evaluated at run time: they cost
# nothing per call, and the names below exist only for type checkers.
from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: importing typing is a third of
# `import mimeflow` (see _install.py); type checkers treat any name
# TYPE_CHECKING as true.
TYPE_CHECKING = False

if TYPE_CHECKING:
    import os
    from datetime import datetime
    from typing import Any, Iterable, Mapping, Optional, Tuple, Union

    from typing_extensions import Buffer

    # What compose() takes for an attachment, an inline part or a carried
    # message (see its docstring); the stub of MessageBuilder checks each.
    _Content = Union[Buffer, str, "os.PathLike[str]"]
    _Addresses = Union[str, Iterable[str]]

from mimeflow import _errors, _native, binascii, dkim, mbox
from mimeflow._install import install, installed, is_installed, uninstall
from mimeflow._errors import (
    ComposeError,
    ConvertError,
    DecodeError,
    MboxError,
    MimeflowError,
    ParseError,
)
from mimeflow._native import (
    Message,
    MessageBuilder,
    Part,
    Schema,
    b64decode,
    b64encode,
    convert,
    decodebytes,
    encodebytes,
    normalize,
    parse,
    schema,
)

__all__ = [
    "b64encode",
    "b64decode",
    "standard_b64encode",
    "standard_b64decode",
    "urlsafe_b64encode",
    "urlsafe_b64decode",
    "encodebytes",
    "decodebytes",
    "parse",
    "Message",
    "Part",
    "dkim",
    "mbox",
    "convert",
    "schema",
    "Schema",
    "MessageBuilder",
    "compose",
    "normalize",
    "binascii",
    "install",
    "uninstall",
    "installed",
    "is_installed",
]
# The exceptions, spelled out (they are _errors.__all__): type checkers
# and mypy.stubtest read __all__ statically and cannot follow `+=` of
# another module's list.
__all__ += [
    "MimeflowError",
    "DecodeError",
    "ParseError",
    "MboxError",
    "ConvertError",
    "ComposeError",
]

# b64encode, b64decode, encodebytes and decodebytes are native with the
# stdlib's signatures (src/python/base64_stdlib.rs): one call into the
# extension, their uncommon arguments handed to mimeflow._base64. The
# fixed-alphabet variants below call the codec primitives.
_encode = _native.encode
_decode = _native.decode


def standard_b64encode(s: Buffer) -> bytes:
    """Encode bytes-like object s using the standard Base64 alphabet."""
    return _encode(s)


def standard_b64decode(s: Union[Buffer, str]) -> bytes:
    """Decode bytes encoded with the standard Base64 alphabet; characters
    outside it are discarded prior to the padding check."""
    return _decode(s)


def urlsafe_b64encode(s: Buffer) -> bytes:
    """Encode bytes using the URL- and filesystem-safe Base64 alphabet
    ('-' instead of '+' and '_' instead of '/')."""
    return _encode(s, 0, False, False, True)


def urlsafe_b64decode(s: Union[Buffer, str]) -> bytes:
    """Decode bytes using the URL- and filesystem-safe Base64 alphabet.

    '+' and '/' decode too; other characters outside the alphabet are
    discarded prior to the padding check.
    """
    return _decode(s, False, b"-_")


def compose(
    *,
    from_: Optional[_Addresses] = None,
    to: Optional[_Addresses] = None,
    cc: Optional[_Addresses] = None,
    bcc: Optional[_Addresses] = None,
    reply_to: Optional[_Addresses] = None,
    subject: Optional[str] = None,
    date: Union[datetime, float, None] = None,
    message_id: Optional[str] = None,
    headers: Union[Mapping[str, str], Iterable[Tuple[str, str]], None] = None,
    text: Optional[str] = None,
    html: Optional[str] = None,
    attachments: Iterable[Union[_Content, Tuple[Any, ...]]] = (),
    inline: Optional[Mapping[str, Union[_Content, Tuple[Any, ...]]]] = None,
    messages: Iterable[Any] = (),
    transport: Optional[str] = None,
    write_bcc: bool = False,
) -> bytes:
    """Compose a message from keyword arguments and return its bytes.

    A thin layer over :class:`MessageBuilder`: address arguments take a
    string (``"Ann <a@x>, b@y"``) or a list of them; ``headers`` a mapping
    or ``(name, value)`` pairs; ``attachments`` a list whose items are
    bytes-like content, a path (``str`` or ``os.PathLike``, read when the
    message is built), or a ``(data, filename)`` / ``(data, filename,
    content_type)`` tuple; ``inline`` a mapping from Content-ID to the same
    kinds of items (referred to from the HTML as ``cid:ID``); ``messages``
    a list of messages to carry (``MessageBuilder``, ``Message`` or bytes,
    or ``(message, filename)``). ``transport`` is ``"7bit"`` (the default),
    ``"8bit"`` or ``"binary"``. Raises :class:`ComposeError` for invalid
    addresses, header names, MIME types, Message-IDs and Content-IDs (one
    that holds a line break, another control, whitespace, ``<`` or ``>``),
    and dates outside the years 1900 to 9999; :class:`OSError` for
    unreadable files.
    """
    b = MessageBuilder()
    for add, value in (
        (b.from_, from_),
        (b.to, to),
        (b.cc, cc),
        (b.bcc, bcc),
        (b.reply_to, reply_to),
    ):
        if value is not None:
            add(value)
    if subject is not None:
        b.subject(subject)
    if date is not None:
        b.date(date)
    if message_id is not None:
        b.message_id(message_id)
    if headers:
        items = headers.items() if hasattr(headers, "items") else headers
        for name, value in items:
            b.header(name, value)
    if text is not None:
        b.text(text)
    if html is not None:
        b.html(html)
    for item in attachments:
        b.attach(*(item if isinstance(item, tuple) else (item,)))
    if inline is not None and not hasattr(inline, "items"):
        raise TypeError("inline must be a mapping from Content-ID to content")
    for cid, item in (inline or {}).items():
        data, *rest = item if isinstance(item, tuple) else (item,)
        b.inline(data, cid, *rest)
    for item in messages:
        b.attach_message(*(item if isinstance(item, tuple) else (item,)))
    if transport is not None:
        b.transport(transport)
    if write_bcc:
        b.write_bcc(True)
    return b.build()
