"""Type stubs of the extension module ``mimeflow._native`` (src/python/)."""

from typing import Optional

from typing_extensions import Buffer

__all__ = ["b64encode", "b64decode", "backend", "DETACH_THRESHOLD", "PARALLEL_THRESHOLD"]

DETACH_THRESHOLD: int
PARALLEL_THRESHOLD: int

def b64encode(
    data: Buffer,
    /,
    wrapcol: int = 0,
    crlf: bool = False,
    newline: bool = False,
    urlsafe: bool = False,
) -> bytes:
    """Base64 of ``data`` (any C-contiguous buffer), in lines of ``wrapcol``
    characters (0: one line) ended by ``\\n`` or ``\\r\\n``; ``newline`` ends the
    last line too. Empty input gives ``b''``."""

def b64decode(
    data: "Buffer | str",
    /,
    strict: bool = False,
    altchars: Optional[bytes] = None,
) -> bytes:
    """``binascii.a2b_base64(data, strict_mode=strict)``, after translating
    ``altchars`` (2 bytes) to ``+/``. Raises ``mimeflow.DecodeError``."""

def backend() -> str:
    """Name of the codec backend in use."""
