"""Real headless Chromium for the digest: Debian's /usr/bin/chromium driven by Playwright.

Playwright's Python package brings its driver; the browser is the system's (never
`playwright install`). Without Chromium or Playwright these tests skip with a loud reason,
except under CI=true, where they fail: .ci/setup.d/digest.sh installs both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builders import require_tool  # tests/ is on sys.path through tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "digest"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium refuses to start with its sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str | None:
    return os.environ.get("BULLETIN_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the whole session; each test opens its own context."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_tool(False, "the playwright Python package (pip install -e '.[dev]')")
        raise
    executable = chromium_path()
    require_tool(
        executable is not None and Path(executable).is_file(),
        f"Debian's chromium ({executable or '/usr/bin/chromium'})",
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_FLAGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where pages and screenshots are kept for people to look at (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
