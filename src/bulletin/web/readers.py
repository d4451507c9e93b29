"""The readers' routes: ``/subscribe`` (the form, and its post), ``/confirm`` (a page whose
button confirms a sign-up) and ``/preferences`` (a reader's own page and its forms).

A GET never changes anything: mail scanners and link checkers fetch every link they see. A
POST first passes ``guards``; a bad one changes nothing and gets a page saying what to do.
Messages about a subscription go out after the answer (a background task), so that neither
its content nor its timing tells a visitor whether the address was on the list.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bulletin import pipeline
from bulletin.errors import BulletinError
from bulletin.pipeline.pages import NOTICE, SUBSCRIBE
from bulletin.web.guards import client_of, first, form_fields, origin_of, same_origin

HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}


class ReaderRoutes:
    """The endpoints of the readers' pages, on the pipeline's services."""

    def __init__(
        self,
        desk: pipeline.SignupDesk,
        preferences: pipeline.Preferences,
        pages: pipeline.Pages,
        public_url: str,
    ) -> None:
        self.desk, self.preferences, self.pages = desk, preferences, pages
        self.public = origin_of(public_url)
        names = ("subscribe", "confirm", "preferences")
        self.paths = {name: public_url_path(public_url, name) for name in names}

    # --- answers ---------------------------------------------------------------------------

    def page(
        self, status: int, template: str, language: str, heading: str, /, **context: Any
    ) -> Response:
        """A page of the theme as the answer."""
        body = self.pages.render(template, language, heading, **context)
        return Response(body, status, HEADERS, media_type="text/html; charset=utf-8")

    def notice(self, status: int, language: str, key: str, *texts: str, **extra: Any) -> Response:
        """A page that says one thing: the words ``key``_title and ``key``_text, filled in."""
        t = self.pages.words(language)
        paragraphs = [t[f"{key}_text"].format(**extra.pop("fill", {})), *texts]
        context = {"paragraphs": paragraphs, "form": None, "link": None, **extra}
        return self.page(status, NOTICE, language, f"{key}_title", **context)

    def refused(self, language: str) -> Response:
        """The answer to a form that was not ours, stale, forged or too quick."""
        return self.notice(400, language, "refused")

    # --- /subscribe --------------------------------------------------------------------------

    def form_page(
        self,
        language: str,
        status: int = 200,
        address: str = "",
        name: str = "",
        error: str | None = None,
    ) -> Response:
        """The sign-up form, with a fresh stamp (and challenge)."""
        categories, languages = self.pages.choices(None, None)
        return self.page(
            status,
            SUBSCRIBE,
            language,
            "subscribe_title",
            action=self.paths["subscribe"],
            stamp=self.desk.stamp(),
            altcha=self.desk.challenge(),
            address=address,
            name=name,
            categories=categories,
            languages=languages,
            consent=self.desk.web.consent_text,
            error=error,
        )

    async def subscribe_form(self, request: Request) -> Response:
        language = self.pages.language(request.query_params.get("lang"))
        address = request.query_params.get("address", "")[:254]
        return await run_in_threadpool(self.form_page, language, 200, address)

    async def subscribe(self, request: Request) -> Response:
        fields = form_fields(await request.body(), request.headers.get("content-type", ""))
        language = self.pages.language(first(fields or {}, "lang"))
        if fields is None or not same_origin(request, self.public):
            return self.refused(language)
        form = pipeline.SignupForm(
            address=first(fields, "address"),
            name=first(fields, "name"),
            categories=tuple(fields.get("category", ())),
            languages=tuple(fields.get("language", ())),
            stamp=first(fields, "stamp"),
            honeypot=first(fields, "website"),
            altcha=first(fields, "altcha"),
            client=client_of(request),
        )
        try:
            answer = await run_in_threadpool(self.desk.subscribe, form)
        except BulletinError:  # a category or language that the form never offered
            return self.refused(language)
        if answer.kind == "limited":
            response = self.notice(429, language, "too_many")
            response.headers["Retry-After"] = "3600"
            return response
        if answer.kind == "refused":
            return self.refused(language)
        if answer.kind == "invalid":
            t = self.pages.words(language)
            error = t["bad_address"].format(problem=answer.problem)
            return await run_in_threadpool(
                self.form_page, language, 400, answer.address, form.name, error
            )
        hours = int(self.desk.web.confirm_for.total_seconds() // 3600)
        response = self.notice(
            200, language, "check_inbox", fill={"address": answer.address, "hours": hours}
        )
        if answer.notices:
            response.background = BackgroundTask(self.desk.deliver, answer.notices)
        return response

    # --- /confirm ----------------------------------------------------------------------------

    async def confirm_page(self, request: Request) -> Response:
        token = _token(request)
        signup = await run_in_threadpool(self.desk.pending, token)
        if isinstance(signup, str):
            return self.notice(400, self.pages.language(request.query_params.get("lang")), signup)
        language = self.pages.language(request.query_params.get("lang"), signup.languages)
        t = self.pages.words(language)
        form = {
            "action": f"{self.paths['confirm']}?token={token}",
            "fields": [("lang", language)],
            "button": t["confirm_button"],
        }
        return self.notice(
            200,
            language,
            "confirm",
            fill={"address": signup.address, "site": self.desk.site.title},
            form=form,
        )

    async def confirm(self, request: Request) -> Response:
        fields = form_fields(await request.body(), request.headers.get("content-type", ""))
        language = self.pages.language(first(fields or {}, "lang"))
        if fields is None or not same_origin(request, self.public):
            return self.refused(language)
        signup, notices, manage = await run_in_threadpool(
            self.desk.confirm, _token(request), client_of(request)
        )
        if isinstance(signup, str):
            return self.notice(400, language, signup)
        link = {"text": self.pages.words(language)["manage"], "url": manage}
        response = self.notice(
            200,
            language,
            "confirmed",
            fill={"address": signup.address, "site": self.desk.site.title},
            link=link,
        )
        if notices:
            response.background = BackgroundTask(self.desk.deliver, notices)
        return response


def public_url_path(public_url: str, name: str) -> str:
    """The path of one of the readers' pages, as the browser reaches it."""
    return urlsplit(public_url).path.rstrip("/") + "/" + name


def _token(request: Request) -> str:
    values = request.query_params.getlist("token")
    return values[0] if len(values) == 1 else ""


def parse_day(text: str) -> date | None:
    """A date field's value (YYYY-MM-DD), or None."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None
