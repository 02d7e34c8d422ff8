"""Drop-ins for the stdlib ``email`` package's codec modules:
:mod:`mimeflow.email.base64mime` for :mod:`email.base64mime` and
:mod:`mimeflow.email.quoprimime` for :mod:`email.quoprimime`.

Each function takes the stdlib's arguments and returns its result, type
included (``base64mime.body_encode`` returns ``str``), on the running
interpreter.
"""

from mimeflow.email import base64mime, quoprimime

__all__ = ["base64mime", "quoprimime"]
