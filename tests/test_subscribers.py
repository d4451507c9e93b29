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

# Every test here runs on SQLite and on PostgreSQL (see conftest.py).
pytestmark = pytest.mark.usefixtures("database")

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
        pipeline.RunContext(config), store, io.BytesIO(CSV.encode()), "list.csv", Clock()
    )
    later = Clock(NOW + timedelta(days=1))
    second = pipeline.import_csv(
        pipeline.RunContext(config), store, io.BytesIO(CSV.encode()), "list.csv", later
    )
    assert (first.merged.added, first.problems) == (2, [first.problems[0]])
    assert first.problems[0].startswith("list.csv:4: 'not-an-address'")
    assert (second.merged.added, second.merged.updated, second.merged.unchanged) == (0, 0, 2)
    assert {s.changed for s in store.recipients.each()} == {NOW}
    bob = store.recipients.get("bob@example.org")
    assert bob is not None and bob.categories == frozenset({"world"})


def test_an_import_never_resubscribes_someone_who_left(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    ctx = pipeline.RunContext(config)
    pipeline.import_csv(ctx, store, io.BytesIO(CSV.encode()), "list.csv", Clock())
    store.recipients.set_status("bob@example.org", "unsubscribed", NOW)
    report = pipeline.import_csv(ctx, store, io.BytesIO(CSV.encode()), "list.csv", Clock())
    assert report.merged.kept_away == ["bob@example.org"]
    assert store.recipients.counts() == {"active": 1, "unsubscribed": 1, "bounced": 0}


def test_unknown_categories_are_refused(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    bad = "address,categories\nann@example.org,sport\n"
    report = pipeline.import_csv(
        pipeline.RunContext(config), store, io.BytesIO(bad.encode()), "x.csv", Clock()
    )
    assert "unknown categories: sport" in report.problems[0]


def test_an_export_imports_back_to_the_same_list(tmp_path: Path, store: Store) -> None:
    config = make_deployment(tmp_path)
    ctx = pipeline.RunContext(config)
    pipeline.import_csv(ctx, store, io.BytesIO(CSV.encode()), "list.csv", Clock())
    store.recipients.set_status("bob@example.org", "bounced", NOW)
    exported = io.StringIO()
    assert pipeline.export_csv(store, exported) == 2
    with Store.open(f"sqlite:///{tmp_path}/other.db") as other:
        exported_bytes = io.BytesIO(exported.getvalue().encode())
        pipeline.import_csv(ctx, other, exported_bytes, "export.csv", Clock())
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


# --- files as they come: rows in other encodings, whole files in another one -----------------

MIXED = (
    b"email,name,categories\n"
    b'ann@example.org,Ann,"world,\n'  # a quoted field over two lines: one row, lines 2-3
    b'local-news"\n'
    b"jorg@example.org,J\xf6rg,world\n"  # Latin-1, not UTF-8
    b"zoe@example.org,Zo\xc3\xab,\n"
    b'eve@example.org,"Eve\n'  # the byte that is not UTF-8 is on the row's second line
    b'\xff",\n'
    b"bob@example.org,Bob,\n"
)


def test_a_row_that_is_not_utf8_is_skipped_with_its_line_and_the_others_imported(
    tmp_path: Path, store: Store
) -> None:
    config = make_deployment(tmp_path)
    report = pipeline.import_csv(
        pipeline.RunContext(config), store, io.BytesIO(MIXED), "list.csv", Clock()
    )
    assert [p.split(": ")[0] for p in report.problems] == ["list.csv:4", "list.csv:6"]
    assert all("not valid UTF-8" in p for p in report.problems)
    assert [(s.address, s.name) for s in store.recipients.each()] == [
        ("ann@example.org", "Ann"),
        ("bob@example.org", "Bob"),
        ("zoe@example.org", "Zoë"),
    ]
    ann = store.recipients.get("ann@example.org")
    assert ann is not None and ann.categories == frozenset({"world", "local-news"})


def test_a_row_with_a_line_break_in_its_name_is_skipped_and_the_others_imported(
    tmp_path: Path, store: Store
) -> None:
    config = make_deployment(tmp_path)
    data = b'email,name\nann@example.org,"Ann\nBcc: x@example.org"\nbob@example.org,Bob\n'
    report = pipeline.import_csv(
        pipeline.RunContext(config), store, io.BytesIO(data), "list.csv", Clock()
    )
    assert len(report.problems) == 1 and report.problems[0].startswith("list.csv:2: ")
    assert [s.address for s in store.recipients.each()] == ["bob@example.org"]


WHOLE_FILES = {
    "utf-16": "email,name\nann@example.org,Ann Müller\n".encode("utf-16"),
    "utf-16-le": "email,name\nann@example.org,Ann Müller\n".encode("utf-16-le"),
    "latin-1": "email,name\nann@example.org,Ann Müller\nbob@example.org,Bob Æbelø\n".encode(
        "latin-1"
    ),
    "latin-1-header": "adresse,prénom\nann@example.org,Ann\n".encode("latin-1"),
}


@pytest.mark.parametrize("where", ["file", "stdin"])
@pytest.mark.parametrize("encoding", list(WHOLE_FILES))
def test_a_file_that_is_not_utf8_at_all_is_one_clear_error_and_changes_nothing(
    tmp_path: Path, encoding: str, where: str
) -> None:
    path = make_deployment(tmp_path).root / "config.yaml"
    (tmp_path / "list.csv").write_bytes(WHOLE_FILES[encoding])
    command = ["--config", str(path), "subscribers", "import"]
    if where == "file":
        result = CliRunner().invoke(main, [*command, str(tmp_path / "list.csv")])
    else:
        result = CliRunner().invoke(main, [*command, "-"], input=WHOLE_FILES[encoding])
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1 and "Traceback" not in result.output
    name = str(tmp_path / "list.csv") if where == "file" else "stdin"
    assert result.stderr.startswith(f"error: {name}: not UTF-8")
    assert "save it as UTF-8" in result.stderr
    with Store.open(f"sqlite:///{tmp_path}/var/bulletin.db") as store:
        assert list(store.recipients.each()) == []


def test_standard_input_is_imported_row_by_row_too(tmp_path: Path) -> None:
    path = make_deployment(tmp_path).root / "config.yaml"
    command = ["--config", str(path), "subscribers", "import", "-"]
    result = CliRunner().invoke(main, command, input=MIXED)
    assert result.exit_code == 1
    assert "skipped: stdin:4: not valid UTF-8" in result.stderr
    assert "3 added, 0 updated, 0 unchanged, 2 skipped" in result.stdout
