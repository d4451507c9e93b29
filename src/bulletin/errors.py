"""The errors bulletin raises: one root, a few kinds, each carrying where and what to do.

Only ``cli`` turns them into a message and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass


class BulletinError(Exception):
    """Something the user can fix; ``hint`` says how."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file, at a line and a key path."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(BulletinError):
    """The config file is missing, unreadable or invalid; lists every problem at once."""

    exit_code = 2

    def __init__(self, problems: list[ConfigProblem], hint: str = "") -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems), hint)


@dataclass(frozen=True)
class InputProblem:
    """One bad piece of input (an item, a line, a file), located by file and line."""

    file: str
    line: int | None
    message: str
    skipped: bool = True

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class SourceError(BulletinError):
    """A source cannot be read at all (missing path, unreadable folder)."""


class StoreError(BulletinError):
    """The store cannot be opened or upgraded."""


class StoreUnavailable(StoreError):
    """The database server cannot be reached now; trying again later is the fix.

    Raised by the store, caught by delivery (which retries a send's records until the server
    is back) and by the CLI, which exits 75 (EX_TEMPFAIL) so that cron and systemd try later.
    """

    exit_code = 75


class StoreConfigError(StoreError):
    """``store.url`` (or the credentials it names) cannot work: the config must change."""

    exit_code = 2


class PublishError(BulletinError):
    """Feeds or digests cannot be built or written."""


class DeliveryError(BulletinError):
    """A digest cannot be delivered."""
