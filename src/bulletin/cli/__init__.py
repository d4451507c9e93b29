"""The ``bulletin`` command line; each submodule adds its commands to ``main``."""

from bulletin.cli import admin, publish
from bulletin.cli import bounces as bounces  # bounces ingest, subscribers show and suppressed
from bulletin.cli import digest as digest  # the preview command
from bulletin.cli import feeds as feeds  # the feeds command
from bulletin.cli import mail as mail  # subscribers, send, status, unsubscribe, web
from bulletin.cli import serve as serve  # the long-running service
from bulletin.cli import sources as sources  # the sources command
from bulletin.cli.base import main

__all__ = ["admin", "main", "publish"]
