"""The module layout holds: lower layers never import higher ones, one library per module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bulletin"

BASE = {"model", "errors", "text", "files", "sanitize", "languages"}
STAGES = {"sources", "store", "feeds", "digest", "delivery", "web"}
# What each module may import from bulletin itself; a stage never imports another stage.
ALLOWED = {
    **{name: BASE for name in BASE},
    "config": BASE,
    **{name: BASE | {"config"} for name in STAGES},
    "pipeline": BASE | {"config"} | STAGES,
    "schedule": BASE | {"config", "pipeline"},
    "cli": BASE | {"config", "pipeline", "schedule"} | STAGES,
    "__main__": {"cli"},
    "__init__": set(),
}
# The third-party libraries that only one place may import.
OWNERS = {
    "feedgen": {"feeds"},
    "jinja2": {"digest"},
    "premailer": {"digest"},
    "sqlalchemy": {"store"},
    "smtplib": {"delivery"},
    "click": {"cli"},
    "apscheduler": {"schedule"},
    "markdown_it": {"sources"},
    "nh3": {"sanitize"},
    "babel": {"languages"},
    "yaml": {"config"},
    "pydantic": {"config"},
    "pydantic_core": {"config"},
    "rich": {"cli"},
    "dkim": {"delivery"},
    "email_validator": {"store"},
    "slugify": {"text"},
}


def layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


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


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        layer = layer_of(path)
        for name in imports_of(path):
            if not name.startswith("bulletin."):
                continue
            target = name.split(".")[1]
            if target != layer and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_each_library_is_imported_in_its_one_module() -> None:
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        for name in imports_of(path):
            library = name.split(".")[0]
            if library in OWNERS and layer_of(path) not in OWNERS[library]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {library}")
    assert wrong == []
