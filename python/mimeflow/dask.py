"""Mail archives on Dask: many archives, many machines, object storage.

:func:`read_mbox` turns archives into a ``dask.dataframe`` with the rows of
:func:`mimeflow.schema` (``docs/schema.md``), one partition per byte range
of a plain mbox and per group of files of a Maildir or ``.eml`` folder;
:func:`convert` writes them as Parquet shards with a manifest and the
conversation threads of all of them. Both take local paths, globs, lists
and fsspec URLs (``s3://``, ``gs://``, ``memory://``, ``file://``).

How archives are cut:

- A plain mbox is cut at From_ boundaries near every ``blocksize`` bytes.
  Planning reads the archive's head (:data:`mimeflow.mbox.SNIFF_BYTES`, 4
  MiB, to decide the variant as a one-machine run does; 64 KiB when
  ``variant`` is given) and a small window (64 KiB) around each nominal
  cut, in which :func:`mimeflow.mbox.find_cut` applies the engine's own
  rule (a From_ line after a blank line, its date checked):
  never a bare ``\\nFrom `` search, and never the whole archive. A window
  doubles until it holds a boundary, so the planner reads a message larger
  than a block (up to twice its size). Each task then fetches exactly its range.
- Compressed archives (``.gz``, ``.zst``, ``.xz``) and mboxcl2 archives
  cannot be cut (a compressed stream has no random access; mboxcl2's
  bodies keep unquoted From lines): each is one partition, read by one
  task in a streaming pass (a remote one is first copied to a local
  temporary file). That pass parses on the engine's own pool, not on
  ``threads`` threads: set ``RAYON_NUM_THREADS`` in the workers'
  environment to cap it.
- A folder is a Maildir when it has ``cur/`` and ``new/``, else a folder
  of ``.eml`` files when it holds any, else a folder of archives: the rule
  ``mimeflow convert`` uses. Maildir and ``.eml`` files are grouped into
  partitions of about ``blocksize`` bytes, in file-name order.

Partitions follow archive order; a row's key is ``(source, offset)``
(``row`` is null: a partition cannot know how many messages precede it).
Columns are pyarrow-backed (``pandas.ArrowDtype``; Dask turns the
``large_utf8`` bodies into pandas' pyarrow-backed string dtype). Pandas
knows no non-null columns: write Parquet with
``df.to_parquet(path, schema=pyarrow.schema(mimeflow.schema()))`` (with
``columns``: ``mimeflow.schema(columns=...)``) for exactly
:func:`mimeflow.schema`. Each task parses on
``threads`` rayon threads (default 1, so worker processes sharing a
machine do not oversubscribe its cores) with the GIL released; rows cross
processes, ``Message`` objects never do.

Needs ``pip install mimeflow[dask]`` (Dask needs Python 3.10 or newer);
``s3://`` needs ``s3fs``, ``gs://`` needs ``gcsfs``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import posixpath
import re
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

try:
    import fsspec  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError as _missing:  # pragma: no cover - what a worker without the extra sees
    raise ImportError(
        f"mimeflow.dask needs pip install 'mimeflow[dask]': {_missing}"
    ) from _missing

from mimeflow import _native

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["read_mbox", "convert", "plan", "Piece"]

COMPRESSED = (".gz", ".zst", ".xz")
#: Bytes read after a nominal cut by the planner's first window.
WINDOW = 64 << 10
#: The version of the shard and manifest layout written by :func:`convert`.
LAYOUT_VERSION = 1

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
    """The filesystem and the pieces (partitions) of ``urlpaths``, in
    archive order: what :func:`read_mbox` and :func:`convert` map over."""
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
    (what each task runs)."""
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


def _to_pandas(table: pa.Table) -> Any:
    import pandas as pd  # type: ignore[import-untyped,import-not-found,unused-ignore]

    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _partition(
    piece: Piece,
    fs: fsspec.AbstractFileSystem,
    columns: Optional[List[str]],
    raw: bool,
    threads: int,
) -> Any:
    return _to_pandas(read_piece(fs, piece, columns, raw=raw, threads=threads))


def read_mbox(
    urlpaths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    *,
    blocksize: Union[int, str] = "256MiB",
    variant: str = "auto",
    columns: Optional[List[str]] = None,
    storage_options: Optional[Dict[str, Any]] = None,
    filesystem: Optional[fsspec.AbstractFileSystem] = None,
    raw: bool = False,
    threads: int = 1,
) -> "dd.DataFrame":
    """The messages of ``urlpaths`` (a path, URL, glob, list, or folder of
    archives; Maildir and ``.eml`` folders too) as a ``dask.dataframe`` of
    :func:`mimeflow.schema`'s rows (see the module notes for how archives
    are cut). Raises ``FileNotFoundError``, ``ValueError`` (bad blocksize,
    variant or column) or ``MboxError`` (a file that is not an mbox) while
    planning."""
    import dask.dataframe as dd

    _check_threads(threads)
    if columns is not None:
        _native.schema(raw=raw, columns=list(columns))  # unknown columns fail now
    fs, pieces = plan(
        urlpaths,
        blocksize=blocksize,
        variant=variant,
        storage_options=storage_options,
        filesystem=filesystem,
    )
    meta = _to_pandas(_empty(columns, raw))
    if not pieces:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_map(
        _partition,
        pieces,
        fs=fs,
        columns=columns,
        raw=raw,
        threads=threads,
        meta=meta,
        enforce_metadata=False,
        label="mimeflow-read-mbox",
    )


