"""YAML read safely, with the line of every key: for config.yaml and for Markdown front matter.

The only module importing PyYAML. Its safe loader builds plain data; the composed tree beside
it gives each key's line, the duplicate keys YAML would silently merge, and the raw text of
each scalar (to explain YAML's surprises: an unquoted ``18:00`` is the number 1080).

Hostile text is refused before it is built, each time naming the limit it broke: more than
MAX_CHARACTERS, nesting deeper than MAX_DEPTH (PyYAML composes recursively), aliases standing
for more than MAX_ALIAS_NODES nodes in all ("billion laughs": ten aliases of ten aliases of ...
of a list expand exponentially), and control characters in the text. libyaml's parser is used
when PyYAML has it: a config listing twenty thousand recipients then loads in about a second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[Any, ...]  # keys and list indexes from the top: ("delivery", "smtp", "port")

#: Longest text read, in characters: about 4 MB, room for some forty thousand recipients.
MAX_CHARACTERS = 4_000_000
#: Deepest nesting of mappings and lists; config.yaml needs four levels.
MAX_DEPTH = 32
#: How many nodes all aliases together may stand for (an alias costs what its anchor holds).
MAX_ALIAS_NODES = 100_000
# C0 and C1 controls but tab, line feed and carriage return; YAML refuses most unescaped.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TOO_DEEP = f"nested deeper than MAX_DEPTH ({MAX_DEPTH}) levels of mappings and lists"

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml: the same loader, in Python
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _Loader(_SafeLoader):
    """PyYAML's safe loader: plain data only, no Python objects."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._tags: dict[tuple[Any, ...], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """The tag of a node, remembered: long lists repeat their keys and values, and the
        resolver tries its patterns anew on each (a third of the time of a long file)."""
        if kind is not yaml.ScalarNode:
            return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
        return tag


@dataclass
class YamlDocument:
    """The data of a YAML text and where each part of it was written."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)  # 1-based, of each key and item
    duplicates: list[tuple[Path, int]] = field(default_factory=list)
    raw: dict[Path, str] = field(default_factory=dict)  # the text of each scalar


class YamlError(Exception):
    """Text that is not valid YAML, or that breaks a limit; ``line`` (1-based) where known."""

    def __init__(
        self, problem: str, line: int | None, lines: dict[Path, int], limit: bool = False
    ) -> None:
        super().__init__(problem)
        self.problem, self.line, self.lines, self.limit = problem, line, lines, limit


def read_yaml(text: str) -> YamlDocument:
    """The data of ``text`` with its lines; ``YamlError`` if it is not valid YAML or too much."""
    _check_text(text)
    document = YamlDocument(None)
    loader = _Loader(text)
    try:
        _check_events(loader)
        loader.dispose()
        loader = _Loader(text)  # the events are spent: parse again, now known to be safe
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), document)
            document.data = loader.construct_document(node)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        line = mark.line + 1 if mark else None
        if "nesting depth" in problem:  # libyaml's own limit, met while it scans ahead
            raise _limit(_TOO_DEEP, line) from None
        raise YamlError(problem, line, document.lines) from None
    except ValueError as error:  # PyYAML builds dates itself: 2026-02-31 raises ValueError
        raise YamlError(f"invalid date: {error}", None, document.lines) from None
    finally:
        loader.dispose()
    return document


def _limit(problem: str, line: int | None) -> YamlError:
    return YamlError(problem, line, {}, limit=True)


def _check_text(text: str) -> None:
    """Refuse text too long, or holding control characters, before any parsing."""
    if len(text) > MAX_CHARACTERS:
        raise _limit(
            f"{len(text):,} characters is more than MAX_CHARACTERS ({MAX_CHARACTERS:,})", None
        )
    control = _CONTROL.search(text)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        raise _limit(
            f"control character U+{ord(control.group()):04X} in the text (only tab and line "
            "ends may be written as they are)",
            line,
        )


def _check_events(loader: Any) -> None:
    """Walk the parser's events, refusing deep nesting and aliases that stand for too much.

    Events come from a loop, not a recursion, so this is safe whatever the text; the sizes of
    anchored nodes are counted as they close, so an alias costs what its anchor holds.
    """
    sizes: dict[str, int] = {}  # anchor -> nodes it holds, aliases expanded
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, nodes so far) of each open node
    spent = 0
    while not loader.check_event(yaml.StreamEndEvent):
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise _limit(_TOO_DEEP, line)
            open_nodes.append((event.anchor, 1))
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_nodes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
            spent += size
            if spent > MAX_ALIAS_NODES:
                raise _limit(
                    f"the aliases (*name) stand for more than MAX_ALIAS_NODES "
                    f"({MAX_ALIAS_NODES:,}) nodes in all: aliases of aliases grow exponentially",
                    line,
                )
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if open_nodes:
            parent_anchor, parent_size = open_nodes[-1]
            open_nodes[-1] = (parent_anchor, parent_size + size)


def _walk(node: yaml.Node, path: Path, document: YamlDocument) -> None:
    document.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        document.raw[path] = node.value
    elif isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            # A key that is a list or mapping is refused when the data is built.
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
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
    # One line, however long: a folded scalar's next line would need the key's indentation.
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=float("inf")
    ).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()
