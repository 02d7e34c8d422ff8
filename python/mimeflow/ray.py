"""Mail archives on Ray Data: :func:`read_mbox` over :mod:`mimeflow.pieces`.

The plan of :func:`mimeflow.pieces.plan` becomes a dataset of pieces
(``ray.data.from_items``, one block per piece), and ``map_batches`` turns
each piece into its rows: a pyarrow Table of :func:`mimeflow.schema`, kept
as an Arrow block (unsigned integers, zoned timestamps, lists and structs as
they are)::

    import mimeflow.ray

    ds = mimeflow.ray.read_mbox("s3://mail/takeout/*.mbox", blocksize="256MiB")
    ds.write_parquet("s3://mail/out")

``row`` is null and a row's key is ``(source, offset)``, as in
:mod:`mimeflow.dask`. Each task parses on ``threads`` rayon threads (default
1) and asks Ray for as many CPUs. The order of the rows follows the plan
when the dataset's ``DataContext`` preserves order
(``ray.data.DataContext.get_current().execution_options.preserve_order =
True``); otherwise Ray hands out blocks as they finish.

Workers need ``pip install 'mimeflow[ray]'`` (Python 3.10 or newer);
``s3://`` needs ``s3fs``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import fsspec  # type: ignore[import-untyped,import-not-found,unused-ignore]
import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

from mimeflow import _native
from mimeflow.pieces import Piece, _check_threads, _empty, plan, read_piece

if TYPE_CHECKING:
    # Private: without Ray the name would be Any, which stubtest takes for one
    # of ours.
    import ray.data as _ray_data  # type: ignore[import-not-found,unused-ignore]

__all__ = ["read_mbox"]


def _item(piece: Piece) -> Dict[str, str]:
    # A JSON string: an Arrow column Ray stores as it is (no pickled
    # Python objects in the blocks).
    return {"piece": json.dumps(dataclasses.asdict(piece))}


def _piece(text: str) -> Piece:
    fields = json.loads(text)
    fields["files"] = tuple(fields["files"])
    return Piece(**fields)


def _read_batch(
    batch: pa.Table,
    fs: "fsspec.AbstractFileSystem",
    columns: Optional[List[str]],
    raw: bool,
    threads: int,
) -> pa.Table:
    tables = [
        read_piece(fs, _piece(text), columns, raw=raw, threads=threads)
        for text in batch.column("piece").to_pylist()
    ]
    return pa.concat_tables(tables) if tables else _empty(columns, raw)


def read_mbox(
    urlpaths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    *,
    blocksize: Union[int, str] = "256MiB",
    variant: str = "auto",
    columns: Optional[List[str]] = None,
    storage_options: Optional[Dict[str, Any]] = None,
    filesystem: Optional["fsspec.AbstractFileSystem"] = None,
    raw: bool = False,
    threads: int = 1,
) -> "_ray_data.Dataset":
    """The messages of ``urlpaths`` (a path, URL, glob, list, or folder of
    archives; Maildir and ``.eml`` folders too) as a ``ray.data.Dataset``
    of :func:`mimeflow.schema`'s rows, one block per piece of
    :func:`mimeflow.pieces.plan`. Planning runs here, on the driver; the
    dataset is lazy. Raises ``FileNotFoundError``, ``ValueError`` (bad
    blocksize, variant, column or threads) or ``MboxError`` (a file that
    is not an mbox) while planning, ``ImportError`` without Ray Data."""
    try:
        import ray.data  # type: ignore[import-not-found,unused-ignore]
    except ImportError as missing:
        raise ImportError(f"mimeflow.ray needs pip install 'mimeflow[ray]': {missing}") from missing

    _check_threads(threads)
    if columns is not None:
        columns = list(columns)
        _native.schema(raw=raw, columns=columns)  # unknown columns fail now
    fs, pieces = plan(
        urlpaths,
        blocksize=blocksize,
        variant=variant,
        storage_options=storage_options,
        filesystem=filesystem,
    )
    if not pieces:
        return ray.data.from_arrow(_empty(columns, raw))
    items = ray.data.from_items([_item(p) for p in pieces], override_num_blocks=len(pieces))
    read = functools.partial(_read_batch, fs=fs, columns=columns, raw=raw, threads=threads)
    return items.map_batches(read, batch_size=1, batch_format="pyarrow", num_cpus=threads)
