"""mimeflow.spark on a local Spark 4 and mimeflow.ray on a local Ray.

Marked ``spark`` and ``ray`` and deselected by default (they start a JVM and
a Ray cluster; CI installs neither): run them with

    python -m pytest -m "spark or ray" python/tests/test_spark_ray.py

The archives are generated as in ``test_dask.py`` (a plain mbox holding a
message larger than the blocks it is cut into, a CRLF one, the committed
``outputs.mbox``, a gzipped archive, a Maildir). Every result is compared
with the one-machine ``mimeflow.convert(..., to="parquet")``: the row count,
the sha256 of every row in order, and every column but ``row`` (null in a
piece), for block sizes that cut through messages.

pyspark (with Java) and Ray are the oracles here: when one is missing the
test skips, and fails under ``MIMEFLOW_REQUIRE_ORACLES=1``.
"""

import os
import random
import shutil
import sys

import pyarrow as pa
import pytest

import mimeflow
from _oracles import missing
from _archives import OUTPUTS_MBOX, _mbox, gzip_mbox, maildir, one_machine


# Ray's own DataContext() sets its deprecated fields (use_push_based_shuffle,
# use_polars, use_arrow_tensor_v2 in ray 2.60), each of which warns.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


def _need(module, extra):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        missing("%s is not installed (pip install 'mimeflow[%s]')" % (module, extra))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = random.Random(21)
    root = tmp_path_factory.mktemp("spark-ray-data")
    ids = _mbox(root / "a.mbox", "a", 80, rng, big=120_000)
    _mbox(root / "b.mbox", "b", 40, rng, parents=ids, eol="\r\n")
    shutil.copyfile(OUTPUTS_MBOX, root / "d.mbox")
    gzip_mbox(root / "e.mbox.gz", "e", 30, rng, parents=ids)
    maildir(root / "maildir", 12, rng)
    return root


def _sources(data):
    return [str(data / n) for n in ("a.mbox", "b.mbox", "d.mbox", "e.mbox.gz", "maildir")]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """The one-machine rows of every source (``row`` dropped), by source."""
    out = tmp_path_factory.mktemp("spark-ray-ref")
    refs = {}
    for i, src in enumerate(_sources(data)):
        refs[src] = one_machine(src, out / ("%d.parquet" % i))[0].drop_columns(["row"])
    return refs


def _expected(reference, sources):
    """The rows of ``sources``' one-machine runs, one after the other."""
    return pa.concat_tables([reference[s] for s in sources])


def _same_rows(got, want):
    """``got`` (with or without ``row``) holds ``want``'s rows, in order:
    the count, the sha256 of every row, then every column, ``want`` cast
    to ``got``'s types (Spark's signed integers and 32-bit strings)."""
    if "row" in got.column_names:
        assert got.column("row").null_count == got.num_rows
        got = got.drop_columns(["row"])
    assert got.num_rows == want.num_rows
    assert got.column("sha256").to_pylist() == want.column("sha256").to_pylist()
    assert got.column_names == want.column_names
    assert got.equals(want.cast(got.schema))


