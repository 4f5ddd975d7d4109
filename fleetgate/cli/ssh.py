"""User commands over SSH: the `fleetgate` commands, run in the gateway's process as the user of the key.

gitd parses the command line and picks the verb (gitd/user_commands.py); this runs the `fleetgate`
command it names with the user as the actor, the gateway's open database, and the SSH channel as
stdin, stdout and stderr. So a user gets the operator's commands, JSON and exit statuses, limited to
what the application layer lets them do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

import click

from fleetgate.db import Database
from fleetgate.operations.actor import Actor
from fleetgate.settings import Settings

from .context import App

HELP_FLAGS = ("-h", "--help")


def _help(cli: click.Group, argv: list[str], label: str, stdout: TextIO) -> int:
    """The help of the command `argv` names, written to the channel (click would print to our stdout)."""
    command: click.Command = cli
    for word in argv:
        if not isinstance(command, click.Group) or word not in command.commands:
            break
        command = command.commands[word]
    with click.Context(command, info_name=label) as ctx:
        stdout.write(command.get_help(ctx) + "\n")
    return 0


def _one_line(error: click.ClickException, label: str) -> str:
    if isinstance(error, click.UsageError):
        return f"fleetgate: {label}: {error.format_message().rstrip('.')}; see: {label} --help"
    return f"fleetgate: error: {error.format_message()}"


def command_runner(cli: click.Group, settings: Settings, database: Database):
    """The runner gitd calls for each user command (gitd.server.CommandRunner): `cli`'s commands."""

    def run(
        user: str,
        fingerprint: str,
        argv: list[str],
        streams: tuple[TextIO, TextIO, TextIO],
        stopped: Callable[[], bool],
        label: str,
    ) -> int:
        stdin, stdout, stderr = streams
        if set(argv) & set(HELP_FLAGS):
            return _help(cli, argv, label, stdout)
        app = App(settings, Actor(user, f"key {fingerprint}"), database, stdin, stdout, stderr, stopped)
        try:
            status = cli.main(argv, prog_name="fleetgate", obj=app, standalone_mode=False)
        except click.ClickException as error:
            stderr.write(_one_line(error, label) + "\n")
            return error.exit_code
        except click.Abort:
            stderr.write("fleetgate: error: aborted\n")
            return 1
        return status if isinstance(status, int) else 0

    return run
