"""config.yaml from hostile hands: refused with a line-numbered message, never a traceback.

Aliases that expand exponentially, nesting a thousand levels deep, a 50 MB string, a NUL byte
written by a YAML escape, a line break in a value that goes into every message's headers, a
URL with a space: each is a problem of the file at its line, naming the limit it broke. And a
config listing twenty thousand recipients still loads in about a second.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bulletin.cli import main
from bulletin.config import load_config, parse_config
from bulletin.config.yaml_doc import MAX_ALIAS_NODES, MAX_CHARACTERS, MAX_DEPTH
from bulletin.errors import ConfigError


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), "config.yaml", Path("/srv/news"))
    return [str(p) for p in caught.value.problems]


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        name, below = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [{', '.join(['*' + below] * 9)}]")
    return "\n".join(lines) + "\n"


def test_aliases_that_expand_exponentially_are_refused_naming_the_budget() -> None:
    [problem] = problems_of(billion_laughs())
    assert problem.startswith("config.yaml:")
    assert "refused" in problem and "MAX_ALIAS_NODES" in problem
    assert f"{MAX_ALIAS_NODES:,}" in problem


def test_a_few_aliases_for_shared_lists_are_fine() -> None:
    config = parse_config(
        textwrap.dedent(
            """\
            delivery:
              recipients:
                - address: a@example.org
                  categories: &news [local-news, world]
                - address: b@example.org
                  categories: *news
            """
        ),
        "config.yaml",
        Path("/srv/news"),
    )
    assert [r.categories for r in config.delivery.recipients] == [["local-news", "world"]] * 2


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_deeper_than_the_limit_is_refused_at_its_line(style: str) -> None:
    if style == "flow":
        text = "site: " + "[" * 1000 + "]" * 1000 + "\n"
        line = 1
    else:
        text = "".join(f"{'  ' * depth}k{depth}:\n" for depth in range(200)) + "  " * 200 + "v\n"
        line = MAX_DEPTH + 1
    [problem] = problems_of(text)
    assert problem.startswith(f"config.yaml:{line}: refused: ")
    assert f"MAX_DEPTH ({MAX_DEPTH})" in problem


def test_a_file_larger_than_the_limit_is_refused_before_it_is_parsed() -> None:
    text = "site:\n  title: " + "x" * 50_000_000 + "\n"
    started = time.perf_counter()
    [problem] = problems_of(text)
    assert time.perf_counter() - started < 5
    assert "MAX_CHARACTERS" in problem and f"{MAX_CHARACTERS:,}" in problem


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('sources:\n  - name: a\n    kind: listing\n    path: "items\\0"\n', "4: sources[0].path"),
        ('site:\n  description: "bell \\a"\n', "2: site.description"),
        ('site:\n  title: "nel \\x85 title"\n', "2: site.title"),
        ('delivery:\n  recipients:\n    - address: a@b.org\n      name: "\\e[31m"\n', "4: "),
    ],
)
def test_a_control_character_written_by_an_escape_is_refused_at_its_line(
    text: str, where: str
) -> None:
    [problem] = problems_of(text)
    assert problem.startswith(f"config.yaml:{where}")
    assert "U+00" in problem


def test_a_raw_control_character_is_refused_at_its_line() -> None:
    [problem] = problems_of("site:\n  title: Daily\n  description: a\x00b\n")
    assert problem.startswith("config.yaml:3: refused: control character U+0000")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("digest.subject", '"{site}\\r\\nBcc: everyone@example.org"'),
        ("site.title", '"Daily\\nBugle"'),
        ("delivery.from_name", '"Desk\\r"'),
        ("delivery.list_id", '"digest.example.org\\nX: y"'),
        ("delivery.unsubscribe_mailto", '"leave@example.org\\n"'),
        ("site.base_url", '"https://news.example.org/\\n"'),
        ("delivery.recipients", '[{address: a@example.org, name: "Ann\\nBcc: x@y.org"}]'),
    ],
)
def test_a_line_break_in_a_header_value_is_refused_at_load(key: str, value: str) -> None:
    section, name = key.split(".")
    [problem] = problems_of(f"{section}:\n  {name}: {value}\n")
    assert problem.startswith(f"config.yaml:2: {key}")
    assert "(U+000A)" in problem or "(U+000D)" in problem


@pytest.mark.parametrize(
    ("key", "url", "what"),
    [
        ("site.base_url", "https://news.example.org/my feeds/", "a space (U+0020)"),
        ("delivery.unsubscribe_url", "https://news.example.org/un subscribe", "a space"),
        ("delivery.unsubscribe_url", "https://news.example.org/<leave>", "U+003C"),
        ("delivery.unsubscribe_url", "https://news.example.org/café", "U+00E9"),
        ("delivery.unsubscribe_url", "https://news.example.org/100%", '"%"'),
        ("delivery.unsubscribe_url", "news.example.org/leave", "absolute http(s) URL"),
    ],
)
def test_a_url_holding_what_urls_cannot_is_refused_at_load(key: str, url: str, what: str) -> None:
    section, name = key.split(".")
    [problem] = problems_of(f'{section}:\n  {name}: "{url}"\n')
    assert problem.startswith(f"config.yaml:2: {key}: ")
    assert what in problem


def test_a_list_id_and_an_unsubscribe_address_must_look_like_one() -> None:
    found = problems_of(
        'delivery:\n  list_id: "my list <x>"\n  unsubscribe_mailto: "leave me <a@b.org>"\n'
    )
    assert found[0].startswith("config.yaml:2: delivery.list_id: expected a list id")
    assert found[1].startswith("config.yaml:3: delivery.unsubscribe_mailto: expected an email")


def test_config_check_reports_hostile_files_and_never_shows_a_traceback(tmp_path: Path) -> None:
    for number, text in enumerate(
        [billion_laughs(), "a: " + "[" * 5000 + "\n", 'site: {title: "a\\0"}\n', "a\x07: 1\n"]
    ):
        path = tmp_path / f"config-{number}.yaml"
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert f"config-{number}.yaml:" in result.output


def twenty_thousand_recipients(path: Path) -> Path:
    rows = [
        f"    - address: reader{n:05d}@example.org\n      name: Reader Number {n}\n"
        for n in range(20_000)
    ]
    path.write_text("delivery:\n  recipients:\n" + "".join(rows), encoding="utf-8")
    return path


def test_twenty_thousand_recipients_all_load(tmp_path: Path) -> None:
    # How long they take is measured by bench/subscribers.py, against parsing the YAML alone.
    path = twenty_thousand_recipients(tmp_path / "config.yaml")
    config = load_config(path)
    assert len(config.delivery.recipients) == 20_000
    assert config.delivery.recipients[-1].address == "reader19999@example.org"


@pytest.mark.parametrize(
    ("category", "message"),
    [
        ("  - name: All\n", 'slug "all" is the feed of every category'),
        ("  - name: News\n    slug: ../news\n", 'slug "../news" cannot name a feed file'),
    ],
)
def test_a_category_slug_no_feed_can_take_is_refused_at_load(category: str, message: str) -> None:
    [problem] = problems_of("categories:\n" + category)
    assert problem.startswith("config.yaml:")
    assert message in problem
