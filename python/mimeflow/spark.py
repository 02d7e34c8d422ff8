"""Mail archives on Spark 4: a Python Data Source over :mod:`mimeflow.pieces`.

:class:`MboxDataSource` (format name ``"mimeflow"``) reads archives into a
Spark DataFrame with the rows of :func:`mimeflow.schema`: its reader's
``partitions()`` is the plan of :func:`mimeflow.pieces.plan` (one partition
per byte range of a plain mbox, per compressed or mboxcl2 archive, per
group of Maildir or ``.eml`` files), and ``read()`` yields each piece's rows
as Arrow record batches, so rows never pass through Python tuples::

    import mimeflow.spark

    spark.dataSource.register(mimeflow.spark.MboxDataSource)
    df = (
        spark.read.format("mimeflow")
        .option("blocksize", "256MiB")
        .load("s3://mail/takeout/*.mbox")
    )

``load`` takes a path, URL, glob or folder (or a list of them). Options, all
strings: ``blocksize`` (``"256MiB"``), ``variant`` (``"auto"``), ``columns``
(names separated by commas; default all), ``raw`` (``"true"`` adds the
``raw`` column), ``threads`` (rayon threads per task, default 1, so that
executors sharing a machine do not oversubscribe its cores) and
``storage_options`` (a JSON object for fsspec, e.g. S3 credentials). A
schema given with ``spark.read.schema(...)`` selects the columns by name.

The Spark schema is :func:`mimeflow.schema`'s, as pyspark maps Arrow types
(:func:`spark_schema`), except that Spark has no unsigned integers:
``offset``, ``length``, ``row``, ``size`` and ``attachment_count`` are
``bigint`` (a value past 2**63 - 1 would raise, never wrap). ``row`` is null
and a row's key is ``(source, offset)``, as in :mod:`mimeflow.dask`.

Planning runs in the Python process that Spark starts on the driver for the
query; each executor task fetches exactly its piece through fsspec. Workers
need ``pip install 'mimeflow[spark]'`` (Python 3.11 or newer, Java 17 or
newer); ``s3://`` needs ``s3fs``. Without pyspark the module imports, but
the data source raises ``ImportError`` when made.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterator, List, Mapping, Optional

import fsspec  # type: ignore[import-untyped,import-not-found,unused-ignore]
import pyarrow as pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

from mimeflow import _native
from mimeflow.pieces import Piece, _check_threads, plan, read_piece

if TYPE_CHECKING:
    from pyspark.sql.datasource import (  # type: ignore[import-not-found,unused-ignore]
        DataSource,
        DataSourceReader,
        InputPartition,
    )
    # Private: without pyspark the name would be Any, which stubtest takes for
    # one of ours.
    from pyspark.sql.types import (  # type: ignore[import-not-found,unused-ignore]
        StructType as _StructType,
    )
else:
    try:
        from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
    except ImportError as _missing:
        # stubtest and `import mimeflow.spark` work without pyspark; the data
        # source itself cannot.
        _why = str(_missing)

        class _NeedsPyspark:
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                raise ImportError(f"mimeflow.spark needs pip install 'mimeflow[spark]': {_why}")

        DataSource = DataSourceReader = InputPartition = _NeedsPyspark

__all__ = ["MboxDataSource", "MboxReader", "PiecePartition", "spark_schema"]

#: Spark has no unsigned integers: the smallest signed type that holds each
#: (uint64 has none; a value past 2**63 - 1 fails the cast in ``read``).
_SIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.int64(),
}

#: Rows per Arrow batch handed to Spark. Spark's batches hold 32-bit string
#: offsets (the bodies are ``large_string`` in mimeflow's schema), so a
#: piece goes over in slices.
BATCH_ROWS = 1024


def spark_schema(columns: Optional[List[str]] = None, *, raw: bool = False) -> "_StructType":
    """:func:`mimeflow.schema` (``columns`` of it; with ``raw``, the ``raw``
    column too) as a Spark ``StructType``, converted by pyspark's own
    ``from_arrow_schema``, unsigned integers made signed. Raises
    ``ValueError`` for an unknown column."""
    from pyspark.sql.pandas.types import (  # type: ignore[import-not-found,unused-ignore]
        from_arrow_schema,
    )

    arrow = pa.schema(_native.schema(raw=raw, columns=columns))
    signed = pa.schema(
        [pa.field(f.name, _SIGNED.get(f.type, f.type), f.nullable) for f in arrow]
    )
    return from_arrow_schema(signed)


def _flag(options: Mapping[str, str], name: str) -> bool:
    value = str(options.get(name, "false")).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"option {name} must be true or false, not {value!r}")
    return value == "true"


def _columns(options: Mapping[str, str]) -> Optional[List[str]]:
    text = options.get("columns")
    if text is None:
        return None
    return [c.strip() for c in str(text).split(",") if c.strip()]


class PiecePartition(InputPartition):
    """One Spark partition: a :class:`mimeflow.pieces.Piece` and the fsspec
    filesystem to read it from (both small and picklable)."""

    def __init__(self, fs: "fsspec.AbstractFileSystem", piece: Piece) -> None:
        super().__init__(piece)
        self.fs = fs
        self.piece = piece


class MboxDataSource(DataSource):
    """The ``"mimeflow"`` data source (see the module notes for its
    options): register it with ``spark.dataSource.register(MboxDataSource)``,
    then ``spark.read.format("mimeflow").load(path)``."""

    @classmethod
    def name(cls) -> str:
        """The format name: ``"mimeflow"``."""
        return "mimeflow"

    def schema(self) -> "_StructType":
        """:func:`spark_schema` of the ``columns`` and ``raw`` options."""
        return spark_schema(_columns(self.options), raw=_flag(self.options, "raw"))

    def reader(self, schema: "_StructType") -> "MboxReader":
        """A reader of the rows of ``schema``'s columns."""
        return MboxReader(self.options, schema)


