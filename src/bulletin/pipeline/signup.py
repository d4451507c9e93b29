"""Sign-up with double opt-in, and the defences of the form, for ``bulletin web``.

A visitor's post becomes a sign-up waiting in the store and a confirmation message; only the
link in that message, opened and confirmed by a button (mail scanners fetch links, so a GET
never confirms), puts the address on the list. Whatever the address, the visitor sees the
same page: an address already on the list gets a message with its "manage" link instead, a
held one (bounced, complained) gets nothing, and one past its daily limit gets nothing more.
Messages go out after the answer (``deliver``), so its timing tells nothing either.

The form's defences, in the order they are checked: a rate limit per client address (kept in
the store, so every instance counts together); a signed stamp of when the form was served
(too soon after is a bot; too late, or used twice, is stale); a honeypot field people never
fill (a bot that fills it is told it succeeded, and nothing is sent); ALTCHA's proof of work
when the operator turns it on; then at most ``confirmations_per_address_per_day`` messages
to one mailbox. The name a visitor typed is kept for their record but never mailed.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from bulletin import delivery, digest
from bulletin.errors import BulletinError, StoreError
from bulletin.model import Site
from bulletin.pipeline.context import Clock, RunContext, system_clock
from bulletin.pipeline.proof import Proof
from bulletin.store import Signup, Store, check_name, normalize_address

_log = logging.getLogger(__name__)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class SignupForm:
    """What a visitor posted to /subscribe, as the web read it."""

    address: str
    name: str = ""
    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    stamp: str = ""
    honeypot: str = ""
    altcha: str = ""
    client: str = ""  # the client's address, as the server saw it


@dataclass
class Answer:
    """What a post did: the page to show (``kind``) and the messages to send after it.

    kind: ``sent`` (check your inbox: the one answer whatever the address), ``invalid`` (the
    address cannot be mailed: the form again with ``problem``), ``refused`` (a stale, forged
    or too-fast form, a failed proof of work) or ``limited`` (too many posts from the client).
    """

    kind: str
    address: str = ""
    problem: str = ""
    notices: list[delivery.Notice] = field(default_factory=list)


class SignupDesk:
    """The sign-up form and its confirmation, on top of the store."""

    def __init__(self, ctx: RunContext, clock: Clock = system_clock) -> None:
        self.ctx, self.clock, self.web = ctx, clock, ctx.web
        with ctx.open_store() as store:
            self.key = ctx.unsubscribe_key(store)
        self.proof = Proof(self.key, self.web.altcha_max_number) if self.web.altcha else None

    # --- the form --------------------------------------------------------------------------

    def stamp(self) -> str:
        """A new form's signed stamp: when it was served."""
        nonce = secrets.token_urlsafe(16)
        return delivery.sign_stamped(self.key, delivery.FORM, nonce, self.clock())

    def challenge(self) -> str | None:
        """A new ALTCHA challenge as JSON, when the operator turned it on."""
        return None if self.proof is None else self.proof.challenge(self.clock())

    def subscribe(self, form: SignupForm) -> Answer:
        """Judge a post of the form; see the module's docstring for the order of checks."""
        now = self.clock()
        with self.ctx.open_store() as store:
            client = "ip:" + _digest(form.client)
            if store.signups.hit(client, now, HOUR) > self.web.signups_per_ip_per_hour:
                return Answer("limited")
            if not self._fresh(store, form.stamp):
                return Answer("refused")
            try:
                address = normalize_address(form.address)
                name = check_name(form.name)
            except StoreError as error:
                return Answer("invalid", form.address.strip()[:254], error.message)
            if form.honeypot:
                return Answer("sent", address)  # a bot: it learns nothing, and nothing is sent
            if self.proof is not None and not self.proof.solved(store, form.altcha, now):
                return Answer("refused")
            categories, languages = self.choice(form.categories, form.languages)
            answer = Answer("sent", address)
            notice = self._notice(store, address, name, categories, languages, form.client)
            if notice is not None:
                answer.notices.append(notice)
            return answer

    def choice(
        self, categories: Iterable[str], languages: Iterable[str]
    ) -> tuple[frozenset[str] | None, frozenset[str] | None]:
        """A reader's choice, checked: nothing chosen, or everything, means every one."""
        known = {c.slug for c in self.ctx.categories.known}
        offered = set(self.web.languages)
        chosen = frozenset(categories) & known if known else frozenset(categories)
        read = frozenset(languages) & offered
        if set(categories) - chosen or set(languages) - read:
            raise BulletinError("a category or language that is not offered was chosen")
        return (
            None if not chosen or chosen == known else chosen,
            None if not read or read == offered else read,
        )

    def _fresh(self, store: Store, stamp: str) -> bool:
        """Whether the form's stamp is genuine, old enough, young enough and not used yet."""
        found = delivery.verify_stamped(self.key, delivery.FORM, stamp)
        if found is None:
            return False
        nonce, served = found
        age = self.clock() - served
        if not self.web.min_form_age <= age <= self.web.max_form_age:
            return False
        return store.signups.hit("form:" + nonce, served, self.web.max_form_age * 2) == 1

    def _notice(
        self,
        store: Store,
        address: str,
        name: str,
        categories: frozenset[str] | None,
        languages: frozenset[str] | None,
        client: str,
    ) -> delivery.Notice | None:
        """The message this sign-up gets, if any, with the sign-up kept when it is a new one."""
        now = self.clock()
        held = store.suppressions.get(address)
        if held is not None and held.reason != "erased":
            return None  # bounced or complained: never again, not even a confirmation
        mails = store.signups.hit("mail:" + _digest(address.lower()), now, DAY)
        if mails > self.web.confirmations_per_address_per_day:
            return None
        language = self.language_for(languages)
        reader = store.recipients.get(address)
        if reader is not None and reader.status == "active" and reader.link_id is not None:
            url = self.preferences_url(reader.link_id)
            return self.notice(
                "manage", address, language, url, f"manage:{address}:{int(now.timestamp())}"
            )
        signup = store.signups.request(
            address,
            name,
            categories,
            languages,
            self.web.consent_version,
            client,
            now,
            self.web.confirm_for,
        )
        store.events.record(
            address, "subscribed", now, "web", _detail(signup, "requested confirmation")
        )
        token = delivery.sign_stamped(self.key, delivery.CONFIRM, signup.id, signup.expires)
        url = self.web.url(f"confirm?token={token}")
        return self.notice("confirm", address, language, url, f"confirm:{signup.id}")

    # --- confirming ---------------------------------------------------------------------------

    def pending(self, token: str) -> Signup | str:
        """The sign-up a confirmation link names; else ``invalid`` or ``expired``."""
        signup_id, problem = delivery.verify_until(self.key, delivery.CONFIRM, token, self.clock())
        if signup_id is None:
            return problem
        with self.ctx.open_store() as store:
            signup = store.signups.get(signup_id, self.clock())
        return signup or "expired"  # taken already, or replaced by a newer sign-up

    def confirm(self, token: str, client: str) -> tuple[Signup | str, list[delivery.Notice], str]:
        """Put the sign-up on the list (the button's POST): whose (or why not), the welcome
        message to send, and the reader's "manage" link."""
        signup = self.pending(token)
        if isinstance(signup, str):
            return signup, [], ""
        now = self.clock()
        with self.ctx.open_store() as store:
            taken = store.signups.take(signup.id, now)
            if taken is None:
                return "expired", [], ""
            held = store.suppressions.get(taken.address)
            if held is not None and held.reason == "erased":
                # They erased themselves once and now asked again, by their own mailbox.
                store.suppressions.remove(taken.address)
                store.events.record(taken.address, "unsuppressed", now, "web")
            if not store.readers.join(taken, now):
                return "invalid", [], ""
            detail = {**_detail(taken, "confirmed"), "client": client}
            store.events.record(taken.address, "confirmed", now, "web", detail)
            reader = store.recipients.get(taken.address)
        assert reader is not None and reader.link_id is not None
        url = self.preferences_url(reader.link_id)
        if not self.web.welcome:
            return taken, [], url
        language = self.language_for(taken.languages)
        welcome = self.notice("welcome", taken.address, language, url, f"welcome:{taken.id}")
        return taken, [welcome], url

    # --- messages ----------------------------------------------------------------------------

    def preferences_url(self, link_id: str) -> str:
        """A fresh "manage your subscription" link, working ``web.preferences_days``."""
        expires = self.clock() + self.web.preferences_for
        token = delivery.sign_stamped(self.key, delivery.PREFERENCES, link_id, expires)
        return self.web.url(f"preferences?token={token}")

    def language_for(self, languages: frozenset[str] | None) -> str:
        """The language a reader of ``languages`` is written to: theirs if one, else the site's."""
        if languages is not None and len(languages) == 1:
            return next(iter(languages))
        return self.web.languages[0]

    def notice(self, kind: str, address: str, language: str, url: str, key: str) -> delivery.Notice:
        """One message about a subscription, rendered from the theme in ``language``."""
        hours = int(self.web.confirm_for.total_seconds() // 3600)
        mail = digest.render_mail(
            self.ctx.digest.templates, kind, self.site, language, {"url": url, "hours": hours}
        )
        return delivery.Notice(key, address, mail.subject, mail.text, language)

    @property
    def site(self) -> Site:
        """The site, as messages name it."""
        return self.ctx.site

    def deliver(self, notices: Iterable[delivery.Notice]) -> None:
        """Send messages now, through the digest's transport; a failure is logged, not raised
        (the visitor has their answer already, and may ask again)."""
        for notice in notices:
            try:
                settings = self.ctx.send
                message = delivery.build_notice(
                    notice, settings.sender, self.clock(), self.site.domain
                )
                if settings.signer is not None:
                    message = settings.signer.sign(message)
                delivery.send_notice(settings.target, settings.loop.sender, notice, message)
            except BulletinError as error:
                _log.error(
                    "message not sent",
                    extra={"fields": {"key": notice.key, "error": error.message}},
                )


def _detail(signup: Signup, step: str) -> dict[str, object]:
    return {
        "step": step,
        "consent_version": signup.consent_version,
        "categories": sorted(signup.categories or ()),
        "languages": sorted(signup.languages or ()),
        "requested": signup.requested.isoformat(),
    }


def _digest(text: str) -> str:
    """A short hash, so that the rate limits keep no client or mailbox address in the clear."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
