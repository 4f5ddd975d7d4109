"""The `fleetgate` command: the composition root that turns settings into a database and runs commands.

Exit status (DESIGN.md §3): 0 on success, 1 on a user error (one line on stderr), 2 on bad usage
(click's own). A fault of fleetgate prints a short line with a reference id; the traceback goes to the
operator's log with that id, never to the user's terminal.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import socket
import sys
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

from . import fleets, keys, releases, users
from .cli_release import release
from .db import Database
from .device_types import DEVICE_TYPES, UnknownDeviceType, device_type
from .settings import Settings, SettingsError, load

log = logging.getLogger("fleetgate.cli")

# Refusals whose message is meant for the person at the terminal (DESIGN.md §4: a user error).
USER_ERRORS: tuple[type[Exception], ...] = (
    users.UserError,
    keys.PublicKeyError,
    fleets.FleetError,
    releases.ReleaseError,
    UnknownDeviceType,
    SettingsError,
)


class Failure(click.ClickException):
    """Ends the command with exit status 1 and one line on stderr."""

    exit_code = 1

    def show(self, file: TextIO | None = None) -> None:
        """Print `fleetgate: error: <message>`."""
        click.echo(f"fleetgate: error: {self.message}", err=True)


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
        except Exception:
            raise _fault(ctx) from None


def _app(ctx: click.Context) -> App:
    return ctx.find_object(App)  # type: ignore[return-value]  # set by `cli` itself


def _json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.isoformat()
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return dataclasses.asdict(item)
        raise TypeError(f"cannot serialise {type(item).__name__}")

    return json.dumps(value, default=default, indent=2)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    lines = [list(header), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def remote_url(settings: Settings, fleet: fleets.Fleet) -> str:
    """The git remote a user adds for the fleet: `ssh://git@HOST:PORT/OWNER/NAME.git`."""
    host = settings.ssh_host
    if host in ("", "0.0.0.0", "::"):
        # A wildcard listen address is no address to connect to; the machine's name is.
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"ssh://git@{host}:{settings.ssh_port}/{fleet.owner}/{fleet.name}.git"


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
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


@cli.command("device-types")
@json_option
def device_types(as_json: bool) -> None:
    """List the device types a fleet can be made of."""
    if as_json:
        click.echo(_json(list(DEVICE_TYPES)))
        return
    _table(("SLUG", "NAME", "ARCH"), ((d.slug, d.name, d.arch) for d in DEVICE_TYPES))


# ---- users -------------------------------------------------------------------------------------------


@cli.group()
def user() -> None:
    """Add, list and remove users."""


@user.command("add")
@click.argument("name")
@click.pass_context
def user_add(ctx: click.Context, name: str) -> None:
    """Add a user; then give them a key with `fleetgate key add`."""
    with _app(ctx).database.session() as session:
        users.add_user(session, name)
    click.echo(f"added user {name}; add their SSH key with: fleetgate key add {name} ~/.ssh/id_ed25519.pub")


@user.command("list")
@json_option
@click.pass_context
def user_list(ctx: click.Context, as_json: bool) -> None:
    """List users."""
    with _app(ctx).database.session(readonly=True) as session:
        found = users.list_users(session)
    if as_json:
        click.echo(_json([{"name": u.name, "created": u.created} for u in found]))
        return
    _table(("NAME", "CREATED"), ((u.name, _when(u.created)) for u in found))


@user.command("remove")
@click.argument("name")
@click.pass_context
def user_remove(ctx: click.Context, name: str) -> None:
    """Remove a user with their keys and memberships (a user who owns fleets is refused)."""
    with _app(ctx).database.session() as session:
        users.remove_user(session, name)
    click.echo(f"removed user {name}")


# ---- keys --------------------------------------------------------------------------------------------


@cli.group()
def key() -> None:
    """Add, list and remove users' SSH public keys."""


@key.command("add")
@click.argument("user_name", metavar="USER")
@click.argument("pubkey_file", metavar="PUBKEY_FILE|-", type=click.File("r"))
@click.option("--title", help="A label for the key (default: the key's comment).")
@click.pass_context
def key_add(ctx: click.Context, user_name: str, pubkey_file: TextIO, title: str | None) -> None:
    """Add the OpenSSH public key line(s) in PUBKEY_FILE (- reads stdin); prints each fingerprint."""
    text = pubkey_file.read()
    with _app(ctx).database.session() as session:
        added = keys.add_keys(session, user_name, text, title)
    for public_key in added:
        click.echo(public_key.fingerprint)


@key.command("list")
@click.argument("user_name", metavar="USER")
@json_option
@click.pass_context
def key_list(ctx: click.Context, user_name: str, as_json: bool) -> None:
    """List a user's keys."""
    with _app(ctx).database.session(readonly=True) as session:
        found = keys.list_keys(session, user_name)
    if as_json:
        click.echo(_json(found))
        return
    _table(
        ("FINGERPRINT", "TYPE", "BITS", "TITLE", "ADDED"),
        ((k.fingerprint, k.type, k.bits, k.title, _when(k.created)) for k in found),
    )


