"""Bounces and complaints: reading the bounce mailbox, and what each one does to the list.

``ingest_bounces`` reads a Maildir, an mbox file, one message on standard input or the IMAP
folder of ``delivery.bounces``; ``delivery.read_report`` says what each message is. Whom it
is about comes from a genuine bounce token (the VERP return path it was delivered to, else
the ``X-Bulletin-Bounce`` header or return path in what it returned of the digest); a
message whose tokens are all forged or damaged changes nothing. Only a message with no token
at all falls back on the addresses the report names, and only on recipients who were sent a
digest. Mail that was understood is moved (or deleted); the rest is left and reported.

``Rules`` turn a failure into events and, at the limits, a status: a permanent failure marks
the recipient ``bounced`` and suppresses the address once ``hard_limit`` distinct days had
one; temporary failures count as one permanent failure only when the last ``soft_days``
digests sent to them all failed; an abuse report unsubscribes and suppresses at once. Every
fact is recorded with a key made from the message and the recipient, so that reading the
same mail twice, or the same send's refusals again, changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from bulletin import delivery
from bulletin.errors import BulletinError
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.store import Store, address_hash

_RESETS = ("subscribed", "confirmed", "unsuppressed")  # a fresh start: older bounces lapse
# A refusal during the send: the stage and code of the reply the ledger kept (delivery/smtp.py).
_REFUSED = re.compile(r"^(?:gave up after \d+ attempts: )?(?:RCPT|end of DATA): ([45])\d\d\b")


@dataclass
class Handled:
    """One message of the bounce mailbox and what became of it."""

    name: str
    kind: str  # hard, soft, complaint, autoreply, notice, unknown, forged, nobody
    understood: bool
    why: str  # what the message is, or why it was not understood
    address: str | None = None
    action: str = ""  # what bulletin did about it


@dataclass
class IngestReport:
    """What reading one mailbox did."""

    source: str
    handled: list[Handled] = field(default_factory=list)

    @property
    def left(self) -> list[Handled]:
        """The messages not understood, left in the mailbox."""
        return [h for h in self.handled if not h.understood]

    def counts(self) -> Counter[str]:
        """How many messages of each kind."""
        return Counter(h.kind for h in self.handled)


class Rules:
    """What failures and complaints do to a recipient, by the config's limits."""

    def __init__(self, ctx: RunContext, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.hard_limit, self.soft_days = ctx.bounces.hard_limit, ctx.bounces.soft_days

    def failure(
        self,
        address: str,
        day: date,
        permanent: bool,
        origin: str,
        detail: Mapping[str, Any],
        key: str,
    ) -> str:
        """Count a failure of ``day``'s digest to ``address``; what that did."""
        if self.store.events.has(key):
            return "already counted: nothing changed"
        history = self._since_reset(address)
        hard = {e.day for e in history if e.kind == "bounced"}
        failed = hard | {e.day for e in history if e.kind == "soft_bounce"} | {day}
        if permanent:
            hard.add(day)
        run = self._soft_run(address, day, failed)
        count = len(hard) + (1 if run and not permanent else 0)
        if self.store.suppressions.holds(address):
            action = "counted (the address is suppressed already)"
        elif count >= self.hard_limit:
            why = f"{len(hard)} permanent failure(s)"
            if run and not permanent:
                why = f"temporary failures on {self.soft_days} digest days in a row"
            self._suppress(address, "bounced", origin, why, day, key)
            action = f"marked bounced and suppressed ({why})"
        elif permanent:
            action = f"counted: {len(hard)} of {self.hard_limit} permanent failures"
        else:
            action = f"counted: a temporary failure (a run of {self.soft_days} days marks bounced)"
        kind = "bounced" if permanent else "soft_bounce"
        self.store.events.record(address, kind, self.clock(), origin, detail, day=day, key=key)
        return action

    def complaint(
        self, address: str, day: date, origin: str, detail: Mapping[str, Any], key: str
    ) -> str:
        """An abuse report about ``address``: unsubscribed and suppressed at once."""
        if self.store.events.has(key):
            return "already counted: nothing changed"
        self._suppress(address, "complained", origin, "an abuse report", day, key)
        self.store.events.record(
            address, "complained", self.clock(), origin, detail, day=day, key=key
        )
        return "unsubscribed and suppressed"

    def _suppress(
        self, address: str, reason: str, origin: str, why: str, day: date, key: str
    ) -> None:
        # Before the keyed event: a crash between them is finished, not lost, by a rerun.
        now = self.clock()
        self.store.suppressions.add(address, reason, now, origin)
        detail = {"reason": reason, "why": why}
        self.store.events.record(
            address, "suppressed", now, origin, detail, day=day, key=f"{key}:s"
        )

    def _since_reset(self, address: str) -> list[Any]:
        history = self.store.events.of(address)
        starts = [n for n, event in enumerate(history) if event.kind in _RESETS]
        return history[starts[-1] + 1 :] if starts else history

    def _soft_run(self, address: str, day: date, failed: set[date]) -> bool:
        """Whether each of the last ``soft_days`` digests sent to them, to ``day``, failed."""
        sent = self.store.ledger.days_sent_to(address, day, self.soft_days)
        return len(sent) == self.soft_days and all(d in failed for d in sent)


def event_key(*parts: object) -> str:
    """The key that makes recording one fact twice a no-op."""
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:40]


