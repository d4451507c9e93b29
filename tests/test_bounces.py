"""Bounces end to end: bulletin sends to a remote server that accepts and bounces later, the
bounces reach the bounce address's own server, which writes a Maildir, and `bulletin bounces
ingest` takes from the list exactly whom they name.

The remote server (aiosmtpd) answers by the reader's local part, as the mail systems in
tests/bounce_mail.py write their bounces: ``unknown`` a Postfix report of 5.1.1,
``textonly`` Postfix's text-only form, ``lost`` a report sent to the plain bounce address
(the VERP envelope lost; the returned headers still carry the token), ``complainer`` an abuse
report with the address redacted, ``away`` an autoreply, ``forged`` a report to a forged
token, ``big`` Exim's report returning a 5 MB message, ``broken`` a broken MIME tree,
``full`` 4.2.2 reports day after day.
"""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

import bounce_mail
from builders import (
    DAY,
    NOW,
    Clock,
    bounce_token,
    make_deployment,
    run_bulletin,
    statuses,
)
from bulletin import pipeline
from bulletin.config import Config
from bulletin.store import Store
from smtp_servers import BounceMailbox, RemoteMta, Server
from test_config import problems_of

BOUNCES = "bounces@news.example.org"
READERS = ("unknown", "textonly", "lost", "complainer", "away", "forged", "big", "broken", "ann")


def reader_of(rcpt: str) -> str:
    return rcpt.split("@")[0].rstrip("0123456789")


def forge(verp: str) -> str:
    """The VERP address with one character of its token changed: no longer genuine."""
    local, domain = verp.split("@")
    last = "a" if local[-1] != "a" else "b"
    return f"{local[:-1]}{last}@{domain}"


def bounces_for(mail_from: str, rcpt: str, data: bytes) -> list[tuple[str, bytes]]:
    """What the remote server mails back later for the digest it accepted for ``rcpt``."""
    kind, b = reader_of(rcpt), bounce_mail
    if kind == "forged":
        fake = forge(mail_from)
        token, forged_token = mail_from.split("+")[1][:45], fake.split("+")[1][:45]
        return [
            (fake, b.postfix_dsn(data.replace(token.encode(), forged_token.encode()), fake, rcpt))
        ]
    made = {
        "unknown": lambda: [(mail_from, b.postfix_dsn(data, mail_from, rcpt))],
        "textonly": lambda: [(mail_from, b.postfix_text(data, mail_from, rcpt))],
        "lost": lambda: [(BOUNCES, b.postfix_dsn(data, BOUNCES, rcpt))],
        "complainer": lambda: [(BOUNCES, b.arf_report(data, BOUNCES))],
        "away": lambda: [(mail_from, b.autoreply(mail_from, rcpt))],
        "big": lambda: [(mail_from, b.exim_dsn(data, mail_from, rcpt, padding=5_000_000))],
        "broken": lambda: [(mail_from, b.broken_mime(mail_from, rcpt))],
        "full": lambda: [(mail_from, b.postfix_dsn(data, mail_from, rcpt, b.MAILBOX_FULL))],
    }
    return made[kind]() if kind in made else []


@dataclass
class World:
    """A deployment with its remote server and the bounce address's mailbox."""

    config: Config
    remote: RemoteMta
    mailbox: BounceMailbox

    @property
    def folder(self) -> Path:
        return self.mailbox.folder

    def waiting(self) -> list[str]:
        """The messages still in the bounce Maildir (new and cur)."""
        return sorted(p.name for sub in ("new", "cur") for p in (self.folder / sub).iterdir())

    def done(self) -> int:
        return len(list((self.folder / ".bulletin-done" / "cur").iterdir()))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    remote = RemoteMta(bounces_for)
    box = BounceMailbox(tmp_path / "var" / "bounces")
    config = make_deployment(
        tmp_path,
        smtp_port=remote.port,
        readers=[f"{name}@example.net" for name in READERS],
        delivery={"bounce_address": BOUNCES, "bounces": {"mailbox": "var/bounces"}},
        digest={"send_empty": True},
    )
    try:
        yield World(config, remote, box)
    finally:
        remote.stop()
        box.stop()


