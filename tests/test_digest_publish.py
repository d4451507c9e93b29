"""Publishing the digest: web copies and the archive page, empty days, and `bulletin digest`."""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import html as lxml_html

from builders import LOCAL, WORLD, make_deployment, make_item
from bulletin import pipeline
from bulletin.calendar import DigestPlan
from bulletin.cli import main
from bulletin.config import Config
from bulletin.digest import UNSUBSCRIBE_TOKEN
from bulletin.model import Category, Item
from bulletin.pipeline import Digests, RunContext, published_days

DAY = date(2026, 11, 26)


@dataclass
class Items:
    """An ItemView over a list: what feeds and digests read from the store."""

    items: list[Item] = field(default_factory=list)

    def items_on(self, day: date) -> list[Item]:
        return [item for item in self.items if item.day == day]

    def latest_items(self, limit: int, category_slug: str | None = None) -> list[Item]:
        chosen = [i for i in self.items if category_slug in (None, i.category.slug)]
        return sorted(chosen, key=lambda i: i.published, reverse=True)[:limit]

    def categories(self) -> list[Category]:
        return sorted({item.category for item in self.items})


def config_in(folder: Path, **digest: object) -> Config:
    """World before Local News, a store in memory, and ``digest`` settings."""
    return make_deployment(
        folder, categories=["World", "Local News"], store={"url": "sqlite://"}, digest=digest
    )


def items_of(day: date) -> list[Item]:
    return [make_item("a", day=day), make_item("w", 10, category=WORLD, day=day)]


def test_web_copies_and_an_archive_of_them_newest_first(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    days = [date(2026, 11, 24), date(2026, 11, 26), date(2026, 11, 25)]
    view = Items([item for day in days for item in items_of(day)])
    folder = tmp_path / "feeds" / "digests"
    folder.mkdir(parents=True)
    (folder / "notes.html").write_text("not a digest")
    (folder / "2026-13-40.html").write_text("not a day")
    digests = Digests(RunContext(config), view)
    for day in days:
        written = digests.write_web_copy(digests.day(day))
        assert written == folder / f"{day}.html"
    archive = lxml_html.fromstring((folder / "index.html").read_bytes())
    assert [a.get("href") for a in archive.iter("a") if a.get("href", "").endswith(".html")] == [
        "2026-11-26.html",
        "2026-11-25.html",
        "2026-11-24.html",
    ]
    assert published_days(folder) == sorted(days, reverse=True)
    page = (folder / "2026-11-26.html").read_text(encoding="utf-8")
    assert "Item w" in page and UNSUBSCRIBE_TOKEN not in page
    # A rerun writes nothing: unchanged bytes keep their modification time (HTTP caches).
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    digests.write_web_copy(digests.day(DAY))
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_the_size_budget_and_subject_come_from_the_config(tmp_path: Path) -> None:
    config = config_in(tmp_path, max_html_kb=40, subject="{date}")
    options = Digests(RunContext(config), Items(items_of(DAY))).options
    assert options.max_html_bytes == 40_000 and options.subject == "{date}"
    assert options.feed_links[0] == ("Daily Bugle", "https://news.example.org/all.atom")


@pytest.mark.parametrize("kb", [0, 101])
def test_a_size_budget_gmail_would_clip_or_no_email_could_meet_is_refused(
    tmp_path: Path, kb: int
) -> None:
    with pytest.raises(Exception, match="max_html_kb"):
        config_in(tmp_path, max_html_kb=kb)


def digest_of(config: Config, day: date) -> pipeline.DigestResult:
    """The day's digest as a run's step renders, copies and sends it."""
    ctx = RunContext(config)
    with ctx.open_store() as store:
        step = pipeline.Step(ctx, store, pipeline.system_clock, pipeline.Stop(), pipeline.RunLog())
        return step.digest(DigestPlan((day,)), pipeline.system_clock())


def test_a_day_without_items_sends_nothing_and_publishes_nothing(tmp_path: Path) -> None:
    report = digest_of(config_in(tmp_path), DAY)
    assert report.status == "empty" and report.web_copy is None
    assert not (tmp_path / "feeds").exists()


def test_send_empty_asks_for_a_nothing_today_note(tmp_path: Path) -> None:
    report = digest_of(config_in(tmp_path, send_empty=True), DAY)
    assert report.status == "sent" and report.items == 0
    assert report.web_copy is not None
    assert "Nothing today" in report.web_copy.read_text(encoding="utf-8")


# --- bulletin digest -------------------------------------------------------------------------


@pytest.fixture
def collected_example(example_deployment: Path, runner: CliRunner) -> Path:
    """The bundled example, collected, as the working folder."""
    result = runner.invoke(main, ["collect"])
    assert result.exit_code == 0, result.output
    return example_deployment


def test_digest_previews_the_text_part_and_publishes_nothing(collected_example: Path) -> None:
    result = CliRunner().invoke(main, ["digest", "--date", str(DAY)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Cedarport Daily\nThursday, November 26, 2026\n")
    assert "== Coalition News ==" in result.stdout
    assert UNSUBSCRIBE_TOKEN not in result.stdout and "unsubscribe" in result.stdout
    assert '6 items, "Cedarport Daily: Thursday, November 26, 2026"' in result.stderr
    assert not (collected_example / "feeds").exists()
    assert not (collected_example / "var" / "outbox").exists()


def test_digest_writes_the_html_and_a_whole_message(collected_example: Path) -> None:
    result = CliRunner().invoke(
        main, ["digest", "--date", str(DAY), "--out", "day.html", "--eml", "day.eml"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "html written to day.html" in result.stderr
    page = (collected_example / "day.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and UNSUBSCRIBE_TOKEN not in page
    message = email.message_from_bytes(
        (collected_example / "day.eml").read_bytes(), policy=email.policy.default
    )
    assert message["Subject"] == "Cedarport Daily: Thursday, November 26, 2026"
    assert message["To"].addresses[0].addr_spec == "reader@example.com"
    parts = [part.get_content_type() for part in message.iter_parts()]  # type: ignore[attr-defined]
    assert parts == ["text/plain", "text/html"]


def test_digest_of_an_empty_day_says_it_would_not_be_sent(collected_example: Path) -> None:
    result = CliRunner().invoke(main, ["digest", "--date", "2026-11-20"])
    assert result.exit_code == 0, result.output
    assert "Nothing today" in result.stdout
    assert "would not be sent" in result.stderr


def test_digest_rejects_a_malformed_date(collected_example: Path) -> None:
    result = CliRunner().invoke(main, ["digest", "--date", "26/11/2026"])
    assert result.exit_code == 2 and "expected a date like" in result.output


def test_sections_follow_the_configured_category_order(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    built = Digests(RunContext(config), Items(items_of(DAY))).day(DAY)
    assert [section.category for section in built.sections] == [Category("world", "World"), LOCAL]
