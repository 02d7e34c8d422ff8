"""Drop-ins for the stdlib's :mod:`binascii` Base64 functions.

:func:`a2b_base64` and :func:`b2a_base64` take the same arguments, return
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
- ``newline`` and ``strict_mode`` must be integers before 3.12
  (``TypeError`` otherwise); from 3.12 any object's truth value counts.

Quoted-printable (``a2b_qp``, ``b2a_qp``) is not here yet: use the
stdlib's. :func:`mimeflow.install` puts these functions into the stdlib
modules, so code that only imports ``base64`` or ``email`` uses them too.
"""

from __future__ import annotations

from binascii import Error, Incomplete

from mimeflow._native import a2b_base64, b2a_base64

__all__ = ["a2b_base64", "b2a_base64", "Error", "Incomplete"]
