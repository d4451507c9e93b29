"""A reader's own page over plain HTTP: categories, languages and a pause, leaving, their data
as JSON, erasure; and the digest that follows from their choice, rendered once per choice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from builders import (
    DAY,
    NOW,
    WORLD,
    Clock,
    ReaderSite,
    arabic_item,
    make_deployment,
    make_item,
    preferences_path,
    save_items,
    statuses,
    subscribe,
)
from bulletin import pipeline
from bulletin.config import Config
from bulletin.store import ERASED_PREFIX, ListEntry, Store, address_hash


@pytest.fixture
def site(tmp_path: Path) -> Iterator[ReaderSite]:
    config = make_deployment(tmp_path, web={"languages": ["en", "ar"]})
    subscribe(config, ["ann@example.org", "bob@example.org"])
    served = ReaderSite(config, Clock())
    yield served
    served.stop()


def reader(config: Config, address: str):  # type: ignore[no-untyped-def]
    with Store.open(config.store_url) as store:
        return store.recipients.get(address)


def test_a_reader_changes_categories_language_and_pauses(site: ReaderSite) -> None:
    path = preferences_path(site.config, "ann@example.org")
    status, page, _ = site.request("GET", path)
    assert status == 200 and 'name="category"' in page and 'type="date"' in page
    fields = {"action": "save", "category": ["world"], "language": ["ar"], "paused_until": ""}
    status, page, _ = site.request("POST", path, fields)
    assert status == 200 and "حُفظت اختياراتك" in page and 'dir="rtl"' in page
    found = reader(site.config, "ann@example.org")
    assert found.categories == {"world"} and found.languages == {"ar"}
    until = (NOW + timedelta(days=10)).date()
    site.request("POST", path, {**fields, "paused_until": until.isoformat()})
    assert reader(site.config, "ann@example.org").paused_until is not None
    with Store.open(site.config.store_url) as store:
        kinds = [e.kind for e in store.events.of("ann@example.org")]
    assert kinds == ["preferences_changed", "preferences_changed", "paused"]


def test_a_paused_reader_gets_no_digest_until_the_day_they_chose(site: ReaderSite) -> None:
    path = preferences_path(site.config, "ann@example.org")
    back = DAY + timedelta(days=2)
    site.request("POST", path, {"action": "save", "paused_until": back.isoformat()})
    with Store.open(site.config.store_url) as store:
        store.ledger.plan(DAY, NOW)
        assert [r.address for r in store.ledger.rows(DAY, ["pending"])] == ["bob@example.org"]
        later = NOW + timedelta(days=2)
        store.ledger.plan(back, later)
        assert len(list(store.ledger.rows(back, ["pending"]))) == 2


def test_leaving_and_coming_back_from_the_page(site: ReaderSite) -> None:
    path = preferences_path(site.config, "ann@example.org")
    assert site.request("POST", path, {"action": "unsubscribe"})[0] == 200
    assert statuses(site.config)["ann@example.org"] == "unsubscribed"
    _, page, _ = site.request("GET", path)
    assert "Subscribe again" in page
    site.request("POST", path, {"action": "resubscribe"})
    assert statuses(site.config)["ann@example.org"] == "active"


def test_export_downloads_everything_kept_and_is_recorded(site: ReaderSite) -> None:
    path = preferences_path(site.config, "ann@example.org")
    site.request("POST", path, {"action": "save", "category": ["world"]})
    status, body, headers = site.request("POST", path, {"action": "export"})
    assert status == 200 and headers["content-type"] == "application/json"
    assert "attachment" in headers["content-disposition"]
    data = json.loads(body)
    assert data["address"] == "ann@example.org"
    assert data["recipient"]["categories"] == ["world"]
    assert [e["kind"] for e in data["events"]] == ["preferences_changed", "exported"]
    with Store.open(site.config.store_url) as store:
        assert store.events.of("ann@example.org")[-1].kind == "exported"


def test_erasure_keeps_a_hash_only_and_no_import_brings_them_back(site: ReaderSite) -> None:
    with Store.open(site.config.store_url) as store:
        store.ledger.plan(DAY, NOW)
        store.ledger.reap(NOW)
    path = preferences_path(site.config, "ann@example.org")
    assert site.request("POST", path, {"action": "erase"})[0] == 400  # the box unticked
    status, page, _ = site.request("POST", path, {"action": "erase", "sure": "yes"})
    assert status == 200 and "Erased" in page
    subscribe(site.config, [ListEntry("ann@example.org")])  # an import of an old list
    assert statuses(site.config) == {"bob@example.org": "active"}
    with Store.open(site.config.store_url) as store:
        assert store.suppressions.get("ann@example.org").reason == "erased"
        events = store.events.of("ann@example.org")
        assert [e.address for e in events] == [None] and events[0].kind == "erased"
        rows = [r.address for r in store.ledger.rows(DAY, ["pending", "sent"])]
    assert "ann@example.org" not in rows
    assert site.request("GET", path)[0] == 400  # the link names nobody any more
    assert ERASED_PREFIX + address_hash("ann@example.org") not in rows  # unsent: dropped


def test_erasure_after_a_send_keeps_the_sent_row_under_a_hash_and_mails_nobody_again(
    site: ReaderSite,
) -> None:
    save_items(site.config, [make_item("e1")])
    ctx = pipeline.RunContext(site.config)
    with Store.open(site.config.store_url) as store:
        variants = pipeline.Digests(ctx, store).variants([DAY])
        assert pipeline.send_rows(ctx, store, DAY, variants, clock=Clock()).sent == 2
    path = preferences_path(site.config, "ann@example.org")
    assert site.request("POST", path, {"action": "erase", "sure": "yes"})[0] == 200
    hashed = ERASED_PREFIX + address_hash("ann@example.org")
    with Store.open(site.config.store_url) as store:
        sent = {r.address: r for r in store.ledger.rows(DAY, ["sent"])}
        assert set(sent) == {hashed, "bob@example.org"}
        assert sent[hashed].name == "" and sent[hashed].message_id
        assert store.ledger.counts(DAY).get("sent") == 2  # the day's figures stay as they were
        variants = pipeline.Digests(ctx, store).variants([DAY])
        again = pipeline.send_rows(ctx, store, DAY, variants, clock=Clock())
    assert again.sent == 0  # nobody gets a second copy, the erased reader least of all


def test_an_expired_or_forged_preferences_link_changes_nothing(site: ReaderSite) -> None:
    old = preferences_path(site.config, "ann@example.org", NOW - timedelta(seconds=1))
    status, page, _ = site.request("POST", old, {"action": "unsubscribe"})
    assert status == 400 and "expired" in page
    forged = old.replace("preferences?token=", "preferences?token=A")
    assert site.request("GET", forged)[0] == 400
    assert set(statuses(site.config).values()) == {"active"}


def test_a_variant_is_rendered_once_per_categories_and_languages_choice(tmp_path: Path) -> None:
    config = make_deployment(tmp_path, web={"languages": ["en", "ar"]})
    save_items(config, [make_item("e1"), make_item("w1", category=WORLD), arabic_item("a1")])
    subscribe(config, [f"en{n}@example.org" for n in range(3)] + ["ar@example.org"])
    with Store.open(config.store_url) as store:
        for n in range(3):
            store.readers.choose(f"en{n}@example.org", None, frozenset({"en"}), None, NOW)
        store.readers.choose("ar@example.org", None, frozenset({"ar"}), None, NOW)
    ctx = pipeline.RunContext(config)
    with Store.open(config.store_url) as store:
        variants = pipeline.Digests(ctx, store).variants([DAY])
        report = pipeline.send_rows(ctx, store, DAY, variants, clock=Clock())
        assert report.sent == 4 and variants.count == 2
        arabic = store.ledger.issue(DAY, "|ar")
        english = store.ledger.issue(DAY, "|en")
    assert arabic is not None and english is not None
    assert 'dir="rtl"' in arabic.html and "إلغاء الاشتراك" in arabic.html
    assert "Item a1" not in english.html and "Item e1" not in arabic.html
    assert "Item e1" in english.html and "Item w1" in english.html
