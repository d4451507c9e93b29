"""A real PostgreSQL for the tests: a throwaway cluster, started once per test session.

``initdb`` refuses to run as root (CI runs as root), so the cluster belongs to the
``postgres`` user there (``runuser``); elsewhere to whoever runs the tests. It listens on
127.0.0.1 only, on a free port, with its socket in a private folder, no fsync (nothing in it
needs to survive a power cut) and trust authentication for loopback, except for the role
``PASSWORD_ROLE``, which must give its password (SCRAM), for the tests of store.password_env.
Its default collation is ICU's en-US on purpose: it orders "ann-b" and "annb" unlike bytes
do, so a column that forgets ``COLLATE "C"`` shows in the tests. Every test gets a fresh
database cloned from a template that already holds bulletin's schema (about 0.1 s), dropped
afterwards.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import suppress
from pathlib import Path

SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
PASSWORD_ROLE = "bulletin_login"  # the one role that must log in with a password
TEMPLATE = "bulletin_template"  # holds bulletin's schema; each test's database is its copy


def server_bindir() -> Path | None:
    """The folder of PostgreSQL's server programs (Debian keeps them off PATH), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.insert(0, str(Path(found).resolve().parent))
    for folder in candidates:
        if all((Path(folder) / name).exists() for name in SERVER_BINARIES):
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Cluster:
    """A PostgreSQL cluster of our own; ``start()`` it, ``stop()`` it (it removes itself)."""

    def __init__(self, bindir: Path, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable  # fsync as a production server does (for benchmarks)
        self.folder = Path(tempfile.mkdtemp(prefix="bulletin-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._owner = "postgres" if os.geteuid() == 0 else None
        if self._owner is not None:
            account = pwd.getpwnam(self._owner)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self.folder.chmod(0o700)

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self._owner, "--"] if self._owner else []
        return subprocess.run(
            [*prefix, *command], capture_output=True, text=True, check=True, timeout=120
        )

    def start(self) -> Cluster:
        """Create the cluster and start its server; returns itself."""
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--locale-provider=icu",
            "--icu-locale=en-US",
            "--no-sync",
        )
        hba = self.data / "pg_hba.conf"
        rules = f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
        self._run("sh", "-c", f"printf '{rules}' | cat - {hba} > {hba}.new && mv {hba}.new {hba}")
        self.server_start()
        return self

    def server_start(self) -> None:
        """Start the server (again, after ``server_stop``) on the same port."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} "
        options += "-c max_connections=200 -c shared_buffers=128MB"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        log = str(self.folder / "server.log")
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            log,
            "-o",
            options,
            "-w",
            "start",
        )

    def server_stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session at once, as a restart does."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def stop(self) -> None:
        """Stop the server and remove the cluster's folder."""
        with suppress(subprocess.CalledProcessError):  # already down
            self.server_stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` in this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def execute(self, *statements: str) -> None:
        """Run statements as the superuser, each on its own (CREATE DATABASE needs that)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            for statement in statements:
                connection.execute(statement)  # type: ignore[arg-type]

    def new_database(self, template: str = "template0") -> str:
        """A new, empty database cloned from ``template``; its name."""
        name = f"t{next(self._names)}"
        self.execute(f'CREATE DATABASE {name} TEMPLATE "{template}"')
        return name

    def drop(self, name: str) -> None:
        """Drop a database, ending any session still on it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
