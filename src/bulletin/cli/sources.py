"""``bulletin sources``: each configured source with its last fetch, its status and next check."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from bulletin import pipeline
from bulletin.cli.base import Context, main, pass_state


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.option(
    "--reset",
    metavar="NAME",
    help="Forget a feed source's state (a disabled one is fetched again at the next collect).",
)
@pass_state
def sources(state: Context, as_json: bool, reset: str | None) -> None:
    """List the sources: last fetch, status and next check; exit 1 if one needs a look."""
    ctx = state.run_context()
    if reset is not None:
        had = pipeline.reset_source(ctx, reset)
        click.echo(f"{reset}: " + ("state forgotten" if had else "had no state yet"))
        return
    rows = pipeline.source_rows(ctx)
    zone = ctx.zone
    if as_json:
        for row in rows:
            click.echo(json.dumps(_row_json(row), ensure_ascii=False))
    elif not rows:
        click.echo("no sources in the config")
    else:
        header = ("source", "kind", "last fetch", "status", "next check", "items")
        lines = [header, *(_row_cells(row, zone) for row in rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            click.echo(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(line, widths, strict=True)
                ).rstrip()
            )
        for row in rows:
            click.echo(
                f"  {row.name}: {row.where}" + (f"\n    {row.message}" if row.message else "")
            )
    sys.exit(1 if any(row.needs_a_look for row in rows) else 0)


def _when(moment: datetime | None, zone: object, empty: str) -> str:
    if moment is None:
        return empty
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]


def _row_cells(row: pipeline.SourceRow, zone: object) -> tuple[str, ...]:
    if row.kind == "feed":
        upcoming = _when(row.next_check, zone, "disabled" if row.status == "gone" else "now")
    else:
        upcoming = "each collect"
    return (
        row.name,
        row.kind,
        _when(row.last, zone, "never"),
        row.status,
        upcoming,
        str(row.items),
    )


def _row_json(row: pipeline.SourceRow) -> dict[str, object]:
    return {
        "name": row.name,
        "kind": row.kind,
        "where": row.where,
        "last": row.last.isoformat() if row.last else None,
        "status": row.status,
        "next_check": row.next_check.isoformat() if row.next_check else None,
        "items": row.items,
        "message": row.message,
    }
