"""The ``bulletin`` command line: thin click commands over the pipeline.

This is the one place that prints results and picks exit codes: 0 when all went well, 1 when
something was skipped or failed (the rest was still done), 2 for a bad config or bad usage.
``BulletinError``s become a message and a hint here; ``--debug`` shows the traceback instead.
Log lines (``bulletin serve``, ``run --once``) go to stderr, one per line, as key=value pairs
or JSON (``--log-format``), each with the id of its run.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from bulletin import __version__
from bulletin.config import CONFIG_NAME, Config, load_config
from bulletin.errors import BulletinError, InputProblem
from bulletin.model import Item
from bulletin.pipeline import RunContext


class Context:
    """What every command gets: the config path given (if any) and the debug switch."""

    def __init__(self, config_path: Path | None, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug

    def config(self) -> Config:
        """The loaded, validated config."""
        return load_config(self.config_path)

    def run_context(self) -> RunContext:
        """The config turned into what a run needs, once."""
        return RunContext(self.config())


class BulletinGroup(click.Group):
    """Turns BulletinErrors into a message and an exit code, at exactly one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BulletinError as error:
            state = ctx.obj if isinstance(ctx.obj, Context) else None
            if state is not None and state.debug:
                traceback.print_exc()
            _fail(error)


def _fail(error: BulletinError) -> NoReturn:
    click.secho(f"error: {error.message}", fg="red", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)
    sys.exit(error.exit_code)


@click.group(cls=BulletinGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="BULLETIN_CONFIG",
    help=f"Config file [default: ./{CONFIG_NAME} if present, else built-in defaults].",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="BULLETIN_LOG_FORMAT",
    show_default=True,
    help="Log lines on stderr as key=value text or JSON.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    envvar="BULLETIN_LOG_LEVEL",
    show_default=True,
    help="The least important log lines shown.",
)
@click.version_option(__version__, prog_name="bulletin")
@click.pass_context
def main(
    ctx: click.Context, config_path: Path | None, debug: bool, log_format: str, log_level: str
) -> None:
    """Collect a newsroom's items, publish feeds, and mail the daily digest."""
    ctx.obj = Context(config_path, debug)
    setup_logging(log_format, "debug" if debug else log_level)


# --- logging ------------------------------------------------------------------------------

# The attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (click's test runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.setStream(sys.stderr)
        super().emit(record)


class LineFormatter(logging.Formatter):
    """One line per record: ``time level logger message`` and its fields, as text or JSON.

    Fields come from ``extra={"fields": {...}}`` (the pipeline's ``RunLog`` puts the run id
    there); fields whose value is None are left out.
    """

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None) or {}
        fields.update({k: v for k, v in extra.items() if v is not None})
        fields.update(
            {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k != "fields"}
        )
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        if self.as_json:
            return json.dumps(fields, default=str, ensure_ascii=False)
        return " ".join(f"{key}={_logfmt(value)}" for key, value in fields.items())


def _logfmt(value: Any) -> str:
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    if text and not any(c in text for c in ' ="\\\n') and text.isprintable():
        return text
    return json.dumps(text, ensure_ascii=False)


def setup_logging(log_format: str = "text", level: str = "info") -> None:
    """Send log lines to stderr in ``log_format``: bulletin's from ``level`` on, the libraries'
    warnings and errors (their INFO is chatty: SQLAlchemy's is every statement). Calling it
    again replaces the handler."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Stderr):
            root.removeHandler(handler)
    handler = _Stderr()
    handler.setFormatter(LineFormatter(log_format == "json"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("bulletin").setLevel(level.upper())
    logging.getLogger("bulletin.run").setLevel(logging.NOTSET)  # `bulletin run` may quiet it


pass_state = click.make_pass_decorator(Context)


def report_problems(problems: list[InputProblem]) -> None:
    for problem in problems:
        label = "skipped" if problem.skipped else "warning"
        click.secho(f"{label}: {problem}", fg="yellow", err=True)


def item_json(item: Item) -> str:
    """One item as a line of JSON."""
    return json.dumps(
        {
            "id": item.id,
            "day": item.day.isoformat(),
            "published": item.published.isoformat(),
            "updated": item.updated.isoformat() if item.updated else None,
            "category": {"name": item.category.name, "slug": item.category.slug},
            "title": item.title,
            "title_derived": item.title_derived,
            "paragraphs": list(item.paragraphs),
            "body_html": item.body_html,
            "source": item.source,
            "language": item.language,
            "direction": item.direction,
            "origin": item.origin,
        },
        ensure_ascii=False,
    )


def parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f'expected a date like 2026-11-26, got "{value}"') from None


F = TypeVar("F", bound=Callable[..., Any])


def date_option(help: str) -> Callable[[F], F]:
    """The ``--date YYYY-MM-DD`` option, parsed into ``day``."""
    return click.option("--date", "day", callback=parse_day, metavar="YYYY-MM-DD", help=help)


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