# --------------------------------------------------------------------------
# convert: shards, manifest, threads
# --------------------------------------------------------------------------

_SHARD_META = b"mimeflow.shard"


def _digest(table: pa.Table) -> str:
    """sha256 over the rows' sha256 (hex, one a line), in row order."""
    h = hashlib.sha256()
    for value in table.column("sha256").to_pylist():
        h.update(value.encode())
        h.update(b"\n")
    return h.hexdigest()


def _write_new(fs: fsspec.AbstractFileSystem, path: str, write: Any) -> bool:
    """Writes ``path`` by ``write(file)`` through a temporary name in the
    same folder, then publishes it without replacing anything: False when
    ``path`` already exists (another attempt of the same task finished
    first; both wrote the same rows). A local temporary file is created
    exclusively and without following links."""
    folder = posixpath.dirname(path)
    tmp = posixpath.join(folder, f".{posixpath.basename(path)}.{uuid.uuid4().hex}.tmp")
    if _is_local(fs):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails if `path` exists: never replaces
            except FileExistsError:
                return False
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        return True
    if fs.exists(path):
        return False
    with fs.open(tmp, "wb") as f:
        write(f)
    try:
        if fs.exists(path):
            return False
        fs.mv(tmp, path)
    finally:
        if fs.exists(tmp):
            fs.rm(tmp)
    return True


def _shard_name(index: int, piece: Piece, to: str) -> str:
    return f"part-{index:05d}-{piece.key()}.{to}"


def _done_name(shard: str) -> str:
    """A jsonl shard's finished mark: its thread keys, and its summary in
    the footer (a Parquet shard carries both itself)."""
    return shard + ".keys.parquet"


_KEYS = ["source", "offset", "message_id", "in_reply_to", "references"]


