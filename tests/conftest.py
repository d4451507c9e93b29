"""Fixtures shared by the test modules: a store on each database, the command line in a folder
of its own, and the bundled example deployment; and the property tests' budget. The builders
they use, for tests that pass arguments, are plain functions in builders.py.

A test that asks for ``database`` (or ``store``, which opens it), or whose module says
``pytestmark = pytest.mark.usefixtures("database")``, runs twice: on a SQLite file and on a
fresh PostgreSQL database; ``make_deployment`` points its config at that database. A test
marked ``sqlite_only`` checks what only SQLite does (its file locks) and runs once.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from builders import DATABASE, SUBPROCESSES, require_tool
from bulletin.store import Store
from postgres_server import TEMPLATE, Cluster, server_bindir

ROOT = Path(__file__).resolve().parents[1]
DATABASES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that uses ``database`` on each database (SQLite only if marked so)."""
    if "database" not in metafunc.fixturenames:
        return
    only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    kinds = DATABASES[:1] if only_sqlite else DATABASES
    metafunc.parametrize("database", kinds, indirect=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the whole session, with bulletin's schema in a
    template database; skipped loudly without the server's programs (failing under CI)."""
    bindir = server_bindir()
    require_tool(bindir is not None, "PostgreSQL's server (initdb, pg_ctl)", "postgres.sh")
    assert bindir is not None
    cluster = Cluster(bindir).start()
    try:
        cluster.execute(f"CREATE DATABASE {TEMPLATE}")
        Store.open(cluster.url(TEMPLATE)).close()  # the migrations, once for every test
        yield cluster
    finally:
        cluster.stop()


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
def postgres_url(postgres: Cluster) -> Iterator[str]:
    """A fresh PostgreSQL database holding bulletin's schema, dropped after the test."""
    name = postgres.new_database(TEMPLATE)
    yield postgres.url(name)
    postgres.drop(name)


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of the test's store, on the database the test runs on; deployments made with
    ``make_deployment`` use it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/var/bulletin.db"
    else:
        url = request.getfixturevalue("postgres_url")
    DATABASE.url = url
    yield url
    DATABASE.url = None


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    """The store of the test's database (a deployment in tmp_path uses it), open for the test."""
    with Store.open(database) as opened:
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