def events_of(config: Config, address: str) -> list[str]:
    with Store.open(config.store_url) as store:
        return [event.kind for event in store.events.of(address)]


def held(config: Config) -> dict[str, str]:
    with Store.open(config.store_url) as store:
        return {
            f"{name}@example.net": found.reason
            for name in READERS
            if (found := store.suppressions.get(f"{name}@example.net")) is not None
        }


@pytest.mark.slow
def test_bounces_sent_back_later_take_off_the_list_exactly_whom_they_name(world: World) -> None:
    root = world.config.root
    sent = run_bulletin(root, "send", "--date", DAY.isoformat())
    assert sent.returncode == 0, sent.stderr
    # Every digest went out with its own return path and the same token in a header.
    envelopes = {reader_of(rcpt): frm for frm, rcpt, _ in world.remote.handler.received}
    assert len(set(envelopes.values())) == len(READERS)
    assert all(
        frm.startswith("bounces+") and len(frm.split("@")[0]) <= 64 for frm in envelopes.values()
    )
    assert world.remote.flush(world.mailbox.port) == 8

    first = run_bulletin(root, "bounces", "ingest")
    assert first.returncode == 1, first.stderr  # two messages were not understood
    out = first.stdout
    assert "8 read" in out and "6 understood (moved to bulletin-done), 2 left in place" in out
    assert "not genuine (forged or damaged)" in out and "MIME structure is broken" in out
    assert statuses(world.config) == {
        **{f"{name}@example.net": "active" for name in ("away", "forged", "broken", "ann")},
        **{f"{name}@example.net": "bounced" for name in ("unknown", "textonly", "lost", "big")},
        "complainer@example.net": "unsubscribed",
    }
    assert held(world.config) == {
        **{f"{name}@example.net": "bounced" for name in ("unknown", "textonly", "lost", "big")},
        "complainer@example.net": "complained",
    }
    assert len(world.waiting()) == 2 and world.done() == 6
    assert events_of(world.config, "unknown@example.net") == ["suppressed", "bounced"]
    assert events_of(world.config, "forged@example.net") == []

    # The same mail read again (put back by hand) changes nothing at all.
    done = world.folder / ".bulletin-done" / "cur"
    for path in done.iterdir():
        path.rename(world.folder / "new" / path.name.split(":")[0])
    before = {name: events_of(world.config, f"{name}@example.net") for name in READERS}
    again = run_bulletin(root, "bounces", "ingest")
    assert again.returncode == 1 and again.stdout.count("already counted") == 5
    assert {name: events_of(world.config, f"{name}@example.net") for name in READERS} == before

    shown = run_bulletin(root, "subscribers", "show", "unknown@example.net")
    assert "status     bounced" in shown.stdout and "suppressed bounced" in shown.stdout
    assert "bounced      bounces digest of 2024-03-01" in shown.stdout
    status = json.loads(run_bulletin(root, "status", "--json").stdout)["feedback"]
    assert (status["attempted"], status["bounced"], status["complained"]) == (9, 4, 1)

    # The next digest reaches only those still on the list.
    world.remote.handler.received.clear()
    assert (
        run_bulletin(root, "send", "--date", (DAY + timedelta(days=1)).isoformat()).returncode == 0
    )
    mailed = sorted(reader_of(rcpt) for _, rcpt, _ in world.remote.handler.received)
    assert mailed == ["ann", "away", "broken", "forged"]


def send_and_bounce(world: World, clock: Clock, n: int) -> pipeline.IngestReport:
    """Send the digest of day ``n`` after DAY, have it bounced back, and read the bounces."""
    ctx = pipeline.RunContext(world.config)
    clock.now = NOW + timedelta(days=n)
    pipeline.send_day(ctx, DAY + timedelta(days=n), clock=clock)
    world.remote.flush(world.mailbox.port)
    (report,) = pipeline.ingest_bounces(ctx, clock=clock)
    return report


