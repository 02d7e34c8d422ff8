"""The one rule for tests whose oracle (the shared corpora, the CLI binary,
python's stdlib behaviour on this platform) may be missing.

Locally such a test is skipped with its reason; under CI, where ``.ci/run``
exports ``MIMEFLOW_REQUIRE_ORACLES=1``, it fails instead, so a broken runner
cannot turn a differential test into a silent pass. The Rust tests follow
the same rule (``tests/support/oracle.rs``).
"""

import os

import pytest


def required():
    """Whether missing oracles fail instead of skipping."""
    return os.environ.get("MIMEFLOW_REQUIRE_ORACLES") == "1"


def missing(reason):
    """Skips the calling test with ``reason``, or fails it under CI."""
    if required():
        pytest.fail("%s (MIMEFLOW_REQUIRE_ORACLES=1: a missing oracle is a failure)" % reason)
    pytest.skip(reason)


def client(name):
    """The module ``name`` of a real client the test reads our output with
    (pyarrow, polars, DuckDB, Datasette), or :func:`missing`."""
    try:
        return __import__(name)
    except ImportError:
        missing("%s is not installed (pip install -e .[test])" % name)
