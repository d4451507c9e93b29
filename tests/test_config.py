"""The config: defaults, validation errors with file, line and key, secrets, docs."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bulletin.config import (
    Config,
    commented_config,
    config_keys,
    load_config,
    parse_config,
    read_secret,
    reference_table,
)
from bulletin.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "config.yaml", Path("/srv/news"))
    return [str(p) for p in caught.value.problems]


def test_bad_port_is_reported_with_file_line_and_key_path() -> None:
    text = "\n" * 11 + "delivery:\n  smtp:\n    port: 25a\n"
    assert problems_of(text) == [
        'config.yaml:14: delivery.smtp.port: expected an integer, got "25a"'
    ]


def test_every_problem_is_reported_at_once_in_line_order() -> None:
    found = problems_of(
        """\
        site:
          timezone: Mars/Olympus
          base_url: news.example.org
        sources:
          - name: a
            kind: listin
            path: x
        feeds:
          max_items: 0
        """
    )
    assert len(found) == 4
    assert found[0].startswith('config.yaml:2: site.timezone: unknown time zone "Mars/Olympus"')
    assert found[1].startswith("config.yaml:3: site.base_url: expected an absolute http(s) URL")
    assert found[2] == (
        "config.yaml:6: sources[0].kind: expected one of 'listing', 'directory' or 'feed', "
        'got "listin"'
    )
    assert found[3].startswith("config.yaml:9: feeds.max_items: ")


def test_missing_required_key_points_at_its_list_entry() -> None:
    found = problems_of("sources:\n  - name: a\n    kind: listing\n")
    assert found == ["config.yaml:2: sources[0].path: required key is missing"]


def test_unknown_key_suggests_the_close_known_one() -> None:
    found = problems_of("delivery:\n  smtp:\n    hots: mail.example.org\n")
    assert found == ['config.yaml:3: delivery.smtp.hots: unknown key (did you mean "host"?)']


def test_password_in_the_file_is_refused_and_points_to_an_environment_variable() -> None:
    (found,) = problems_of("delivery:\n  smtp:\n    password: hunter2\n")
    assert found.startswith("config.yaml:3: delivery.smtp.password: secrets are never read")
    assert "password_env" in found
    assert "hunter2" not in found


def test_unquoted_time_is_explained_as_the_yaml_number_it_became() -> None:
    found = problems_of("schedule:\n  digest_at: 18:00\n")
    assert found == [
        "config.yaml:2: schedule.digest_at: expected text, got 1080 "
        '(YAML reads an unquoted 18:00 as a number: write "18:00")'
    ]


def test_an_unquoted_no_is_explained_as_the_yaml_boolean_it_became() -> None:
    found = problems_of("site:\n  language: no\n")
    assert found == [
        "config.yaml:2: site.language: expected text, got false "
        '(YAML reads an unquoted no as false: write "no")'
    ]


def test_duplicate_keys_are_errors_not_silently_the_last_one() -> None:
    found = problems_of("store:\n  url: sqlite:///a.db\nstore:\n  url: sqlite:///b.db\n")
    assert found == ["config.yaml:3: store: duplicate key (each key may appear once)"]


def test_invalid_yaml_names_the_line() -> None:
    found = problems_of("site:\n  title: [unclosed\nfeeds: {}\n")
    assert len(found) == 1
    assert re.match(r"config.yaml:\d: not valid YAML", found[0])


def test_colliding_category_slugs_are_an_error() -> None:
    found = problems_of(
        "categories:\n  - name: Local News\n  - name: Local  news!\n    slug: local-news\n"
    )
    assert found == [
        'config.yaml:4: categories[1].slug: slug "local-news" is also the slug of "Local News"; '
        "give one a different slug"
    ]


def test_duplicate_source_names_are_an_error() -> None:
    found = problems_of(
        "sources:\n  - {name: a, kind: listing, path: x}\n  - {name: a, kind: directory, path: y}\n"
    )
    assert found == ['config.yaml:3: sources[1].name: another source is already named "a"']


def test_no_config_file_gives_the_embedded_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.store.url == "sqlite:///var/bulletin.db"
    assert config.store_url == f"sqlite:///{tmp_path}/var/bulletin.db"
    assert not config.uses_smtp


def test_a_named_config_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "no such file" in str(caught.value)
    assert caught.value.exit_code == 2


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "config.yaml").write_text("feeds:\n  dir: public\n")
    config = load_config(tmp_path / "deploy" / "config.yaml")
    assert config.path(config.feeds.dir) == tmp_path / "deploy" / "public"
    assert config.store_url == f"sqlite:///{tmp_path}/deploy/var/bulletin.db"


def test_smtp_is_used_when_a_host_is_set() -> None:
    config = parse_config("delivery:\n  smtp:\n    host: mail.example.org\n", "c", Path("/"))
    assert config.uses_smtp


@pytest.mark.parametrize(
    ("smtp", "expected"),
    [
        (
            "delivery:\n  transport: smtp\n",
            "config.yaml:2: delivery.transport: is smtp but delivery.smtp.host is not set",
        ),
        (
            "delivery:\n  smtp:\n    host: mx\n    username: ann\n",
            "config.yaml:4: delivery.smtp.username: a login needs a password: set password_env too",
        ),
        (
            "delivery:\n  smtp:\n    host: mx\n    password_env: PW\n",
            "config.yaml:4: delivery.smtp.password_env: a password needs a login: set username too",
        ),
        (
            "delivery:\n  smtp:\n    host: mx\n    security: none\n    username: ann\n"
            "    password_env: PW\n",
            "config.yaml:4: delivery.smtp.security: none would send the SMTP password "
            "unencrypted: use starttls or ssl",
        ),
        (
            "delivery:\n  smtp:\n    host: mx\n    security: none\n    ca_file: ca.pem\n",
            "config.yaml:5: delivery.smtp.ca_file: is only used with TLS, but security is none",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_refused_at_load(smtp: str, expected: str) -> None:
    assert problems_of(smtp) == [expected]


def test_secret_named_but_unset_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("BULLETIN_TEST_SECRET", raising=False)
    with pytest.raises(ConfigError, match="BULLETIN_TEST_SECRET"):
        read_secret("BULLETIN_TEST_SECRET", "the SMTP password")
    monkeypatch.setenv("BULLETIN_TEST_SECRET", "s3cret")
    assert read_secret("BULLETIN_TEST_SECRET", "the SMTP password") == "s3cret"


def test_commented_config_holds_every_key_at_its_default() -> None:
    text = commented_config()
    assert parse_config(text, "c", Path("/x")) == Config(root=Path("/x"), file="c")
    for doc in config_keys():
        leaf = doc.key.rsplit(".", 1)[-1].removesuffix("[]")
        assert re.search(rf"^\s*(# )?( *- )?\s*{leaf}:", text, re.M), doc.key


def test_every_key_has_a_help_line() -> None:
    missing = [doc.key for doc in config_keys() if not doc.help]
    assert missing == []


def test_readme_documents_every_config_key() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference_table() in readme, "README is stale: paste `bulletin config reference`"
    for doc in config_keys():
        assert f"`{doc.key}`" in readme


def test_bundled_example_config_is_valid() -> None:
    config = load_config(ROOT / "config.yaml")
    assert config.sources and config.delivery.recipients