def _shard_summary(fs: fsspec.AbstractFileSystem, path: str) -> Optional[Dict[str, Any]]:
    """The summary a finished shard carries in its footer, or None when the
    file is missing or not a finished shard."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    try:
        with fs.open(path, "rb") as f:
            meta = pq.read_metadata(f).metadata or {}
    except (FileNotFoundError, OSError, pa.ArrowInvalid):
        return None
    text = meta.get(_SHARD_META)
    return json.loads(text) if text else None


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


def _jsonl_lines(table: pa.Table) -> Any:
    version = _native.schema().version
    for batch in table.to_batches(max_chunksize=1024):
        for row in batch.to_pylist():
            record = {"schema_version": version}
            record.update(row)
            line = json.dumps(record, ensure_ascii=False, default=_json_value)
            yield line.encode() + b"\n"


def _write_shard(
    index: int,
    piece: Piece,
    fs: fsspec.AbstractFileSystem,
    out_fs: fsspec.AbstractFileSystem,
    out: str,
    to: str,
    raw: bool,
    threads: int,
) -> Dict[str, Any]:
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    path = posixpath.join(out, "messages", _shard_name(index, piece, to))
    mark = path if to == "parquet" else _done_name(path)
    done = _shard_summary(out_fs, mark)
    if done is not None and (to == "parquet" or out_fs.exists(path)):
        done["skipped"] = True
        return done
    table = read_piece(fs, piece, raw=raw, threads=threads)
    summary = {
        "name": posixpath.basename(path),
        "source": piece.source,
        "kind": piece.kind,
        "start": piece.start,
        "end": piece.end,
        "files": len(piece.files),
        "rows": table.num_rows,
        "sha256": _digest(table),
    }
    meta = dict(table.schema.metadata or {})
    meta[_SHARD_META] = json.dumps(summary).encode()
    if to == "parquet":
        table = table.replace_schema_metadata(meta)
        _write_new(out_fs, path, lambda f: pq.write_table(table, f, compression="zstd"))
    else:

        def write(f: Any) -> None:
            for line in _jsonl_lines(table):
                f.write(line)

        # The rows are the same on every attempt: an existing shard is kept.
        _write_new(out_fs, path, write)
        keys = table.select(_KEYS).replace_schema_metadata(meta)
        _write_new(out_fs, mark, lambda f: pq.write_table(keys, f, compression="zstd"))
    summary["skipped"] = False
    return summary


def convert(
    urlpaths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    out: Union[str, os.PathLike],
    *,
    to: str = "parquet",
    blocksize: Union[int, str] = "256MiB",
    variant: str = "auto",
    storage_options: Optional[Dict[str, Any]] = None,
    filesystem: Optional[fsspec.AbstractFileSystem] = None,
    out_storage_options: Optional[Dict[str, Any]] = None,
    raw: bool = False,
    threads: int = 1,
) -> Dict[str, Any]:
    """Converts ``urlpaths`` on the current Dask scheduler (a
    ``distributed.Client`` if one is active) into ``out``, a folder
    (local or an fsspec URL), ``to="parquet"`` or ``"jsonl"``:

    - ``messages/part-NNNNN-KEY.parquet``: one shard per piece with the
      rows of :func:`mimeflow.schema`, written by its task to a temporary
      name and published without replacing anything, so a retried task
      (its worker killed) leaves no duplicate; or
      ``messages/part-NNNNN-KEY.jsonl``: the same rows, one JSON object a
      line (``schema_version`` first; timestamps in ISO 8601, ``raw`` in
      base64; the schema's shape, not ``mimeflow convert --to jsonl``'s),
      each finished shard marked by ``part-NNNNN-KEY.jsonl.keys.parquet``;
    - ``threads.parquet`` (``threads.jsonl``): the conversation threads of
      all shards together (the same ids as a one-machine run), written
      after the last shard;
    - ``manifest.json``: the shards with their row counts and sha256
      totals (sha256 over the rows' sha256, one a line, in row order), and
      the totals of the run, written last.

    A rerun with the same arguments skips the shards already finished; a
    folder holding shards of another plan raises ``ValueError``. On object
    stores (no exclusive create) two attempts of one task may both write
    its shard: the same bytes. Attachments are not written. SQLite users convert the shards on one
    node afterwards (see the README). Returns the manifest. Raises what
    :func:`plan` raises, ``ValueError`` for an unknown ``to``."""
    import dask

    if to not in ("parquet", "jsonl"):
        raise ValueError(f"mimeflow.dask.convert writes parquet or jsonl, not {to!r}")
    _check_threads(threads)
    fs, pieces = plan(
        urlpaths,
        blocksize=blocksize,
        variant=variant,
        storage_options=storage_options,
        filesystem=filesystem,
    )
    out_url = os.fspath(out)
    out_fs, out_path = fsspec.core.url_to_fs(out_url, **(out_storage_options or {}))
    messages = posixpath.join(out_path, "messages")
    out_fs.makedirs(messages, exist_ok=True)
    # Shards of another plan (other archives, another blocksize) would sit
    # beside these and be read twice by anyone who globs the folder.
    planned = {_shard_name(i, p, to) for i, p in enumerate(pieces)}
    try:
        existing = out_fs.ls(messages, detail=False)
    except FileNotFoundError:  # an object store has no empty folders
        existing = []
    for name in sorted(posixpath.basename(n) for n in existing):
        shard = name[: -len(".keys.parquet")] if name.endswith(".keys.parquet") else name
        if name.startswith("part-") and shard not in planned:
            raise ValueError(
                f"{out_url} holds {name}, a shard of another plan (other archives, "
                "blocksize or format): convert into a new folder"
            )
    tasks = [
        dask.delayed(_write_shard, pure=False)(i, p, fs, out_fs, out_path, to, raw, threads)
        for i, p in enumerate(pieces)
    ]
    shards = list(dask.compute(*tasks))
    marks = [s["name"] if to == "parquet" else _done_name(s["name"]) for s in shards]
    threads_rows = _write_threads(out_fs, out_path, marks, to)
    total = hashlib.sha256()
    for s in shards:
        total.update(s["sha256"].encode())
    manifest = {
        "layout_version": LAYOUT_VERSION,
        "schema_version": _native.schema().version,
        "to": to,
        "rows": sum(s["rows"] for s in shards),
        "threads": threads_rows,
        "sha256": total.hexdigest(),
        "shards": [{k: v for k, v in s.items() if k != "skipped"} for s in shards],
        "skipped": sum(1 for s in shards if s["skipped"]),
    }
    text = json.dumps(manifest, indent=1).encode()
    manifest_path = posixpath.join(out_path, "manifest.json")
    if out_fs.exists(manifest_path):
        out_fs.rm(manifest_path)  # ours, from an earlier run: rewritten whole
    _write_new(out_fs, manifest_path, lambda f: f.write(text))
    return manifest


def _write_threads(fs: fsspec.AbstractFileSystem, out: str, names: List[str], to: str) -> int:
    import pyarrow.parquet as pq  # type: ignore[import-untyped,import-not-found,unused-ignore]

    tables = []
    for name in names:
        with fs.open(posixpath.join(out, "messages", name), "rb") as f:
            tables.append(pq.read_table(f, columns=_KEYS))
    keys = pa.concat_tables(tables) if tables else _empty(_KEYS, False)
    threads = pa.table(_native.thread_table(keys))
    path = posixpath.join(out, "threads." + to)
    if fs.exists(path):
        fs.rm(path)  # ours, from an earlier run: every shard is in the new one

    def write(f: Any) -> None:
        if to == "parquet":
            pq.write_table(threads, f, compression="zstd")
            return
        for row in threads.to_pylist():
            f.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")

    _write_new(fs, path, write)
    return threads.num_rows
