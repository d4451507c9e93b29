"""The HTTP application for readers and monitors, on Starlette: one app object that
``bulletin web``, the listener of ``bulletin serve`` and the tests all run.

``GET /unsubscribe?token=T`` shows a page with a button and changes nothing: link checkers and
mail scanners fetch URLs, and RFC 8058 3.2 says such a GET must not unsubscribe. ``POST`` to the
same URL unsubscribes: the mail client's one-click request (body ``List-Unsubscribe=One-Click``)
or the page's button. A forged or damaged token changes nothing and gets a page saying so.
``GET /health`` answers ``ok`` for load balancers; given a ``Monitor`` (``bulletin serve``
does), it answers the service's state as JSON, 503 when it is stale (a digest overdue), and
``GET /metrics`` gives counts in the Prometheus text format (version 0.0.4). Run it behind a
TLS-terminating proxy, and keep /metrics to the monitoring network.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bulletin import pipeline
from bulletin.metrics import Metric, render_metrics
from bulletin.web import pages
from bulletin.web.guards import same_origin
from bulletin.web.preferences import PreferenceRoutes
from bulletin.web.readers import HEADERS, ReaderRoutes

MAX_BODY = 10_000  # bytes: a one-click request is 26; a form, a few hundred


class Left(Protocol):
    """What an unsubscribe request did: whose (None: the token was not genuine)."""

    @property
    def address(self) -> str | None: ...


class Unsubscriber(Protocol):
    """Checks tokens and unsubscribes; the pipeline provides it."""

    def check(self, token: str) -> str | None: ...
    def unsubscribe(self, token: str) -> Left: ...


class Monitor(Protocol):
    """The service's health and counts; the pipeline provides it from the store."""

    def health(self) -> tuple[bool, dict[str, object]]: ...
    def metrics(self) -> Sequence[Metric]: ...


@dataclass(frozen=True)
class Site:
    """What the pages say of the newsroom, and where unsubscribe requests come."""

    title: str
    unsubscribe_path: str = "/unsubscribe"


# Every answer is private to whoever asked: the URLs hold tokens, which a Referer sends only to
# this site (with no-referrer, browsers would send "Origin: null" with every form; guards.py).
_HEADERS = HEADERS


def deployment_app(ctx: pipeline.RunContext) -> ASGIApp:
    """The application of a deployment: the readers' pages (sign-up, confirmation,
    preferences, unsubscribe), health and metrics."""
    # A context of its own, whose store stays open for every request: opening it and checking
    # its schema for each one cost more than answering.
    ctx = pipeline.RunContext(ctx.config)
    ctx.hold_store()
    site = Site(ctx.site.title, urlsplit(ctx.unsubscribe_url).path)
    readers = ReaderRoutes(
        pipeline.SignupDesk(ctx), pipeline.Preferences(ctx), pipeline.Pages(ctx), ctx.web.public_url
    )
    return create_app(pipeline.Unsubscriber(ctx), site, pipeline.Monitor(ctx), readers)


def create_app(
    unsubscriber: Unsubscriber,
    site: Site,
    monitor: Monitor | None = None,
    readers: ReaderRoutes | None = None,
) -> ASGIApp:
    """The application: its routes, and a cap on what a request body may hold. Without
    ``readers`` (the pipeline's sign-up and preferences), only unsubscribing, health and
    metrics, on plain built-in pages."""
    handlers = _Handlers(unsubscriber, site, monitor, readers)
    path = "/" + site.unsubscribe_path.strip("/")
    routes = [
        Route("/health", handlers.health, methods=["GET"]),
        Route("/metrics", handlers.metrics, methods=["GET"]),
        Route(path, handlers.confirm_page, methods=["GET"]),
        Route(path, handlers.unsubscribe, methods=["POST"]),
    ]
    if readers is not None:
        routes += _reader_routes(readers)
    app = Starlette(routes=routes)
    app.add_exception_handler(404, handlers.not_found)
    app.add_exception_handler(405, handlers.not_allowed)
    return _BodyCap(app, MAX_BODY)