def _block_counts(path):
    """Block sizes cutting ``path`` into 1, 3, 7 and 16 nominal blocks."""
    size = os.path.getsize(path)
    return [(blocks, -(-size // blocks)) for blocks in (1, 3, 7, 16)]


# --------------------------------------------------------------------------
# Spark
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spark():
    _need("pyspark.sql", "spark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        missing("java is not installed (Spark 4 needs Java 17 or newer)")
    import mimeflow.spark
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as mp:
        # The executors' Python workers: this interpreter, this PYTHONPATH.
        mp.setenv("PYSPARK_PYTHON", sys.executable)
        mp.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        mp.setenv("SPARK_LOCAL_IP", "127.0.0.1")
        session = (
            SparkSession.builder.master("local[2]")
            .appName("mimeflow-test")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .getOrCreate()
        )
        try:
            session.sparkContext.setLogLevel("ERROR")
            session.dataSource.register(mimeflow.spark.MboxDataSource)
            yield session
        finally:
            session.stop()


@pytest.mark.spark
def test_spark_rows_equalone_machine(spark, data, reference):
    sources = _sources(data)
    df = spark.read.format("mimeflow").option("blocksize", "16KiB").load(sources)
    # a.mbox alone is cut into many partitions; the .gz is one.
    assert df.rdd.getNumPartitions() > 10
    # Partitions follow the plan, so the rows come in archive order.
    _same_rows(df.toArrow(), _expected(reference, sources))


@pytest.mark.spark
def test_spark_schema_is_mimeflows(spark, data):
    """The Spark schema is pyspark's own mapping of mimeflow.schema():
    the same names and nullability, unsigned integers as bigint and
    nothing else changed."""
    import mimeflow.spark
    from pyspark.sql.pandas.types import from_arrow_type

    df = spark.read.format("mimeflow").load(str(data / "d.mbox"))
    assert df.schema == mimeflow.spark.spark_schema()
    arrow = pa.schema(mimeflow.schema())
    assert df.schema.fieldNames() == arrow.names
    for field, want in zip(df.schema.fields, arrow):
        assert field.nullable == want.nullable, field.name
        if pa.types.is_unsigned_integer(want.type):
            assert field.dataType.simpleString() == "bigint", field.name
        else:
            assert field.dataType == from_arrow_type(want.type), field.name


@pytest.mark.spark
def test_spark_every_block_count_keeps_every_message(spark, data, reference):
    import mimeflow.pieces

    cut = 0
    for name in ("a.mbox", "b.mbox"):
        path = str(data / name)
        for blocks, blocksize in _block_counts(path):
            df = (
                spark.read.format("mimeflow")
                .option("blocksize", str(blocksize))
                .option("columns", "offset,sha256")
                .load(path)
            )
            # One partition per piece of the plan.
            _, pieces = mimeflow.pieces.plan(path, blocksize=blocksize)
            assert df.rdd.getNumPartitions() == len(pieces) <= blocks
            got = df.toArrow()
            want = reference[path].select(["offset", "sha256"])
            assert got.column_names == ["offset", "sha256"]
            _same_rows(got, want)
            cut += len(pieces) > 1
    assert cut >= 5


@pytest.mark.spark
def test_spark_schema_selects_columns_and_raw(spark, data, reference):
    import hashlib

    path = str(data / "b.mbox")
    df = (
        spark.read.format("mimeflow")
        .schema("sha256 string, raw binary")
        .option("blocksize", "8KiB")
        .load(path)
    )
    got = df.toArrow()
    assert got.num_rows == reference[path].num_rows
    assert [hashlib.sha256(r).hexdigest() for r in got.column("raw").to_pylist()] == (
        reference[path].column("sha256").to_pylist()
    )
    with pytest.raises(Exception, match="unknown"):
        spark.read.format("mimeflow").option("columns", "sha256,nope").load(path).collect()


# --------------------------------------------------------------------------
# Ray
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_data():
    ray = _need("ray", "ray")
    data = _need("ray.data", "ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=256 << 20,
            log_to_driver=False,
        )
        try:
            ctx = data.DataContext.get_current()
            ctx.enable_progress_bars = False
            ctx.execution_options.preserve_order = True
            yield data
        finally:
            ray.shutdown()


def _ray_table(ds):
    import ray

    return pa.concat_tables([ray.get(ref) for ref in ds.to_arrow_refs()])


@pytest.mark.ray
def test_ray_rows_equalone_machine(ray_data, data, reference):
    import mimeflow.ray

    sources = _sources(data)
    ds = mimeflow.ray.read_mbox(sources, blocksize="16KiB")
    got = _ray_table(ds)
    # Ray keeps the Arrow blocks as they are: exactly mimeflow.schema().
    assert got.schema.equals(pa.schema(mimeflow.schema()))
    _same_rows(got, _expected(reference, sources))


@pytest.mark.ray
def test_ray_every_block_count_keeps_every_message(ray_data, data, reference):
    import ray

    import mimeflow.pieces
    import mimeflow.ray

    cut = 0
    for name in ("a.mbox", "b.mbox"):
        path = str(data / name)
        for blocks, blocksize in _block_counts(path):
            ds = mimeflow.ray.read_mbox(path, blocksize=blocksize, columns=["offset", "sha256"])
            refs = ds.to_arrow_refs()
            # One block per piece of the plan.
            _, pieces = mimeflow.pieces.plan(path, blocksize=blocksize)
            assert len(refs) == len(pieces) <= blocks
            got = pa.concat_tables([ray.get(ref) for ref in refs])
            _same_rows(got, reference[path].select(["offset", "sha256"]))
            cut += len(pieces) > 1
    assert cut >= 5


@pytest.mark.ray
def test_ray_empty_archive_and_bad_input(ray_data, data, tmp_path):
    import mimeflow.ray

    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    got = _ray_table(mimeflow.ray.read_mbox(str(empty)))
    assert got.num_rows == 0
    assert got.schema.equals(pa.schema(mimeflow.schema()))
    with pytest.raises(ValueError):
        mimeflow.ray.read_mbox(str(data / "a.mbox"), columns=["nope"])
    with pytest.raises(ValueError):
        mimeflow.ray.read_mbox(str(data / "a.mbox"), threads=0)
    with pytest.raises(FileNotFoundError):
        mimeflow.ray.read_mbox(str(tmp_path / "missing.mbox"))



# --------------------------------------------------------------------------
# No Dask needed (unmarked: runs in CI, without Spark or Ray)
# --------------------------------------------------------------------------


def test_plan_and_pieces_need_no_dask(tmp_path):
    """Spark and Ray users install no Dask: with dask and distributed
    unimportable, mimeflow.pieces plans and reads an archive whose pieces
    give the one-machine rows, and mimeflow.spark and mimeflow.ray import."""
    import subprocess

    script = """
import sys
sys.modules["dask"] = sys.modules["distributed"] = None  # import raises ImportError
import pyarrow as pa
import mimeflow.mbox, mimeflow.pieces, mimeflow.ray, mimeflow.spark
path = sys.argv[1]
fs, pieces = mimeflow.pieces.plan(path, blocksize=2048)
assert len(pieces) > 3, pieces
got = pa.concat_tables([mimeflow.pieces.read_piece(fs, p, ["offset", "sha256"]) for p in pieces])
want = pa.table(mimeflow.mbox.read_arrow(path, ["offset", "sha256"]))
assert got.equals(want), (got.num_rows, want.num_rows)
assert not any(m == "dask" or m.startswith("dask.") for m, v in sys.modules.items() if v)
print(len(pieces), got.num_rows)
"""
    done = subprocess.run(
        [sys.executable, "-c", script, str(OUTPUTS_MBOX)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pieces, rows = map(int, done.stdout.split())
    assert pieces > 3 and rows > 0
