"""Reading config.yaml: YAML with the line of every key, validated into the schema, every problem
reported at once as ``config.yaml:14: delivery.smtp.port: expected an integer``."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bulletin.config.checks import control_problems, header_problems
from bulletin.config.schema import CONFIG_NAME, SECRET_KEYS, Config, ScheduleConfig, section_type
from bulletin.config.yaml_doc import YamlError, read_yaml
from bulletin.errors import ConfigError, ConfigProblem
from bulletin.text import slugify

# What feeds/plan.py accepts as a slug in a file name.
_FILE_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _dotted(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _model_at(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model that holds the last key of ``path``, to suggest known keys."""
    model: type[BaseModel] = Config
    for part in path[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        inner = section_type(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "model_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
}


def _message(error: ErrorDetails, raw: dict[tuple[Any, ...], str]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    value = error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        if name.lower() in SECRET_KEYS or name.lower().endswith(("password", "secret")):
            return (
                "secrets are never read from config.yaml: put it in an environment variable "
                f"and name that variable with {name}_env"
            )
        model = _model_at(loc)
        known = list(model.model_fields) if model else []
        known = [k for k in known if k not in ("root", "file")]
        close = difflib.get_close_matches(name, known, n=1)
        tip = f' (did you mean "{close[0]}"?)' if close else f" (known keys: {', '.join(known)})"
        return "unknown key" + tip
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}, got {_show(value)}"
    if kind in _EXPECTED:
        message = f"{_EXPECTED[kind]}, got {_show(value)}"
        source = raw.get(loc, "")
        if kind == "string_type" and re.fullmatch(r"\d+(:[0-5]?\d)+", source):
            message += f' (YAML reads an unquoted {source} as a number: write "{source}")'
        if kind == "string_type" and isinstance(value, bool) and source:
            message += f' (YAML reads an unquoted {source} as {_show(value)}: write "{source}")'
        return message
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{error['msg'].lower()}, got {_show(value)}"
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{error['msg']}, got {_show(value)}"


def _problems(
    error: ValidationError,
    file: str,
    lines: dict[tuple[Any, ...], int],
    raw: dict[tuple[Any, ...], str],
) -> list[ConfigProblem]:
    problems = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        # A union type adds the tag of the member tried to the location; drop it.
        loc = tuple(p for p in loc if not (isinstance(p, str) and p.startswith(("function-",))))
        line = None
        for depth in range(len(loc), -1, -1):
            if loc[:depth] in lines:
                line = lines[loc[:depth]]
                break
        problems.append(ConfigProblem(file, line, _dotted(loc), _message(detail, raw)))
    return sorted(problems, key=lambda p: (p.line or 0, p.key))


def parse_config(text: str, file: str, root: Path) -> Config:
    """Validate config text; raise ConfigError listing every problem with its line."""
    try:
        document = read_yaml(text)
    except YamlError as error:
        if error.limit:
            raise ConfigError(
                [ConfigProblem(file, error.line, "", f"refused: {error.problem}")],
                hint="a config file is a few screens of settings; this is not one",
            ) from None
        raise ConfigError(
            [ConfigProblem(file, error.line, "", f"not valid YAML: {error.problem}")],
            hint="check the indentation and quoting near that line",
        ) from None
    data = {} if document.data is None else document.data
    lines, duplicates, raw = document.lines, document.duplicates, document.raw
    problems = [
        ConfigProblem(file, line, _dotted(path), "duplicate key (each key may appear once)")
        for path, line in duplicates
    ]
    problems += [
        ConfigProblem(file, _line_of(lines, path), _dotted(path), message)
        for path, message in control_problems(data)
    ]
    if not isinstance(data, dict):
        problems.append(ConfigProblem(file, 1, "", "expected a mapping of sections at the top"))
        raise ConfigError(problems)
    for reserved in ("root", "file"):
        if reserved in data:
            problems.append(ConfigProblem(file, lines.get((reserved,)), reserved, "unknown key"))
            data.pop(reserved)
    config: Config | None = None
    try:
        config = Config.model_validate({**data, "root": root, "file": file})
    except ValidationError as exc:
        problems.extend(_problems(exc, file, lines, raw))
    if config is not None:
        problems.extend(_semantic_problems(config, file, lines))
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.key)))
    assert config is not None
    return config