class MboxReader(DataSourceReader):
    """Plans the archives (``partitions``) and reads one piece (``read``).

    Made on the driver; Spark pickles it to the executors before
    ``partitions()`` runs, so it carries only the options, and each
    partition its piece and filesystem."""

    def __init__(self, options: Mapping[str, str], schema: "_StructType") -> None:
        self.paths = _paths(options)
        self.blocksize = options.get("blocksize", "256MiB")
        self.variant = options.get("variant", "auto")
        text = options.get("storage_options")
        self.storage_options = json.loads(text) if text else None
        self.columns: List[str] = list(schema.fieldNames())
        self.raw = _flag(options, "raw") or "raw" in self.columns
        self.threads = int(options.get("threads", "1"))
        _check_threads(self.threads)
        _native.schema(raw=self.raw, columns=self.columns)  # unknown columns fail now
        self.spark_schema = schema

    def partitions(self) -> List["InputPartition"]:
        """The plan: one partition per piece, in archive order."""
        fs, pieces = plan(
            self.paths,
            blocksize=self.blocksize,
            variant=self.variant,
            storage_options=self.storage_options,
        )
        return [PiecePartition(fs, p) for p in pieces]

    def read(self, partition: "InputPartition") -> Iterator[pa.RecordBatch]:
        """The rows of one piece, as Arrow batches of the Spark schema."""
        from pyspark.sql.pandas.types import (  # type: ignore[import-not-found,unused-ignore]
            to_arrow_schema,
        )

        assert isinstance(partition, PiecePartition)
        # The Arrow schema Spark checks each batch against.
        target = to_arrow_schema(self.spark_schema, timezone="UTC")
        table = read_piece(
            partition.fs, partition.piece, self.columns, raw=self.raw, threads=self.threads
        )
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            yield batch.cast(target)


def _paths(options: Mapping[str, str]) -> List[str]:
    # load(path) gives "path"; load([a, b]) gives "paths", a JSON list.
    if options.get("paths"):
        paths = json.loads(options["paths"])
    elif options.get("path"):
        paths = [options["path"]]
    else:
        raise ValueError("mimeflow data source: give load() a path, URL, glob or list")
    return [str(p) for p in paths]
