"""The `fleetgate` command group: the composition root that turns settings into a database and runs commands.

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

from fleetgate import fleets, keys, releases, tokens, users
from fleetgate import home as gateway_home
from fleetgate.deploy import devices, provisioning, targets, variables
from fleetgate.deploy.servers import inventory as servers
from fleetgate.deploy.servers import known_hosts, roles
from fleetgate.device_types import UnknownDeviceType
from fleetgate.operations.fleets import RepositoryInTheWay
from fleetgate.operations.permissions import AccessDenied
from fleetgate.operations.targets import RolloutFailed
from fleetgate.settings import Settings, SettingsError, load

from .agent import agent
from .config import config
from .context import App
from .devices import device, provisioning_key
from .env import env
from .fleets import device_types, fleet, rollback
from .login import login
from .output import Failure
from .prune import prune
from .registry import registry
from .releases import release
from .rollouts import deploy
from .servers import server
from .tokens import token
from .users import key, user

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
    AccessDenied,
    RolloutFailed,
    RepositoryInTheWay,
    tokens.TokenError,
)


def _log_path(settings: Settings | None) -> Path:
    if settings is not None and gateway_home.holds_gateway(settings.home):  # a fault makes no home
        return settings.home / "fleetgate.log"
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


# Commands that need no gateway: every other refuses a FLEETGATE_HOME that holds none (fleetgate/home.py).
NO_GATEWAY = frozenset({"serve", "device-types", "agent", "config"})


class Commands(click.Group):
    """A click group that turns domain errors into one line and faults into a reference id."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse, keeping the command line: `--help` on a subcommand needs no gateway either."""
        ctx.meta["fleetgate.args"] = tuple(args)
        return super().parse_args(ctx, args)

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
            if _app(ctx).stdout is not None:  # an SSH command's channel, not this process's stdout
                raise click.exceptions.Exit(0) from None
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
    if ctx.obj is None:  # the SSH front-end hands in an App of its own
        ctx.obj = App(load())
        asks_help = set(ctx.help_option_names) & set(ctx.meta["fleetgate.args"])
        if ctx.invoked_subcommand not in NO_GATEWAY and not asks_help:
            gateway_home.require(ctx.obj.settings.home)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the gateway (SSH and HTTP) in the foreground until SIGTERM or SIGINT."""
    from fleetgate import serve as gateway  # imported here: the other commands need no SSH stack

    from .ssh import command_runner

    app = _app(ctx)
    gateway_home.create(app.settings.home)  # only serve makes a home
    # Users' SSH commands are these very commands, run as the user of the key (cli/ssh.py).
    gateway.run(app.settings, app.database, commands=command_runner(cli, app.settings, app.database))


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
cli.add_command(token)
cli.add_command(login)
cli.add_command(config)
cli.add_command(prune)


def main() -> None:
    """Entry point of the `fleetgate` console script."""
    cli(prog_name="fleetgate")
