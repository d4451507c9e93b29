"""`bulletin run` end to end on the bundled example, in a temporary folder."""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import shutil
import subprocess
import sys
from pathlib import Path

import feedparser
import pytest

from smtp_servers import Server

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-26"


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def bulletin(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("bulletin")), *args]
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_CONFIG"}
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, env=env, check=False)


def snapshot(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and "var" not in p.relative_to(folder).parts[:1]
    }


def test_run_publishes_feeds_digest_and_outbox_and_a_rerun_changes_nothing(
    deployment: Path,
) -> None:
    first = bulletin(deployment, "run", "--date", DAY)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "skipped" not in first.stderr
    assert f"bulletin run for Thursday {DAY}" in first.stdout
    assert "look at" in first.stdout

    feeds = deployment / "feeds"
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

    outbox = mailbox.Maildir(deployment / "var" / "outbox", create=False)
    messages = [email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in outbox]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in messages) == [
        "editor@example.net",
        "reader-ar@example.org",
        "reader@example.org",
    ]
    for message in messages:
        assert message.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]

    before = snapshot(deployment)
    second = bulletin(deployment, "run", "--date", DAY)
    assert second.returncode == 0, second.stdout + second.stderr
    assert " 0 new, 0 updated" in second.stdout
    assert "0 delivered" in second.stdout and "3 already had it" in second.stdout
    assert snapshot(deployment) == before
    assert len(mailbox.Maildir(deployment / "var" / "outbox", create=False)) == 3


def test_dry_run_writes_stores_and_sends_nothing(deployment: Path) -> None:
    result = bulletin(deployment, "run", "--date", DAY, "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "would be written" in result.stdout and "3 would be delivered" in result.stdout
    assert not (deployment / "var").exists()
    assert not (deployment / "feeds").exists()


def test_a_day_without_items_sends_nothing_by_default(deployment: Path) -> None:
    result = bulletin(deployment, "run", "--date", "2026-11-20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not sent: no items that day" in result.stdout
    assert not (deployment / "var" / "outbox" / "new").exists() or not any(
        (deployment / "var" / "outbox" / "new").iterdir()
    )


def test_a_source_that_cannot_be_read_is_reported_and_the_others_still_run(
    deployment: Path,
) -> None:
    config = deployment / "config.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "sources:\n", "sources:\n  - name: gone\n    kind: listing\n    path: nowhere\n"
        ),
        encoding="utf-8",
    )
    result = bulletin(deployment, "run", "--date", DAY)
    assert result.returncode == 1
    assert "skipped: nowhere: source gone: " in result.stderr
    assert "no such file" in result.stderr
    assert " 0 skipped" not in result.stdout
    assert "3 delivered" in result.stdout


def test_a_run_says_who_was_not_sent_and_exits_1(deployment: Path) -> None:
    config = deployment / "config.yaml"
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
        result = bulletin(deployment, "run", "--date", DAY)
        delivered = sorted(server.mailbox.copies())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 delivered by smtp" in result.stdout
    assert f"not sent   1 failed: see `bulletin status --date {DAY}`" in result.stdout
    assert "bad@example.org" not in delivered and len(delivered) == 3
