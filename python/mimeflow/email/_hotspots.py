"""Replacements for two private hot spots of the stdlib ``email`` package,
which :func:`mimeflow.install` puts in place (and ``uninstall`` takes out);
nothing else uses them.

- ``email.contentmanager._encode_base64(data, max_line_length)``: what
  ``EmailMessage.set_content``/``add_attachment`` run on every ``bytes``
  body, a loop of one ``binascii.b2a_base64`` call per line of
  ``max_line_length // 4 * 3`` bytes. Here it is one native call writing
  every line (``max_line_length // 4 * 4`` characters, each ended by
  ``\\n``).
- ``email.generator.Generator._write_lines(self, lines)``: the generator's
  loop that writes a body line by line (two ``write`` calls a line, a
  Base64 attachment of 10 MiB has 184,000 lines), each line end turned
  into the policy's ``linesep``. Here, for ASCII text (what encoded
  bodies are), the line ends are replaced in one pass (``str.replace``
  when they are all ``\n``) and the text written with one ``write`` call:
  the same characters reach the output, in fewer calls.

Arguments the stdlib would treat differently (a line length below 4, which
makes the stdlib loop raise; a body that is not ``bytes`` or
``bytearray``) go to the stdlib's function, so results and exceptions stay
the stdlib's.
"""

from __future__ import annotations

import email.contentmanager as _cm
import email.generator as _gen
from typing import Any, Union

from mimeflow import _native

__all__ = ["encode_base64_lines", "write_lines"]

# The stdlib's functions as they were when this module was imported
# (before any mimeflow.install()).
# (Private names, which typeshed does not describe.)
_std_encode_base64 = _cm._encode_base64  # type: ignore[attr-defined]
_std_write_lines = _gen.Generator._write_lines  # type: ignore[attr-defined]
_NLCRE_sub = _gen.NLCRE.sub  # type: ignore[attr-defined]


def encode_base64_lines(data: Union[bytes, bytearray], max_line_length: int) -> str:
    """``email.contentmanager._encode_base64``: ``data`` in Base64 lines of
    ``max_line_length // 4 * 4`` characters, each ended by ``\\n``."""
    if (
        (data.__class__ is bytes or data.__class__ is bytearray)
        and max_line_length.__class__ is int
        and max_line_length >= 4
    ):
        return _native.encode(data, max_line_length // 4 * 4, False, True).decode("ascii")
    return _std_encode_base64(data, max_line_length)


def write_lines(self: Any, lines: str) -> None:
    """``email.generator.Generator._write_lines``: ``lines`` with every line
    end (``\\r\\n``, ``\\r`` or ``\\n``) written as the generator's own."""
    if not lines:
        return
    # Only ASCII text: BytesGenerator.write raises on other characters
    # (not surrogate escapes), after the stdlib's loop has written the
    # lines before them; one write would leave none.
    if lines.__class__ is not str or not lines.isascii():
        return _std_write_lines(self, lines)
    nl = self._NL
    if "\r" not in lines:
        # Only LF line ends (an encoded body's): kept as they are, or
        # replaced without the regular expression's per-match cost.
        self.write(lines if nl == "\n" else lines.replace("\n", nl))
        return
    # A backslash in the policy's linesep would be read as a template.
    self.write(_NLCRE_sub(nl if "\\" not in nl else lambda m: nl, lines))
