"""DKIM signatures (RFC 6376; Ed25519 from RFC 8463): verify and sign.

:func:`verify` checks every DKIM-Signature of a message against keys you
give it (a mapping or a key file), as of a time you choose, and returns one
:class:`DkimResult` per signature with an RFC 8601 result (``pass``,
``fail``, ``policy``, ``temperror``, ``permerror``) and a reason. An
unsigned message gives an empty list (RFC 8601 ``none``). :func:`sign` adds
a relaxed/relaxed signature. The work runs in Rust, detached from the
interpreter.

:class:`DkimKeys` holds keys read once, for many calls.

Key files are those of ``mimeflow dkim verify --keys``: a zone file of
``selector._domainkey.domain`` TXT records, or the JSON key cache that
``--save-keys`` writes (README, "DKIM").
"""

from __future__ import annotations

from mimeflow import _native
from mimeflow._native import DkimKeys, DkimResult

# Names for the annotations only, which are never evaluated (PEP 563): no
# typing or datetime import at run time (see _install.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Optional, Sequence, Union

    from typing_extensions import Buffer

__all__ = ["DkimKeys", "DkimResult", "verify", "sign", "key_record"]


# The native function itself, not a wrapper: archives are verified a
# message per call, and a wrapper cost 1.5% of each (see its docstring).
verify = _native.dkim_verify


def sign(
    message: "Union[Buffer, _native.Message]",
    domain: str,
    selector: str,
    key: "Union[str, Buffer]",
    *,
    timestamp: "Optional[Union[int, float, datetime]]" = None,
    expiration: "Optional[Union[int, float, datetime]]" = None,
    headers: Optional[Sequence[str]] = None,
    body_length: bool = False,
) -> bytes:
    """Signs ``message`` (relaxed/relaxed) and returns the signed message:
    the new DKIM-Signature field followed by ``message`` unchanged.

    ``key`` is a PEM private key (PKCS#1 or PKCS#8; RSA 2048 to 4096 bits,
    or Ed25519) or dkimpy's base64 Ed25519 seed. ``timestamp`` and
    ``expiration`` add ``t=`` and ``x=``; ``headers`` lists the fields to
    sign when present (default: From, To, Cc, Subject, Date, Message-ID,
    Reply-To, In-Reply-To, References, MIME-Version, Content-Type,
    Content-Transfer-Encoding); ``body_length`` adds ``l=``."""
    return _native.dkim_sign(
        message,
        domain,
        selector,
        key,
        timestamp=timestamp,
        expiration=expiration,
        headers=list(headers) if headers is not None else None,
        body_length=body_length,
    )


def key_record(key: "Union[str, Buffer]") -> str:
    """The ``v=DKIM1; k=...; p=...`` record to publish for private ``key``."""
    return _native.dkim_key_record(key)
