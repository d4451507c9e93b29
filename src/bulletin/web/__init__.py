"""The HTTP application for readers and monitors: unsubscribe pages and the one-click request,
/health and /metrics. It sits beside the command line, on top of the pipeline.

``app`` builds the Starlette application (the only package importing Starlette), ``pages``
the HTML a reader sees, ``server`` serves it with uvicorn.
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
from bulletin.web.server import WebServer

__all__ = [
    "MAX_BODY",
    "Left",
    "Monitor",
    "Site",
    "Unsubscriber",
    "WebServer",
    "create_app",
    "deployment_app",
]
