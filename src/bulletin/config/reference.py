"""The config's documentation, generated from the schema: the README's table of keys and the
commented config.yaml that ``bulletin init`` writes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from bulletin.config.schema import Config, section_type
from bulletin.config.yaml_doc import scalar_text


@dataclass(frozen=True)
class KeyDoc:
    """One documented config key: dotted path, type, default and help line."""

    key: str
    type: str
    default: str
    help: str


def _type_name(annotation: Any) -> str:
    text = repr(annotation) if not isinstance(annotation, type) else annotation.__name__
    text = text.replace("typing.", "")
    optional = text.endswith(" | None")
    text = text.removesuffix(" | None")
    if text.startswith("Literal["):
        text = "one of " + ", ".join(a.strip("'\" ") for a in text[8:-1].split(","))
    else:
        names = {"str": "text", "int": "integer", "float": "number", "bool": "true/false"}
        text = names.get(text, text.replace("str", "text"))
    return f"{text} (optional)" if optional else text


def _default_text(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "(required)"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[]"
    return str(value) if value != "" else '""'


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[KeyDoc]:
    """Every config key, depth first, with its type, default and help line."""
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        key = f"{prefix}{name}"
        inner = section_type(field.annotation)
        is_list = "list[" in repr(field.annotation)
        if inner is not None:
            yield KeyDoc(key, "list" if is_list else "section", "", field.description or "")
            yield from config_keys(inner, key + ("[]." if is_list else "."))
        else:
            yield KeyDoc(
                key, _type_name(field.annotation), _default_text(field), field.description or ""
            )


def reference_table() -> str:
    """The Markdown table of every config key, as the README shows it."""
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for doc in config_keys():
        default = f"`{doc.default}`" if doc.default else ""
        rows.append(f"| `{doc.key}` | {doc.type} | {default} | {doc.help} |")
    return "\n".join(rows)


def commented_config(model: type[BaseModel] = Config, indent: str = "") -> str:
    """A config.yaml holding every key at its default, each under its help line."""
    out: list[str] = []
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        inner = section_type(field.annotation)
        out.append(f"{indent}# {field.description or name}")
        if inner is not None and "list[" in repr(field.annotation):
            out.append(f"{indent}{name}: []")
            out.append(f"{indent}# for example:")
            example = commented_config(inner, indent + "    ").splitlines()
            out.append(f"{indent}# {name}:")
            first = True
            for line in example:
                stripped = line.strip()
                if stripped.startswith("#"):
                    continue
                marker = "  - " if first else "    "
                first = False
                out.append(f"{indent}# {marker}{stripped}")
        elif inner is not None:
            out.append(f"{indent}{name}:")
            out.append(commented_config(inner, indent + "  ").rstrip("\n"))
        else:
            default = field.get_default(call_default_factory=True)
            if default is PydanticUndefined:
                default = f"<{name}>"
            out.append(f"{indent}{name}: {scalar_text(default)}")
        if not indent:
            out.append("")
    return "\n".join(out) + "\n"
