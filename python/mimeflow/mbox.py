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

For readers that fetch bytes themselves (object storage, other engines'
tasks: :mod:`mimeflow.dask` is one), :func:`sniff` decides the variant from
an archive's first :data:`SNIFF_BYTES`, :func:`find_cut` finds a cut of the
plan's rule in a small window around a nominal position, and
:func:`piece_table` gives the rows of a byte range held in memory;
:func:`files_table` those of Maildir or ``.eml`` files held in memory, and
:func:`thread_table` the conversation threads of rows read in any number of
pieces (the same ids as a one-machine run).
"""

from mimeflow._errors import MboxError
from mimeflow._native import (
    CUT_LOOKBEHIND,
    SNIFF_BYTES,
    ArrowStream,
    EntryInfo,
    MboxReader,
    files_table,
    find_cut,
    open,
    piece_table,
    plan_splits,
    process_range,
    range_table,
    read_arrow,
    sniff,
    thread_table,
)

__all__ = [
    "open",
    "plan_splits",
    "process_range",
    "read_arrow",
    "range_table",
    "sniff",
    "find_cut",
    "piece_table",
    "files_table",
    "thread_table",
    "SNIFF_BYTES",
    "CUT_LOOKBEHIND",
    "ArrowStream",
    "MboxReader",
    "EntryInfo",
    "MboxError",
]
