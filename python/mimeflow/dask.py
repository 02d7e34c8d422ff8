"""Mail archives on Dask: many archives, many machines, object storage.

:func:`read_mbox` turns archives into a ``dask.dataframe`` with the rows of
:func:`mimeflow.schema` (``docs/schema.md``), one partition per byte range
of a plain mbox and per group of files of a Maildir or ``.eml`` folder;
:func:`convert` writes them as Parquet shards with a manifest and the
conversation threads of all of them. Both take local paths, globs, lists
and fsspec URLs (``s3://``, ``gs://``, ``memory://``, ``file://``).

How archives are cut (the plan, shared with :mod:`mimeflow.spark` and
:mod:`mimeflow.ray`, lives in :mod:`mimeflow.pieces`): a plain mbox at From_
boundaries near every ``blocksize`` bytes, found by the engine's own rule in
small windows read around each nominal cut; a compressed (``.gz``, ``.zst``,
``.xz``) or mboxcl2 archive is one partition, read by one task in a
streaming pass (set ``RAYON_NUM_THREADS`` in the workers' environment to cap
its pool); Maildir and ``.eml`` files are grouped into partitions of about
``blocksize`` bytes, in file-name order, a folder being told apart by the
rule ``mimeflow convert`` uses.

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
import uuid
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

try:
    import fsspec  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError as _missing:  # pragma: no cover - what a worker without the extra sees
    raise ImportError(
        f"mimeflow.dask needs pip install 'mimeflow[dask]': {_missing}"
    ) from _missing

from mimeflow import _native
# COMPRESSED, WINDOW and read_piece stay importable from here, where they
# were first defined.
from mimeflow.pieces import (
    COMPRESSED,
    WINDOW,
    Piece,
    _check_threads,
    _empty,
    _is_local,
    plan,
    read_piece,
)

if TYPE_CHECKING:
    import dask.dataframe as dd

__all__ = ["read_mbox", "convert", "plan", "Piece"]

#: The version of the shard and manifest layout written by :func:`convert`.
LAYOUT_VERSION = 1


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
