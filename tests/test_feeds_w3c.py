"""The W3C Feed Validation Service's own code finds nothing in any feed or list bulletin writes.

The files: the example deployment's (`make run`), the edge-case items' on an English and an
Arabic site, and a corpus of hostile items (tests/hostile.py), given as Items and as source
files read through the pipeline. The validator is tests/feedcheck/fv.py's; without it these
tests are skipped loudly, and under CI=true they fail. Each test validates its files in one
batch. Alongside: no good item is lost on the way, and items that share a second are shown at
distinct times whichever source was read first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from builders import ARABIC, LOCAL, WORLD, edge_case_items, make_site
from bulletin.cli import main
from bulletin.feeds import build_files, plan_feeds, prepare_entry, render_opml
from bulletin.model import Item, Site
from feedcheck import fv
from feedcheck.fv import feed_files, findings, require_validator
from hostile import categories_of, hostile_items, write_hostile_sources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def validator() -> Path:
    return require_validator()


def bulletin(config: Path, *args: str) -> str:
    """Run a bulletin command on ``config``; its output (it must not fail to start)."""
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.output


def write_feeds(folder: Path, site: Site, items: list[Item], limit: int) -> list[Path]:
    """Every feed of ``items`` and the OPML list written under ``folder``; the XML ones."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [prepare_entry(site, item) for item in items]
    specs = plan_feeds(site, categories_of(items))
    for spec in specs:
        mine = [e for e in entries if spec.category is None or e.category_term == spec.slug]
        for fmt, data in build_files(spec, mine, limit).files.items():
            (folder / spec.path(fmt)).write_bytes(data)
    (folder / "index.opml").write_bytes(render_opml(specs))
    return feed_files(folder)


def test_the_example_deployment_feeds_pass_the_validator_and_a_rerun_keeps_their_bytes(
    tmp_path: Path,
) -> None:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    bulletin(tmp_path / "config.yaml", "run", "--date", "2026-11-26")
    files = feed_files(tmp_path / "feeds")
    assert len(files) == 9  # RSS and Atom of all and three categories, and the OPML list
    before = {path: path.read_bytes() for path in files}
    assert findings(files) == []
    bulletin(tmp_path / "config.yaml", "run", "--date", "2026-11-26")
    bulletin(tmp_path / "config.yaml", "feeds")  # a full build, from the store
    assert {path: path.read_bytes() for path in files} == before


@pytest.mark.parametrize("site", [make_site("en"), make_site("ar", title="النشرة اليومية")])
def test_the_edge_case_feeds_pass_the_validator(tmp_path: Path, site: Site) -> None:
    items = edge_case_items()
    files = write_feeds(tmp_path, site, items, 50)
    assert {p.stem for p in files} >= {"all", LOCAL.slug, WORLD.slug, ARABIC.slug}
    assert findings(files) == []


def test_hostile_items_give_feeds_the_validator_finds_nothing_in(tmp_path: Path) -> None:
    items = hostile_items()
    files = write_feeds(tmp_path, make_site(), items, len(items))
    assert findings(files) == []
    everything = feedparser.parse((tmp_path / "all.atom").read_bytes())
    assert len(everything.entries) == len(items)  # none lost
    times = [entry.updated for entry in everything.entries]
    assert len(set(times)) == len(times)


def hostile_deployment(folder: Path, sources: str) -> Path:
    """A config reading the hostile source files under ``folder``; its path."""
    config = folder / "config.yaml"
    config.write_text(
        "site:\n  title: Daily <b>Bugle</b> & Co\n  base_url: https://news.example.org/\n"
        "  timezone: Asia/Damascus\ncategories:\n  - name: Local News\n  - name: Empty One\n"
        f"sources:\n{sources}feeds:\n  max_items: 500\n",
        encoding="utf-8",
    )
    return config


LISTING_FIRST = "  - name: exports\n    kind: listing\n    path: listing\n"
MARKDOWN_FIRST = "  - name: notes\n    kind: directory\n    path: markdown\n"


def test_hostile_source_files_lose_no_good_item_and_give_valid_feeds(tmp_path: Path) -> None:
    expected = write_hostile_sources(tmp_path / "listing", tmp_path / "markdown")
    config = hostile_deployment(tmp_path, LISTING_FIRST + MARKDOWN_FIRST)
    output = bulletin(config, "collect")
    refused = sorted(
        (Path(line.split(":")[1].strip()).name, int(line.split(":")[2]))
        for line in output.splitlines()
        if line.startswith("skipped:")
    )
    assert refused == list(expected.refused), output
    bulletin(config, "feeds")
    files = feed_files(tmp_path / "feeds")
    assert findings(files) == []
    everything = feedparser.parse((tmp_path / "feeds" / "all.atom").read_bytes())
    assert len(everything.entries) == expected.items
    assert len({entry.updated for entry in everything.entries}) == expected.items


def feeds_read_in_two_orders(folder: Path, shared_slugs: bool) -> list[dict[str, bytes]]:
    """The feeds of the hostile sources read at once, exports first, and the feeds of the same
    read Markdown first and the exports in a later run."""
    built = []
    for name, order in (("one", LISTING_FIRST + MARKDOWN_FIRST), ("two", MARKDOWN_FIRST)):
        folder = folder / name
        write_hostile_sources(folder / "listing", folder / "markdown", shared_slugs)
        config = hostile_deployment(folder, order)
        bulletin(config, "collect")
        if name == "two":  # the Markdown files first, the exports in a later run
            hostile_deployment(folder, MARKDOWN_FIRST + LISTING_FIRST)
            bulletin(config, "feeds")
            bulletin(config, "run", "--date", "2024-02-29")
        else:
            bulletin(config, "feeds")
        built.append({p.name: p.read_bytes() for p in feed_files(folder / "feeds")})
        folder = folder.parent
    return built


def test_items_sharing_a_second_are_shown_apart_whichever_source_is_read_first(
    tmp_path: Path,
) -> None:
    one, two = feeds_read_in_two_orders(tmp_path, shared_slugs=False)
    assert one == two
    times = [e.updated for e in feedparser.parse(one["all.atom"]).entries]
    assert len(set(times)) == len(times)


def test_categories_sharing_a_slug_name_their_feed_whichever_source_is_read_first(
    tmp_path: Path,
) -> None:
    one, two = feeds_read_in_two_orders(tmp_path, shared_slugs=True)
    assert one["index.opml"] == two["index.opml"]


def test_without_the_validator_its_tests_skip_loudly_and_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fv, "VALIDATOR", tmp_path / "nowhere" / "fv.py")
    monkeypatch.delenv("CI", raising=False)
    with (
        pytest.warns(UserWarning, match="SKIPPED: the W3C feed validator is missing"),
        pytest.raises(pytest.skip.Exception, match="SKIPPED LOUDLY"),
    ):
        fv.require_validator()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true, so this test may not be skipped"):
        fv.require_validator()
