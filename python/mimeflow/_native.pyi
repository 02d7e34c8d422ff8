"""Type stubs of the extension module ``mimeflow._native`` (src/python/)."""

from email.message import EmailMessage
from typing import Any, List, Optional, Tuple, final

from typing_extensions import Buffer

__all__ = [
    "b64encode",
    "b64decode",
    "backend",
    "parse",
    "Message",
    "Part",
    "DETACH_THRESHOLD",
    "PARALLEL_THRESHOLD",
]

DETACH_THRESHOLD: int
PARALLEL_THRESHOLD: int

def b64encode(
    data: Buffer,
    /,
    wrapcol: int = 0,
    crlf: bool = False,
    newline: bool = False,
    urlsafe: bool = False,
) -> bytes:
    """Base64 of ``data`` (any C-contiguous buffer), in lines of ``wrapcol``
    characters (0: one line) ended by ``\\n`` or ``\\r\\n``; ``newline`` ends the
    last line too. Empty input gives ``b''``."""

def b64decode(
    data: "Buffer | str",
    /,
    strict: bool = False,
    altchars: Optional[bytes] = None,
) -> bytes:
    """``binascii.a2b_base64(data, strict_mode=strict)``, after translating
    ``altchars`` (2 bytes) to ``+/``. Raises ``mimeflow.DecodeError``."""

def backend() -> str:
    """Name of the codec backend in use."""

_Defect = Tuple[str, int]
"""A defect: its stable code (``"missing_close_delimiter"``, ...) and the
byte offset in the source where it was noticed."""

def parse(
    data: Buffer,
    /,
    *,
    strict: bool = False,
    max_depth: Optional[int] = None,
    max_parts: Optional[int] = None,
    max_header_fields: Optional[int] = None,
    max_header_bytes: Optional[int] = None,
    max_line_length: Optional[int] = None,
    max_decoded_bytes: Optional[int] = None,
) -> Message:
    """Parses a message (``bytes`` without a copy; other buffers are copied
    once). Lenient: malformed mail is read and its problems listed in
    ``defects``; ``strict=True`` raises ``mimeflow.ParseError`` (a
    ``ValueError``, with ``code`` and ``offset``) on the first defect. The
    ``max_*`` keywords override the resource limits (``None``: the default).
    Runs detached from the interpreter for large inputs."""

@final
class Message:
    """A parsed message: entities are byte ranges into the source."""

    @property
    def root(self) -> Part:
        """The top-level entity."""
    @property
    def headers(self) -> List[Tuple[str, str]]:
        """The top-level header fields in order, unfolded and RFC 2047-decoded."""
    @property
    def raw_headers(self) -> List[Tuple[str, bytes]]:
        """The top-level header fields in order, values raw (still folded)."""
    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first top-level field ``name`` (any case), decoded."""
    def walk(self) -> List[Part]:
        """Every entity in depth-first pre-order, the root first."""
    @property
    def parts(self) -> List[Part]:
        """Same as ``walk()``: the entities of ``structure()["parts"]``."""
    def __len__(self) -> int: ...
    def section(self, section: str) -> Optional[Part]:
        """The entity with IMAP section number ``section`` (``""`` is a
        multipart root), or ``None`` when there is none."""
    def attachments(self) -> List[Part]:
        """Leaves with disposition ``attachment`` or a filename."""
    def structure(self) -> dict[str, Any]:
        """``mimeflow parse --json``'s object: ``headers``, ``defects`` and
        ``parts`` (each with ``size`` and ``sha256`` of decoded leaves)."""
    @property
    def defects(self) -> List[_Defect]:
        """Structure and header defects of every entity, in entity order."""
    def to_bytes(self) -> bytes:
        """The source, byte for byte (the very object parsed, if ``bytes``)."""
    def to_email(self) -> EmailMessage:
        """``email.message_from_bytes(self.to_bytes(), policy=email.policy.default)``."""

@final
class Part:
    """One entity of a message; keeps its message alive."""

    @property
    def index(self) -> int:
        """Position in ``Message.walk()``."""
    @property
    def depth(self) -> int: ...
    @property
    def section(self) -> str:
        """IMAP section number (RFC 3501 §6.4.5)."""
    @property
    def kind(self) -> str:
        """``"multipart"``, ``"message"`` (message/rfc822) or ``"leaf"``."""
    @property
    def is_multipart(self) -> bool: ...
    @property
    def content_type(self) -> str:
        """``type/subtype``, lowercase (the RFC default when absent or invalid)."""
    @property
    def params(self) -> List[Tuple[str, str]]:
        """Content-Type parameters, RFC 2231 sections merged, decoded."""
    @property
    def charset(self) -> Optional[str]:
        """The charset, lowercase; ``us-ascii`` for text/* without one."""
    @property
    def disposition(self) -> Optional[str]:
        """``inline``, ``attachment``, ... (lowercase)."""
    @property
    def filename(self) -> Optional[str]:
        """Content-Disposition ``filename``, else Content-Type ``name``, decoded."""
    @property
    def transfer_encoding(self) -> str:
        """``7bit`` (the default), ``base64``, ``quoted-printable``, ..."""
    @property
    def is_attachment(self) -> bool: ...
    @property
    def parent(self) -> Optional[Part]: ...
    @property
    def children(self) -> List[Part]: ...
    @property
    def headers(self) -> List[Tuple[str, str]]: ...
    @property
    def raw_headers(self) -> List[Tuple[str, bytes]]: ...
    def get(self, name: str, default: Optional[str] = None) -> Optional[str]: ...
    @property
    def defects(self) -> List[_Defect]:
        """This entity's structure and header defects."""
    def decode_defects(self) -> List[_Defect]:
        """Defects found undoing the transfer encoding (bad Base64, ...)."""
    def raw(self) -> bytes:
        """The whole entity, header block and body."""
    def body(self) -> bytes:
        """The body, still transfer-encoded."""
    def payload(self) -> bytes:
        """The body with its transfer encoding undone (detached when large)."""
    def text(self) -> str:
        """The decoded body as text through its charset (UTF-8 if valid, else
        windows-1252, when the charset is missing or unknown)."""
    def structure(self) -> dict[str, Any]:
        """This entity's entry of ``Message.structure()["parts"]``."""
    def to_email(self) -> EmailMessage:
        """The stdlib's reading of ``raw()``."""
