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
- ``email._encoded_words``'s ``decode_q``, ``encode_q``, ``len_q``,
  ``decode_b``, ``encode_b``, ``len_b``, ``decode`` and ``encode``
  (:mod:`mimeflow.email.encoded_words`; ``email._header_value_parser``
  calls them through the module at call time), and the entries of its
  tables ``_cte_decoders``, ``_cte_encoders`` and ``_cte_encode_length``;
- the names bound at import: ``quopri.a2b_qp`` and ``b2a_qp``,
  ``email.base64mime.a2b_base64``, ``b2a_base64`` and ``b64encode``
  (``from binascii import ...``), ``email.encoders._bencode``
  (``base64.encodebytes``) and ``_encodestring`` (``quopri.encodestring``),
  ``email.message.decode_b`` (``from email._encoded_words import
  decode_b``, which ``get_payload(decode=True)`` runs on every Base64
  body).

Two private hot spots of the ``email`` package are replaced too
(:mod:`mimeflow.email._hotspots`): ``email.contentmanager._encode_base64``,
which encodes every ``bytes`` body ``set_content``/``add_attachment`` is
given one ``b2a_base64`` call a line, by one native call; and
``email.generator.Generator._write_lines``, the generator's loop that
writes a body two ``write`` calls a line, by one line-end substitution and
one ``write`` (the same characters reach the output, in fewer calls).

A module that bound one of these names itself (``from binascii import
a2b_base64``) before :func:`install` keeps the stdlib's function.

``install`` and ``uninstall`` take a lock, but patching module attributes
is process-wide: call them at start-up, not while other threads encode.
"""

from __future__ import annotations

import _thread

# `import mimeflow` imports this module, so it imports nothing it does not
# run: `typing` (with the `re`, `collections` and `functools` it brings)
# and `contextlib` were 7 of the 18 ms `import mimeflow` took (`python -X
# importtime`); the names below are for type checkers, which treat any
# name TYPE_CHECKING as true, and annotations are never evaluated (PEP 563).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType, TracebackType
    from typing import Any, Dict, List, Optional, Tuple, Type, Union

    # A module or class (its attribute) or a dict (its entry) that holds a
    # stdlib name.
    _Holder = Union[ModuleType, type, Dict[str, Any]]

__all__ = ["install", "uninstall", "installed", "is_installed"]

_lock = _thread.allocate_lock()
# (holder, name, original, replacement) of each name install() replaced.
_saved: List[Tuple[_Holder, str, Any, Any]] = []


def _get(holder: _Holder, name: str) -> Any:
    return holder.get(name) if isinstance(holder, dict) else getattr(holder, name, None)


def _set(holder: _Holder, name: str, value: Any) -> None:
    if isinstance(holder, dict):
        holder[name] = value
    else:
        setattr(holder, name, value)


def _targets() -> List[Tuple[_Holder, str, Any]]:
    """(holder, name, replacement) for every stdlib name install() sets."""
    import base64
    import binascii
    import email._encoded_words  # type: ignore[import-not-found]  # (private: typeshed has no stub)
    import email.base64mime
    import email.contentmanager
    import email.encoders
    import email.generator
    import email.message
    import email.quoprimime
    import quopri

    import mimeflow
    import mimeflow.email._hotspots as hot
    import mimeflow.email.base64mime as mbm
    import mimeflow.email.encoded_words as mew
    import mimeflow.email.quoprimime as mqm
    import mimeflow.quopri as mq
    from mimeflow import binascii as mb

    targets: List[Tuple[_Holder, str, Any]] = []
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
        (email.message, "decode_b", mew.decode_b),
        (email.contentmanager, "_encode_base64", hot.encode_base64_lines),
        (email.generator.Generator, "_write_lines", hot.write_lines),
    ]
    ew = email._encoded_words
    for name in mew.__all__:
        targets.append((ew, name, getattr(mew, name)))
    # The tables the stdlib's decode() and encode() look the codecs up in,
    # filled at import: their entries too, for code that kept the stdlib's
    # decode or encode (from email._encoded_words import decode).
    for table in ("_cte_decoders", "_cte_encoders", "_cte_encode_length"):
        for cte, fn in getattr(mew, table).items():
            targets.append((getattr(ew, table), cte, fn))
    return targets


def install() -> None:
    """Replace the stdlib's Base64 and quoted-printable functions with
    mimeflow's (see the module docs for the list), in ``binascii``,
    ``base64``, ``quopri``, ``email.base64mime``, ``email.quoprimime``,
    ``email._encoded_words``, ``email.message`` and ``email.encoders``. Results and exceptions
    stay the stdlib's. Calling it again while installed does nothing;
    :func:`uninstall` reverts it."""
    with _lock:
        if _saved:
            return
        for holder, name, new in _targets():
            _saved.append((holder, name, _get(holder, name), new))
            _set(holder, name, new)


def uninstall() -> None:
    """Put back the stdlib functions :func:`install` replaced. A name that
    something else has replaced since (a mock, another library) is left as
    it is. Does nothing when not installed."""
    with _lock:
        while _saved:
            holder, name, old, new = _saved.pop()
            if _get(holder, name) is new:
                _set(holder, name, old)


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return bool(_saved)


def installed() -> _Installed:
    """:func:`install` for the duration of a ``with`` block; on leaving it,
    :func:`uninstall`, unless mimeflow was already installed on entry."""
    return _Installed()


class _Installed:
    """The context manager :func:`installed` returns (a class, not
    ``contextlib.contextmanager``: see the imports above)."""

    __slots__ = ("_was",)

    def __enter__(self) -> None:
        with _lock:
            self._was = bool(_saved)
        install()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._was:
            uninstall()