def _semantic_problems(
    config: Config, file: str, lines: dict[tuple[Any, ...], int]
) -> list[ConfigProblem]:
    """Rules that span several keys: unique names and slugs, settings that contradict."""
    found = [*_duplicates(config), *_contradictions(config), *header_problems(config)]
    return [ConfigProblem(file, _line_of(lines, path), _dotted(path), text) for path, text in found]


def _line_of(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    """The line of ``path``, or of the nearest key above it that was written."""
    for depth in range(len(path), 0, -1):
        if path[:depth] in lines:
            return lines[path[:depth]]
    return None


def _duplicates(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    names: set[str] = set()
    for index, source in enumerate(config.sources):
        if source.name in names:
            yield ("sources", index, "name"), f'another source is already named "{source.name}"'
        names.add(source.name)
    slugs: dict[str, str] = {}
    for index, category in enumerate(config.categories):
        slug = category.slug or slugify(category.name)
        where = ("categories", index, "slug" if category.slug else "name")
        if slug == "all":
            yield where, 'slug "all" is the feed of every category\'s: give it another slug'
        elif not _FILE_SLUG.fullmatch(slug):
            yield where, f'slug "{slug}" cannot name a feed file: use letters, digits, - and _'
        if slug in slugs:
            path = ("categories", index, "slug" if category.slug else "name")
            yield (
                path,
                f'slug "{slug}" is also the slug of "{slugs[slug]}"; give one a different slug',
            )
        slugs[slug] = category.name


def _contradictions(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Settings each valid alone that cannot work together: found now, not at send time."""
    delivery, smtp = config.delivery, config.delivery.smtp
    if delivery.transport == "smtp" and smtp.host is None:
        yield ("delivery", "transport"), "is smtp but delivery.smtp.host is not set"
    servers = (("smtp", "SMTP", smtp), ("bounces.imap", "IMAP", delivery.bounces.imap))
    for name, protocol, server in servers:
        yield from _login_problems(("delivery", *name.split(".")), protocol, server)


def _login_problems(
    path: tuple[str, ...], protocol: str, server: Any
) -> Iterator[tuple[tuple[Any, ...], str]]:
    """A server's login settings that cannot work together (SMTP, the bounce mailbox)."""
    if server.username is not None and server.password_env is None:
        yield (*path, "username"), "a login needs a password: set password_env too"
    if server.password_env is not None and server.username is None:
        yield (*path, "password_env"), "a password needs a login: set username too"
    if server.username is not None and server.security == "none":
        yield (
            (*path, "security"),
            f"none would send the {protocol} password unencrypted: use starttls or ssl",
        )
    if server.ca_file is not None and server.security == "none":
        yield (*path, "ca_file"), "is only used with TLS, but security is none"


def load_config(path: Path | None = None) -> Config:
    """The config at ``path``, else ./config.yaml if present, else the embedded defaults."""
    if path is None:
        candidate = Path.cwd() / CONFIG_NAME
        if not candidate.exists():
            return Config(root=Path.cwd())
        path = candidate
    shown = _display_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(shown, None, "", "no such file")],
            hint="create one with `bulletin init`, or leave out --config to use the defaults",
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(shown, None, "", f"cannot read: {exc.strerror}")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([ConfigProblem(shown, line, "", "not valid UTF-8")]) from None
    return parse_config(text, shown, path.resolve().parent)


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_secret(env_name: str | None, what: str) -> str | None:
    """The secret held by environment variable ``env_name``; an error if named but unset."""
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(
            [ConfigProblem("environment", None, env_name, f"{what} is not set")],
            hint=f"export {env_name}=... before running bulletin",
        )
    return value


def with_listen(config: Config, listen: str) -> Config:
    """``config`` with ``schedule.listen`` replaced (``--listen``); ValueError if malformed."""
    try:
        checked = ScheduleConfig.model_validate({**config.schedule.model_dump(), "listen": listen})
    except ValidationError as error:
        raise ValueError(str(error.errors()[0].get("ctx", {}).get("error", error))) from None
    return config.model_copy(update={"schedule": checked})
