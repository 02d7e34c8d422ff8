"""Drop-ins for the stdlib's :mod:`binascii` codecs of mail.

:func:`a2b_base64`, :func:`b2a_base64`, :func:`a2b_qp` and :func:`b2a_qp`
take the same arguments, return
the same bytes and raise the same exceptions as the running interpreter's
``binascii`` (decode errors are :class:`mimeflow.DecodeError`, a
:class:`binascii.Error`, with binascii's messages word for word). They are
the native functions themselves, with no Python layer in between.

Where ``binascii`` changed between Python versions, these follow the
running interpreter:

- ``strict_mode`` exists from Python 3.11; before, ``a2b_base64`` takes
  only ``data``.
- In strict mode, ``=`` at a quantum boundary after the first byte is
  "Excess padding not allowed" from 3.13; before 3.13 it starts the padding
  (``a2b_base64(b'QUJD=', strict_mode=True) == b'ABC'``).
- Flags (``newline``, ``strict_mode``, ``header``, ``quotetabs``,
  ``istext``) must be integers before 3.12 (``TypeError`` otherwise); from
  3.12 any object's truth value counts.

:func:`a2b_qp` and :func:`b2a_qp` are CPython's quoted-printable rules, not
RFC 2045's alone: ``b2a_qp`` picks its line ending from the first line of
the input, writes a lone ``.`` line as ``=2E`` and escapes a blank at the
end of a line; ``a2b_qp`` keeps trailing blanks. :func:`mimeflow.install` puts these functions into the stdlib
modules, so code that only imports ``base64`` or ``email`` uses them too.
"""

from __future__ import annotations

from binascii import Error, Incomplete

from mimeflow._native import a2b_base64, a2b_qp, b2a_base64, b2a_qp

__all__ = ["a2b_base64", "b2a_base64", "a2b_qp", "b2a_qp", "Error", "Incomplete"]
