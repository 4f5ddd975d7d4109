"""How the `fleetgate` command prints: one-line errors, tables, UTC times and `--json` (DESIGN.md §3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

import click

from fleetgate.operations import views

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


class Failure(click.ClickException):
    """Ends the command with exit status 1 and one line on stderr."""

    exit_code = 1

    def show(self, file: TextIO | None = None) -> None:
        """Print `fleetgate: error: <message>`."""
        click.echo(f"fleetgate: error: {self.message}", file=file, err=True)


def _stream(err: bool) -> TextIO | None:
    ctx = click.get_current_context(silent=True)
    app = None if ctx is None else ctx.find_root().obj
    if app is None:
        return None
    return app.stderr if err else app.stdout


def echo(message: object = "", err: bool = False, nl: bool = True) -> None:
    """click.echo to the command's own streams: the terminal, or the SSH channel of a user's command."""
    click.echo(message, file=_stream(err), err=err, nl=nl)


def to_json(value: Any) -> str:
    """`value` as indented JSON; times in ISO 8601, dataclasses as objects (the SSH and HTTP front-ends
    print the same)."""
    return views.to_json(value)


def print_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print rows under a header, each column as wide as its widest cell."""
    lines = [list(header), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def format_time(moment: datetime) -> str:
    """`2025-03-01 09:30:00 UTC`."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
