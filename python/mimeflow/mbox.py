"""Reading mbox archives: ``mimeflow.mbox.open(path)`` iterates over the
messages of an archive (plain, gzip, zstd or xz; mboxo, mboxrd, mboxcl or
mboxcl2, sniffed unless given).

The work runs in Rust, off the interpreter: plain archives are
memory-mapped, cut into byte ranges at From_ lines and parsed in parallel
a batch at a time, one batch ahead of the caller; compressed (and mboxcl2)
archives are read by a streaming splitter and their messages parsed in
parallel likewise. The iterator only hands out ready :class:`~mimeflow.Message`
objects. ``with_info=True`` yields ``(EntryInfo, Message)`` pairs instead,
:class:`EntryInfo` holding the entry's ``index``, ``offset`` and ``length``
in the archive and its From_ line's ``envelope``.

Messages are what the archive holds between the From_ line and the blank
separator line, with the variant's quoting undone: mboxrd's ``>From``
quoting always (it is exact), mboxo's only with ``unquote_mboxo=True``.

For work spread over processes, :func:`plan_splits` cuts a plain archive
into byte ranges and :func:`process_range` reads one of them; the ranges of
one plan, put together in order, give exactly the entries of the whole
archive. Compressed and mboxcl2 archives, pipes and devices cannot be cut:
:class:`MboxError` (``kind == "refused"``). Data that is not an mbox raises
:class:`MboxError` (``kind == "not_mbox"``); I/O errors are :class:`OSError`.

:func:`read_arrow` gives the rows of ``docs/schema.md`` for a whole
archive (or Maildir, or ``.eml`` folder) as Arrow record batches, and
:func:`range_table` those of one range of a plan; pyarrow, polars and
DuckDB take them through the Arrow PyCapsule interface without a copy
(``pyarrow.table(mimeflow.mbox.read_arrow(path))``). A producer thread
stays at most one batch ahead of the reader, and reading waits for it with
the GIL released; a stream dropped unread or half read stops its producer.
An I/O error in the middle of a stream (a damaged compressed tail, a file
truncated under ``copy=True``) reaches the consumer as ``OSError``.

A plain archive is memory-mapped and messages are views of the map. If
another program truncates the file while the reader or a message is alive
(a mail client compacting the mailbox), the next access past the new end
kills the interpreter with SIGBUS; no exception can catch it. Pass
``copy=True`` to ``open`` or ``read_arrow`` (the file is read with
``read(2)``, never mapped; a truncation is then an ``OSError``) or to
``process_range`` (messages are copies) when the archive may change under
you.
"""

from mimeflow._errors import MboxError
from mimeflow._native import (
    ArrowStream,
    EntryInfo,
    MboxReader,
    open,
    plan_splits,
    process_range,
    range_table,
    read_arrow,
)

__all__ = [
    "open",
    "plan_splits",
    "process_range",
    "read_arrow",
    "range_table",
    "ArrowStream",
    "MboxReader",
    "EntryInfo",
    "MboxError",
]
