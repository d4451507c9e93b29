"""Picking the reader: by content, by kind, for files, folders and standard input."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bulletin.errors import SourceError
from bulletin.sources import ReadSettings, read_bytes, read_path, read_paths

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SETTINGS = ReadSettings(zone=ZoneInfo("UTC"))
MARKDOWN = b"---\ndate: 2026-03-03\ncategory: Local News\n---\nThe river path reopens.\n"
LISTING = (
    b"Town Desk\n3 March 2026 In Local News\n\nThe river path reopens. (Source: Parks Office)\n\n"
    b"Home Media Center Town Desk Items filtered by date: Tuesday, 03 March 2026"
)


def test_read_bytes_tells_markdown_from_a_listing() -> None:
    markdown = read_bytes(MARKDOWN, "river.md", SETTINGS)
    listing = read_bytes(LISTING, "river.txt", SETTINGS)
    assert [i.origin for i in markdown.items] == ["river.md"]
    assert [i.origin for i in listing.items] == ["river.txt:2"]
    assert listing.items[0].source == "Parks Office"


@pytest.mark.parametrize("data", [b"", b"A shopping list.\n\nMilk, eggs.\n", b"\x89PNG\r\n\x1a\n"])
def test_input_that_is_neither_kind_is_reported(data: bytes) -> None:
    result = read_bytes(data, "odd.bin", SETTINGS)
    assert result.items == ()
    [problem] = result.problems
    assert problem.file == "odd.bin"
    assert problem.message.startswith("not a listing export or a Markdown item")
    assert problem.skipped


def test_read_path_reads_one_file_by_its_content() -> None:
    result = read_path(EXAMPLES / "listing" / "2026-11-24.txt", SETTINGS)
    assert len(result.items) == 3
    assert result.problems == ()


def test_kind_forces_the_reader(tmp_path: Path) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_bytes(b"Heading only\n")
    assert read_path(odd, SETTINGS, kind="listing").problems == ()
    [problem] = read_path(odd, SETTINGS, kind="directory").problems
    assert "no front matter" in problem.message


def test_folder_of_listings_reads_every_txt_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_bytes(LISTING.replace(b"river path", b"second path"))
    (tmp_path / "a.txt").write_bytes(LISTING)
    (tmp_path / "c.md").write_bytes(MARKDOWN)
    result = read_path(tmp_path, SETTINGS, kind="listing")
    assert [Path(i.origin).name for i in result.items] == ["a.txt:2", "b.txt:2"]
    assert result.problems == ()


def test_folder_without_kind_reads_markdown_and_detects_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_bytes(MARKDOWN)
    (tmp_path / "day.txt").write_bytes(LISTING)
    (tmp_path / "export").write_bytes(LISTING.replace(b"river path", b"other path"))
    (tmp_path / "notes.txt").write_bytes(b"Remember the milk.\n")
    result = read_path(tmp_path, SETTINGS)
    assert sorted(Path(i.origin).name for i in result.items) == ["a.md", "day.txt:2", "export:2"]
    [problem] = result.problems
    assert problem.file == str(tmp_path / "notes.txt")


def test_whole_examples_folder_reads_without_problems() -> None:
    result = read_path(EXAMPLES, SETTINGS)
    assert result.problems == ()
    assert len(result.items) == 12
    assert len({i.id for i in result.items}) == 12
    items = read_path(EXAMPLES / "items", SETTINGS, kind="directory").items
    assert [i.title for i in items] == [i.title for i in result.items[:3]]


def test_dash_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(LISTING)))
    result = read_path(Path("-"), SETTINGS)
    assert [i.origin for i in result.items] == ["<stdin>:2"]


def test_dash_with_kind_directory_reads_markdown_from_standard_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(MARKDOWN)))
    [item] = read_path(Path("-"), SETTINGS, kind="directory").items
    assert item.paragraphs == ("The river path reopens.",)


def test_missing_path_raises_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file or folder"):
        read_path(tmp_path / "missing.txt", SETTINGS)


def test_unknown_kind_raises_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown source kind"):
        read_path(tmp_path, SETTINGS, kind="rss")


def test_read_paths_joins_results_in_the_order_given() -> None:
    paths = [EXAMPLES / "listing" / "2026-11-25.txt", EXAMPLES / "items"]
    result = read_paths(paths, SETTINGS)
    assert [Path(i.origin).suffix for i in result.items] == [".txt:2", ".txt:10", *[".md"] * 3]
