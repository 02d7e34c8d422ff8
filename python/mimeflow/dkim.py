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

from datetime import datetime
from typing import TYPE_CHECKING, List, Mapping, Optional, Sequence, Union

from mimeflow import _native
from mimeflow._native import DkimKeys, DkimResult

if TYPE_CHECKING:
    import os

    from typing_extensions import Buffer

    _Keys = Union[Mapping[str, Optional[Union[str, bytes]]], str, "os.PathLike[str]", DkimKeys]

__all__ = ["DkimKeys", "DkimResult", "verify", "sign", "key_record"]


def _seconds(when: "Optional[Union[int, float, datetime]]") -> Optional[int]:
    if when is None:
        return None
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("as_of: a naive datetime is ambiguous; give it a tzinfo")
        return int(when.timestamp())
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise TypeError(f"as_of must be None, a number or a datetime, not {type(when).__name__}")
    return int(when)


def verify(
    message: "Union[Buffer, _native.Message]",
    keys: "Optional[_Keys]" = None,
    as_of: "Optional[Union[int, float, datetime]]" = None,
    allow_sha1: bool = False,
    dns_server: Optional[str] = None,
    dns_timeout: float = 2.0,
) -> List[DkimResult]:
    """Verifies every DKIM-Signature of ``message`` (bytes-like, or a parsed
    :class:`mimeflow.Message`), top to bottom.

    ``keys`` maps ``selector._domainkey.domain`` to its TXT record (strings
    joined), or to ``None`` for a name that does not exist; or it is the
    path of a key file; or a :class:`DkimKeys` made from either. A mapping
    or a path is read again on every call: to verify many messages, read
    the keys once with ``DkimKeys(keys)``. A name no key source holds is
    ``temperror``.
    ``as_of`` (seconds since the epoch or an aware datetime) judges expiry
    (``x=``) and signatures from the future (``t=``); ``None`` judges
    neither. ``rsa-sha1`` is ``policy`` unless ``allow_sha1``.

    ``dns_server`` (``"ADDR:PORT"``) looks up the keys that ``keys`` does
    not hold: NXDOMAIN is ``permerror``, SERVFAIL or no answer within
    ``dns_timeout`` seconds (twice) ``temperror``."""
    return _native.dkim_verify(
        message, keys, _seconds(as_of), allow_sha1, dns_server, dns_timeout
    )


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
        timestamp=_seconds(timestamp),
        expiration=_seconds(expiration),
        headers=list(headers) if headers is not None else None,
        body_length=body_length,
    )


def key_record(key: "Union[str, Buffer]") -> str:
    """The ``v=DKIM1; k=...; p=...`` record to publish for private ``key``."""
    return _native.dkim_key_record(key)
