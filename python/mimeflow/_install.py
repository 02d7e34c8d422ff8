"""Putting mimeflow's drop-ins into the stdlib modules (opt-in).

:func:`install` replaces names in the stdlib modules that mail code goes
through, so code that only does ``import email`` or ``import base64`` runs
mimeflow's codecs; :func:`uninstall` puts the originals back, and
:func:`installed` does both around a ``with`` block. Nothing is replaced on
``import mimeflow``.

Each replacement returns what the original returns and raises what it
raises on the running interpreter. What is replaced:

- ``binascii.a2b_base64``, ``b2a_base64``, ``a2b_qp``, ``b2a_qp`` (which
  ``base64`` and ``email.contentmanager`` call through the module at call
  time);
- ``base64.b64encode``, ``b64decode``, ``standard_b64encode``,
  ``standard_b64decode``, ``urlsafe_b64encode``, ``urlsafe_b64decode``,
  ``encodebytes``, ``decodebytes`` (mimeflow's own drop-ins, which
  ``email._encoded_words`` calls);
- ``quopri.encode``, ``decode``, ``encodestring``, ``decodestring``;
- ``email.base64mime.body_encode``, ``body_decode``, ``decode``,
  ``decodestring``, ``header_encode``, and ``email.quoprimime``'s
  ``body_encode``, ``body_decode``, ``decode``, ``decodestring``,
  ``header_encode``, ``header_decode`` (which ``email.charset`` and
  ``email.header`` call);
- the names bound at import: ``quopri.a2b_qp`` and ``b2a_qp``,
  ``email.base64mime.a2b_base64``, ``b2a_base64`` and ``b64encode``
  (``from binascii import ...``), ``email.encoders._bencode``
  (``base64.encodebytes``) and ``_encodestring`` (``quopri.encodestring``).

A module that bound one of these names itself (``from binascii import
a2b_base64``) before :func:`install` keeps the stdlib's function. The
``email`` package's private code (the generator's line writing,
``contentmanager``'s line loop) is left alone.

``install`` and ``uninstall`` take a lock, but patching module attributes
is process-wide: call them at start-up, not while other threads encode.
"""

from __future__ import annotations

import contextlib
import threading
from types import ModuleType
from typing import Any, Iterator, List, Tuple

__all__ = ["install", "uninstall", "installed", "is_installed"]

_lock = threading.Lock()
# (module, name, original, replacement) of each name install() replaced.
_saved: List[Tuple[ModuleType, str, Any, Any]] = []


def _targets() -> List[Tuple[ModuleType, str, Any]]:
    """(module, name, replacement) for every stdlib name install() sets."""
    import base64
    import binascii
    import email.base64mime
    import email.encoders
    import email.quoprimime
    import quopri

    import mimeflow
    import mimeflow.email.base64mime as mbm
    import mimeflow.email.quoprimime as mqm
    import mimeflow.quopri as mq
    from mimeflow import binascii as mb

    targets: List[Tuple[ModuleType, str, Any]] = []
    for name in ("a2b_base64", "b2a_base64", "a2b_qp", "b2a_qp"):
        targets.append((binascii, name, getattr(mb, name)))
    for name in ("a2b_qp", "b2a_qp"):
        targets.append((quopri, name, getattr(mb, name)))
    for name in ("encode", "decode", "encodestring", "decodestring"):
        targets.append((quopri, name, getattr(mq, name)))
    for name in ("body_encode", "body_decode", "decode", "decodestring", "header_encode"):
        targets.append((email.base64mime, name, getattr(mbm, name)))
    for name in ("body_encode", "body_decode", "decode", "decodestring", "header_encode", "header_decode"):
        targets.append((email.quoprimime, name, getattr(mqm, name)))
    # Every name mimeflow exports that is also the stdlib base64 module's
    # (b64encode ... decodebytes): the one list is mimeflow.__all__.
    for name in mimeflow.__all__:
        if name in base64.__all__:
            targets.append((base64, name, getattr(mimeflow, name)))
    targets += [
        (email.base64mime, "a2b_base64", mb.a2b_base64),
        (email.base64mime, "b2a_base64", mb.b2a_base64),
        (email.base64mime, "b64encode", mimeflow.b64encode),
        (email.encoders, "_bencode", mimeflow.encodebytes),
        (email.encoders, "_encodestring", mq.encodestring),
    ]
    return targets


def install() -> None:
    """Replace the stdlib's Base64 and quoted-printable functions with
    mimeflow's (see the module docs for the list), in ``binascii``,
    ``base64``, ``quopri``, ``email.base64mime`` and ``email.encoders``. Results and exceptions
    stay the stdlib's. Calling it again while installed does nothing;
    :func:`uninstall` reverts it."""
    with _lock:
        if _saved:
            return
        for module, name, new in _targets():
            _saved.append((module, name, getattr(module, name), new))
            setattr(module, name, new)


def uninstall() -> None:
    """Put back the stdlib functions :func:`install` replaced. A name that
    something else has replaced since (a mock, another library) is left as
    it is. Does nothing when not installed."""
    with _lock:
        while _saved:
            module, name, old, new = _saved.pop()
            if getattr(module, name, None) is new:
                setattr(module, name, old)


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_saved)


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """:func:`install` for the duration of a ``with`` block; on leaving it,
    :func:`uninstall`, unless mimeflow was already installed on entry."""
    with _lock:
        was = bool(_saved)
    install()
    try:
        yield
    finally:
        if not was:
            uninstall()