@key.command("remove")
@click.argument("user_name", metavar="USER")
@click.argument("fingerprint")
@click.pass_context
def key_remove(ctx: click.Context, user_name: str, fingerprint: str) -> None:
    """Revoke a key (as `fleetgate key list` shows it); pushes in flight with it are stopped."""
    with _app(ctx).database.session() as session:
        keys.remove_key(session, user_name, fingerprint)
    click.echo(f"removed key {keys.normalise_fingerprint(fingerprint)} of {user_name}")


# ---- fleets ------------------------------------------------------------------------------------------


@cli.group()
def fleet() -> None:
    """Create, list, show and remove fleets, and manage who may push to them."""


@fleet.command("create")
@click.argument("slug", metavar="OWNER/NAME")
@click.option(
    "--device-type", "type_slug", required=True, metavar="SLUG", help="See `fleetgate device-types`."
)
@click.pass_context
def fleet_create(ctx: click.Context, slug: str, type_slug: str) -> None:
    """Create a fleet and its git repository."""
    from fleetgate.gitd import repos

    app = _app(ctx)
    owner, name = fleets.parse_slug(slug)
    root, created = app.settings.repositories, None
    try:
        with app.database.session() as session:
            made = fleets.create_fleet(session, owner, name, type_slug)
            path = repos.repository_path(root, made.id)
            if path.exists():
                raise Failure(
                    f"{path} exists but no fleet owns it (left from an older database?); move it away"
                )
            created = repos.create_repository(root, made.id)
    except BaseException:
        if created is not None:  # the row was rolled back: the repository must go with it
            repos.remove_repository(root, made.id)
        raise
    arch = device_type(made.device_type).arch
    click.echo(f"created fleet {made.slug} ({made.device_type}, {arch})")
    click.echo("add it as a git remote in your project:")
    click.echo(f"  git remote add balena {remote_url(app.settings, made)}")


@fleet.command("list")
@click.option("--user", "user_name", metavar="USER", help="Only the fleets USER may push to.")
@json_option
@click.pass_context
def fleet_list(ctx: click.Context, user_name: str | None, as_json: bool) -> None:
    """List fleets."""
    with _app(ctx).database.session(readonly=True) as session:
        found = fleets.list_fleets(session, user_name)
    if as_json:
        click.echo(_json([{**dataclasses.asdict(f), "slug": f.slug} for f in found]))
        return
    _table(("FLEET", "DEVICE TYPE", "ID"), ((f.slug, f.device_type, f.id) for f in found))


@fleet.command("show")
@click.argument("slug", metavar="OWNER/NAME")
@json_option
@click.pass_context
def fleet_show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show a fleet: device type, members and the git remote to push to."""
    app = _app(ctx)
    with app.database.session(readonly=True) as session:
        found = fleets.get_fleet(session, *fleets.parse_slug(slug))
        members = fleets.list_members(session, found.id)
    facts = {
        "fleet": found.slug,
        "id": found.id,
        "device_type": found.device_type,
        "arch": device_type(found.device_type).arch,
        "owner": found.owner,
        "members": members,
        "remote": remote_url(app.settings, found),
    }
    if as_json:
        click.echo(_json(facts))
        return
    for label, value in facts.items():
        shown = (", ".join(value) or "-") if isinstance(value, list) else value
        click.echo(f"{label.replace('_', ' ') + ':':<13}{shown}")


@fleet.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@click.pass_context
def fleet_remove(ctx: click.Context, slug: str) -> None:
    """Remove a fleet and delete its git repository."""
    from fleetgate.gitd import repos

    app = _app(ctx)
    with app.database.session() as session:
        removed = fleets.remove_fleet(session, *fleets.parse_slug(slug))
    # After the commit: a failed commit must not have lost the repository.
    repos.remove_repository(app.settings.repositories, removed.id)
    click.echo(f"removed fleet {removed.slug} and its repository")


@fleet.group("member")
def member() -> None:
    """Let users other than the owner push to a fleet, or stop them."""


@member.command("add")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("user_name", metavar="USER")
@click.pass_context
def member_add(ctx: click.Context, slug: str, user_name: str) -> None:
    """Let USER push to the fleet."""
    owner, name = fleets.parse_slug(slug)
    with _app(ctx).database.session() as session:
        fleets.add_member(session, owner, name, user_name)
    click.echo(f"{user_name} may now push to {owner}/{name}")


@member.command("remove")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("user_name", metavar="USER")
@click.pass_context
def member_remove(ctx: click.Context, slug: str, user_name: str) -> None:
    """Stop USER pushing to the fleet."""
    owner, name = fleets.parse_slug(slug)
    with _app(ctx).database.session() as session:
        fleets.remove_member(session, owner, name, user_name)
    click.echo(f"{user_name} may no longer push to {owner}/{name}")


cli.add_command(release)


def main() -> None:
    """Entry point of the `fleetgate` console script."""
    cli(prog_name="fleetgate")


if __name__ == "__main__":
    main()