def test_a_full_mailbox_counts_only_after_five_digest_days_in_a_row(tmp_path: Path) -> None:
    remote = RemoteMta(bounces_for)
    box = BounceMailbox(tmp_path / "bounces")
    config = make_deployment(
        tmp_path,
        smtp_port=remote.port,
        readers=["full@example.net", "ann@example.net"],
        delivery={"bounce_address": BOUNCES, "bounces": {"mailbox": "bounces"}},
        digest={"send_empty": True},
    )
    world, clock = World(config, remote, box), Clock()
    try:
        for n in range(4):
            (handled,) = send_and_bounce(world, clock, n).handled
            assert handled.kind == "soft" and "counted" in handled.action
            assert statuses(config)["full@example.net"] == "active"
        (handled,) = send_and_bounce(world, clock, 4).handled
    finally:
        remote.stop()
        box.stop()
    assert "marked bounced and suppressed" in handled.action
    assert statuses(config) == {"full@example.net": "bounced", "ann@example.net": "active"}


def test_a_refusal_during_the_send_counts_as_a_bounce(tmp_path: Path) -> None:
    with Server() as server:
        config = make_deployment(
            tmp_path,
            smtp_port=server.port,
            readers=["bad@example.net", "busy@example.net", "ann@example.net"],
            delivery={"retry_limit": 3},
            digest={"send_empty": True},
        )
        report = pipeline.send_day(pipeline.RunContext(config), DAY, clock=Clock())
    assert report.bounced == 1
    assert statuses(config) == {
        "bad@example.net": "bounced",
        "busy@example.net": "active",  # 451: deferred and retried, not a bounce
        "ann@example.net": "active",
    }
    with Store.open(config.store_url) as store:
        (bounced,) = store.events.of("bad@example.net", ["bounced"])
        assert bounced.origin == "smtp" and "550 5.1.1" in bounced.detail["reply"]
        assert store.suppressions.holds("BAD@example.net")
    # Counting the same send again adds nothing.
    with Store.open(config.store_url) as store:
        assert pipeline.count_refusals(pipeline.RunContext(config), store, DAY, Clock()) == 0


def test_a_soft_failure_run_broken_by_a_good_day_starts_again(tmp_path: Path) -> None:
    config = make_deployment(
        tmp_path,
        readers=["full@example.net"],
        delivery={"bounce_address": BOUNCES, "bounces": {"soft_days": 3}},
        digest={"send_empty": True},
    )
    ctx, clock = pipeline.RunContext(config), Clock()
    folder = tmp_path / "mail"
    box = mailbox.Maildir(folder, create=True)
    for n, bounced in enumerate([True, True, False, True, True, True]):
        day = DAY + timedelta(days=n)
        clock.now = NOW + timedelta(days=n)
        pipeline.send_day(ctx, day, clock=clock)  # into the outbox
        if bounced:
            verp = f"bounces+{bounce_token(config, 'full@example.net', day)}@news.example.org"
            full = bounce_mail.Failed("4.2.2", "452 4.2.2 Mailbox full")
            box.add(bounce_mail.exim_dsn(b"Subject: x\n\n", verp, "full@example.net", full))
        (report,) = pipeline.ingest_bounces(ctx, str(folder), clock=clock)
        expected = "bounced" if n == 5 else "active"
        assert statuses(config)["full@example.net"] == expected, (n, report.handled)


# --- the step, status and /metrics -------------------------------------------------------------


