"""mimeflow.dask on a real ``distributed.LocalCluster`` (2 worker processes).

The archives are generated here (a few hundred KB): three plain mboxes (one
holding a message larger than the blocks they are cut into, one with CRLF
lines, replies across archives), the committed ``outputs.mbox`` (odd
messages: no header, bad dates, ``>From`` quoting), a gzipped archive, a
Maildir and an ``.eml`` folder. Every result is compared with the one-machine
engine: ``mimeflow.convert(..., to="parquet")`` and ``read_arrow``, row for
row (every column but ``row``, which a partition cannot know). Object storage
is a real S3 API on loopback: moto's server mode, read through s3fs.

Dask, distributed, s3fs and moto are the oracles here: when one is missing
the test skips, and fails under ``MIMEFLOW_REQUIRE_ORACLES=1`` (CI).
"""

import hashlib
import json
import os
import random
import shutil
import socket

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mimeflow
import mimeflow.mbox
from _archives import OUTPUTS_MBOX, _file_message, _mbox, gzip_mbox, maildir, one_machine
from _oracles import missing



def _need(module):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        missing("%s is not installed (pip install mimeflow[dask] and the test extra)" % module)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = random.Random(12)
    root = tmp_path_factory.mktemp("dask-data")
    archives = root / "archives"
    archives.mkdir()
    ids = _mbox(archives / "a.mbox", "a", 120, rng, big=150_000)
    _mbox(archives / "b.mbox", "b", 90, rng, parents=ids)
    _mbox(archives / "c.mbox", "c", 60, rng, parents=ids, eol="\r\n")
    shutil.copyfile(OUTPUTS_MBOX, archives / "d.mbox")
    gzip_mbox(archives / "e.mbox.gz", "e", 80, rng, parents=ids)
    maildir(root / "maildir", 25, rng)
    eml = root / "eml"
    eml.mkdir()
    for i in range(20):
        (eml / ("%04d.eml" % i)).write_bytes(_file_message(rng, i, "f"))
    return root


def _sources(data):
    archives = sorted(str(p) for p in (data / "archives").iterdir())
    return archives + [str(data / "maildir"), str(data / "eml")]


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
    """One-machine rows of every source, keyed by the source as given."""
    out = tmp_path_factory.mktemp("dask-ref")
    refs = {}
    for i, src in enumerate(_sources(data)):
        refs[src] = one_machine(src, out / ("%d.parquet" % i))
    return refs


def _key_sorted(table):
    return table.sort_by([("source", "ascending"), ("offset", "ascending")])


def _without_row(table):
    return table.drop_columns(["row"]) if "row" in table.column_names else table


def _reference_rows(reference, sources):
    return _key_sorted(pa.concat_tables([_without_row(reference[s][0]) for s in sources]))


def _arrow(df):
    table = pa.Table.from_pandas(df, preserve_index=False)
    return table.cast(pa.schema(mimeflow.schema(columns=table.column_names)))


