"""`bulletin run` end to end on the bundled example, in a temporary folder."""

from __future__ import annotations

import email
import email.policy
import mailbox
from pathlib import Path

import feedparser
import pytest

from builders import run_bulletin
from smtp_servers import Server

DAY = "2026-11-26"


def snapshot(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and "var" not in p.relative_to(folder).parts[:1]
    }


@pytest.mark.slow
def test_run_publishes_feeds_digest_and_outbox_and_a_rerun_changes_nothing(
    example_deployment: Path,
) -> None:
    first = run_bulletin(example_deployment, "run", "--date", DAY)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "skipped" not in first.stderr
    assert f"bulletin run for Thursday {DAY}" in first.stdout
    assert "look at" in first.stdout

    feeds = example_deployment / "feeds"
    for name in ("all", "local-news", "coalition-news", "statements"):
        for fmt in ("rss", "atom"):
            parsed = feedparser.parse((feeds / f"{name}.{fmt}").read_bytes())
            assert not parsed.bozo, (name, fmt, parsed.get("bozo_exception"))
            assert parsed.entries, (name, fmt)
    everything = feedparser.parse((feeds / "all.atom").read_bytes())
    assert any(
        entry.get("language") == "ar" or 'dir="rtl"' in entry.content[0].value
        for entry in everything.entries
    )

    web_copy = feeds / "digests" / f"{DAY}.html"
    assert "<table" in web_copy.read_text(encoding="utf-8")

    outbox = mailbox.Maildir(example_deployment / "var" / "outbox", create=False)
    messages = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in outbox]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in messages) == [
        "editor@example.net",
        "reader-ar@example.org",
        "reader@example.org",
    ]
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]

    before = snapshot(example_deployment)
    second = run_bulletin(example_deployment, "run", "--date", DAY)
    assert second.returncode == 0, second.stdout + second.stderr
    assert " 0 new, 0 updated" in second.stdout
    assert "0 delivered" in second.stdout and "3 already had it" in second.stdout
    assert snapshot(example_deployment) == before
    assert len(mailbox.Maildir(example_deployment / "var" / "outbox", create=False)) == 3


@pytest.mark.slow
def test_dry_run_writes_stores_and_sends_nothing(example_deployment: Path) -> None:
    result = run_bulletin(example_deployment, "run", "--date", DAY, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "would be written" in result.stdout and "3 would be delivered" in result.stdout
    assert not (example_deployment / "var").exists()
    assert not (example_deployment / "feeds").exists()


@pytest.mark.slow
def test_a_day_without_items_sends_nothing_by_default(example_deployment: Path) -> None:
    result = run_bulletin(example_deployment, "run", "--date", "2026-11-20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not sent: no items that day" in result.stdout
    assert not (example_deployment / "var" / "outbox" / "new").exists() or not any(
        (example_deployment / "var" / "outbox" / "new").iterdir()
    )


@pytest.mark.slow
def test_a_source_that_cannot_be_read_is_reported_and_the_others_still_run(
    example_deployment: Path,
) -> None:
    config = example_deployment / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "sources:\n", "sources:\n  - name: gone\n    kind: listing\n    path: nowhere\n"
        ),
        encoding="utf-8",
    )
    result = run_bulletin(example_deployment, "run", "--date", DAY)
    assert result.returncode == 1
    assert "skipped: nowhere: source gone: " in result.stderr
    assert "no such file" in result.stderr
    assert " 0 skipped" not in result.stdout
    assert "3 delivered" in result.stdout


@pytest.mark.slow
def test_a_run_says_who_was_not_sent_and_exits_1(example_deployment: Path) -> None:
    config = example_deployment / "config.yaml"
    with Server() as server:
        text = config.read_text(encoding="utf-8").replace(
            "  recipients:\n",
            "  recipients:\n    - address: bad@example.org\n      name: Refused Reader\n",
        )
        text = text.replace(
            "delivery:\n",
            f"delivery:\n  smtp:\n    host: 127.0.0.1\n    port: {server.port}\n"
            "    security: none\n",
            1,
        )
        config.write_text(text, encoding="utf-8")
        result = run_bulletin(example_deployment, "run", "--date", DAY)
        delivered = sorted(server.mailbox.copies())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 delivered by smtp" in result.stdout
    assert f"not sent   1 failed: see `bulletin status --date {DAY}`" in result.stdout
    assert "bad@example.org" not in delivered and len(delivered) == 3
