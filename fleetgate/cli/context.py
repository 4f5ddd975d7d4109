"""The one context every `fleetgate` command shares: settings, the database, who acts, where output goes."""

from __future__ import annotations

from typing import TextIO

import click

from fleetgate.db import Database
from fleetgate.operations.actor import OPERATOR, Actor
from fleetgate.operations.scope import Context
from fleetgate.settings import Settings

from .output import Failure


class App:
    """What every command needs; at the gateway's shell the actor is the operator.

    The SSH commands run the same commands in the gateway's process for a user authenticated by key:
    they hand in the gateway's open database, the user as actor, and the channel as the streams.
    """

    def __init__(
        self,
        settings: Settings,
        actor: Actor = OPERATOR,
        database: Database | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stopped=lambda: False,
    ) -> None:
        self.settings = settings
        self.actor = actor
        self._database = database
        self._owns_database = database is None
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.stopped = stopped  # True once the reader went away (an SSH client that disconnected)

    @property
    def database(self) -> Database:
        """The migrated database (FLEETGATE_HOME is created first: SQLite lives there by default)."""
        if self._database is None:
            try:
                self.settings.home.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise Failure(
                    f"cannot create FLEETGATE_HOME {self.settings.home}: {error.strerror}"
                ) from None
            database = Database(self.settings.database_url)
            database.migrate()
            self._database = database
        return self._database

    @property
    def context(self) -> Context:
        """What the application layer's operations run against."""
        return Context(self.database, self.settings)

    def close(self) -> None:
        """Release the database's connections (unless the gateway lent its own)."""
        if self._database is not None and self._owns_database:
            self._database.dispose()


def app_of(ctx: click.Context) -> App:
    """The App the root command made (or the SSH front-end handed in)."""
    return ctx.find_root().obj
