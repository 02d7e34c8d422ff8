"""The plan that spreads mail archives over the tasks of a cluster: byte
ranges of plain archives, whole compressed ones, groups of Maildir and
``.eml`` files. :mod:`mimeflow.dask`, :mod:`mimeflow.spark` and
:mod:`mimeflow.ray` all map over it; it needs only fsspec and pyarrow, so
Spark and Ray users need no Dask.

:func:`plan` turns paths, globs, lists, folders and fsspec URLs into a list
of :class:`Piece` (small, picklable, in archive order), and
:func:`read_piece` gives one piece's rows as a pyarrow Table of
:func:`mimeflow.schema`: what each task runs. The rows of all the pieces,
in order, are the rows of a one-machine run (``row`` excepted: a piece
cannot know how many messages precede it, so it is null; a row's key is
``(source, offset)``).

How archives are cut:

- A plain mbox is cut at From_ boundaries near every ``blocksize`` bytes.
  Planning reads the archive's head (:data:`mimeflow.mbox.SNIFF_BYTES`, 4
  MiB, to decide the variant as a one-machine run does; 64 KiB when
  ``variant`` is given) and a small window (:data:`WINDOW`) around each
  nominal cut, in which :func:`mimeflow.mbox.find_cut` applies the engine's
  own rule (a From_ line after a blank line, its date checked):
  never a bare ``\\nFrom `` search, and never the whole archive. A window
  doubles until it holds a boundary, so the planner reads a message larger
  than a block (up to twice its size). Each task then fetches exactly its range.
- Compressed archives (:data:`COMPRESSED`: ``.gz``, ``.zst``, ``.xz``) and
  mboxcl2 archives cannot be cut (a compressed stream has no random access;
  mboxcl2's bodies keep unquoted From lines): each is one piece, read by
  one task in a streaming pass (a remote one is first copied to a local
  temporary file). That pass parses on the engine's own pool, not on
  ``threads`` threads: set ``RAYON_NUM_THREADS`` in the workers'
  environment to cap it.
- A folder is a Maildir when it has ``cur/`` and ``new/``, else a folder
  of ``.eml`` files when it holds any, else a folder of archives: the rule
  ``mimeflow convert`` uses. Maildir and ``.eml`` files are grouped into
  pieces of about ``blocksize`` bytes, in file-name order.

Needs ``fsspec`` and ``pyarrow`` (any of the extras ``mimeflow[dask]``,
``mimeflow[spark]``, ``mimeflow[ray]`` brings them); ``s3://`` needs
``s3fs``, ``gs://`` needs ``gcsfs``.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import tempfile
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

try:
    import fsspec  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError as _missing:  # pragma: no cover - what a worker without the extra sees
    raise ImportError(
        f"mimeflow.pieces needs fsspec and pyarrow (pip install 'mimeflow[dask]', "
        f"'mimeflow[spark]' or 'mimeflow[ray]'): {_missing}"
    ) from _missing

from mimeflow import _native

__all__ = ["plan", "Piece", "read_piece", "COMPRESSED", "WINDOW"]

#: Suffixes of the compressed archives: one piece each, never cut.
COMPRESSED = (".gz", ".zst", ".xz")
#: Bytes read after a nominal cut by the planner's first window.
WINDOW = 64 << 10

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*$", re.IGNORECASE)


def _parse_size(size: Union[int, str]) -> int:
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"blocksize must be positive, not {size}")
        return size
    m = _SIZE.match(size)
    if not m:
        raise ValueError(f"blocksize {size!r} is no size (e.g. 256MiB, 64MB, 1000000)")
    num, unit, binary = m.groups()
    base = 1024 if binary or not unit else 1000
    power = " KMGT".index(unit.upper() or " ")
    value = int(float(num) * base**power)
    if value <= 0:
        raise ValueError(f"blocksize must be positive, not {size!r}")
    return value


@dataclass(frozen=True)
class Piece:
    """One partition's work: a byte range of a plain archive (``kind ==
    "range"``), a whole archive (``"whole"``: compressed or mboxcl2), or
    some files of a Maildir or ``.eml`` folder (``"files"``, ``"maildir"``).
    Small and picklable: a task gets its ``Piece`` and the filesystem."""

    kind: str
    path: str
    source: str
    start: int = 0
    end: int = 0
    variant: str = "auto"
    files: Tuple[str, ...] = ()

    def key(self) -> str:
        """A name for the piece that a rerun of the same plan finds again."""
        text = json.dumps([self.kind, self.source, self.start, self.end, list(self.files)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _source_name(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """How rows name a file: the local path, or the URL of a remote one."""
    if _is_local(fs):
        return path
    return fs.unstrip_protocol(path)


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _expand(
    urlpaths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    storage_options: Optional[Dict[str, Any]],
    filesystem: Optional[fsspec.AbstractFileSystem],
) -> Tuple[fsspec.AbstractFileSystem, List[str]]:
    items = [urlpaths] if isinstance(urlpaths, (str, os.PathLike)) else list(urlpaths)
    if not items:
        raise ValueError("no archives given")
    fs = filesystem
    paths: List[str] = []
    protocols = set()
    for item in items:
        url = os.fspath(item)
        protocols.add(fsspec.core.split_protocol(url)[0] or "file")
        if len(protocols) > 1:
            raise ValueError(f"archives on one filesystem only, not {sorted(protocols)}")
        if fs is None:
            fs, _ = fsspec.core.url_to_fs(url, **(storage_options or {}))
        path = fs._strip_protocol(url)
        if fsspec.core.has_magic(path):
            found = sorted(fs.glob(path))
            if not found:
                raise FileNotFoundError(f"no archive matches {url}")
            paths.extend(found)
        else:
            if not fs.exists(path):
                raise FileNotFoundError(f"no such archive: {url}")
            paths.append(path)
    assert fs is not None
    return fs, paths


def _folder_kind(fs: fsspec.AbstractFileSystem, path: str) -> Tuple[str, List[Dict[str, Any]]]:
    entries = fs.ls(path, detail=True)
    dirs = {posixpath.basename(e["name"].rstrip("/")) for e in entries if e["type"] == "directory"}
    if {"cur", "new"} <= dirs:
        files = []
        for sub in ("cur", "new"):
            for e in fs.ls(posixpath.join(path, sub), detail=True):
                name = posixpath.basename(e["name"])
                if e["type"] == "file" and not name.startswith("."):
                    files.append(e)
        return "maildir", files
    eml = [
        e for e in entries if e["type"] == "file" and e["name"].lower().endswith(".eml")
    ]
    if eml:
        return "eml", eml
    return "archives", [e for e in entries if e["type"] == "file"]


def _plan_archive(
    fs: fsspec.AbstractFileSystem, path: str, size: int, blocksize: int, variant: str
) -> List[Piece]:
    source = _source_name(fs, path)
    if path.lower().endswith(COMPRESSED):
        return [Piece("whole", path, source, 0, size, variant)]
    if size == 0:
        return []
    # The variant is sniffed from the sample a one-machine run sniffs (4
    # MiB); a variant given needs only the line ending and the first From_
    # line, from a window.
    sample = _native.SNIFF_BYTES if variant == "auto" else WINDOW
    head = fs.cat_file(path, start=0, end=min(size, sample))
    sniffed, eol = _native.sniff(head, complete=len(head) == size)
    if variant == "auto":
        variant = sniffed
    if variant == "mboxcl2":
        return [Piece("whole", path, source, 0, size, variant)]
    n = max(1, -(-size // blocksize))
    cuts = [0]
    for i in range(1, n):
        nominal = size * i // n
        if nominal <= cuts[-1]:
            continue
        cut = _find_cut(fs, path, size, nominal, eol, head)
        if cut is None:
            break
        cuts.append(cut)
    ends = cuts[1:] + [size]
    return [Piece("range", path, source, a, b, variant) for a, b in zip(cuts, ends)]


def _find_cut(
    fs: fsspec.AbstractFileSystem, path: str, size: int, nominal: int, eol: str, head: bytes
) -> Optional[int]:
    start = max(0, nominal - _native.CUT_LOOKBEHIND)
    length = WINDOW
    while True:
        end = min(size, nominal + length)
        if end <= len(head):
            window = head[start:end]  # already read
        else:
            window = fs.cat_file(path, start=start, end=end)
        at = nominal - start
        cut = _native.find_cut(window, at, eol, archive_start=start == 0, eof=end == size)
        if cut is not None:
            return start + cut
        if end == size:
            return None
        length *= 2


def plan(
    urlpaths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    *,
    blocksize: Union[int, str] = "256MiB",
    variant: str = "auto",
    storage_options: Optional[Dict[str, Any]] = None,
    filesystem: Optional[fsspec.AbstractFileSystem] = None,
) -> Tuple[fsspec.AbstractFileSystem, List[Piece]]:
    """The filesystem and the pieces (partitions) of ``urlpaths`` (a path,
    URL, glob, list, or folder of archives; Maildir and ``.eml`` folders
    too), in archive order: what :func:`mimeflow.dask.read_mbox`,
    :func:`mimeflow.dask.convert`, :class:`mimeflow.spark.MboxDataSource`
    and :func:`mimeflow.ray.read_mbox` map over. ``blocksize`` is bytes or a
    size such as ``"256MiB"``; ``filesystem`` (an fsspec filesystem) is used
    as given instead of one made from the URLs and ``storage_options``.
    Raises ``FileNotFoundError``, ``ValueError`` (bad blocksize or variant)
    or ``MboxError`` (a file that is not an mbox)."""
    if variant not in ("auto", "mboxo", "mboxrd", "mboxcl", "mboxcl2"):
        raise ValueError(f"unknown mbox variant {variant!r} (auto, mboxo, mboxrd, mboxcl, mboxcl2)")
    block = _parse_size(blocksize)
    fs, paths = _expand(urlpaths, storage_options, filesystem)
    pieces: List[Piece] = []
    for path in paths:
        info = fs.info(path)
        if info["type"] == "directory":
            kind, entries = _folder_kind(fs, path)
            if kind == "archives":
                for e in sorted(entries, key=lambda e: e["name"]):
                    pieces.extend(_plan_archive(fs, e["name"], e["size"], block, variant))
            else:
                pieces.extend(_plan_files(fs, path, kind, entries, block))
        else:
            pieces.extend(_plan_archive(fs, path, info["size"], block, variant))
    return fs, pieces


def _plan_files(
    fs: fsspec.AbstractFileSystem, path: str, kind: str, entries: List[Dict[str, Any]], block: int
) -> List[Piece]:
    # File-name order, as `mimeflow convert` reads a folder.
    entries = sorted(entries, key=lambda e: posixpath.basename(e["name"]))
    pieces: List[Piece] = []
    group: List[str] = []
    weight = 0
    for e in entries:
        group.append(e["name"])
        weight += e["size"] or 0
        if weight >= block:
            pieces.append(Piece(kind, path, _source_name(fs, path), files=tuple(group)))
            group, weight = [], 0
    if group:
        pieces.append(Piece(kind, path, _source_name(fs, path), files=tuple(group)))
    return pieces


def read_piece(
    fs: fsspec.AbstractFileSystem,
    piece: Piece,
    columns: Optional[List[str]] = None,
    *,
    raw: bool = False,
    threads: int = 1,
) -> pa.Table:
    """The rows of one piece as a pyarrow Table of :func:`mimeflow.schema`
    (with ``columns``: ``mimeflow.schema(columns=...)``; with ``raw``, the
    ``raw`` column too), parsed on ``threads`` rayon threads with the GIL
    released: what each task runs, with the ``fs`` that :func:`plan`
    returned."""
    if piece.kind == "range":
        # By keyword: s3fs takes a version id second.
        data = fs.cat_file(piece.path, start=piece.start, end=piece.end)
        stream = _native.piece_table(
            data, piece.start, piece.source, piece.variant, columns, raw=raw, threads=threads
        )
        return pa.table(stream)
    if piece.kind == "whole":
        return _read_whole(fs, piece, columns, raw)
    contents = fs.cat(list(piece.files))
    files = [(_source_name(fs, f), contents[f]) for f in piece.files]
    stream = _native.files_table(
        files, maildir=piece.kind == "maildir", columns=columns, raw=raw, threads=threads
    )
    return pa.table(stream)


def _read_whole(
    fs: fsspec.AbstractFileSystem, piece: Piece, columns: Optional[List[str]], raw: bool
) -> pa.Table:
    variant = None if piece.variant == "auto" else piece.variant
    want = list(columns) if columns is not None else None
    if want is not None and "source" not in want:
        want = want + ["source"]
    if _is_local(fs):
        table = pa.table(_native.read_arrow(piece.path, want, raw=raw, variant=variant))
    else:
        suffix = posixpath.splitext(piece.path)[1]
        with tempfile.TemporaryDirectory(prefix="mimeflow-") as tmp:
            local = os.path.join(tmp, "archive" + suffix)
            fs.get_file(piece.path, local)
            table = pa.table(_native.read_arrow(local, want, raw=raw, variant=variant))
        # The rows name the archive, not the temporary copy.
        i = table.schema.get_field_index("source")
        table = table.set_column(
            i, table.schema.field(i), pa.array([piece.source] * table.num_rows, pa.string())
        )
    # A whole archive is one partition: `row` stays null, as for ranges.
    if "row" in table.column_names:
        i = table.schema.get_field_index("row")
        table = table.set_column(i, table.schema.field(i), pa.nulls(table.num_rows, pa.uint64()))
    if columns is not None:
        table = table.select(list(columns))
    return table


def _check_threads(threads: int) -> None:
    if not isinstance(threads, int) or not 1 <= threads <= 1024:
        raise ValueError(f"threads must be 1 to 1024, not {threads!r}")


def _empty(columns: Optional[List[str]], raw: bool) -> pa.Table:
    return pa.schema(_native.schema(raw=raw, columns=columns)).empty_table()
