"""``/preferences``: a reader's own page, reached by the signed link in every digest, and the
forms on it (save, unsubscribe, subscribe again, download their data, erase). Each form posts
``action`` to the same URL, the token included; a bad post changes nothing."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bulletin import pipeline
from bulletin.errors import BulletinError
from bulletin.pipeline.pages import PREFERENCES
from bulletin.web.guards import first, form_fields, same_origin
from bulletin.web.readers import HEADERS, ReaderRoutes, _token, parse_day

EXPORT_NAME = "bulletin-my-data.json"


class PreferenceRoutes:
    """The endpoints of a reader's own page."""

    def __init__(self, routes: ReaderRoutes) -> None:
        self.routes, self.preferences, self.pages = routes, routes.preferences, routes.pages

    def show(
        self, token: str, reader: pipeline.Reader, language: str, message: str | None = None
    ) -> Response:
        """The reader's page, with what the last change did (``message``)."""
        categories, languages = self.pages.choices(reader.categories, reader.languages)
        now = self.routes.desk.clock()
        today = now.astimezone(self.routes.desk.ctx.zone).date()
        return self.routes.page(
            200,
            PREFERENCES,
            language,
            "preferences_title",
            action=f"{self.routes.paths['preferences']}?token={token}",
            address=reader.address,
            status=reader.status,
            categories=categories,
            languages=languages,
            paused_until=reader.paused_until.isoformat() if reader.paused_until else "",
            today=today.isoformat(),
            message=message,
        )

    def _language(self, request: Request, reader: pipeline.Reader | None, asked: str = "") -> str:
        chosen = None if reader is None else reader.languages
        return self.pages.language(asked or request.query_params.get("lang"), chosen)

    async def page(self, request: Request) -> Response:
        token = _token(request)
        reader = await run_in_threadpool(self.preferences.open, token)
        if isinstance(reader, str):
            return self.routes.notice(400, self._language(request, None), reader)
        return self.show(token, reader, self._language(request, reader))

    async def change(self, request: Request) -> Response:
        fields = form_fields(await request.body(), request.headers.get("content-type", ""))
        token = _token(request)
        if fields is None or not same_origin(request, self.routes.public):
            return self.routes.refused(self._language(request, None))
        action = first(fields, "action")
        if action == "export":
            return await self._export(request, token)
        if action == "erase":
            return await self._erase(request, token, first(fields, "sure") == "yes")
        if action == "save":
            try:
                choice = pipeline.Choice(
                    *self.routes.desk.choice(
                        fields.get("category", ()), fields.get("language", ())
                    ),
                    parse_day(first(fields, "paused_until")),
                )
            except BulletinError:  # a category or language the page never offered
                return self.routes.refused(self._language(request, None))
            done = await run_in_threadpool(self.preferences.save, token, choice)
        elif action in ("unsubscribe", "resubscribe"):
            change = (
                self.preferences.leave if action == "unsubscribe" else self.preferences.come_back
            )
            done = await run_in_threadpool(change, token)
        else:
            return self.routes.refused(self._language(request, None))
        if isinstance(done, str):
            return self.routes.notice(400, self._language(request, None), done)
        language = self._language(request, done)
        t = self.pages.words(language)
        said = {"save": t["saved"], "unsubscribe": t["unsubscribed_title"]}.get(action)
        return self.show(token, done, language, said)

    async def _export(self, request: Request, token: str) -> Response:
        data = await run_in_threadpool(self.preferences.export, token)
        if isinstance(data, str):
            return self.routes.notice(400, self._language(request, None), data)
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{EXPORT_NAME}"'}
        return Response(data, 200, headers, media_type="application/json")

    async def _erase(self, request: Request, token: str, sure: bool) -> Response:
        reader = await run_in_threadpool(self.preferences.open, token)
        if isinstance(reader, str):
            return self.routes.notice(400, self._language(request, None), reader)
        language = self._language(request, reader)
        if not sure:  # the box is required: only a hand-made post lacks it
            return self.routes.refused(language)
        done = await run_in_threadpool(self.preferences.erase, token)
        return self.routes.notice(200 if done == "erased" else 400, language, done)
