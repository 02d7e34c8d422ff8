"""Arrow tables from Python: ``mimeflow.schema()``, ``mimeflow.mbox.read_arrow``
and ``range_table``, read by the real clients (pyarrow, polars, DuckDB)
through the Arrow PyCapsule interface.

The clients are the ``test`` extra; without them these tests skip, and fail
under ``MIMEFLOW_REQUIRE_ORACLES=1`` (CI).
"""

import gzip
import hashlib
import pathlib
import shutil

import pytest

import _oracles
import mimeflow
import mimeflow.mbox as mm

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARCHIVES = sorted((ROOT / "testdata" / "mbox").glob("*.mbox"))
CORPORA = ROOT / ".." / "shared" / "corpora"


client = _oracles.client


def messages(path):
    """(offset, sha256) of every message, as mimeflow.mbox.open reads it."""
    return [
        (info.offset, hashlib.sha256(m.to_bytes()).hexdigest())
        for info, m in mm.open(path, with_info=True)
    ]


@pytest.mark.parametrize("path", ARCHIVES, ids=lambda p: p.name)
def test_rows_are_the_messages(pa, path):
    t = pa.table(mm.read_arrow(path))
    want = messages(path)
    assert t.num_rows == len(want)
    got = list(zip(t.column("offset").to_pylist(), t.column("sha256").to_pylist()))
    assert got == want
    assert t.column("row").to_pylist() == list(range(len(want)))
    assert set(t.column("source").to_pylist()) <= {str(path)}


def test_schema_is_the_tables_schema(pa):
    path = ARCHIVES[0]
    t = pa.table(mm.read_arrow(path))
    s = pa.schema(mimeflow.schema())
    assert t.schema.equals(s, check_metadata=True)
    assert s.metadata[b"mimeflow.schema_version"] == str(mimeflow.schema().version).encode()
    assert s.field("date").type == pa.timestamp("us", tz="UTC")
    assert s.field("to").type == pa.list_(
        pa.struct([("name", pa.string()), ("address", pa.string())])
    )
    assert s.field("references").type == pa.list_(pa.string())
    raw = pa.schema(mimeflow.schema(raw=True))
    assert raw.names == s.names + ["raw"]
    assert mimeflow.schema().names == s.names


def test_import_is_zero_copy(pa):
    # pyarrow wraps our buffers: its own pool allocates nothing.
    path = ARCHIVES[0]
    before = pa.total_allocated_bytes()
    t = pa.table(mm.read_arrow(path))
    assert t.num_rows > 0
    assert pa.total_allocated_bytes() == before
    before = pa.total_allocated_bytes()
    reader = pa.RecordBatchReader.from_stream(mm.read_arrow(path))
    batches = list(reader)
    assert sum(b.num_rows for b in batches) == t.num_rows
    assert pa.total_allocated_bytes() == before


def test_columns_project_and_raw_holds_the_message(pa):
    path = ARCHIVES[0]
    t = pa.table(mm.read_arrow(path, ["sha256", "subject"]))
    assert t.column_names == ["sha256", "subject"]
    t = pa.table(mm.read_arrow(path, ["sha256", "raw"], raw=True))
    for sha, raw in zip(t.column("sha256").to_pylist(), t.column("raw").to_pylist()):
        assert hashlib.sha256(raw).hexdigest() == sha
    with pytest.raises(ValueError, match="unknown column"):
        mm.read_arrow(path, ["no_such_column"])
    with pytest.raises(ValueError, match="unknown column"):
        mimeflow.schema(columns=["nope"])


def test_ranges_together_are_the_archive(pa):
    for path in ARCHIVES:
        whole = pa.table(mm.read_arrow(path))
        for n in (1, 2, 5, 16):
            plan, variant = mm.plan_splits(path, n)
            parts = [pa.table(mm.range_table(path, a, b, variant)) for a, b in plan]
            t = pa.concat_tables(parts)
            assert t.column("sha256").to_pylist() == whole.column("sha256").to_pylist()
            assert t.column("offset").to_pylist() == whole.column("offset").to_pylist()
            assert t.column("row").null_count == t.num_rows
            assert t.drop_columns(["row"]).equals(whole.drop_columns(["row"]))


def test_compressed_maildir_and_eml_folders(pa, tmp_path):
    src = ARCHIVES[0]
    want = sorted(sha for _, sha in messages(src))
    gz = tmp_path / "a.mbox.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert sorted(pa.table(mm.read_arrow(gz)).column("sha256").to_pylist()) == want
    maildir = tmp_path / "md"
    mimeflow.convert(src, maildir, to="maildir")
    t = pa.table(mm.read_arrow(maildir))
    assert sorted(t.column("sha256").to_pylist()) == want
    assert all(s.startswith(str(maildir)) for s in t.column("source").to_pylist())
    eml = tmp_path / "eml"
    mimeflow.convert(src, eml, to="eml")
    assert sorted(pa.table(mm.read_arrow(eml)).column("sha256").to_pylist()) == want


def test_corpora_as_an_eml_folder(pa, tmp_path):
    if not CORPORA.is_dir():
        _oracles.missing("../shared/corpora is absent")
    folder = tmp_path / "corpora"
    folder.mkdir()
    want = []
    for i, p in enumerate(sorted(CORPORA.glob("*/**/*.eml"))):
        data = p.read_bytes()
        (folder / ("%05d.eml" % i)).write_bytes(data)
        want.append(hashlib.sha256(data).hexdigest())
    assert want, "no .eml files in the corpora"
    t = pa.table(mm.read_arrow(folder))
    assert t.num_rows == len(want)
    assert sorted(t.column("sha256").to_pylist()) == sorted(want)


def test_polars_and_duckdb_take_the_stream(pa):
    pl = client("polars")
    duckdb = client("duckdb")
    path = ARCHIVES[0]
    n = len(messages(path))
    df = pl.from_arrow(pa.table(mm.read_arrow(path, ["from_address", "date"])))
    assert df.height == n
    assert str(df.schema["date"]).startswith("Datetime")
    stream = mm.read_arrow(path, ["subject", "date"])
    rel = duckdb.from_arrow(stream)
    rows = rel.aggregate("count(*), min(date)").fetchall()
    assert rows[0][0] == n


def test_a_stream_is_read_once(pa):
    s = mm.read_arrow(ARCHIVES[0])
    pa.table(s)
    with pytest.raises(RuntimeError, match="already consumed"):
        pa.table(s)


def test_bad_input_raises_documented_errors(tmp_path):
    with pytest.raises(OSError):
        mm.read_arrow(tmp_path / "missing.mbox")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(mimeflow.MboxError):
        mm.read_arrow(text)
    with pytest.raises(ValueError):
        mm.read_arrow(ARCHIVES[0], variant="mboxzz")
    with pytest.raises(ValueError, match="variant"):
        mm.range_table(ARCHIVES[0], 0, 10, "auto")
    gz = tmp_path / "a.mbox.gz"
    gz.write_bytes(gzip.compress(ARCHIVES[0].read_bytes()))
    with pytest.raises(mimeflow.MboxError):
        mm.range_table(gz, 0, 10, "mboxrd")


def test_a_copy_of_the_archive_names_its_own_source(pa, tmp_path):
    copy = tmp_path / "copy.mbox"
    shutil.copy(ARCHIVES[0], copy)
    t = pa.table(mm.read_arrow(copy, ["source"]))
    assert set(t.column("source").to_pylist()) == {str(copy)}
