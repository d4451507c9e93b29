"""The feeds command: rebuild every feed, or check that the files are current and valid."""

from __future__ import annotations

import sys

import click

from bulletin import pipeline
from bulletin.cli.base import Context, main, pass_state, shown
from bulletin.pipeline import FeedFile, FeedsReport


@main.command("feeds")
@click.option(
    "--check",
    is_flag=True,
    help="Only build and compare: write nothing, exit 1 if a file is missing, stale or invalid.",
)
@pass_state
def feeds_command(state: Context, check: bool) -> None:
    """Rebuild every feed, the OPML list and the index page; write the files that changed."""
    ctx = state.run_context()
    report = pipeline.rebuild_feeds(ctx, check=check)
    if not check:
        pipeline.notify_hub(ctx, report)  # finished in the background, before the exit
    _print_table(report, check)
    sys.exit(1 if check and (report.written or report.invalid) else 0)


def _status(file: FeedFile, check: bool) -> str:
    if file.problems:
        return "invalid"
    if file.status == "written" and check:
        return "stale" if file.path.exists() else "missing"
    return file.status


def _print_table(report: FeedsReport, check: bool) -> None:
    """One row per file that changed (or would), then the counts."""
    rows = [
        (file.feed, file.kind, _status(file, check), shown(file.path))
        for file in report.files
        if file.status == "written" or file.problems
    ]
    if rows:
        table = [("feed", "format", "status", "file"), *rows]
        widths = [max(len(row[column]) for row in table) for column in range(3)]
        for row in table:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, row[3]]))
    for file in report.invalid:
        for problem in file.problems:
            click.secho(f"invalid: {shown(file.path)}: {problem}", fg="red", err=True)
    verb = "to write" if check else "written"
    built = len(report.rebuilt) + len(report.spliced)
    click.echo(
        f"{built} feeds built: {len(report.written)} files {verb}, "
        f"{len(report.unchanged)} unchanged, {len(report.invalid)} invalid"
    )
