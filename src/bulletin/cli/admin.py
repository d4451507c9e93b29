"""Commands that set a deployment up: config, db, init."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from bulletin import pipeline
from bulletin.cli.base import Context, main, pass_state
from bulletin.config import CONFIG_NAME, commented_config, reference_table
from bulletin.errors import BulletinError


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
    ctx = state.run_context()
    applied, version = pipeline.upgrade_store(ctx)
    for number, description in applied:
        click.echo(f"applied migration {number}: {description}")
    click.echo(f"store {ctx.config.store.url} is at schema version {version}")


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
