"""Sign-up with double opt-in over plain HTTP, against a real uvicorn on loopback: the flow,
and every abuse the form must withstand (honeypot, too-fast and stale forms, foreign or
missing Origin, rate limits per client and per mailbox, forged and expired links, GETs that
must change nothing, oversized bodies, ALTCHA)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from builders import (
    Clock,
    ReaderSite,
    make_deployment,
    outbox_mail,
    preferences_path,
    statuses,
    subscribe,
)
from bulletin.config import Config
from bulletin.pipeline import proof
from bulletin.store import Store


@pytest.fixture
def clock() -> Clock:
    return Clock()


def deployment(tmp_path: Path, **web: Any) -> Config:
    return make_deployment(tmp_path, web={"languages": ["en", "ar"], **web})


@pytest.fixture
def site(tmp_path: Path, clock: Clock) -> Iterator[ReaderSite]:
    served = ReaderSite(deployment(tmp_path), clock)
    yield served
    served.stop()


def form(site: ReaderSite, path: str = "/subscribe") -> dict[str, str]:
    """The fields of a freshly served sign-up form, as a browser would send them back."""
    status, page, _ = site.request("GET", path)
    assert status == 200
    stamp = re.search(r'name="stamp" value="([^"]+)"', page)
    assert stamp is not None
    site.clock.now += timedelta(seconds=5)  # a person reads and types
    return {"stamp": stamp.group(1), "website": "", "lang": "en"}


def sign_up(site: ReaderSite, address: str, **extra: Any) -> tuple[int, str]:
    status, page, _ = site.request(
        "POST", "/subscribe", {**form(site), "address": address, **extra}
    )
    return status, page


def link_in(message: Any, path: str) -> str:
    found = re.search(rf"https?://\S+/{path}\?token=\S+", message.get_content())
    assert found is not None, message.get_content()
    return found.group(0).split("/", 3)[3]


def test_a_reader_signs_up_confirms_with_the_button_and_is_welcomed(site: ReaderSite) -> None:
    status, page = sign_up(site, "ann@example.org", name="Buy pills at spam.example", language="ar")
    assert status == 200 and "Check your inbox" in page
    assert statuses(site.config) == {}  # nobody is on the list before they confirm
    (confirmation,) = outbox_mail(site.config, 1)
    assert confirmation["To"] == "ann@example.org"
    assert "pills" not in confirmation.as_string()  # the name typed is never mailed
    assert confirmation["Content-Language"] == "ar"  # written in the reader's language
    path = "/" + link_in(confirmation, "confirm")
    status, page, _ = site.request("GET", path)
    assert status == 200 and 'method="post"' in page and statuses(site.config) == {}
    status, page, _ = site.request("POST", path, {"lang": "ar"})
    assert status == 200 and "تم اشتراكك" in page and 'dir="rtl"' in page
    assert statuses(site.config) == {"ann@example.org": "active"}
    with Store.open(site.config.store_url) as store:
        reader = store.recipients.get("ann@example.org")
        events = store.events.of("ann@example.org")
    assert reader is not None and reader.languages == {"ar"} and reader.consent_version == "1"
    assert reader.name == "Buy pills at spam.example" and reader.confirmed == site.clock.now
    assert [e.kind for e in events] == ["subscribed", "confirmed"]
    assert events[1].detail["client"] == "127.0.0.1" and events[1].origin == "web"
    welcome = outbox_mail(site.config, 2)[-1]
    assert "preferences?token=" in welcome.get_content()
    assert site.request("POST", path, {})[0] == 400  # a link confirms once


def test_the_answer_is_the_same_whether_the_address_is_known_or_not(site: ReaderSite) -> None:
    subscribe(site.config, ["known@example.org"])
    known = sign_up(site, "known@example.org")
    unknown = sign_up(site, "unknown@example.org")
    assert known[0] == unknown[0] == 200
    assert known[1].replace("known@", "unknown@") == unknown[1]
    manage, confirm = outbox_mail(site.config, 2)
    assert "preferences?token=" in manage.get_content()  # the subscribed one: its manage link
    assert "confirm?token=" in confirm.get_content()


def test_a_filled_honeypot_looks_accepted_and_sends_nothing(site: ReaderSite) -> None:
    status, page = sign_up(site, "bot@example.org", website="http://spam.example")
    assert status == 200 and "Check your inbox" in page
    assert outbox_mail(site.config) == []


def test_a_post_sooner_than_a_person_could_type_is_refused(site: ReaderSite) -> None:
    fields = form(site)
    site.clock.now -= timedelta(seconds=4)  # one second after the form was served
    status, page, _ = site.request("POST", "/subscribe", {**fields, "address": "a@example.org"})
    assert status == 400 and "could not be accepted" in page and outbox_mail(site.config) == []


@pytest.mark.parametrize("change", ["forged", "stale", "reused", "missing"])
def test_a_forged_stale_reused_or_missing_form_stamp_is_refused(
    site: ReaderSite, change: str
) -> None:
    fields = {**form(site), "address": "a@example.org"}
    if change == "reused":
        assert site.request("POST", "/subscribe", fields)[0] == 200
    elif change == "stale":
        site.clock.now += timedelta(days=2)
    elif change == "forged":
        nonce, seconds, mac = fields["stamp"].split(".")
        fields["stamp"] = f"{nonce}.{int(seconds) - 60}.{mac}"
    else:
        del fields["stamp"]
    status, page, _ = site.request("POST", "/subscribe", {**fields, "address": "b@example.org"})
    assert status == 400 and "could not be accepted" in page
    assert all(m["To"] != "b@example.org" for m in outbox_mail(site.config))


@pytest.mark.parametrize("origin", [None, "null", "https://evil.example", "http://127.0.0.2:1"])
def test_a_post_without_our_origin_changes_nothing(site: ReaderSite, origin: str | None) -> None:
    subscribe(site.config, ["ann@example.org"])
    fields = {**form(site), "address": "new@example.org"}
    status, page, _ = site.request("POST", "/subscribe", fields, {"Origin": origin})
    assert status == 400 and "could not be accepted" in page
    path = preferences_path(site.config, "ann@example.org")
    assert site.request("POST", path, {"action": "unsubscribe"}, {"Origin": origin})[0] == 400
    assert outbox_mail(site.config) == []
    assert statuses(site.config) == {"ann@example.org": "active"}


def test_posts_past_the_limit_per_client_get_429_and_others_still_pass(
    tmp_path: Path, clock: Clock
) -> None:
    site = ReaderSite(deployment(tmp_path, signups_per_ip_per_hour=3), clock)
    try:
        answers = [sign_up(site, f"r{n}@example.org")[0] for n in range(5)]
        assert answers == [200, 200, 200, 429, 429]
        # Another client, behind the proxy on this host that names it (X-Forwarded-For).
        fields = {**form(site), "address": "other@example.org"}
        other = {"X-Forwarded-For": "192.0.2.7"}
        assert site.request("POST", "/subscribe", fields, other)[0] == 200
        clock.now += timedelta(hours=1)
        assert sign_up(site, "later@example.org")[0] == 200
        assert len(outbox_mail(site.config, 5)) == 5
    finally:
        site.stop()


def test_a_mailbox_gets_one_confirmation_a_day_and_the_same_answer_after(
    site: ReaderSite,
) -> None:
    first, second = sign_up(site, "ann@example.org"), sign_up(site, "ann@EXAMPLE.org")
    assert first == second and first[0] == 200
    assert len(outbox_mail(site.config, 1)) == 1
    site.clock.now += timedelta(days=1)
    sign_up(site, "ann@example.org")
    assert len(outbox_mail(site.config, 2)) == 2


def test_an_expired_or_forged_confirmation_link_changes_nothing(site: ReaderSite) -> None:
    sign_up(site, "ann@example.org")
    path = "/" + link_in(outbox_mail(site.config, 1)[0], "confirm")
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for method in ("GET", "POST"):
        status, page, _ = site.request(method, forged, {} if method == "POST" else None)
        assert status == 400 and "not valid" in page
    site.clock.now += timedelta(hours=73)
    for method in ("GET", "POST"):
        status, page, _ = site.request(method, path, {} if method == "POST" else None)
        assert status == 400 and "expired" in page
    assert statuses(site.config) == {}


def test_a_get_never_confirms_or_changes_anything(site: ReaderSite) -> None:
    sign_up(site, "ann@example.org")
    path = "/" + link_in(outbox_mail(site.config, 1)[0], "confirm")
    for _ in range(3):  # a mail scanner, a link checker, the reader
        assert site.request("GET", path)[0] == 200
    assert site.request("GET", "/subscribe?address=bob@example.org")[0] == 200
    assert statuses(site.config) == {} and len(outbox_mail(site.config, 1)) == 1


def test_an_oversized_sign_up_is_refused_before_anything_reads_it(site: ReaderSite) -> None:
    fields = {**form(site), "address": "ann@example.org", "name": "x" * 20_000}
    assert site.request("POST", "/subscribe", fields)[0] == 413
    assert outbox_mail(site.config) == []


def test_a_bad_address_gets_the_form_again_saying_why(site: ReaderSite) -> None:
    status, page = sign_up(site, "not an address")
    assert status == 400 and "not an email address we can mail" in page
    assert 'name="stamp"' in page and outbox_mail(site.config) == []


def test_altcha_when_turned_on_needs_a_solved_challenge_once(tmp_path: Path, clock: Clock) -> None:
    site = ReaderSite(deployment(tmp_path, altcha=True, altcha_max_number=2000), clock)
    try:
        _, page, _ = site.request("GET", "/subscribe")
        challenge = re.search(r'data-challenge="([^"]+)"', page)
        assert challenge is not None
        import html

        payload = proof.solve(html.unescape(challenge.group(1)))
        assert sign_up(site, "a@example.org")[0] == 400  # no proof
        assert sign_up(site, "b@example.org", altcha=payload)[0] == 200
        assert sign_up(site, "c@example.org", altcha=payload)[0] == 400  # used already
        assert [m["To"] for m in outbox_mail(site.config, 1)] == ["b@example.org"]
    finally:
        site.stop()
