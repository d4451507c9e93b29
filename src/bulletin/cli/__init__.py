"""The ``bulletin`` command line; each submodule adds its commands to ``main``."""

from bulletin.cli import admin, publish
from bulletin.cli.base import main

__all__ = ["admin", "main", "publish"]
