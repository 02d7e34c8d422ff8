"""mimeflow.bench: structure only (tiny sizes, no timing thresholds)."""

import csv
import io
import json
import subprocess
import sys

import pytest

from mimeflow import bench


def test_percentile_and_sizes():
    assert bench.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert bench.percentile([10.0, 20.0, 30.0, 40.0], 10) == pytest.approx(13.0)
    assert bench.percentile([10.0, 20.0, 30.0, 40.0], 90) == pytest.approx(37.0)
    assert bench.parse_sizes("1K,64K,16M") == [1024, 65536, 16 << 20]
    with pytest.raises(ValueError):
        bench.parse_sizes("12X")


def test_run_rows_are_checked_and_positive():
    rows = bench.run(sizes=[300], quick=True, budget=0.0)
    assert {r["op"] for r in rows} == set(bench.OPS)
    for r in rows:
        assert set(bench.COLUMNS) <= set(r)
        assert r["status"] == "ok", r
        assert 0 < r["p10_gbps"] <= r["median_gbps"] <= r["p90_gbps"]
        assert r["ns_per_call"] > 0
        if r["op"] in ("encode", "mime-encode"):  # the input is the 300 raw bytes
            assert r["ns_per_call"] * r["median_gbps"] == pytest.approx(300)
    names = {r["contender"] for r in rows}
    assert {"mimeflow", "memcpy", "base64 (stdlib)"} <= names


def test_wrong_contender_is_flagged_not_timed():
    calls = []

    def wrong(s):
        calls.append(1)
        return b"nope"

    def boom(s):
        raise ValueError("rejected")

    rows = bench.run(ops=["encode"], sizes=[100], quick=True, budget=0.0,
                     contenders={"encode": {"wrong": wrong, "boom": boom}})
    by = {r["contender"]: r for r in rows}
    assert by["wrong"]["status"] == "mismatch" and by["wrong"]["median_gbps"] is None
    assert by["wrong"]["ns_per_call"] is None
    assert len(calls) == 1
    assert by["boom"]["status"] == "error"


def test_formats():
    rows = bench.run(ops=["decode"], sizes=[200], quick=True, budget=0.0)
    doc = json.loads(bench.to_json(rows))
    assert set(doc) == {"cpu", "features", "jobs", "results"}
    assert [set(r) for r in doc["results"]] == [set(bench.COLUMNS)] * len(rows)
    table = list(csv.reader(io.StringIO(bench.to_csv(rows))))
    assert table[0] == bench.COLUMNS and len(table) == len(rows) + 1
    text = bench.to_table(rows)
    assert text.startswith("cpu: ") and "memcpy" in text and "1.00x" in text


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "mimeflow.bench", "--quick", "-q", "--json", "--sizes", "128"],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)
    assert doc["results"] and all(r["size"] == 128 for r in doc["results"])
    assert out.stderr == ""


def test_dropins_bench_quick():
    """benches/python_dropins.py runs end to end (every drop-in's output is
    checked against the stdlib's before it is timed); no figure is judged."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benches" / "python_dropins.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, check=True)
    rows = [line for line in out.stdout.splitlines() if "KiB" in line or " B " in line]
    assert len(rows) == 4 * 14, out.stdout
    assert "targets met:" in out.stdout and out.stderr == ""


def test_dropins_paths_bench_quick():
    """benches/python_dropins_paths.py runs end to end: install() must not
    change the composed and serialised message, nor what the corpora read
    as (checked before anything is timed); no figure is judged."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benches" / "python_dropins_paths.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, check=True)
    rows = [line for line in out.stdout.splitlines() if line.endswith("x")]
    assert len(rows) >= 4, out.stdout  # the corpora row needs ../shared/corpora
    assert out.stderr == ""
