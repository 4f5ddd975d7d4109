"""Destructive commands ask on a terminal and need `--yes` otherwise (DESIGN.md §3)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from .output import Failure, echo

if TYPE_CHECKING:
    from .context import App

yes_option = click.option(
    "--yes", is_flag=True, help="Remove without asking (needed where there is no terminal: scripts, SSH)."
)


def stdin_is_terminal() -> bool:
    """Whether a person can answer a prompt on this process's stdin (tests replace this)."""
    return sys.stdin.isatty()


def counted(number: int, noun: str) -> str:
    """`1 release`, `12 releases`."""
    return f"{number} {noun if number == 1 else noun + 's'}"


def listing(parts: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def confirm_removal(app: App, what: str, yes: bool) -> None:
    """Return once `--yes` was given or the person at the terminal agreed to remove `what`; else Failure."""
    if yes:
        return
    # An SSH command's stdin is the channel, never a terminal, whatever the client runs in.
    if app.stdin is not None or not stdin_is_terminal():
        raise Failure(f"this would remove {what}; add --yes to remove it (there is no terminal to ask on)")
    try:
        agreed = click.confirm(f"remove {what}?", default=False, err=True)
    except click.Abort:  # Ctrl-C or the end of input at the prompt
        echo(err=True)
        agreed = False
    if not agreed:
        raise Failure("nothing removed")
