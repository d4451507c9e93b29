"""The ``bulletin`` command line: thin click commands over the pipeline.

This is the one place that prints results and picks exit codes: 0 when all went well, 1 when
something was skipped or failed (the rest was still done), 2 for a bad config or bad usage.
``BulletinError``s become a message and a hint here; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from bulletin import __version__, pipeline
from bulletin.config import CONFIG_NAME, Config, commented_config, load_config, reference_table
from bulletin.errors import BulletinError, InputProblem
from bulletin.model import Item
from bulletin.store import Store


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


def _report_problems(problems: list[InputProblem]) -> None:
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


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the items read as JSON lines.")
@click.option("--dry-run", is_flag=True, help="Read and compare, but store nothing.")
@pass_state
def collect(state: Context, paths: tuple[Path, ...], as_json: bool, dry_run: bool) -> None:
    """Read the configured sources, or the given files and folders ('-' for stdin)."""
    config = state.config()
    if not paths and not config.sources:
        raise BulletinError(
            "nothing to collect: no sources in the config and no paths given",
            hint="pass listing files or folders, or add sources: to config.yaml",
        )
    store = pipeline.open_store(config, dry_run)
    try:
        report = pipeline.collect(config, store, paths, dry_run=dry_run)
    finally:
        store.close()
    _report_problems(report.problems)
    if as_json:
        for item in report.read:
            click.echo(item_json(item))
    saved = report.saved
    verb = "would store" if dry_run else "stored"
    click.echo(
        f"read {len(report.read)} items; {verb} {len(saved.new)} new, "
        f"{len(saved.updated)} updated; {len(saved.unchanged)} unchanged; "
        f"{len(report.skipped)} skipped",
        err=as_json,
    )
    sys.exit(1 if report.skipped else 0)


def _parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f'expected a date like 2026-11-26, got "{value}"') from None


@main.command()
@click.option(
    "--date",
    "day",
    callback=_parse_day,
    metavar="YYYY-MM-DD",
    help="The day to publish [default: today in the site's time zone].",
)
@click.option("--dry-run", is_flag=True, help="Do everything but write, store or send nothing.")
@pass_state
def run(state: Context, day: date | None, dry_run: bool) -> None:
    """Collect, write the feeds, render the day's digest and deliver it."""
    config = state.config()
    report = pipeline.run_day(config, day, dry_run=dry_run)
    _report_problems(report.collected.problems)
    _print_run(config, report)
    sys.exit(0 if report.ok else 1)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_run(config: Config, report: pipeline.RunReport) -> None:
    would = "would be " if report.dry_run else ""
    c, f, d = report.collected, report.feeds, report.digest
    click.secho(
        f"bulletin run for {d.day.strftime('%A')} {d.day.isoformat()} ({config.file})"
        + ("  [dry run: nothing written]" if report.dry_run else ""),
        bold=True,
    )
    sources = ", ".join(f"{name} {count}" for name, count in c.per_source.items()) or "none"
    click.echo(
        f"  collected  {len(c.read)} items ({sources}): {len(c.saved.new)} new, "
        f"{len(c.saved.updated)} updated, {len(c.saved.unchanged)} unchanged, "
        f"{len(c.skipped)} skipped"
    )
    folder = _shown(config.path(config.feeds.dir))
    click.echo(
        f"  feeds      {len(f.written)} {would}written, {len(f.unchanged)} unchanged, in {folder}/"
    )
    if d.skipped:
        click.echo(f"  digest     not sent: {d.skipped}")
        return
    web = _shown(d.web_copy) if d.web_copy else "-"
    click.echo(f'  digest     {d.items} items, "{d.subject}"; web copy {web}')
    target = d.destination if d.transport == "smtp" else _shown(Path(d.destination)) + "/new/"
    click.echo(
        f"  delivery   {len(d.delivered)} {would}delivered by {d.transport} to {target}"
        f" ({len(d.already)} already had it)"
    )
    if not report.dry_run:
        look = [f"{folder}/all.atom", web]
        if d.transport == "outbox":
            look.append(target)
        click.echo(f"  look at    {', '.join(look)}")


@main.group(name="config")
def config_group() -> None:
    """Check the config or print its reference."""


@config_group.command("check")
@pass_state
def config_check(state: Context) -> None:
    """Validate the config file and report every problem with its line."""
    config = state.config()
    click.echo(
        f"{config.file}: OK ({len(config.sources)} sources, {len(config.categories)} categories, "
        f"{len(config.delivery.recipients)} recipients, "
        f"delivery by {'smtp' if config.uses_smtp else 'outbox'})"
    )


@config_group.command("reference")
def config_reference() -> None:
    """Print every config key with its type, default and help, as a Markdown table."""
    click.echo(reference_table())


@main.group(name="db")
def db_group() -> None:
    """Manage the store's schema."""


@db_group.command("upgrade")
@pass_state
def db_upgrade(state: Context) -> None:
    """Create the store or bring its schema up to date (also done before every command)."""
    config = state.config()
    store = Store.open(config.store_url, upgrade=False)
    try:
        applied = store.upgrade()
        version = store.version()
    finally:
        store.close()
    for number, description in applied:
        click.echo(f"applied migration {number}: {description}")
    click.echo(f"store {config.store.url} is at schema version {version}")


@main.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite an existing config.yaml.")
def init(directory: Path, force: bool) -> None:
    """Write a commented config.yaml and the folders a new deployment needs."""
    target = directory / CONFIG_NAME
    if target.exists() and not force:
        raise BulletinError(
            f"{target} already exists", hint="use --force to overwrite it with the defaults"
        )
    for folder in ("var", "feeds", "items"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    header = (
        f"# bulletin deployment, written by `bulletin init` on "
        f"{datetime.now().date().isoformat()}.\n"
        "# Every key is shown at its default; `bulletin config check` validates the file.\n\n"
    )
    target.write_text(header + commented_config(), encoding="utf-8")
    click.echo(f"wrote {target}; created var/, feeds/ and items/ in {directory}")
    click.echo("next: add sources: to config.yaml, then run `bulletin run`")
