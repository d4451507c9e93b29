"""Writing files: atomic, left alone when unchanged, and batched with one flush."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulletin.files import WriteBatch, write_if_changed


def test_unchanged_bytes_leave_the_file_and_its_time_alone(tmp_path: Path) -> None:
    target = tmp_path / "all.atom"
    assert write_if_changed(target, b"<feed/>")
    before = target.stat().st_mtime_ns
    assert not write_if_changed(target, b"<feed/>")
    assert target.stat().st_mtime_ns == before


def test_a_batch_moves_files_into_place_only_when_it_commits(tmp_path: Path) -> None:
    first, second = tmp_path / "a.rss", tmp_path / "sub" / "b.rss"
    with WriteBatch() as batch:
        assert batch.write_if_changed(first, b"one")
        assert batch.write_if_changed(second, b"two")
        assert not first.exists() and not second.exists()
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_batch_skips_files_that_already_hold_the_bytes(tmp_path: Path) -> None:
    target = tmp_path / "a.rss"
    target.write_bytes(b"same")
    with WriteBatch() as batch:
        assert not batch.write_if_changed(target, b"same")


def test_a_failed_batch_changes_no_target_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a.rss"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), WriteBatch() as batch:
        batch.write_if_changed(target, b"new")
        batch.write_if_changed(tmp_path / "b.rss", b"new")
        raise RuntimeError("the build failed half way")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.rss"]
