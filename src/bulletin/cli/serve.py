"""``bulletin serve``: the long-running service, and the stop signals it shares with ``run``.

The service runs the step (``pipeline.run_step``) at start-up, every
``schedule.collect_every_minutes`` and at ``schedule.digest_at``, in the main thread; with
``schedule.listen`` it also answers unsubscribe requests, /health and /metrics. SIGTERM or
SIGINT stops it taking new work; a message being sent is finished and recorded, then it exits
0. On SQLite a second ``bulletin serve`` on the same store refuses to start; on PostgreSQL
any number share it, one leading (``pipeline.Node``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

import click

from bulletin import pipeline, schedule
from bulletin.cli.base import Context, main, pass_state
from bulletin.config import Config, with_listen
from bulletin.errors import BulletinError

if TYPE_CHECKING:  # the web stack is loaded by the commands that serve, not by every one
    from bulletin.web import WebServer

_log = logging.getLogger("bulletin.serve")


def stop_on_signals(stop: pipeline.Stop) -> None:
    """Make SIGTERM and SIGINT request a clean stop instead of killing the process."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.request()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, handler)


@main.command()
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve unsubscribe, /health and /metrics here [default: schedule.listen].",
)
@pass_state
def serve(state: Context, listen: str | None) -> None:
    """Run the schedule: collect and publish all day, send each digest at its time.

    After downtime it catches up at start (see schedule.catch_up). Stop it with SIGTERM or
    ^C: the message being sent is finished first. Exit code 75 when another `bulletin serve`
    runs on the same SQLite store, or the store cannot be reached at start. On PostgreSQL
    several share the store: one leads (collects, publishes, plans), all send.
    """
    config = _with_listen(state.config(), listen)
    ctx = pipeline.RunContext(config)
    stop = pipeline.Stop()
    stop_on_signals(stop)
    lock = pipeline.serve_lock(ctx)
    if lock is not None:
        lock.acquire(wait=2.0)  # `bulletin status` peeks at the lock for an instant
    server = None
    node = pipeline.Node(ctx, stop)
    try:
        node.open()
        server = _web_server(ctx)
        service = schedule.Service(ctx, poll_seconds=node.poll)
        _log.info(
            "serve started",
            extra={
                "fields": {
                    "pid": os.getpid(),
                    "zone": config.site.timezone,
                    "collect_every_minutes": config.schedule.collect_every_minutes,
                    "digest_at": config.schedule.digest_at,
                    "catch_up": config.schedule.catch_up,
                    "listen": config.schedule.listen,
                    "shared": node.shared or None,
                }
            },
        )
        service.run(node.wake, lambda: stop.requested)
    finally:
        if server is not None:
            server.shutdown()
        node.close()
        if lock is not None:
            lock.release()
    _log.info("serve stopped", extra={"fields": {"pid": os.getpid()}})
    sys.exit(0)


def _with_listen(config: Config, listen: str | None) -> Config:
    if listen is None:
        return config
    try:
        return with_listen(config, listen)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--listen") from None


def _web_server(ctx: pipeline.RunContext) -> WebServer | None:
    address = ctx.schedule.listen_address
    if address is None:
        return None
    from bulletin import web

    public = ctx.unsubscribe_url
    try:
        server = web.WebServer(web.deployment_app(ctx), *address, ctx.web.request_timeout)
    except OSError as error:
        raise BulletinError(
            f"cannot listen on {ctx.schedule.listen}: {error.strerror}",
            hint="choose another schedule.listen (or --listen), or stop what uses that port",
        ) from None
    server.start()
    host, port = server.address
    _log.info(
        "listening", extra={"fields": {"url": f"http://{host}:{port}", "unsubscribe": public}}
    )
    return server