@pytest.fixture(scope="module")
def client():
    _need("dask.dataframe")
    distributed = _need("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def mdask():
    _need("dask.dataframe")
    import mimeflow.dask

    return mimeflow.dask


# --------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------


def test_rows_equalone_machine(client, mdask, data, reference):
    sources = _sources(data)
    df = mdask.read_mbox(sources, blocksize="16KiB")
    # a.mbox alone is cut into many partitions; the .gz is one.
    assert df.npartitions > 20
    got = _without_row(_arrow(df.compute()))
    want = _reference_rows(reference, sources)
    assert got.num_rows == want.num_rows == sum(r[0].num_rows for r in reference.values())
    assert _key_sorted(got).equals(want)
    # Partitions follow archive order: the rows come as the one-machine runs
    # of the sources, one after the other, give them.
    order = pa.concat_tables([_without_row(reference[s][0]) for s in sources])
    assert got.select(["source", "offset"]).equals(order.select(["source", "offset"]))


def test_every_block_count_keeps_every_message(client, mdask, data, reference):
    import dask

    archives = [str(data / "archives" / n) for n in ("a.mbox", "b.mbox", "c.mbox", "d.mbox")]
    frames = []
    for path in archives:
        size = os.path.getsize(path)
        for blocks in range(1, 17):
            df = mdask.read_mbox(path, blocksize=-(-size // blocks), columns=["offset", "sha256"])
            frames.append((path, blocks, df.npartitions, df))
    results = dask.compute(*[f[3] for f in frames])
    collapsed = 0
    for (path, blocks, parts, _), result in zip(frames, results):
        want = reference[path][0]
        assert parts <= blocks
        assert result["offset"].tolist() == want.column("offset").to_pylist(), (path, blocks)
        assert result["sha256"].tolist() == want.column("sha256").to_pylist(), (path, blocks)
        if path.endswith("a.mbox") and parts < blocks:
            collapsed += 1  # nominal cuts inside the large message fell to its end
    big = max(reference[archives[0]][0].column("length").to_pylist())
    assert big > 2 * (os.path.getsize(archives[0]) // 16)
    assert collapsed > 0


def test_parquet_written_by_dask_has_the_schema(client, mdask, data, tmp_path):
    sources = _sources(data)
    schema = pa.schema(mimeflow.schema())
    df = mdask.read_mbox(sources, blocksize="64KiB")
    out = tmp_path / "pq"
    df.to_parquet(str(out), write_index=False, schema=schema)
    files = sorted(out.glob("*.parquet"))
    assert len(files) == df.npartitions
    for f in files:
        written = pq.read_schema(str(f))
        assert written.equals(schema)
        assert written.metadata[b"mimeflow.schema_version"] == schema.metadata[
            b"mimeflow.schema_version"
        ]
    # The pandas partitions hold pyarrow-backed columns (Dask turns the
    # large_utf8 bodies into pandas' pyarrow-backed string dtype).
    import pandas as pd

    meta = df._meta
    for name, t in meta.dtypes.items():
        assert isinstance(t, pd.ArrowDtype) or (
            name in ("body_text", "body_html") and t == pd.StringDtype("pyarrow")
        ), (name, t)
    assert meta.dtypes["date"].pyarrow_dtype == pa.timestamp("us", tz="UTC")
    assert meta.dtypes["to"].pyarrow_dtype == schema.field("to").type


def test_columns_and_raw(client, mdask, data, reference):
    path = str(data / "archives" / "b.mbox")
    df = mdask.read_mbox(path, blocksize="20KiB", columns=["sha256", "subject"], raw=True)
    assert list(df.columns) == ["sha256", "subject"]
    got = df.compute()
    assert got["sha256"].tolist() == reference[path][0].column("sha256").to_pylist()
    df = mdask.read_mbox(path, blocksize="20KiB", columns=["raw", "sha256"], raw=True)
    got = df.compute()
    assert [hashlib.sha256(r).hexdigest() for r in got["raw"]] == got["sha256"].tolist()


# --------------------------------------------------------------------------
# Planning reads small windows
# --------------------------------------------------------------------------


def _counting_fs():
    from fsspec.implementations.local import LocalFileSystem

    class CountingFileSystem(LocalFileSystem):
        """Counts the bytes the planner fetches; whole-file reads count the
        whole file."""

        cachable = False

        def __init__(self, **kw):
            super().__init__(**kw)
            self.fetched = 0
            self.calls = 0
            self.ranged = False

        def cat_file(self, path, start=None, end=None, **kw):
            self.ranged = True
            try:
                data = super().cat_file(path, start=start, end=end, **kw)
            finally:
                self.ranged = False
            self.fetched += len(data)
            self.calls += 1
            return data

        def open(self, path, mode="rb", **kw):
            if "r" in mode and not self.ranged:
                self.fetched += self.size(path)
            return super().open(path, mode, **kw)

    return CountingFileSystem()


def test_planning_reads_only_windows(mdask, data, tmp_path):
    rng = random.Random(5)
    big = tmp_path / "big.mbox"
    _mbox(big, "z", 1200, rng, big=400_000)
    size = os.path.getsize(big)
    assert size > 2_000_000
    blocksize = 512 << 10
    window = mdask.WINDOW + mimeflow.mbox.CUT_LOOKBEHIND
    for variant, head in (("auto", mimeflow.mbox.SNIFF_BYTES), ("mboxrd", mdask.WINDOW)):
        fs = _counting_fs()
        _, pieces = mdask.plan(str(big), blocksize=blocksize, variant=variant, filesystem=fs)
        cuts = len(pieces) - 1
        assert cuts >= 3
        # The head, then one window per cut, but for the cut inside the
        # large message: its window doubles until it holds the message's end
        # (a window that starts inside the head is not fetched again).
        assert fs.fetched <= min(head, size) + cuts * window + 2 * 400_000 + window
        assert fs.calls <= 1 + cuts + 4
    assert fs.fetched < size // 2
    # ... and the pieces are exact: their rows are the archive's.
    want = pa.table(mimeflow.mbox.read_arrow(str(big), ["offset", "sha256"]))
    got = pa.concat_tables([mdask.read_piece(fs, p, ["offset", "sha256"]) for p in pieces])
    assert got.equals(want)
    assert [p.start for p in pieces[1:]] == [p.end for p in pieces[:-1]]


# --------------------------------------------------------------------------
# convert: shards, manifest, threads, reruns
# --------------------------------------------------------------------------


def _shards(out, suffix):
    return sorted((out / "messages").glob("part-*." + suffix))


@pytest.mark.parametrize("to", ["parquet", "jsonl"])
def test_convert_shards_manifest_threads_and_rerun(client, mdask, data, reference, tmp_path, to):
    path = str(data / "archives" / "a.mbox")
    out = tmp_path / "out"
    manifest = mdask.convert(path, str(out), to=to, blocksize="24KiB")
    want_rows, want_threads = reference[path]
    shards = _shards(out, to)
    assert len(shards) == len(manifest["shards"]) > 5
    assert manifest["rows"] == want_rows.num_rows
    assert manifest["skipped"] == 0
    assert json.loads((out / "manifest.json").read_text()) == manifest
    # Every shard's count and sha256 total is what it holds.
    total = hashlib.sha256()
    rows = []
    for shard, entry in zip(shards, manifest["shards"]):
        assert shard.name == entry["name"]
        if to == "parquet":
            table = pq.read_table(str(shard))
            assert table.schema.equals(pa.schema(mimeflow.schema()))
            hashes = table.column("sha256").to_pylist()
            rows.append(table)
        else:
            records = [json.loads(line) for line in shard.read_text("utf-8").splitlines()]
            assert all(r["schema_version"] == mimeflow.schema().version for r in records)
            hashes = [r["sha256"] for r in records]
            rows.append(pa.table({
                "offset": pa.array([r["offset"] for r in records], pa.uint64()),
                "sha256": pa.array(hashes, pa.string()),
            }))
        assert entry["rows"] == len(hashes)
        digest = hashlib.sha256("".join(h + "\n" for h in hashes).encode()).hexdigest()
        assert entry["sha256"] == digest
        total.update(digest.encode())
    assert manifest["sha256"] == total.hexdigest()
    got = pa.concat_tables(rows)
    assert got.column("sha256").to_pylist() == want_rows.column("sha256").to_pylist()
    assert got.column("offset").to_pylist() == want_rows.column("offset").to_pylist()
    if to == "parquet":
        assert _without_row(got).equals(_without_row(want_rows))
    # Threads across shards are the one-machine run's.
    if to == "parquet":
        threads = pq.read_table(str(out / "threads.parquet"))
    else:
        lines = (out / "threads.jsonl").read_text("utf-8").splitlines()
        threads = pa.Table.from_pylist([json.loads(x) for x in lines]).cast(want_threads.schema)
    assert _key_sorted(threads).equals(_key_sorted(want_threads))
    assert manifest["threads"] == want_threads.num_rows
    # A rerun skips every finished shard and rewrites none.
    stamps = {p.name: p.stat().st_mtime_ns for p in shards}
    again = mdask.convert(path, str(out), to=to, blocksize="24KiB")
    assert again["skipped"] == len(shards)
    assert {p.name: p.stat().st_mtime_ns for p in _shards(out, to)} == stamps
    assert {k: v for k, v in again.items() if k != "skipped"} == {
        k: v for k, v in manifest.items() if k != "skipped"
    }
    # A shard removed is written again, alone.
    shards[2].unlink()
    third = mdask.convert(path, str(out), to=to, blocksize="24KiB")
    assert third["skipped"] == len(shards) - 1
    assert third["sha256"] == manifest["sha256"]
    assert not list(out.rglob("*.tmp"))
    # Another plan into the same folder would mix two sets of shards.
    with pytest.raises(ValueError, match="another plan"):
        mdask.convert(path, str(out), to=to, blocksize="40KiB")


def sqlite_from_shards(folder, db_path):
    """The README's recipe: the shards of ``mimeflow.dask.convert`` into one
    SQLite database on one node (JSON text for lists, epoch seconds for
    times, as docs/schema.md's SQLite column; FTS5 over the text)."""
    import sqlite3

    import pyarrow.dataset as ds

    shards = ds.dataset(f"{folder}/messages", format="parquet")
    threads = {
        (r["source"], r["offset"]): r["thread_id"]
        for r in pq.read_table(f"{folder}/threads.parquet").to_pylist()
    }
    names = [n for n in shards.schema.names if n != "raw"]
    quoted = ", ".join(f'"{n}"' for n in names)
    db = sqlite3.connect(db_path)
    db.execute(f"CREATE TABLE messages (id INTEGER PRIMARY KEY, {quoted}, thread_id TEXT)")
    marks = ", ".join("?" * (len(names) + 1))
    insert = f"INSERT INTO messages ({quoted}, thread_id) VALUES ({marks})"

    def cell(v):
        if isinstance(v, (list, dict)):
            return json.dumps(v, ensure_ascii=False)
        if hasattr(v, "timestamp"):
            return int(v.timestamp())
        return v

    for batch in shards.to_batches(columns=names):
        db.executemany(
            insert,
            (
                [cell(r[n]) for n in names] + [threads[(r["source"], r["offset"])]]
                for r in batch.to_pylist()
            ),
        )
    db.execute(
        "CREATE VIRTUAL TABLE messages_fts USING fts5(subject, from_name, from_address, "
        "body_text, content='messages', content_rowid='id')"
    )
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
    db.execute("CREATE INDEX messages_key ON messages(source, offset)")
    db.execute("CREATE INDEX messages_thread ON messages(thread_id)")
    db.commit()
    db.close()


def test_convert_every_kind_of_source(client, mdask, data, reference, tmp_path):
    sources = _sources(data)
    out = tmp_path / "all"
    manifest = mdask.convert(sources, str(out), blocksize="32KiB")
    got = pa.concat_tables(pq.read_table(str(p)) for p in _shards(out, "parquet"))
    assert manifest["rows"] == got.num_rows
    assert _key_sorted(_without_row(got)).equals(_reference_rows(reference, sources))
    # The README's SQLite recipe, from these shards.
    import sqlite3

    sqlite_from_shards(str(out), str(tmp_path / "mail.db"))
    db = sqlite3.connect(str(tmp_path / "mail.db"))
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == manifest["rows"]
    thread_rows = pq.read_table(str(out / "threads.parquet"))
    assert db.execute("SELECT count(DISTINCT thread_id) FROM messages").fetchone()[0] == len(
        set(thread_rows.column("thread_id").to_pylist())
    )
    subjects = got.column("subject").to_pylist()
    hits = db.execute(
        "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'subject:release'"
    ).fetchone()[0]
    assert hits == sum(1 for x in subjects if x and "release" in x.lower().split()) > 0
    db.close()
    # Threads of one Maildir equal its one-machine run.
    maildir = str(data / "maildir")
    out2 = tmp_path / "maildir"
    mdask.convert(maildir, str(out2), blocksize="4KiB")
    threads = pq.read_table(str(out2 / "threads.parquet"))
    assert _key_sorted(threads).equals(_key_sorted(reference[maildir][1]))


try:
    from fsspec.implementations.local import LocalFileSystem
except ImportError:  # the tests that need it skip (or fail under CI)
    LocalFileSystem = object


class KillerFileSystem(LocalFileSystem):
    """Kills the worker process the first time a task reads a piece: the
    planner (the process given as ``planner``) reads freely. Defined at
    module level: the workers import this module to unpickle it."""

    def cat_file(self, path, start=None, end=None, **kw):
        if os.getpid() != self.storage_options["planner"]:
            try:
                fd = os.open(self.storage_options["marker"], os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                pass
            else:
                os.close(fd)
                os._exit(1)
        return super().cat_file(path, start=start, end=end, **kw)


def test_killed_worker_is_retried_without_duplicates(client, mdask, data, reference, tmp_path):
    path = str(data / "archives" / "b.mbox")
    marker = tmp_path / "killed"
    out = tmp_path / "out"
    fs = KillerFileSystem(marker=str(marker), planner=os.getpid())
    manifest = mdask.convert(path, str(out), blocksize="16KiB", filesystem=fs)
    assert marker.exists()  # a worker died
    shards = _shards(out, "parquet")
    assert len(shards) == len(manifest["shards"])
    assert len({s["name"] for s in manifest["shards"]}) == len(shards)
    got = pa.concat_tables(pq.read_table(str(p)) for p in shards)
    want = reference[path][0]
    assert got.column("offset").to_pylist() == want.column("offset").to_pylist()
    assert manifest["rows"] == want.num_rows
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]
    client.wait_for_workers(2, timeout=60)


def test_a_second_attempt_publishes_nothing(mdask, data, tmp_path):
    """Two attempts of one task (the first thought dead, yet finishing):
    the shard is written once and never replaced."""
    import fsspec

    fs = fsspec.filesystem("file")
    _, pieces = mdask.plan(str(data / "archives" / "d.mbox"), blocksize="4KiB")
    out = tmp_path / "o"
    (out / "messages").mkdir(parents=True)
    first = mdask._write_shard(0, pieces[0], fs, fs, str(out), "parquet", False, 1)
    shard = out / "messages" / first["name"]
    stamp = shard.stat().st_mtime_ns
    second = mdask._write_shard(0, pieces[0], fs, fs, str(out), "parquet", False, 1)
    assert (first["skipped"], second["skipped"]) == (False, True)
    assert shard.stat().st_mtime_ns == stamp
    assert mdask._write_new(fs, str(shard), lambda f: f.write(b"x")) is False
    assert pq.read_table(str(shard)).num_rows == first["rows"]
    assert sorted(p.name for p in (out / "messages").iterdir()) == [first["name"]]


# --------------------------------------------------------------------------
# S3 through moto's server and s3fs
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(data):
    _need("s3fs")
    server_mod = _need("moto.server")
    boto3 = _need("boto3")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % port
    try:
        kw = dict(
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        s3c = boto3.client("s3", **kw)
        s3c.create_bucket(Bucket="mail")
        for p in sorted(data.rglob("*")):
            if p.is_file():
                s3c.upload_file(str(p), "mail", p.relative_to(data).as_posix())
        yield {
            "key": "testing",
            "secret": "testing",
            "endpoint_url": endpoint,
            "client_kwargs": {"region_name": "us-east-1"},
        }
    finally:
        server.stop()


def _renamed(table, data):
    """Rows read from S3 name their source by its URL."""
    local = [s.replace("s3://mail/", str(data) + "/") for s in table.column("source").to_pylist()]
    i = table.schema.get_field_index("source")
    return table.set_column(i, table.schema.field(i), pa.array(local, pa.string()))


def test_s3_rows_equalone_machine(client, mdask, data, reference, s3):
    urls = ["s3://mail/archives/*", "s3://mail/maildir", "s3://mail/eml"]
    df = mdask.read_mbox(urls, blocksize="16KiB", storage_options=s3)
    assert df.npartitions > 20
    got = _without_row(_arrow(df.compute()))
    assert got.column("source")[0].as_py().startswith("s3://mail/archives/")
    want = _reference_rows(reference, _sources(data))
    assert _key_sorted(_renamed(got, data)).equals(want)


def test_s3_convert_to_s3(client, mdask, data, reference, s3):
    import s3fs

    path = "s3://mail/archives/c.mbox"
    manifest = mdask.convert(
        path, "s3://mail/out", blocksize="8KiB", storage_options=s3, out_storage_options=s3
    )
    fs = s3fs.S3FileSystem(**s3)
    names = sorted(fs.ls("mail/out/messages"))
    assert len(names) == len(manifest["shards"]) > 3
    tables = []
    for name in names:
        with fs.open(name, "rb") as f:
            tables.append(pq.read_table(f))
    got = _renamed(pa.concat_tables(tables), data)
    want = reference[str(data / "archives" / "c.mbox")]
    assert _without_row(got).equals(_without_row(want[0]))
    with fs.open("mail/out/threads.parquet", "rb") as f:
        threads = _renamed(pq.read_table(f), data)
    assert _key_sorted(threads).equals(_key_sorted(want[1]))
    assert json.loads(fs.cat_file("mail/out/manifest.json")) == manifest
    again = mdask.convert(
        path, "s3://mail/out", blocksize="8KiB", storage_options=s3, out_storage_options=s3
    )
    assert again["skipped"] == len(names)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_bad_input_raises_documented_exceptions(mdask, data, tmp_path):
    with pytest.raises(FileNotFoundError):
        mdask.read_mbox(str(tmp_path / "missing.mbox"))
    with pytest.raises(FileNotFoundError):
        mdask.read_mbox(str(tmp_path / "*.mbox"))
    with pytest.raises(ValueError):
        mdask.read_mbox([])
    with pytest.raises(ValueError):
        mdask.read_mbox([str(data / "archives" / "a.mbox"), "memory://x.mbox"])
    for bad in ("abc", 0, -5, "0MiB"):
        with pytest.raises(ValueError):
            mdask.read_mbox(str(data / "archives" / "a.mbox"), blocksize=bad)
    with pytest.raises(ValueError):
        mdask.read_mbox(str(data / "archives" / "a.mbox"), variant="mboxz")
    with pytest.raises(ValueError):
        mdask.read_mbox(str(data / "archives" / "a.mbox"), columns=["nope"])
    for bad in (0, 1025, 2**62):
        with pytest.raises(ValueError):
            mdask.read_mbox(str(data / "archives" / "a.mbox"), threads=bad)
        with pytest.raises(ValueError):
            mimeflow.mbox.piece_table(b"", 0, "x", "mboxrd", threads=bad)
    with pytest.raises(ValueError):
        mdask.convert(str(data / "archives" / "a.mbox"), str(tmp_path / "o"), to="sqlite")
    junk = tmp_path / "junk.mbox"
    junk.write_bytes(b"\x00\x01 this is no mbox\n" * 100)
    with pytest.raises(mimeflow.MboxError):
        mdask.read_mbox(str(junk))
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    assert len(mdask.read_mbox(str(empty)).compute(scheduler="sync")) == 0