# --- the bounce mailbox -------------------------------------------------------------------------


class BounceReader:
    """Reads mailboxes message by message against the store's list and key."""

    def __init__(self, ctx: RunContext, store: Store, recipient: str | None, clock: Clock) -> None:
        self.ctx, self.store, self.recipient, self.clock = ctx, store, recipient, clock
        self.key = ctx.unsubscribe_key(store)
        self.rules = Rules(ctx, store, clock)

    def read(self, source: str, opened: delivery.Mailbox) -> IngestReport:
        """Handle every message of ``opened``; move or delete each one understood."""
        report = IngestReport(source)
        try:
            for mail in opened.messages():
                handled = self.handle(mail)
                report.handled.append(handled)
                if handled.understood:
                    try:
                        opened.done(mail)
                    except (BulletinError, OSError) as error:
                        handled.action += f"; but it could not be moved: {error}"
        finally:
            opened.close()
        return report

    def handle(self, mail: delivery.Mail) -> Handled:
        """What one message is and what it did."""
        try:
            report = delivery.read_report(mail.data, self.recipient)
        except Exception as error:  # mail in the wild can trip any parser: name it, go on
            return Handled(mail.name, "unknown", False, f"could not be read: {error!r}")
        if report.kind == "unknown":
            return Handled(mail.name, "unknown", False, report.why)
        if report.kind in ("autoreply", "notice"):
            return Handled(mail.name, report.kind, True, report.why, action="nothing to do")
        found = self._who(report)
        if isinstance(found, str):
            return Handled(mail.name, "forged" if "genuine" in found else "nobody", False, found)
        if not found:
            action = "nothing to do: nobody on the list has that token any more"
            return Handled(mail.name, report.kind, True, report.why, action=action)
        actions = [self._apply(report, address, day) for address, day in found]
        address = ", ".join(a for a, _ in found) or None
        return Handled(mail.name, report.kind, True, report.why, address, "; ".join(actions))

    def _apply(self, report: delivery.Report, address: str, day: date) -> str:
        key = event_key(report.fingerprint, report.kind, address_hash(address), day)
        detail = {**report.detail, "message": report.fingerprint[:200]}
        if report.kind == "complaint":
            return self.rules.complaint(address, day, "bounces", detail, key)
        return self.rules.failure(address, day, report.kind == "hard", "bounces", detail, key)

    def _who(self, report: delivery.Report) -> list[tuple[str, date]] | str:
        """Whom the report is about, with the day of their digest; or why nobody."""
        for tokens in (report.envelope_tokens, report.returned_tokens):
            if not tokens:
                continue
            genuine = {found for t in tokens if (found := delivery.verify_bounce(self.key, t))}
            if not genuine:
                return "its bounce token is not genuine (forged or damaged): nothing changed"
            if len(genuine) > 1:
                return "its bounce tokens name different recipients: nothing changed"
            ((link_id, day),) = genuine
            recipient = self.store.recipients.by_link_id(link_id)
            return [] if recipient is None else [(recipient.address, day)]
        return self._named(report.addresses) or "it names nobody who was sent a digest"

    def _named(self, addresses: Iterable[str]) -> list[tuple[str, date]]:
        """Tokenless mail: the addresses it names that are on the list and got a digest."""
        today = self.ctx.today(self.clock)
        found = []
        for address in addresses:
            try:
                recipient = self.store.recipients.get(address)
            except BulletinError:  # not even an address the list could hold
                continue
            days = [] if recipient is None else self.store.ledger.days_sent_to(address, today, 1)
            if recipient is not None and days:
                found.append((recipient.address, days[0]))
        return found


def ingest_bounces(
    ctx: RunContext,
    source: str | None = None,
    *,
    stdin: IO[bytes] | None = None,
    recipient: str | None = None,
    clock: Clock = system_clock,
    store: Store | None = None,
) -> list[IngestReport]:
    """Read bounce mail from ``source`` (a Maildir, an mbox file, ``-`` for standard input),
    or else from the configured mailbox and IMAP folder; one report per mailbox. ``store``:
    the open store to use (the step's), else the configured one is opened."""
    sources = _sources(ctx, source, stdin)
    if store is None:
        with ctx.open_store() as opened:
            return ingest_bounces(
                ctx, source, stdin=stdin, recipient=recipient, clock=clock, store=opened
            )
    reader = BounceReader(ctx, store, recipient, clock)
    return [reader.read(shown, opened()) for shown, opened in sources]


