"""Drop-ins for the stdlib ``email`` package's codec modules:
:mod:`mimeflow.email.base64mime` for :mod:`email.base64mime` and
:mod:`mimeflow.email.quoprimime` for :mod:`email.quoprimime`, and
:mod:`mimeflow.email.encoded_words` for the private
:mod:`email._encoded_words` (RFC 2047 encoded words).

Each function takes the stdlib's arguments and returns its result, type
included (``base64mime.body_encode`` returns ``str``), on the running
interpreter.
"""

from mimeflow.email import base64mime, encoded_words, quoprimime

__all__ = ["base64mime", "encoded_words", "quoprimime"]
