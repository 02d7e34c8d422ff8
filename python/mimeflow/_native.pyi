"""Type stubs of the extension module ``mimeflow._native`` (src/python/)."""

import os
import sys
from datetime import datetime
from email.message import EmailMessage
from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union, final

from typing_extensions import Buffer

__all__ = [
    "b64encode",
    "b64decode",
    "encodebytes",
    "decodebytes",
    "encode",
    "decode",
    "backend",
    "a2b_base64",
    "b2a_base64",
    "a2b_qp",
    "b2a_qp",
    "quoprimime_body_encode",
    "quoprimime_decode",
    "quoprimime_header_encode",
    "quoprimime_header_decode",
    "parse",
    "Message",
    "Part",
    "open",
    "plan_splits",
    "process_range",
    "MboxReader",
    "EntryInfo",
    "schema",
    "read_arrow",
    "range_table",
    "sniff",
    "find_cut",
    "piece_table",
    "files_table",
    "thread_table",
    "SNIFF_BYTES",
    "CUT_LOOKBEHIND",
    "Schema",
    "ArrowStream",
    "convert",
    "normalize",
    "MessageBuilder",
    "DkimKeys",
    "DkimResult",
    "dkim_verify",
    "dkim_sign",
    "dkim_key_record",
    "DETACH_THRESHOLD",
    "PARALLEL_THRESHOLD",
]

DETACH_THRESHOLD: int
PARALLEL_THRESHOLD: int

def b64encode(
    s: Buffer, altchars: Optional[Buffer] = None, *, wrapcol: int = 0, crlf: bool = False
) -> bytes:
    """``base64.b64encode``; a non-zero ``wrapcol`` splits the output into
    lines of that many characters, separated by ``\\n`` (``\\r\\n`` when
    ``crlf`` is true)."""

def b64decode(
    s: Union[Buffer, str], altchars: Union[Buffer, str, None] = None, validate: bool = False
) -> bytes:
    """``base64.b64decode``. Raises ``mimeflow.DecodeError``, a
    ``binascii.Error``."""

def encodebytes(s: Buffer, *, wrapcol: int = 76, crlf: bool = False) -> bytes:
    """``base64.encodebytes``: lines of ``wrapcol`` characters, each ended by
    ``\\n`` (``\\r\\n`` when ``crlf`` is true)."""

def decodebytes(s: Buffer) -> bytes:
    """``base64.decodebytes``. Raises ``mimeflow.DecodeError``."""

