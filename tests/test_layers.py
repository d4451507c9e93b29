"""The module layout holds: lower layers never import higher ones, one owner per library.

The direction is ``cli -> schedule -> pipeline -> stages -> config -> base``, with ``web``
beside the CLI on top of the pipeline. The stages (sources, store, feeds, digest, delivery)
never import each other: the pipeline passes data between them; the CLI and the web reach
them only through the pipeline. Every outside library has one owner, a package or a module,
and every library imported anywhere must be named here.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bulletin"

# Modules every layer may use: plain data and pure functions, and the one HTTP client (feed
# sources, a stage, fetch with it; the pipeline pings WebSub hubs with it).
PURE = {"model", "errors", "text", "files", "sanitize", "languages", "calendar", "metrics"}
BASE = PURE | {"http_client"}
STAGES = {"sources", "store", "feeds", "digest", "delivery"}
# What each layer may import from bulletin itself, besides its own modules.
ALLOWED = {
    **{name: BASE for name in BASE},
    "config": BASE,
    **{name: BASE | {"config"} for name in STAGES},
    "pipeline": BASE | {"config"} | STAGES,
    "schedule": BASE | {"config", "pipeline"},
    "web": BASE | {"config", "pipeline"},
    "cli": BASE | {"config", "pipeline", "schedule", "web"},
    "__main__": {"cli"},
    "__init__": set(),
}
# Each outside library and the one package or module that may import it.
OWNERS = {
    "altcha": "pipeline.proof",
    "apscheduler": "schedule",
    "babel": "languages",
    "click": "cli",
    "defusedxml": "sources.feed_reader",
    "dkim": "delivery.dkim",
    "email_validator": "store.addresses",
    "feedgen": "feeds",
    "feedparser": "sources.feed_reader",
    "flufl": "delivery.bounces",
    "imaplib": "delivery.mailboxes",
    "jinja2": "digest",
    "mailbox": "delivery.mailboxes",
    "markdown_it": "sources.directory",
    "markupsafe": "digest",
    "nh3": "sanitize",
    "premailer": "digest.inline",
    "pydantic": "config",
    "pydantic_core": "config",
    "requests": "http_client",
    "psycopg": "store",
    "rich": "cli.mail",
    "slugify": "text",
    "smtplib": "delivery.smtp",
    "sqlalchemy": "store",
    "starlette": "web",
    "uvicorn": "web.server",
    "urllib3": "http_client",
    "yaml": "config.yaml_doc",
}
# Standard-library modules that are as much an outside dependency as any package.
OWNED_STDLIB = {"imaplib", "mailbox", "smtplib"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    """``pipeline.step`` for src/bulletin/pipeline/step.py; ``feeds`` for its __init__.py."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def layer_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "bulletin":
                found.update(
                    f"bulletin.{alias.name}"
                    for alias in node.names
                    if (PACKAGE / f"{alias.name}.py").exists() or (PACKAGE / alias.name).is_dir()
                )
    return found


def owns(owner: str, module: str) -> bool:
    return module == owner or module.startswith(owner + ".")


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for path in modules():
        layer = layer_of(path)
        for name in imports_of(path):
            if not name.startswith("bulletin."):
                continue
            target = name.split(".")[1]
            if target != layer and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_each_library_is_imported_by_its_one_owner() -> None:
    wrong = []
    for path in modules():
        module = dotted(path)
        for name in imports_of(path):
            library = name.split(".")[0]
            if library in OWNERS and not owns(OWNERS[library], module):
                wrong.append(f"{module} imports {library} (its owner is {OWNERS[library]})")
    assert wrong == []


def test_every_outside_library_has_an_owner() -> None:
    unowned = set()
    for path in modules():
        for name in imports_of(path):
            library = name.split(".")[0]
            outside = library not in sys.stdlib_module_names or library in OWNED_STDLIB
            if outside and library != "bulletin" and library not in OWNERS:
                unowned.add(f"{library} (in {dotted(path)})")
    assert sorted(unowned) == []


@pytest.mark.parametrize(
    ("module", "imported", "allowed"),
    [
        ("cli.mail", "bulletin.store", False),  # the CLI reaches stages through the pipeline
        ("pipeline.status", "bulletin.web", False),  # the web gets plain data from it
        ("delivery.send_loop", "bulletin.store", False),  # stages never import each other
        ("web", "bulletin.pipeline", True),
        ("schedule", "bulletin.pipeline", True),
    ],
)
def test_the_rules_catch_what_they_are_for(module: str, imported: str, allowed: bool) -> None:
    layer, target = module.split(".")[0], imported.split(".")[1]
    assert (target in ALLOWED[layer]) is allowed


# Libraries only some commands need: loading them at start cost every `bulletin send` about
# 14 MiB of memory (psycopg, feedparser, flufl.bounce, altcha, the web stack).
ON_DEMAND = ("psycopg", "feedparser", "defusedxml", "flufl", "altcha", "starlette", "uvicorn")


@pytest.mark.slow
def test_the_command_line_loads_optional_libraries_only_when_a_command_needs_them() -> None:
    import subprocess

    probe = f"import sys, bulletin.cli; print(sorted(m for m in {ON_DEMAND!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
