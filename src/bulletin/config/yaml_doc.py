"""YAML read safely, with the line of every key: for config.yaml and for Markdown front matter.

The only module importing PyYAML. Its safe loader builds plain data; a composed tree beside it
gives each key's line, the duplicate keys YAML would silently merge, and the raw text of each
scalar (to explain YAML's surprises: an unquoted ``18:00`` is the number 1080).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[Any, ...]  # keys and list indexes from the top: ("delivery", "smtp", "port")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader: plain data only, no Python objects."""


@dataclass
class YamlDocument:
    """The data of a YAML text and where each part of it was written."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)  # 1-based, of each key and item
    duplicates: list[tuple[Path, int]] = field(default_factory=list)
    raw: dict[Path, str] = field(default_factory=dict)  # the text of each scalar


class YamlError(Exception):
    """Text that is not valid YAML; ``line`` (1-based) where known."""

    def __init__(self, problem: str, line: int | None, lines: dict[Path, int]) -> None:
        super().__init__(problem)
        self.problem, self.line, self.lines = problem, line, lines


def read_yaml(text: str) -> YamlDocument:
    """The data of ``text`` with its lines; ``YamlError`` if it is not valid YAML."""
    document = YamlDocument(None)
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is not None:
            _walk(node, (), document)
        document.data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        raise YamlError(problem, mark.line + 1 if mark else None, document.lines) from None
    except ValueError as error:  # PyYAML builds dates itself: 2026-02-31 raises ValueError
        raise YamlError(f"invalid date: {error}", None, document.lines) from None
    return document


def _walk(node: yaml.Node, path: Path, document: YamlDocument) -> None:
    document.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        document.raw[path] = node.value
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            if key in seen:
                document.duplicates.append((child, key_node.start_mark.line + 1))
            seen.add(key)
            _walk(value_node, child, document)
            document.lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, value_node in enumerate(node.value):
            _walk(value_node, (*path, index), document)


def scalar_text(value: Any) -> str:
    """``value`` written as a YAML scalar, for a commented config file."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()
