"""Every reader's page, in English and in Arabic, passes the Nu HTML checker (vnu.jar, as the
digest's pages do: see test_digest_checks.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from builders import make_deployment, require_tool
from bulletin import pipeline
from test_digest_checks import ARTIFACTS, VNU_JAR


def pages(tmp_path: Path) -> dict[str, str]:
    config = make_deployment(tmp_path, web={"languages": ["en", "ar"], "altcha": True})
    ctx = pipeline.RunContext(config)
    shown, desk = pipeline.Pages(ctx), pipeline.SignupDesk(ctx)
    found = {}
    for language in ("en", "ar"):
        categories, languages = shown.choices(frozenset({"world"}), None)
        found[f"subscribe-{language}"] = shown.render(
            pipeline.pages.SUBSCRIBE,
            language,
            "subscribe_title",
            action="/subscribe",
            stamp=desk.stamp(),
            altcha=desk.challenge(),
            address="",
            name="",
            categories=categories,
            languages=languages,
            consent="I agree.",
            error="Wrong.",
        )
        found[f"preferences-{language}"] = shown.render(
            pipeline.pages.PREFERENCES,
            language,
            "preferences_title",
            action="/p?token=x",
            address="a@example.org",
            status="active",
            categories=categories,
            languages=languages,
            paused_until="2026-12-01",
            today="2026-11-26",
            message="Saved.",
        )
        form = {"action": "/confirm?token=x", "fields": [("lang", language)], "button": "OK"}
        found[f"notice-{language}"] = shown.render(
            pipeline.pages.NOTICE,
            language,
            "confirm_title",
            paragraphs=["Confirm?"],
            form=form,
            link={"text": "Manage", "url": "/preferences?token=x"},
        )
    return found


def test_every_reader_page_passes_the_nu_html_checker(tmp_path: Path) -> None:
    java = shutil.which("java")
    require_tool(java is not None, "java (default-jre-headless)")
    require_tool(VNU_JAR.is_file(), f"the Nu HTML checker ({VNU_JAR})")
    files = []
    for name, page in pages(tmp_path).items():
        path = tmp_path / f"{name}.html"
        path.write_text(page, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [str(java), "-jar", str(VNU_JAR), "--format", "json", "--also-check-css", *files],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    messages = json.loads(result.stderr)["messages"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "vnu-reader-pages.json").write_text(json.dumps(messages, indent=1))
    assert [f"{Path(m['url']).name}:{m.get('lastLine')}: {m['message']}" for m in messages] == []
