"""Golden files: the whole digest of each example day, as HTML and text, byte for byte.

The inputs are the bundled examples (config.yaml, examples/) read through the sources; the
expected outputs are in tests/golden/digest/. A difference fails with a unified diff. When a
change to the theme or the renderer is meant, regenerate them on purpose and review the diff
like code:

    BULLETIN_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/test_digest_golden.py
    git diff tests/golden/digest/

Regenerating is refused under CI=true, where it would make every golden test pass.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path

import pytest

from bulletin import pipeline
from bulletin.config import Config, load_config
from bulletin.digest import (
    RenderOptions,
    build_digest,
    render_archive,
    render_digest,
    render_web_copy,
)
from bulletin.model import Item, Site

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden" / "digest"
REGENERATE = os.environ.get("BULLETIN_REGENERATE_GOLDEN") == "1"
DAYS = (date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26))


def feeds(site: Site) -> tuple[tuple[str, str], ...]:
    """Two feed links, fixed here rather than taken from the feeds stage: a change in how feeds
    are named shows up in the feeds' tests, not as a digest golden diff."""
    return (
        (site.title, site.url("all.atom")),
        (f"{site.title}: Local News", site.url("local-news.atom")),
    )


@cache
def example() -> tuple[Config, tuple[Item, ...]]:
    config = load_config(ROOT / "config.yaml")
    items = {
        item.id: item
        for _, read in pipeline.read_sources(pipeline.RunContext(config))
        for item in read.items
    }
    return config, tuple(items.values())


def site(language: str = "en") -> Site:
    config, _ = example()
    s = pipeline.RunContext(config).site
    return s if language == "en" else replace(s, language=language, title="نشرة سيدربورت")


def rendered_day(day: date, language: str = "en") -> tuple[str, str]:
    config, items = example()
    order = pipeline.RunContext(config).categories.order_key
    digest = build_digest(day, [item for item in items if item.day == day], order)
    options = RenderOptions(subject=config.digest.subject, feed_links=feeds(site(language)))
    rendered = render_digest(digest, site(language), options)
    return rendered.html, rendered.text


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if REGENERATE:
        if os.environ.get("CI") == "true":
            pytest.fail("BULLETIN_REGENERATE_GOLDEN=1 under CI=true: regenerate locally")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path} is missing: run with BULLETIN_REGENERATE_GOLDEN=1 to create it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), actual.splitlines(), f"golden/{name}", "rendered", lineterm=""
        )
        pytest.fail(f"{name} differs from its golden file:\n" + "\n".join(list(diff)[:80]))


def test_the_examples_cover_every_golden_day() -> None:
    _, items = example()
    assert {item.day for item in items} == set(DAYS)
    assert any(item.language == "ar" for item in items)


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_example_day_html_matches_its_golden_file(day: date) -> None:
    check_golden(f"{day}.html", rendered_day(day)[0])


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_example_day_text_matches_its_golden_file(day: date) -> None:
    check_golden(f"{day}.txt", rendered_day(day)[1])


def test_an_arabic_site_digest_matches_its_golden_files() -> None:
    html, text = rendered_day(DAYS[-1], "ar")
    check_golden(f"{DAYS[-1]}.ar.html", html)
    check_golden(f"{DAYS[-1]}.ar.txt", text)


def test_the_web_copy_and_the_archive_match_their_golden_files() -> None:
    config, items = example()
    order = pipeline.RunContext(config).categories.order_key
    digest = build_digest(DAYS[-1], [item for item in items if item.day == DAYS[-1]], order)
    options = RenderOptions(feed_links=feeds(site()))
    check_golden(f"web-{DAYS[-1]}.html", render_web_copy(digest, site(), options))
    check_golden("index.html", render_archive(site(), DAYS, options))
