"""The mailing list: checked addresses, merged duplicates, idempotent imports, config seeding."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from builders import NOW, Clock, make_deployment
from bulletin import pipeline
from bulletin.cli import main
from bulletin.errors import StoreError
from bulletin.store import ListEntry, Store, normalize_address

CSV = "email,name,categories\nAnn@Example.ORG,Ann,\nbob@example.org,Bob,world\nnot-an-address,X,\n"


def test_addresses_are_checked_for_syntax_and_the_domain_is_normalised() -> None:
    assert normalize_address(" Ann@Example.ORG ") == "Ann@example.org"
    assert normalize_address("bob@exämple.org") == "bob@xn--exmple-cua.org"
    for bad in ("not-an-address", "a@@b.org", "zoë@example.org", "a b@example.org", ""):
        with pytest.raises(StoreError, match="not a usable email address"):
            normalize_address(bad)


def test_the_same_mailbox_with_another_case_of_domain_is_one_recipient(store: Store) -> None:
    report = store.recipients.merge(
        [ListEntry("ann@example.org"), ListEntry("ann@EXAMPLE.org")], NOW
    )
    assert report.added == 1
    assert store.recipients.add(ListEntry("ann@Example.Org", "Ann"), NOW) == "updated"
    assert [s.address for s in store.recipients.each()] == ["ann@example.org"]


def test_names_with_line_breaks_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="line break"):
        store.recipients.add(ListEntry("eve@example.org", "Eve\r\nBcc: x@example.org"), NOW)


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    first = pipeline.import_csv(
        pipeline.RunContext(config), store, io.StringIO(CSV), "list.csv", Clock()
    )
    later = Clock(NOW + timedelta(days=1))
    second = pipeline.import_csv(
        pipeline.RunContext(config), store, io.StringIO(CSV), "list.csv", later
    )
    assert (first.merged.added, first.problems) == (2, [first.problems[0]])
    assert first.problems[0].startswith("list.csv:4: 'not-an-address'")
    assert (second.merged.added, second.merged.updated, second.merged.unchanged) == (0, 0, 2)
    assert {s.changed for s in store.recipients.each()} == {NOW}
    bob = store.recipients.get("bob@example.org")
    assert bob is not None and bob.categories == frozenset({"world"})


def test_an_import_never_resubscribes_someone_who_left(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    pipeline.import_csv(pipeline.RunContext(config), store, io.StringIO(CSV), "list.csv", Clock())
    store.recipients.set_status("bob@example.org", "unsubscribed", NOW)
    report = pipeline.import_csv(
        pipeline.RunContext(config), store, io.StringIO(CSV), "list.csv", Clock()
    )
    assert report.merged.kept_away == ["bob@example.org"]
    assert store.recipients.counts() == {"active": 1, "unsubscribed": 1, "bounced": 0}


def test_unknown_categories_are_refused(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    bad = "address,categories\nann@example.org,sport\n"
    report = pipeline.import_csv(
        pipeline.RunContext(config), store, io.StringIO(bad), "x.csv", Clock()
    )
    assert "unknown categories: sport" in report.problems[0]


def test_an_export_imports_back_to_the_same_list(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    pipeline.import_csv(pipeline.RunContext(config), store, io.StringIO(CSV), "list.csv", Clock())
    store.recipients.set_status("bob@example.org", "bounced", NOW)
    exported = io.StringIO()
    assert pipeline.export_csv(store, exported) == 2
    with Store.open(f"sqlite:///{tmp_path}/other.db") as other:
        exported.seek(0)
        pipeline.import_csv(pipeline.RunContext(config), other, exported, "export.csv", Clock())
        assert [(s.address, s.name, s.status, s.categories) for s in other.recipients.each()] == [
            (s.address, s.name, s.status, s.categories) for s in store.recipients.each()
        ]


def test_config_recipients_join_the_list_and_leave_it_with_the_config(store: Store) -> None:
    listed = [ListEntry("reader@example.org", "Reader", None, True)]
    store.recipients.add(ListEntry("own@example.org"), NOW)
    store.recipients.sync_config(listed, NOW)
    store.recipients.set_status("reader@example.org", "unsubscribed", NOW)
    store.recipients.sync_config(listed, NOW)  # stays unsubscribed
    reader = store.recipients.get("reader@example.org")
    assert reader is not None and (reader.origin, reader.status) == ("config", "unsubscribed")
    store.recipients.sync_config([], NOW)
    assert [s.address for s in store.recipients.each()] == ["own@example.org"]


def test_the_subscribers_commands(tmp_path: Path) -> None:
    path = make_deployment(tmp_path).root / "config.yaml"
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, ["--config", str(path), *args])
        return result.exit_code, result.stdout + result.stderr

    assert run("subscribers", "add", "zed@example.org", "--name", "Zed") == (
        0,
        "added zed@example.org (active)\n",
    )
    code, output = run("subscribers", "add", "zed@example.org", "--categories", "sport")
    assert code == 1 and "unknown categories: sport" in output
    code, output = run("subscribers", "import", str(tmp_path / "list.csv"))
    assert code == 1 and "2 added, 0 updated, 0 unchanged, 1 skipped" in output
    code, output = run("subscribers", "list")
    assert "bob@example.org\tactive\tworld\tBob" in output and "3 active" in output
    code, output = run("subscribers", "remove", "bob@example.org")
    assert code == 0
    result = runner.invoke(main, ["--config", str(path), "subscribers", "export"])
    assert result.stdout.splitlines()[0] == "address,name,status,categories,created,changed"
    assert "bob@" not in result.stdout and "exported 2 recipients" in result.stderr
