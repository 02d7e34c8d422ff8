"""Shared pytest setup: Hypothesis profiles.

``HYPOTHESIS_PROFILE=slow`` runs many more examples (CI nightly, or before a
release); the default ``fast`` profile keeps ``pytest`` quick.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=150, deadline=None)
settings.register_profile(
    "slow",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
