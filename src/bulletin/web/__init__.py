"""The HTTP application for readers and monitors: sign-up with double opt-in, a reader's own
preferences page, unsubscribe pages and the one-click request, /health and /metrics. It sits
beside the command line, on top of the pipeline.

``app`` builds the Starlette application (the only package importing Starlette), ``readers``
and ``preferences`` are the readers' routes, ``guards`` what every form's POST passes,
``pages`` the built-in pages of an application without a theme, ``server`` serves it with
uvicorn.
"""

from bulletin.web.app import (
    MAX_BODY,
    Left,
    Monitor,
    Site,
    Unsubscriber,
    create_app,
    deployment_app,
)
from bulletin.web.readers import ReaderRoutes
from bulletin.web.server import WebServer

__all__ = [
    "MAX_BODY",
    "Left",
    "Monitor",
    "ReaderRoutes",
    "Site",
    "Unsubscriber",
    "WebServer",
    "create_app",
    "deployment_app",
]
