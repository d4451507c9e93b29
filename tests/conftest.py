"""Settings shared by the test modules."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The property tests' budget: a fixed set of examples (derandomize), so that a run in CI is
# bounded and the same every time; HYPOTHESIS_PROFILE=explore searches far wider, at random.
settings.register_profile(
    "ci",
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
