"""The `fleetgate` command: the composition root that turns settings into a database and runs commands.

Exit status (DESIGN.md §3): 0 on success, 1 on a user error (one line on stderr), 2 on bad usage
(click's own). A fault of fleetgate prints a short line with a reference id; the traceback goes to the
operator's log with that id, never to the user's terminal.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from . import fleets, keys, releases, users
from .cli_agent import agent
from .cli_devices import device, provisioning_key
from .cli_env import env
from .cli_fleets import device_types, fleet, rollback
from .cli_output import Failure
from .cli_registry import registry
from .cli_release import release
from .cli_rollouts import deploy
from .cli_servers import server
from .cli_users import key, user
from .db import Database
from .deploy import devices, known_hosts, provisioning, roles, servers, targets, variables
from .device_types import UnknownDeviceType
from .settings import Settings, SettingsError, load

log = logging.getLogger("fleetgate.cli")

# Refusals whose message is meant for the person at the terminal (DESIGN.md §4: a user error).
USER_ERRORS: tuple[type[Exception], ...] = (
    users.UserError,
    keys.PublicKeyError,
    fleets.FleetError,
    releases.ReleaseError,
    targets.TargetError,
    devices.DeviceError,
    provisioning.RegistrationError,
    variables.VariableError,
    servers.ServerError,
    roles.RoleError,
    known_hosts.HostKeyError,
    UnknownDeviceType,
    SettingsError,
)


class App:
    """What every command needs: settings, and the database, opened and migrated on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._database: Database | None = None

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

    def close(self) -> None:
        """Release the database's connections."""
        if self._database is not None:
            self._database.dispose()


def _log_path(settings: Settings | None) -> Path:
    if settings is not None:
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
            return settings.home / "fleetgate.log"
        except OSError:
            pass
    return Path(tempfile.gettempdir()) / "fleetgate.log"


def _fault(ctx: click.Context) -> Failure:
    """Log the exception being handled with a reference id; return the line the user sees."""
    reference = secrets.token_hex(4)
    app = ctx.find_object(App)
    path = _log_path(app.settings if app else None)
    handler = logging.FileHandler(path, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    try:
        log.error("fault %s in `fleetgate %s`", reference, " ".join(sys.argv[1:]), exc_info=True)
    finally:
        log.removeHandler(handler)
        handler.close()
    return Failure(f"internal error (reference {reference}); the details are in {path}")


class Commands(click.Group):
    """A click group that turns domain errors into one line and faults into a reference id."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; sort whatever it raises by whose fault it is."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except USER_ERRORS as error:
            raise Failure(str(error)) from None
        except BrokenPipeError:
            # The reader went away (`fleetgate … | head`): nothing is wrong, and nothing more to say.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None
        except Exception:
            raise _fault(ctx) from None


def _app(ctx: click.Context) -> App:
    return ctx.find_object(App)  # type: ignore[return-value]  # set by `cli` itself


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fleetgate", prog_name="fleetgate", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """fleetgate: git push to deploy to your fleets, on your own machines."""
    ctx.obj = App(load())
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the gateway (SSH and HTTP) in the foreground until SIGTERM or SIGINT."""
    from fleetgate import serve as gateway  # imported here: the other commands need no SSH stack

    app = _app(ctx)
    gateway.run(app.settings, app.database)


cli.add_command(user)
cli.add_command(key)
cli.add_command(fleet)
cli.add_command(device_types)
cli.add_command(release)
cli.add_command(env)
cli.add_command(device)
fleet.add_command(provisioning_key)
cli.add_command(rollback)
cli.add_command(server)
cli.add_command(deploy)
cli.add_command(agent)
cli.add_command(registry)


def main() -> None:
    """Entry point of the `fleetgate` console script."""
    cli(prog_name="fleetgate")


if __name__ == "__main__":
    main()