def encode(
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

def decode(
    data: "Buffer | str",
    /,
    strict: bool = False,
    altchars: Optional[bytes] = None,
) -> bytes:
    """``binascii.a2b_base64(data, strict_mode=strict)``, after translating
    ``altchars`` (2 bytes) to ``+/``. Raises ``mimeflow.DecodeError``."""

def b2a_base64(data: Buffer, /, *, newline: bool = True) -> bytes:
    """``binascii.b2a_base64``: one line of Base64, ended by ``\\n`` unless
    ``newline`` is false."""

if sys.version_info >= (3, 11):
    def a2b_base64(data: "Buffer | str", /, *, strict_mode: bool = False) -> bytes:
        """``binascii.a2b_base64`` of the running interpreter. Raises
        ``mimeflow.DecodeError`` (a ``binascii.Error``)."""

else:
    def a2b_base64(data: "Buffer | str", /) -> bytes:
        """``binascii.a2b_base64`` of the running interpreter (no
        ``strict_mode`` before 3.11). Raises ``mimeflow.DecodeError``."""

def a2b_qp(data: "Buffer | str", header: bool = False) -> bytes:
    """``binascii.a2b_qp``: CPython's quoted-printable decoder."""

def b2a_qp(
    data: Buffer, quotetabs: bool = False, istext: bool = True, header: bool = False
) -> bytes:
    """``binascii.b2a_qp``: CPython's quoted-printable encoder."""

def quoprimime_body_encode(body: bytes, maxlinelen: int, eol: bytes, /) -> str:
    """``email.quoprimime.body_encode`` over latin-1 bytes (non-empty
    ``body``), as the stdlib's ``str`` (each byte a character);
    ``ValueError`` when ``maxlinelen`` is below 4."""

def quoprimime_decode(encoded: bytes, eol: bytes, /) -> bytes:
    """``email.quoprimime.decode`` of ASCII bytes, as latin-1 bytes."""

def quoprimime_header_encode(data: bytes, /) -> bytes:
    """``email.quoprimime.header_encode``'s text, without the chrome."""

def quoprimime_header_decode(data: bytes, /) -> bytes:
    """``email.quoprimime.header_decode`` of ASCII bytes, as latin-1 bytes."""

def backend() -> str:
    """Name of the default codec backend, as ``MIMEFLOW_SIMD`` and the CLI
    spell it: ``"scalar"``, ``"base64-simd"``, ``"avx2"`` or ``"avx512vbmi"``."""

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

_Path = Union[str, "os.PathLike[str]"]

@final
class EntryInfo:
    """Where an archive entry came from."""

    @property
    def index(self) -> int:
        """Position among the entries yielded: in the archive for
        ``open``, in the range for ``process_range``."""
    @property
    def offset(self) -> int:
        """Byte offset of the entry's From_ line (of the decompressed data)."""
    @property
    def length(self) -> int:
        """Bytes from the From_ line to the end of the blank separator line."""
    @property
    def envelope(self) -> bytes:
        """The From_ line after ``From ``, without its line end."""

@final
class MboxReader:
    """Iterator over the messages of an archive (see ``open``): yields
    ``Message`` objects, or ``(EntryInfo, Message)`` pairs when opened with
    ``with_info=True``. One thread at a time may advance it (another gets
    ``ValueError``, as with a running generator)."""

    def __iter__(self) -> MboxReader: ...
    def __next__(self) -> Any: ...
    @property
    def variant(self) -> str:
        """``mboxo``, ``mboxrd``, ``mboxcl`` or ``mboxcl2``: given or sniffed."""
    @property
    def skipped(self) -> List[Tuple[int, str]]:
        """Entries of a compressed archive skipped so far for being over
        ``max_message`` bytes: ``(offset, reason)``."""

def open(
    path: _Path,
    *,
    variant: Optional[str] = None,
    unquote_mboxo: bool = False,
    with_info: bool = False,
    max_message: Optional[int] = None,
    copy: bool = False,
) -> MboxReader:
    """Opens an mbox archive (plain: memory-mapped; gzip, zstd, xz, pipes
    and devices: streamed) and returns the iterator over its messages,
    parsed in parallel one batch ahead of the caller, off the interpreter.
    ``variant`` (default: sniffed) is ``mboxo``, ``mboxrd``, ``mboxcl`` or
    ``mboxcl2``; ``unquote_mboxo`` undoes ``>From`` quoting of mboxo/mboxcl
    too; ``max_message`` bounds a streamed message (bigger ones are skipped
    and listed in ``skipped``; by default there is no bound and messages
    over 64 MiB are spooled to an unnamed temporary file and
    memory-mapped). Raises ``MboxError`` (``kind="not_mbox"``) for data
    that is not an mbox, ``OSError`` for I/O errors.

    A plain archive is mapped and its messages are zero-copy views of the
    map: if another program truncates the file (a mail client compacting
    the mailbox) while the reader or any of its messages is alive, the next
    access past the new end kills the interpreter with SIGBUS, which no
    ``try`` can catch. ``copy=True`` never maps the file: it is read with
    ``read(2)`` and every message is a copy, so a truncation only ends the
    iteration early (the last message may be cut short), at the price of a
    serial split and a copy (see the README for the cost)."""

def plan_splits(
    path: _Path, n: int, *, variant: Optional[str] = None
) -> Tuple[List[Tuple[int, int]], str]:
    """Cuts a plain archive into at most ``n`` byte ranges ``(start, end)``
    at From_ lines (covering the file, in order), and returns them with the
    variant to pass to ``process_range``. Any ``n`` is fine: the work is one
    short search per range made (at most one per message). Compressed and
    mboxcl2 archives, and what is not a regular file (a pipe, a device), are
    refused: ``MboxError`` with ``kind="refused"``."""

def process_range(
    path: _Path,
    start: int,
    end: int,
    variant: str,
    *,
    unquote_mboxo: bool = False,
    copy: bool = False,
) -> List[Tuple[EntryInfo, Message]]:
    """The entries whose From_ line starts in ``[start, end)`` (the last
    may extend past ``end``), parsed in parallel; ``EntryInfo.index`` counts
    from 0 in the range.

    The archive is mapped for the call, and the messages are zero-copy
    views of the map: truncating the file while they are alive kills the
    interpreter with SIGBUS. With ``copy=True`` they are parsed from copies
    and the map is gone when the call returns, so they survive it; only a
    truncation during the call itself can still raise SIGBUS."""

@final
class Schema:
    """The messages schema of ``docs/schema.md`` (Arrow PyCapsule
    interface: ``pyarrow.schema(mimeflow.schema())``)."""

    def __arrow_c_schema__(self) -> object: ...
    @property
    def names(self) -> List[str]:
        """The column names, in order."""
    @property
    def version(self) -> int:
        """The schema version every output records."""

@final
class ArrowStream:
    """Record batches of the messages schema, read once through the Arrow
    PyCapsule stream interface: ``pyarrow.table(s)``,
    ``pyarrow.RecordBatchReader.from_stream(s)``, ``polars.from_arrow(...)``
    or DuckDB take it without a copy."""

    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...

def schema(*, raw: bool = False, columns: Optional[List[str]] = None) -> Schema:
    """The messages schema (``raw=True`` adds the raw message column;
    ``columns`` selects those columns, in the order given; ``[]`` gives no
    columns). An unknown column name raises ``ValueError``."""

def read_arrow(
    path: _Path,
    columns: Optional[List[str]] = None,
    *,
    raw: bool = False,
    variant: Optional[str] = None,
    copy: bool = False,
) -> ArrowStream:
    """Every message of an mbox (plain or compressed), Maildir or ``.eml``
    folder as a stream of record batches of :func:`schema`, parsed in
    parallel off the interpreter on a producer thread that stays at most one
    batch ahead: an archive larger than memory streams. Reading waits for
    that thread with the GIL released. A stream dropped unread, or read in
    part, stops its producer and frees its batches. ``row`` counts messages
    in archive order.

    ``columns`` is projected as by :func:`schema`: an unknown name raises
    ``ValueError``; ``[]`` gives batches with no columns whose row counts are
    the message counts. A plain archive is memory-mapped unless
    ``copy=True`` (read with ``read(2)``): a file truncated by another
    program while mapped kills the interpreter with SIGBUS, while with
    ``copy=True`` the truncation is an ``OSError`` in the consumer.

    Raises ``OSError`` (``FileNotFoundError`` for a missing path),
    ``MboxError`` (not an mbox), ``ValueError`` (unknown variant or column).
    An error after the first batch ends the stream with an error in the
    consumer: ``OSError`` for I/O errors (a damaged compressed tail, a
    truncated file, a Maildir file removed meanwhile), through the Arrow C
    stream's error code and message."""

def range_table(
    path: _Path,
    start: int,
    end: int,
    variant: str,
    columns: Optional[List[str]] = None,
    *,
    raw: bool = False,
) -> ArrowStream:
    """The rows of the messages whose From_ line starts in ``[start, end)``
    of a plain archive (ranges and variant from :func:`plan_splits`), as one
    record batch; ``source`` is ``path`` as given, ``offset`` absolute,
    ``row`` null (a range cannot know how many messages precede it).
    ``columns`` as for :func:`read_arrow`. Raises ``ValueError`` when
    ``start > end``, ``end`` is past the end of the file, or ``variant`` or
    a column is unknown; ``MboxError`` for an archive that cannot be cut
    (compressed, mboxcl2, not an mbox); ``OSError``."""

SNIFF_BYTES: int
CUT_LOOKBEHIND: int

def sniff(head: bytes, *, complete: bool = False) -> Tuple[str, str]:
    """The variant and line ending (``"lf"``, ``"crlf"``, ``"cr"``) of an
    archive from its first :data:`SNIFF_BYTES` bytes (``complete``: the
    head is the whole archive), as :func:`open` decides them. Raises
    ``MboxError`` (``kind == "not_mbox"``) for data that is not an mbox."""

def find_cut(
    window: bytes,
    at: int,
    line_ending: str,
    *,
    archive_start: bool = False,
    eof: bool = False,
) -> Optional[int]:
    """Where :func:`plan_splits` would cut for the nominal position ``at``
    (an index into ``window``), found in a window of the archive: the index
    of the From_ boundary, or ``None`` when the window holds none (with
    ``eof``, the window runs to the archive's end and nothing follows;
    without it, read a longer window). The window must start at least
    :data:`CUT_LOOKBEHIND` bytes before ``at`` unless it starts the archive
    (``archive_start``). Raises ``ValueError`` for an ``at`` outside
    those bounds or an unknown line ending."""

def piece_table(
    piece: bytes,
    base: int,
    source: str,
    variant: str,
    columns: Optional[List[str]] = None,
    *,
    raw: bool = False,
    threads: int = 1,
) -> ArrowStream:
    """The rows of ``piece``, a byte range of the plain archive ``source``
    that starts ``base`` bytes into it at a From_ boundary and ends at one
    (or at the archive's end): the same rows, offsets included, as
    :func:`range_table` gives for that range. Parses on ``threads`` threads
    (1 to 1024) with the GIL released. Raises ``ValueError`` (unknown column
    or variant, ``threads`` out of range), ``MboxError`` (an mboxcl2 piece
    that does not start the archive)."""

def files_table(
    files: List[Tuple[str, bytes]],
    *,
    maildir: bool,
    columns: Optional[List[str]] = None,
    raw: bool = False,
    threads: int = 1,
) -> ArrowStream:
    """The rows of messages held one a file, as ``(path, contents)`` pairs
    in order: ``source`` is the path, ``offset`` 0; with ``maildir`` the
    flags come from the path (``cur/`` or ``new/``, ``:2,FLAGS``). Parses
    on ``threads`` threads (1 to 1024) with the GIL released. Raises
    ``ValueError`` (unknown column, ``threads`` out of range)."""

def thread_table(keys: object) -> ArrowStream:
    """The ``threads`` rows (``source``, ``offset``, ``thread_id``) of the
    messages of ``keys``, any object with ``__arrow_c_stream__`` holding
    the columns ``source``, ``offset``, ``message_id``, ``in_reply_to`` and
    ``references`` of :func:`schema`, in any order and from any number of
    pieces: the same ids as a one-machine run. Raises ``TypeError`` (no
    Arrow stream) or ``ValueError`` (a missing or mistyped column)."""

def convert(
    src: _Path,
    dst: _Path,
    *,
    to: str,
    jobs: Optional[int] = None,
    progress: Optional[Callable[[int, Optional[int], int], object]] = None,
    variant: Optional[str] = None,
    skip_deleted: bool = False,
    text: bool = False,
    attachments: Optional[_Path] = None,
    resume: bool = False,
    force: bool = False,
    update: bool = False,
    raw: bool = False,
    fts_tokenizer: str = "unicode61",
    dkim: bool = False,
    dkim_keys: "Optional[Union[Dict[str, Optional[Union[str, bytes]]], _Path]]" = None,
    dkim_as_of: Optional[Union[str, int]] = None,
    dkim_allow_sha1: bool = False,
    dkim_dns_server: Optional[str] = None,
) -> Dict[str, Any]:
    """``mimeflow convert SRC --to TO DST``: an mbox archive (plain or
    compressed), Maildir or ``.eml`` folder into ``maildir``, ``eml``,
    ``mbox`` (mboxrd), ``jsonl``, ``sqlite`` (FTS5; ``update=True`` adds only
    the messages a database lacks, ``fts_tokenizer="trigram"`` for Chinese
    or Japanese) or ``parquet`` (a ``.parquet`` file or a folder of parts;
    ``raw=True`` keeps each message's bytes in both), with the schema of
    ``docs/schema.md``, atomically and resumably, detached from
    the interpreter. ``jobs`` threads, 1 to 1024 (default: rayon's pool);
    ``progress(bytes, total_bytes, messages)`` is called after every
    committed window (an exception it raises, or Ctrl-C, stops the run after
    that window, resumable with ``resume=True``). Returns the statistics:
    ``messages_in``, ``written``, ``skipped``, ``defective``,
    ``unparseable``, ``resumed_from``, ``attachments_written``,
    ``attachments_duplicate``, ``bytes_in``, ``source_kind``, ``variant``
    (the mbox variant, or ``None``), ``variant_reason``, ``format``,
    ``seconds`` and ``reports`` (one line per odd message). ``dkim=True``
    (jsonl, sqlite, parquet) verifies every message's DKIM signatures into
    the ``dkim`` column, as ``mimeflow dkim verify`` does: ``dkim_keys`` as
    ``mimeflow.dkim.verify``'s ``keys`` (read once), ``dkim_dns_server``
    (``"ADDR:PORT"``) for live lookups, ``dkim_as_of`` ``"now"`` (the
    default), ``"received"``, ``"date"`` or seconds since the epoch, and
    ``dkim_allow_sha1``; without it the column is null. Raises
    ``ConvertError``, ``MboxError`` or ``OSError``."""

def normalize(data: Buffer, /) -> bytes:
    """The message made 7-bit clean for plain SMTP: CRLF lines of at most
    998 octets, 8-bit bodies re-encoded (quoted-printable or base64), raw
    8-bit header text re-encoded as RFC 2047 words; structure kept."""

_Content = Union[Buffer, str, "os.PathLike[str]"]
_Addresses = Union[str, Iterable[str]]

@final
class MessageBuilder:
    """Composes a message (CRLF, 7-bit clean unless ``transport`` allows
    more). Every method but ``build``, ``write_to``, ``recipients`` and
    ``copy`` returns the builder, for chaining; a method that raises leaves
    it unchanged."""

    def __init__(self) -> None: ...
    def from_(self, addresses: _Addresses) -> MessageBuilder:
        """Adds to From (``"Name <a@b>, c@d"``, or a list of such strings).
        Raises ``ComposeError`` for an address that is not ``local@domain``."""
    def to(self, addresses: _Addresses) -> MessageBuilder: ...
    def cc(self, addresses: _Addresses) -> MessageBuilder: ...
    def bcc(self, addresses: _Addresses) -> MessageBuilder:
        """Adds to Bcc: a recipient, written into the message only with
        ``write_bcc()``."""
    def reply_to(self, addresses: _Addresses) -> MessageBuilder: ...
    def subject(self, subject: str) -> MessageBuilder: ...
    def date(self, date: Union[datetime, float]) -> MessageBuilder:
        """A ``datetime`` (naive: local time) or seconds since the epoch;
        default: the time the message is written. Dates before 1970 are
        written as they are; RFC 5322 dates run from 1900 to 9999, and
        others (``1e300``, ``2**64``, ``nan``) raise ``ComposeError``."""
    def message_id(self, message_id: str) -> MessageBuilder:
        """With or without ``<>``; default: generated. Raises
        ``ComposeError`` for an id that is empty, longer than 900 bytes, or
        holds a line break, another control character, whitespace, ``<``,
        ``>`` or non-ASCII (any of which could end the id or add header
        fields); full ``left@right`` syntax is not required."""
    def header(self, name: str, value: str) -> MessageBuilder:
        """A custom field (unstructured text, RFC 2047-encoded as needed).
        Fields the builder writes itself are refused (``ComposeError``)."""
    def text(self, text: str) -> MessageBuilder: ...
    def html(self, html: str) -> MessageBuilder: ...
    def attach(
        self,
        data: _Content,
        filename: Optional[str] = None,
        content_type: Optional[str] = None,
    ) -> MessageBuilder:
        """An attachment: bytes-like content, or a path read when the
        message is written (big files streamed). The type defaults to a
        guess from the file name; one given must be ``type/subtype``
        (``ComposeError`` otherwise). The receiver gets these exact bytes:
        text already in CRLF form travels as is (``7bit`` where it
        qualifies), other content, such as text with LF line ends, as
        base64 or binary-mode quoted-printable."""
    def inline(
        self,
        data: _Content,
        cid: str,
        filename: Optional[str] = None,
        content_type: Optional[str] = None,
    ) -> MessageBuilder:
        """An inline part with Content-ID ``cid``, next to the HTML body
        (which refers to it as ``cid:...``) in a multipart/related. ``cid``
        is checked as ``message_id`` is (``ComposeError``); a file name
        such as ``logo.png`` is a valid one."""
    def attach_message(
        self,
        message: Union[MessageBuilder, Message, Buffer],
        filename: Optional[str] = None,
    ) -> MessageBuilder:
        """A message/rfc822 part: a builder, a parsed message or raw bytes."""
    def transport(self, transport: str) -> MessageBuilder:
        """``7bit`` (default), ``8bit`` (8BITMIME) or ``binary`` (BINARYMIME):
        the identity encodings bodies may keep."""
    def write_bcc(self, yes: bool = True) -> MessageBuilder: ...
    def dkim_sign(self, domain: str, selector: str, key: "str | Buffer") -> MessageBuilder:
        """DKIM-signs the message (relaxed/relaxed, ``t=`` the time of
        writing) as the last step: ``build()`` returns the signed bytes;
        ``write_to()`` writes the message twice, once into the body hash and
        once out, so it reads attachment files twice. ``key``: PEM (RSA
        2048-4096 or Ed25519) or a base64 Ed25519 seed."""
    def recipients(self) -> List[str]:
        """To, Cc and Bcc addresses, for the SMTP envelope."""
    def copy(self) -> MessageBuilder: ...
    def build(self) -> bytes:
        """The message (detached from the interpreter). One too big for
        memory (a huge attachment file) raises ``MemoryError``: stream it
        with ``write_to`` instead."""
    def write_to(self, dest: Union[_Path, IO[bytes]], *, overwrite: bool = False) -> int:
        """Streams the message to a path or a binary file object (``write``
        called with chunks of up to 1 MiB), reading attachment files a block
        at a time: memory stays bounded whatever their size. Returns the
        bytes written.

        A path gets a temp file beside it (created exclusively, never
        through a symlink) that is renamed into place once complete, so a
        failure leaves nothing behind. An existing file raises
        ``FileExistsError`` unless ``overwrite=True``, which replaces it
        atomically."""

@final
class DkimResult:
    """One DKIM signature's result (``mimeflow.dkim.verify``)."""

    @property
    def domain(self) -> str:
        """``d=`` (empty when the field did not parse)."""
    @property
    def selector(self) -> str:
        """``s=``."""
    @property
    def algorithm(self) -> str:
        """``a=``."""
    @property
    def result(self) -> str:
        """RFC 8601: pass, fail, neutral, policy, temperror or permerror."""
    @property
    def reason(self) -> str:
        """Why (empty for pass)."""
    @property
    def key_source(self) -> Optional[str]:
        """Where the key came from (a file's path), when one was found."""

@final
class DkimKeys:
    """DKIM keys read once (``mimeflow.dkim.DkimKeys``): from a mapping of
    ``selector._domainkey.domain`` to its TXT record (or ``None`` for a
    name that does not exist), a zone file or JSON key cache path, or
    another ``DkimKeys``. Pass it as ``keys`` to verify many messages
    without reading the keys again for each."""

    def __new__(
        cls, keys: "Union[Mapping[str, Optional[Union[str, bytes]]], _Path, DkimKeys]"
    ) -> "DkimKeys": ...
    def __len__(self) -> int: ...
    def __repr__(self) -> str: ...

def dkim_verify(
    message: "Buffer | Message",
    keys: "Optional[Union[Mapping[str, Optional[Union[str, bytes]]], _Path, DkimKeys]]" = None,
    as_of: "Optional[Union[int, float, datetime]]" = None,
    allow_sha1: bool = False,
    dns_server: Optional[str] = None,
    dns_timeout: float = 2.0,
) -> List[DkimResult]:
    """``mimeflow.dkim.verify``: every DKIM-Signature of ``message``, top to
    bottom, one :class:`DkimResult` each (see ``mimeflow.dkim``)."""

def dkim_sign(
    message: "Buffer | Message",
    /,
    domain: str,
    selector: str,
    key: "str | Buffer",
    *,
    timestamp: "Optional[Union[int, float, datetime]]" = None,
    expiration: "Optional[Union[int, float, datetime]]" = None,
    headers: Optional[List[str]] = None,
    body_length: bool = False,
) -> bytes:
    """``mimeflow.dkim.sign``."""

def dkim_key_record(key: "str | Buffer") -> str:
    """The key record to publish for a private key."""
