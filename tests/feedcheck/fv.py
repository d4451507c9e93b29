"""The W3C Feed Validation Service's own code, run on the files the tests write.

``feedcheck.w3c`` restates the service's rules; this runs the real thing (w3c/feedvalidator,
kept beside the checkout at ``../shared/tools/feedvalidator``, never copied into bulletin) so
that a rule our restatement missed still fails a test. It is no package on the index: when it
is absent the tests that need it are skipped loudly, and under ``CI=true`` they fail instead.

One process validates many files: the validator takes a few tenths of a second per feed, and
starting Python and importing it for each would cost as much again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

import pytest

# tests/feedcheck/fv.py -> the checkout -> the folder beside it.
VALIDATOR = Path(__file__).resolve().parents[2] / "../shared/tools/feedvalidator/fv.py"
#: Files handed to one validator process at most.
BATCH = 60
SUFFIXES = (".rss", ".atom", ".opml", ".xml")


def require_validator() -> Path:
    """The validator's ``fv.py``; skips the calling test loudly if it is absent (fails in CI)."""
    if VALIDATOR.is_file():
        return VALIDATOR.resolve()
    message = (
        f"the W3C feed validator is missing: expected {VALIDATOR} "
        "(a checkout of w3c/feedvalidator with its fv.py beside this checkout)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true, so this test may not be skipped)")
    warnings.warn(f"SKIPPED: {message}", stacklevel=2)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


def feed_files(folder: Path) -> list[Path]:
    """Every RSS, Atom and OPML file under ``folder``, in path order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def validate(paths: Iterable[Path]) -> dict[Path, list[str]]:
    """Each file's findings (errors and warnings, one line each); [] for a clean file."""
    validator = require_validator()
    files = [Path(p).resolve() for p in paths]
    found: dict[Path, list[str]] = {path: [] for path in files}
    for start in range(0, len(files), BATCH):
        batch = files[start : start + BATCH]
        done = subprocess.run(
            [sys.executable, str(validator), *map(str, batch)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode not in (0, 1):
            raise AssertionError(f"the validator failed ({done.returncode}): {done.stderr}")
        for line in done.stdout.splitlines():
            name, sep, finding = line.partition(": ")
            path = Path(name)
            if sep and path in found:
                found[path].append(finding)
            elif not line.startswith("No errors or warnings"):
                raise AssertionError(f"unexpected validator output: {line!r}\n{done.stderr}")
        if done.returncode == 1 and not any(found[path] for path in batch):
            raise AssertionError(f"the validator reported nothing it could name: {done.stderr}")
    return found


def findings(paths: Iterable[Path]) -> list[str]:
    """Every finding in ``paths`` as ``name: finding``; [] when all are clean."""
    return [f"{path.name}: {line}" for path, lines in validate(paths).items() for line in lines]