def _reader_routes(readers: ReaderRoutes) -> list[Route]:
    paths, preferences = readers.paths, PreferenceRoutes(readers)
    return [
        Route(paths["subscribe"], readers.subscribe_form, methods=["GET"]),
        Route(paths["subscribe"], readers.subscribe, methods=["POST"]),
        Route(paths["confirm"], readers.confirm_page, methods=["GET"]),
        Route(paths["confirm"], readers.confirm, methods=["POST"]),
        Route(paths["preferences"], preferences.page, methods=["GET"]),
        Route(paths["preferences"], preferences.change, methods=["POST"]),
    ]


class _Handlers:
    """The endpoints, sharing the pipeline's services."""

    def __init__(
        self,
        unsubscriber: Unsubscriber,
        site: Site,
        monitor: Monitor | None,
        readers: ReaderRoutes | None,
    ) -> None:
        self.unsubscriber, self.site, self.monitor = unsubscriber, site, monitor
        self.readers = readers

    def _page(self, status: int, page: pages.Page) -> Response:
        if self.readers is not None and page.key:  # the theme's page, in its words
            language = self.readers.pages.language(None)
            form = None
            if page.token:
                words = self.readers.pages.words(language)
                action = f"/{self.site.unsubscribe_path.strip('/')}?token={page.token}"
                fields = [("List-Unsubscribe", "One-Click")]
                form = {"action": action, "fields": fields, "button": words["unsubscribe_button"]}
            fill = {"address": page.address, "site": self.site.title}
            return self.readers.notice(status, language, page.key, fill=fill, form=form)
        body = pages.render(page, self.site.title)
        return Response(body, status, _HEADERS, media_type="text/html; charset=utf-8")

    def health(self, request: Request) -> Response:
        if self.monitor is None:
            return PlainTextResponse("ok\n", headers=_HEADERS)
        try:
            healthy, details = self.monitor.health()
        except Exception as error:  # the store is unreachable: that is the answer
            healthy, details = False, {"state": "error", "error": str(error)}
        body = json.dumps(details, default=str, ensure_ascii=False, indent=1) + "\n"
        status = 200 if healthy else 503
        return Response(body, status, _HEADERS, media_type="application/json")

    def metrics(self, request: Request) -> Response:
        if self.monitor is None:
            return self._page(404, pages.NOT_FOUND)
        body = render_metrics(self.monitor.metrics())
        kind = "text/plain; version=0.0.4; charset=utf-8"
        return Response(body, 200, _HEADERS, media_type=kind)

    def confirm_page(self, request: Request) -> Response:
        """The page asking to confirm: a GET never unsubscribes (RFC 8058 3.2)."""
        token = _token(request)
        address = self.unsubscriber.check(token) if token else None
        if address is None:
            return self._page(400, pages.INVALID)
        return self._page(200, pages.confirm_unsubscribe(address, self.site, token))

    async def unsubscribe(self, request: Request) -> Response:
        # The body is List-Unsubscribe=One-Click (RFC 8058) or the page's form; the token in
        # the URL is what counts. Read it anyway, so that the connection can be kept. Mail
        # providers post without an Origin; a browser posting from another site is refused.
        await request.body()
        if self.readers is not None and not same_origin(
            request, self.readers.public, missing_ok=True
        ):
            return self._page(403, pages.FOREIGN)
        token = _token(request)
        left = await run_in_threadpool(self.unsubscriber.unsubscribe, token)
        if left.address is None:
            return self._page(400, pages.INVALID)
        return self._page(200, pages.unsubscribed(left.address, self.site))

    async def not_found(self, request: Request, _error: Exception) -> Response:
        return self._page(404, pages.NOT_FOUND)

    async def not_allowed(self, request: Request, _error: Exception) -> Response:
        return self._page(405, pages.NOT_ALLOWED)


def _token(request: Request) -> str:
    values = request.query_params.getlist("token")
    return values[0] if len(values) == 1 else ""


class _BodyCap:
    """Refuses a request whose body is larger than ``limit`` bytes, declared or sent.

    The body is read whole before the application sees it (it is small by then), so that an
    oversized one is refused before anything could act on it.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.limit:  # the server checked it is a number
            await _too_large(send)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _too_large(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send) -> None:
    body = b"Too large\n"
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