def _sources(
    ctx: RunContext, source: str | None, stdin: IO[bytes] | None
) -> list[tuple[str, Callable[[], delivery.Mailbox]]]:
    disposal = ctx.bounces.disposal
    if source == "-":
        assert stdin is not None, "standard input was asked for"
        return [("standard input", lambda: delivery.OneMessage(stdin))]
    if source is not None:
        path = ctx.config.path(source)
        return [(source, lambda: delivery.open_mailbox(path, disposal))]
    found: list[tuple[str, Callable[[], delivery.Mailbox]]] = []
    mailbox = ctx.bounces.mailbox
    if mailbox is not None:
        found.append((str(mailbox), lambda: delivery.open_mailbox(mailbox, disposal)))
    imap = ctx.bounce_imap()
    if imap is not None:
        found.append((imap.shown, lambda: delivery.ImapBox(imap, disposal)))
    if not found:
        raise BulletinError(
            "no bounce mailbox to read",
            hint="give a Maildir folder, an mbox file or - (standard input), or set "
            "delivery.bounces.mailbox or delivery.bounces.imap.host in config.yaml",
        )
    return found


# --- refusals during the send -------------------------------------------------------------------


def count_refusals(ctx: RunContext, store: Store, day: date, clock: Clock) -> int:
    """Count the day's recipients the server refused during the send (a 5xx to RCPT or to the
    end of the data, or 4xx until the send gave up) as bounces; how many were new."""
    rules, counted = Rules(ctx, store, clock), 0
    for row in store.ledger.rows(day, ["failed"]):
        refused = _REFUSED.match(row.reply)
        if refused is None:  # the session's trouble, or a message that could not be built
            continue
        key = event_key("smtp", day, address_hash(row.address))
        if store.events.has(key):
            continue
        permanent = refused.group(1) == "5"
        rules.failure(row.address, day, permanent, "smtp", {"reply": row.reply[:300]}, key)
        counted += 1
    return counted


# --- rates, for status and /metrics -------------------------------------------------------------

RECENT_SENDS = 7  # the sends whose rates `bulletin status` and /metrics show
# Above these, mail providers start to doubt a sender (Gmail's guidelines keep complaints
# under 0.3%); below MIN_VOLUME messages a rate says little.
BOUNCE_RATE_LIMIT, COMPLAINT_RATE_LIMIT, MIN_VOLUME = 0.05, 0.003, 100


@dataclass
class Feedback:
    """Bounces and complaints about the last sends, and the suppression list's size."""

    days: list[date] = field(default_factory=list)
    attempted: int = 0  # copies sent or refused for good
    bounced: int = 0  # recipients with a permanent failure
    soft: int = 0  # recipients with a temporary one
    complained: int = 0
    suppressed: dict[str, int] = field(default_factory=dict)  # by reason

    @property
    def bounce_rate(self) -> float:
        """Permanent failures per copy attempted."""
        return self.bounced / self.attempted if self.attempted else 0.0

    @property
    def complaint_rate(self) -> float:
        """Abuse reports per copy attempted."""
        return self.complained / self.attempted if self.attempted else 0.0

    def problems(self) -> list[str]:
        """What a sender's reputation would suffer from."""
        if self.attempted < MIN_VOLUME:
            return []
        found = []
        for what, rate, limit in (
            ("bounce", self.bounce_rate, BOUNCE_RATE_LIMIT),
            ("complaint", self.complaint_rate, COMPLAINT_RATE_LIMIT),
        ):
            if rate > limit:
                found.append(f"{what} rate {rate:.2%} over the last sends (above {limit:.1%})")
        return found

    def as_dict(self) -> dict[str, Any]:
        """For `bulletin status --json` and /health."""
        return {
            "days": [day.isoformat() for day in self.days],
            "attempted": self.attempted,
            "bounced": self.bounced,
            "soft_bounced": self.soft,
            "complained": self.complained,
            "bounce_rate": round(self.bounce_rate, 6),
            "complaint_rate": round(self.complaint_rate, 6),
            "suppressed": self.suppressed,
        }


def feedback(store: Store, sends: int = RECENT_SENDS) -> Feedback:
    """The bounces and complaints about the last ``sends`` days' digests."""
    days = store.ledger.days()[-sends:]
    found = Feedback(days, suppressed=store.suppressions.counts())
    for day in days:
        counts = store.ledger.counts(day)
        found.attempted += counts["sent"] + counts["failed"]
    per_day = store.events.per_day(("bounced", "soft_bounce", "complained"), days)
    for (kind, _), n in per_day.items():
        name = {"bounced": "bounced", "soft_bounce": "soft", "complained": "complained"}[kind]
        setattr(found, name, getattr(found, name) + n)
    return found
