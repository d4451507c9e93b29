"""The README's account of the code stays in step with the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bulletin"


def layout_entries() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- layout:start", 1)[1].split("<!-- layout:end -->", 1)[0]
    return re.findall(r"^  (\S+)\s", block, re.MULTILINE)


def test_the_layout_names_every_package_and_module_of_the_tree() -> None:
    tree = {
        path.name + ("/" if path.is_dir() else "")
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.stem not in ("__init__", "__main__"))
    }
    assert sorted(layout_entries()) == sorted(tree)


def test_the_pipeline_paragraph_names_every_module_of_the_pipeline() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = text.split("Inside `pipeline/`:", 1)[1].split("Outside `src/`", 1)[0]
    named = set(re.findall(r"`(\w+)\.py`", paragraph))
    modules = {p.stem for p in (PACKAGE / "pipeline").glob("*.py") if p.stem != "__init__"}
    assert named == modules
