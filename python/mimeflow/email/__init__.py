"""Drop-ins for the stdlib ``email`` package's codec modules:
:mod:`mimeflow.email.base64mime` for :mod:`email.base64mime`.

Each function takes the stdlib's arguments and returns its result, type
included (``base64mime.body_encode`` returns ``str``), on the running
interpreter. ``email.quoprimime`` has no drop-in yet.
"""

from mimeflow.email import base64mime

__all__ = ["base64mime"]
