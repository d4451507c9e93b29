"""Every reader's page, in English and in Arabic, passes the Nu HTML checker (vnu.jar, as the
digest's pages do: see test_digest_checks.py)."""

from __future__ import annotations

from pathlib import Path

from builders import make_deployment
from bulletin import pipeline
from test_digest_checks import nu_check


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
    _, messages = nu_check(pages(tmp_path), tmp_path, "vnu-reader-pages.json")
    assert [f"{Path(m['url']).name}:{m.get('lastLine')}: {m['message']}" for m in messages] == []
