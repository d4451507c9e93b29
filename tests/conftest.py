"""Fixtures shared by the test modules: a store, the command line in a folder of its own, and
the bundled example deployment; and the property tests' budget. The builders they use, for
tests that pass arguments, are plain functions in builders.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from builders import SUBPROCESSES
from bulletin.store import Store

ROOT = Path(__file__).resolve().parents[1]

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


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """The store a deployment in tmp_path uses (var/bulletin.db), open for the test."""
    with Store.open(f"sqlite:///{tmp_path}/var/bulletin.db") as opened:
        yield opened


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A CliRunner working in tmp_path, blind to any BULLETIN_CONFIG of the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BULLETIN_CONFIG", raising=False)
    return CliRunner()


@pytest.fixture
def example_deployment(tmp_path: Path) -> Path:
    """The bundled example (config.yaml and examples/) copied into tmp_path."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


@pytest.fixture(autouse=True)
def _subprocesses_only_when_slow(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that run the bulletin command in a subprocess carry the slow marker."""
    SUBPROCESSES.allowed = request.node.get_closest_marker("slow") is not None
    yield
    SUBPROCESSES.allowed = True
