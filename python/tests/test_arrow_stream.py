"""The Arrow stream of ``mimeflow.mbox.read_arrow`` and ``range_table``
under stress: errors in the middle of a stream, streams dropped unread,
zero-copy imports, column projection and bad arguments.

Errors cross the Arrow C stream interface as an errno and a message; the
consumer (pyarrow here) turns ``EIO`` into ``OSError``. No failure may
surface as ``pyo3_runtime.PanicException`` (a ``BaseException``, which
``pytest.raises(OSError)`` would not catch).

Some checks need the producer thread to be provably behind the file (a
truncation after the first batch, a file removed before the producer gets
to it, producers blocked on a full channel): they run in a child
interpreter with ``RAYON_NUM_THREADS=1``, where a window and the read-ahead
have a known size whatever the machine's core count.
"""

import gc
import gzip
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import _oracles
import mimeflow
import mimeflow.mbox as mm

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "testdata" / "mbox" / "sample.mbox"


def client(name):
    try:
        return __import__(name)
    except ImportError:
        _oracles.missing("%s is not installed (pip install -e .[test])" % name)


@pytest.fixture
def pa():
    return client("pyarrow")


def message(i, body=4096):
    """A text message of about ``body`` bytes, different for each ``i``."""
    words = [b"w%d-%d" % (i, k) for k in range(body // 8)]
    lines = b"\n".join(b" ".join(words[k : k + 8]) for k in range(0, len(words), 8))
    return (
        b"From: a%d@example.org\nTo: b@example.org\nSubject: message %d\n"
        b"Message-ID: <%d@example.org>\nDate: Mon, 1 Jan 2001 10:00:00 +0000\n\n%s\n" % (i, i, i, lines)
    )


def write_mbox(path, n, body=4096):
    with open(path, "wb") as f:
        for i in range(n):
            f.write(b"From a@example.org Mon Jan  1 10:00:00 2001\n")
            f.write(message(i, body))
            f.write(b"\n")
    return path


def write_eml_folder(folder, n, body=1024):
    folder.mkdir()
    for i in range(n):
        (folder / ("%05d.eml" % i)).write_bytes(message(i, body))
    return folder


def child(script, *args, timeout=300):
    """Runs ``script`` in a fresh interpreter on one rayon thread; its last
    stdout line is JSON."""
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


# --- errors in the middle of a stream -------------------------------------


def damaged_gz(tmp_path, how):
    """A gzip'd archive of ~1 MB, damaged: its tail cut, garbage after the
    member, or bytes flipped in the middle of the deflate stream."""
    src = write_mbox(tmp_path / "src.mbox", 400)
    data = gzip.compress(src.read_bytes())
    if how == "cut":
        data = data[: len(data) * 2 // 3]
    elif how == "garbage":
        data = data + b"this is not a gzip member" * 10
    elif how == "flipped":
        mid = len(data) // 2
        data = data[:mid] + bytes(b ^ 0x5A for b in data[mid : mid + 64]) + data[mid + 64 :]
    path = tmp_path / ("damaged-%s.mbox.gz" % how)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("how", ["cut", "garbage", "flipped"])
def test_a_damaged_gz_is_an_oserror(pa, tmp_path, how):
    path = damaged_gz(tmp_path, how)
    # The damage lies past the first batch: the stream opens, then fails.
    with pytest.raises(OSError, match=path.name):
        pa.table(mm.read_arrow(path))
    with pytest.raises(OSError):
        reader = pa.RecordBatchReader.from_stream(mm.read_arrow(path, ["offset"]))
        for _ in reader:
            pass
    with pytest.raises(OSError):
        for _ in mm.open(path):
            pass
    with pytest.raises(OSError):
        for _ in mm.open(path, copy=True):
            pass


def test_a_gz_damaged_in_its_first_bytes_fails_at_open(tmp_path):
    path = tmp_path / "head.mbox.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes())[:12])
    with pytest.raises(OSError):
        mm.read_arrow(path)
    with pytest.raises(OSError):
        mm.open(path)


TRUNCATE = """
import json, os, sys
import pyarrow as pa
import mimeflow.mbox as mm
path = sys.argv[1]
reader = pa.RecordBatchReader.from_stream(mm.read_arrow(path, ["offset"], copy=True))
first = reader.read_next_batch().num_rows
os.truncate(path, 0)
try:
    rest = sum(b.num_rows for b in reader)
    print(json.dumps({"rows": first + rest}))
except OSError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e), "first": first}))
"""


def test_a_file_truncated_while_streamed_is_an_oserror(pa, tmp_path):
    # 64 MB; on one thread the producer reads about 20 MB ahead of the
    # consumer's first batch, so the truncation lands before its end.
    path = write_mbox(tmp_path / "big.mbox", 16000)
    assert path.stat().st_size > 60 << 20
    out = child(TRUNCATE, path)
    assert "error" in out, "the truncation went unnoticed: %r" % out
    assert out["first"] > 0
    assert "shrank" in out["message"], out


def test_a_file_replaced_while_read_gives_the_original_rows(pa, tmp_path):
    path = write_mbox(tmp_path / "a.mbox", 2000)
    want = [hashlib.sha256(message(i)).hexdigest() for i in range(2000)]
    other = write_mbox(tmp_path / "other.mbox", 3, body=100)
    for copy in (False, True):
        reader = pa.RecordBatchReader.from_stream(mm.read_arrow(path, ["sha256"], copy=copy))
        # What a mail client does when it compacts: a new file renamed over.
        replacement = tmp_path / "replacement.mbox"
        replacement.write_bytes(other.read_bytes())
        os.replace(replacement, path)
        got = [s for b in reader for s in b.column(0).to_pylist()]
        assert len(got) == 2000
        write_mbox(path, 2000)  # back, for the next round
    assert got == want


REMOVE = """
import json, os, sys
import pyarrow as pa
import mimeflow.mbox as mm
folder = sys.argv[1]
names = sorted(os.listdir(folder))
stream = mm.read_arrow(folder, ["sha256"])
# Listed at open; on one thread a window is 128 files and the producer at
# most about three windows ahead: the last file is not read yet.
os.remove(os.path.join(folder, names[-1]))
try:
    n = pa.table(stream).num_rows
    print(json.dumps({"rows": n}))
except OSError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def test_a_file_removed_from_an_eml_folder_midstream_is_an_oserror(pa, tmp_path):
    folder = write_eml_folder(tmp_path / "eml", 1000)
    out = child(REMOVE, folder)
    assert "error" in out, "the removed file went unnoticed: %r" % out
    assert "00999.eml" in out["message"], out


# --- streams dropped unread stop their producers ---------------------------

DROP = """
import ctypes, gc, json, os, sys, time
import pyarrow as pa
import mimeflow.mbox as mm

folder = sys.argv[1]
try:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim
except (OSError, AttributeError):
    libc = None  # not glibc: nothing to trim

def producers():
    n = 0
    for t in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/comm" % t) as f:
                n += f.read().strip() == "mimeflow-arrow"
        except FileNotFoundError:
            pass  # a thread that just ended
    return n

def rss_anon():
    # Freed memory that glibc keeps in the arenas of exited threads is
    # handed back first, so what is left is what is held.
    if libc is not None:
        libc.malloc_trim(0)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024

def settle(want, timeout=60):
    # The producers beyond the baseline, once there are `want` of them
    # (or after `timeout` seconds).
    deadline = time.monotonic() + timeout
    while producers() - base != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return producers() - base

# Warm up (rayon's pool, pyarrow), then the baselines. A thread started
# by a named thread inherits its name on Linux: rayon's pool, started by
# the first producer, shows as "mimeflow-arrow" too, and stays.
pa.table(mm.read_arrow(folder))
gc.collect()
base = producers()
out = {"base": base, "base_rss": rss_anon(), "trimmed": libc is not None}

def steady_rss(timeout=30):
    # RssAnon once it stops moving (the producers have filled their
    # channels and block).
    deadline = time.monotonic() + timeout
    last = rss_anon()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_anon()
        if abs(now - last) < (1 << 20):
            return now
        last = now
    return last

# 40 streams never read: each producer fills its channel and blocks. Two
# rounds: memory that the allocator keeps after the first (freed by exited
# threads' arenas) is reused by the second; a leak would add up.
for k in (1, 2):
    streams = [mm.read_arrow(folder) for _ in range(40)]
    out["open%d" % k] = settle(40)
    out["open_rss%d" % k] = steady_rss()
    del streams
    gc.collect()
    out["dropped%d" % k] = settle(0)
    out["dropped_rss%d" % k] = steady_rss()

# Exported to a capsule that nobody imports.
capsules = [mm.read_arrow(folder).__arrow_c_stream__() for _ in range(10)]
out["capsules"] = settle(10)
del capsules
gc.collect()
out["capsules_dropped"] = settle(0)

# Read in part: one batch of each, then dropped.
readers = [pa.RecordBatchReader.from_stream(mm.read_arrow(folder)) for _ in range(10)]
first = [r.read_next_batch().num_rows for r in readers]
out["partial"] = settle(10)
out["partial_rows"] = min(first)
del readers
gc.collect()
out["partial_dropped"] = settle(0)
print(json.dumps(out))
"""


def test_dropped_streams_stop_their_producers(pa, tmp_path):
    if not pathlib.Path("/proc/self/task").is_dir():
        _oracles.missing("/proc is absent: cannot count the producer threads")
    # 1000 files of 8 KB: eight windows of 128 on one thread, so a producer
    # blocks on its full channel until its stream is read or dropped.
    folder = write_eml_folder(tmp_path / "eml", 1000, body=8192)
    out = child(DROP, folder)
    assert out["open1"] == out["open2"] == 40, out
    assert out["dropped1"] == out["dropped2"] == 0, out
    assert out["capsules"] == 10 and out["capsules_dropped"] == 0, out
    assert out["partial"] == 10 and out["partial_rows"] > 0, out
    assert out["partial_dropped"] == 0, out
    # A blocked producer holds its queued batch and the one it built (2 x
    # 128 messages of 8 KB, a dozen columns): about 4 MB, not the folder.
    held = out["open_rss1"] - out["base_rss"]
    assert held < 40 * (16 << 20), out
    # Dropped, they give it back (40 leaked streams would keep ~160 MB);
    # measured after malloc_trim, so glibc only.
    if out["trimmed"]:
        assert out["dropped_rss1"] - out["base_rss"] < 48 << 20, out
        assert out["dropped_rss2"] - out["base_rss"] < 48 << 20, out


# --- zero copy, and the other clients taking the stream directly ----------


def test_imports_allocate_nothing_in_pyarrow(pa, tmp_path):
    path = write_mbox(tmp_path / "a.mbox", 500)
    plan, variant = mm.plan_splits(path, 3)
    cases = [
        lambda: mm.read_arrow(path),
        lambda: mm.read_arrow(path, ["subject", "to", "references"], raw=True),
        lambda: mm.read_arrow(path, copy=True),
        lambda: mm.range_table(path, plan[1][0], plan[1][1], variant),
        lambda: mm.range_table(path, plan[0][0], plan[-1][1], variant, ["raw", "date"], raw=True),
    ]
    for make in cases:
        stream = make()
        gc.collect()
        before = pa.total_allocated_bytes()
        t = pa.table(stream)
        assert t.num_rows > 0
        # pyarrow wraps the exported buffers; its own pool allocated none.
        assert pa.total_allocated_bytes() == before
        # And the values are there (reading them allocates nothing either).
        assert t.column(0).null_count < t.num_rows
        assert pa.total_allocated_bytes() == before
        del t


def test_polars_and_duckdb_read_the_stream_directly(pa, tmp_path):
    pl = client("polars")
    duckdb = client("duckdb")
    path = write_mbox(tmp_path / "a.mbox", 300)
    want = pa.table(mm.read_arrow(path, ["offset", "subject", "date"]))

    # A DataFrame from the stream (polars' from_arrow makes a struct Series
    # of a PyCapsule stream).
    df = pl.DataFrame(mm.read_arrow(path, ["offset", "subject", "date"]))
    assert df.height == 300
    assert df["subject"].to_list() == want.column("subject").to_pylist()
    assert str(df.schema["date"]).startswith("Datetime")

    plan, variant = mm.plan_splits(path, 2)
    parts = [pl.DataFrame(mm.range_table(path, a, b, variant, ["offset"])) for a, b in plan]
    assert pl.concat(parts)["offset"].to_list() == want.column("offset").to_pylist()

    con = duckdb.connect()
    stream = mm.read_arrow(path, ["subject", "date"])
    rows = con.from_arrow(stream).aggregate("count(*), min(subject)").fetchall()
    assert rows == [(300, min(want.column("subject").to_pylist()))]
    # DuckDB's replacement scan finds a Python variable holding the stream.
    ranged = mm.range_table(path, plan[0][0], plan[-1][1], variant, ["offset"])
    got = con.sql("SELECT count(*), max(\"offset\") FROM ranged").fetchall()
    assert got == [(300, max(want.column("offset").to_pylist()))]


# --- columns= ---------------------------------------------------------------


def test_a_projection_is_the_schema_selected(pa, tmp_path):
    path = write_mbox(tmp_path / "a.mbox", 50)
    full = pa.schema(mimeflow.schema(raw=True))
    for cols in (["subject"], ["raw", "offset", "to"], ["sha256", "date", "references", "row"]):
        want = pa.schema([full.field(c) for c in cols], metadata=full.metadata)
        t = pa.table(mm.read_arrow(path, cols, raw=True))
        assert t.schema.equals(want, check_metadata=True)
        assert pa.schema(mimeflow.schema(raw=True, columns=cols)).equals(want, check_metadata=True)
        plan, variant = mm.plan_splits(path, 1)
        r = pa.table(mm.range_table(path, plan[0][0], plan[0][1], variant, cols, raw=True))
        assert r.schema.equals(want, check_metadata=True)
        assert r.num_rows == t.num_rows == 50


def test_an_empty_projection_counts_rows(pa, tmp_path):
    path = write_mbox(tmp_path / "a.mbox", 50)
    t = pa.table(mm.read_arrow(path, []))
    assert (t.num_columns, t.num_rows) == (0, 50)
    assert mimeflow.schema(columns=[]).names == []
    plan, variant = mm.plan_splits(path, 2)
    rows = [pa.table(mm.range_table(path, a, b, variant, [])).num_rows for a, b in plan]
    assert sum(rows) == 50


@pytest.mark.parametrize(
    "cols", [["nope"], ["subject", "nope"], ["raw"], ["subject", "subject"]], ids=str
)
def test_a_bad_projection_is_a_valueerror(tmp_path, cols):
    # "raw" exists only with raw=True.
    path = write_mbox(tmp_path / "a.mbox", 5)
    for call in (
        lambda: mm.read_arrow(path, cols),
        lambda: mm.range_table(path, 0, path.stat().st_size, "mboxrd", cols),
        lambda: mimeflow.schema(columns=cols),
    ):
        with pytest.raises(ValueError, match="column"):
            call()


# --- bad arguments ----------------------------------------------------------


def test_bad_arguments_raise_documented_errors(tmp_path):
    path = write_mbox(tmp_path / "a.mbox", 5)
    size = path.stat().st_size
    missing = tmp_path / "missing.mbox"
    with pytest.raises(FileNotFoundError):
        mm.read_arrow(missing)
    with pytest.raises(FileNotFoundError):
        mm.read_arrow(missing, copy=True)
    with pytest.raises(FileNotFoundError):
        mm.range_table(missing, 0, 10, "mboxrd")
    with pytest.raises(ValueError, match="variant"):
        mm.read_arrow(path, variant="mboxzz")
    with pytest.raises(ValueError, match="variant"):
        mm.range_table(path, 0, size, "mboxzz")
    with pytest.raises(ValueError, match="past its end"):
        mm.range_table(path, 10, 5, "mboxrd")
    with pytest.raises(ValueError, match="past the end"):
        mm.range_table(path, 0, size + 1, "mboxrd")
    with pytest.raises(ValueError, match="past the end"):
        mm.range_table(path, size + 5, size + 10, "mboxrd")
    # The edges are fine: an empty range, and the whole file.
    assert mm.range_table(path, size, size, "mboxrd") is not None
    assert mm.range_table(path, 0, size, "mboxrd") is not None
