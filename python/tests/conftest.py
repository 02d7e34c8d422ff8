"""Shared pytest setup: Hypothesis profiles, and the ``pa`` fixture.

``HYPOTHESIS_PROFILE=slow`` runs many more examples (CI nightly, or before a
release); the default ``fast`` profile keeps ``pytest`` quick.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=150, deadline=None)
settings.register_profile(
    "slow",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


@pytest.fixture
def pa():
    """pyarrow, the Arrow client (see ``_oracles.client``)."""
    import _oracles

    return _oracles.client("pyarrow")
