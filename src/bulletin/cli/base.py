"""The ``bulletin`` command line: thin click commands over the pipeline.

This is the one place that prints results and picks exit codes: 0 when all went well, 1 when
something was skipped or failed (the rest was still done), 2 for a bad config or bad usage.
``BulletinError``s become a message and a hint here; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click

from bulletin import __version__
from bulletin.config import CONFIG_NAME, Config, load_config
from bulletin.errors import BulletinError, InputProblem
from bulletin.model import Item


class Context:
    """What every command gets: the config path given (if any) and the debug switch."""

    def __init__(self, config_path: Path | None, debug: bool) -> None:
        self.config_path = config_path
        self.debug = debug

    def config(self) -> Config:
        """The loaded, validated config."""
        return load_config(self.config_path)


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
@click.version_option(__version__, prog_name="bulletin")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, debug: bool) -> None:
    """Collect a newsroom's items, publish feeds, and mail the daily digest."""
    ctx.obj = Context(config_path, debug)


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


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
