"""The command line: clear errors and exit codes, init, db upgrade, collect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulletin.cli import main
from bulletin.store import LATEST_VERSION

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

LISTING = """\
Local News
26 November 2026 In Local News

The ferry timetable changes on Monday. Boats leave every forty minutes.

Passengers can buy tickets on board. (Source: Harbour office)

26 November 2026 In Local News

The market hall closes early on Friday for repairs. (Source: Market office)

Home Media Center Local News Items filtered by date: Thursday, 26 November 2026"""


def test_bad_config_exits_2_with_located_message_and_no_traceback(runner: CliRunner) -> None:
    Path("config.yaml").write_text("\n" * 11 + "delivery:\n  smtp:\n    port: 25a\n")
    result = runner.invoke(main, ["config", "check"])
    assert result.exit_code == 2
    assert 'config.yaml:14: delivery.smtp.port: expected an integer, got "25a"' in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("feeds: {max_items: many}\n")
    result = subprocess.run(
        [sys.executable, "-m", "bulletin", "--debug", "config", "check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "config.yaml:1: feeds.max_items: expected an integer" in result.stderr


def test_missing_named_config_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--config", "absent.yaml", "config", "check"])
    assert result.exit_code == 2
    assert "absent.yaml: no such file" in result.output


def test_init_writes_a_valid_config_and_refuses_to_overwrite_it(runner: CliRunner) -> None:
    result = runner.invoke(main, ["init", "site"])
    assert result.exit_code == 0, result.output
    assert all(Path("site", name).is_dir() for name in ("var", "feeds", "items"))
    check = runner.invoke(main, ["--config", "site/config.yaml", "config", "check"])
    assert check.exit_code == 0, check.output
    again = runner.invoke(main, ["init", "site"])
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_db_upgrade_creates_the_store_under_var_and_is_idempotent(runner: CliRunner) -> None:
    first = runner.invoke(main, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "applied migration 1" in first.output
    assert Path("var/bulletin.db").exists()
    second = runner.invoke(main, ["db", "upgrade"])
    assert "applied" not in second.output
    assert f"schema version {LATEST_VERSION}" in second.output


def test_collect_dry_run_json_prints_items_and_writes_nothing(runner: CliRunner) -> None:
    Path("day.txt").write_text(LISTING, encoding="utf-8")
    result = runner.invoke(main, ["collect", "--dry-run", "--json", "day.txt"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [item["category"]["name"] for item in lines] == ["Local News", "Local News"]
    assert lines[0]["source"] == "Harbour office"
    assert not any("Items filtered" in json.dumps(item) for item in lines)
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["day.txt"]


def test_collect_from_stdin_stores_items_once(runner: CliRunner) -> None:
    first = runner.invoke(main, ["collect", "-"], input=LISTING)
    assert first.exit_code == 0, first.output
    assert "2 new" in first.output
    second = runner.invoke(main, ["collect", "-"], input=LISTING)
    assert "0 new" in second.output and "2 unchanged" in second.output


def test_collect_reports_bad_items_with_file_and_line_and_keeps_the_good(
    runner: CliRunner,
) -> None:
    broken = LISTING.replace(
        "26 November 2026 In Local News\n\nThe market",
        "26 Novembr 2026 In Local News\n\nThe market",
    )
    Path("day.txt").write_text(broken, encoding="utf-8")
    result = runner.invoke(main, ["collect", "day.txt"])
    assert result.exit_code == 1
    assert "day.txt:8:" in result.output
    assert "1 new" in result.output


def test_collect_without_sources_or_paths_says_what_to_do(runner: CliRunner) -> None:
    result = runner.invoke(main, ["collect"])
    assert result.exit_code == 1
    assert "nothing to collect" in result.output


@pytest.mark.slow
def test_python_dash_m_bulletin_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bulletin", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("bulletin, version ")