def test_the_step_reads_the_bounce_mailbox_before_it_sends(tmp_path: Path) -> None:
    config = make_deployment(
        tmp_path,
        readers=["gone@example.net", "ann@example.net"],
        delivery={"bounce_address": BOUNCES, "bounces": {"mailbox": "var/bounces"}},
        digest={"send_empty": True},
    )
    ctx, clock = pipeline.RunContext(config), Clock()
    (tmp_path / "var").mkdir()
    mailbox.Maildir(tmp_path / "var" / "bounces", create=True)
    first = pipeline.run_step(ctx, command="serve", clock=clock)
    assert [d.send.sent for d in first.digests if d.send] == [2]
    verp = f"bounces+{bounce_token(config, 'gone@example.net')}@news.example.org"
    mail = bounce_mail.postfix_dsn(b"Subject: x\n\n", verp, "gone@example.net")
    mailbox.Maildir(tmp_path / "var" / "bounces").add(mail)

    clock.now = NOW + timedelta(days=1)
    second = pipeline.run_step(ctx, command="serve", clock=clock)
    (read,) = second.bounces
    assert [(h.kind, h.address) for h in read.handled] == [("hard", "gone@example.net")]
    assert [d.send.sent for d in second.digests if d.send] == [1]  # ann only
    assert statuses(config)["gone@example.net"] == "bounced"


def test_metrics_and_status_count_bounces_complaints_and_suppressions(tmp_path: Path) -> None:
    with Server() as server:
        config = make_deployment(
            tmp_path,
            smtp_port=server.port,
            readers=["bad@example.net", "ann@example.net"],
            digest={"send_empty": True},
        )
        ctx = pipeline.RunContext(config)
        pipeline.send_day(ctx, DAY, clock=Clock())
    samples = {
        (metric.name, labels): value
        for metric in pipeline.Monitor(ctx, Clock()).metrics()
        for labels, value in metric.samples
    }
    assert samples[("bulletin_bounces_total", (("kind", "hard"),))] == 1
    assert samples[("bulletin_bounces_total", (("kind", "soft"),))] == 0
    assert samples[("bulletin_complaints_total", ())] == 0
    assert samples[("bulletin_suppressed", (("reason", "bounced"),))] == 1
    assert samples[("bulletin_bounce_rate", ())] == 0.5
    found = pipeline.service_status(ctx, Clock()).feedback
    assert (found.days, found.attempted, found.bounced) == ([DAY], 2, 1)
    assert found.problems() == []  # two copies say nothing about a sender


def test_high_rates_over_enough_copies_need_a_look() -> None:
    found = pipeline.Feedback([DAY], attempted=1000, bounced=51, soft=9, complained=4)
    assert found.problems() == [
        "bounce rate 5.10% over the last sends (above 5.0%)",
        "complaint rate 0.40% over the last sends (above 0.3%)",
    ]
    assert pipeline.Feedback([DAY], attempted=1000, bounced=50, complained=3).problems() == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "delivery:\n  bounce_address: a-very-long-bounce-mailbox@news.example.org\n",
            "config.yaml:2: delivery.bounce_address: the part before @ is 26 characters; with "
            'the VERP token it must fit in 64, so use at most 18 (like "bounces@...")',
        ),
        (
            "delivery:\n  bounces:\n    imap:\n      host: imap.example.org\n"
            "      username: bounces\n",
            "config.yaml:5: delivery.bounces.imap.username: a login needs a password: set "
            "password_env too",
        ),
        (
            "delivery:\n  bounces:\n    imap:\n      host: mx\n      security: none\n"
            "      username: b\n      password_env: PW\n",
            "config.yaml:5: delivery.bounces.imap.security: none would send the IMAP password "
            "unencrypted: use starttls or ssl",
        ),
        (
            "delivery:\n  bounces:\n    done_folder: ../elsewhere\n",
            "config.yaml:3: delivery.bounces.done_folder: expected a plain folder name like "
            '"bulletin-done", got "../elsewhere"',
        ),
    ],
)
def test_bounce_settings_that_cannot_work_are_refused_at_load(text: str, expected: str) -> None:
    assert problems_of(text) == [expected]
