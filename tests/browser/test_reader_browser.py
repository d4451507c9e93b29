"""A reader's whole way in real headless Chromium, against a real `bulletin web` (uvicorn on
loopback) that mails through a real aiosmtpd server: the form, the confirmation, the button,
the preferences, the next digest, the export, erasure; in English, then in Arabic, right to
left. Screenshots are kept in test-artifacts/web/."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from builders import (
    DAY,
    arabic_item,
    make_deployment,
    make_item,
    save_items,
    start_bulletin,
    statuses,
    subscribe,
)
from bulletin import pipeline
from bulletin.store import Store
from smtp_servers import Server, free_port

WORDS = {
    "en": {"email": "Email address", "subscribe": "Subscribe", "confirm": "Confirm"},
    "ar": {"email": "عنوان البريد الإلكتروني", "subscribe": "اشترك", "confirm": "أكّد الاشتراك"},
}
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"


def wait_for_mail(server: Server, count: int) -> Any:
    deadline = time.monotonic() + 10
    while len(server.mailbox.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.mailbox.messages()[count - 1]


def link(message: Any, path: str) -> str:
    found = re.search(rf"https?://\S+/{path}\?token=\S+", message.get_content())
    assert found is not None
    return found.group(0)


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("bulletin web did not start")


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_reader_joins_shapes_reads_exports_and_erases_in_a_browser(
    browser: Any, tmp_path: Path, language: str
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    port, smtp = free_port(), Server()
    base = f"http://127.0.0.1:{port}/"
    web_keys = {"public_url": base, "languages": ["en", "ar"], "min_form_seconds": 1}
    config = make_deployment(tmp_path, smtp_port=smtp.port, web=web_keys)
    save_items(config, [make_item("town"), arabic_item("forum")])
    process = start_bulletin(tmp_path, "web", "--port", str(port))
    address = f"reader-{language}@example.org"
    page = browser.new_page()
    try:
        wait_until_up(base)
        words = WORDS[language]
        page.goto(f"{base}subscribe?lang={language}")
        assert page.evaluate("getComputedStyle(document.body).direction") == (
            "rtl" if language == "ar" else "ltr"
        )
        page.get_by_label(words["email"]).fill(address)
        page.get_by_label("العربية" if language == "ar" else "English").check()
        page.screenshot(path=str(SHOTS / f"subscribe-{language}.png"), full_page=True)
        time.sleep(1.1)  # web.min_form_seconds: a person takes a moment
        page.get_by_label(words["email"]).press("Enter")  # the keyboard sends the form
        page.wait_for_load_state()
        assert address in page.inner_text("main")
        confirmation = wait_for_mail(smtp, 1)
        assert confirmation["To"] == address and statuses(config) == {}
        page.goto(link(confirmation, "confirm"))
        assert statuses(config) == {}  # opening the link confirms nothing
        page.get_by_role("button", name=words["confirm"]).click()
        page.wait_for_load_state()
        page.screenshot(path=str(SHOTS / f"confirmed-{language}.png"), full_page=True)
        assert statuses(config) == {address: "active"}
        page.goto(link(wait_for_mail(smtp, 2), "preferences"))
        page.locator('input[name="category"][value="local-news"]').check()
        page.locator("form").first.locator("button").click()
        page.wait_for_load_state()
        page.screenshot(path=str(SHOTS / f"preferences-{language}.png"), full_page=True)
        with Store.open(config.store_url) as store:
            reader = store.recipients.get(address)
        assert reader is not None and reader.categories == {"local-news"}
        assert reader.languages == {language}
        # The next digest is that reader's variant: their language, their category.
        pipeline.send_day(pipeline.RunContext(config), DAY)
        digest = wait_for_mail(smtp, 3).get_body(("html",)).get_content()
        assert ('dir="rtl"' in digest) == (language == "ar")
        assert ("Item town" in digest) == (language == "en")
        with page.expect_download() as download:
            page.locator('input[name="action"][value="export"]').locator("..").locator(
                "button"
            ).click()
        kept = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert kept["address"] == address and kept["recipient"]["languages"] == [language]
        erase = page.locator('input[name="action"][value="erase"]').locator("..")
        erase.locator('input[name="sure"]').check()
        erase.locator("button").click()
        page.wait_for_load_state()
        page.screenshot(path=str(SHOTS / f"erased-{language}.png"), full_page=True)
        subscribe(config, [address])  # a later import of an old list
        assert statuses(config) == {}
    finally:
        page.close()
        process.terminate()
        process.wait(10)
        smtp.stop()
