"""`fleetgate env set|unset|list`: the operator's variables per fleet and service (DESIGN.md §2.5, §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import fleets
from .cli_output import Failure, json_option, print_table, to_json
from .deploy import variables

if TYPE_CHECKING:
    from .cli import App

service_option = click.option(
    "--service", metavar="S", help="Only this service of the fleet (default: every service)."
)
device_option = click.option("--device", "device_uuid", metavar="UUID", help="Only this device.")


def _app(ctx: click.Context) -> App:
    return ctx.find_root().obj


def _no_devices(device_uuid: str | None) -> None:
    if device_uuid is not None:
        raise Failure("devices are not supported yet; set the variable on the fleet or with --service")


def _scope(slug: str, service: str | None) -> str:
    return f"service {service} of {slug}" if service else slug


def _assignment(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, str]:
    key, sep, text = value.partition("=")
    if not sep:
        raise click.BadParameter(f"{value!r} is not KEY=VALUE; write e.g. LOG_LEVEL=debug")
    return key, text


@click.group()
def env() -> None:
    """Set, unset and list the variables a fleet's containers get (never printed when secret)."""


@env.command("set")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("assignment", metavar="KEY=VALUE", callback=_assignment)
@service_option
@device_option
@click.option("--secret", is_flag=True, help="Never print the value (listings show ***).")
@click.pass_context
def env_set(
    ctx: click.Context,
    slug: str,
    assignment: tuple[str, str],
    service: str | None,
    device_uuid: str | None,
    secret: bool,
) -> None:
    """Set KEY for the fleet's containers, or for one service's."""
    _no_devices(device_uuid)
    key, value = assignment
    with _app(ctx).database.session() as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        variables.set_variable(session, fleet.id, key, value, service, secret)
    kind = "secret " if secret else ""
    click.echo(
        f"set {kind}{key} for {_scope(fleet.slug, service)}; containers get it when they next (re)start"
    )


@env.command("unset")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("key", metavar="KEY")
@service_option
@device_option
@click.pass_context
def env_unset(ctx: click.Context, slug: str, key: str, service: str | None, device_uuid: str | None) -> None:
    """Remove KEY from the fleet, or from one service."""
    _no_devices(device_uuid)
    with _app(ctx).database.session() as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        variables.unset_variable(session, fleet.id, key, service)
    click.echo(f"unset {key} for {_scope(fleet.slug, service)}")


@env.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@service_option
@device_option
@json_option
@click.pass_context
def env_list(
    ctx: click.Context, slug: str, service: str | None, device_uuid: str | None, as_json: bool
) -> None:
    """List the fleet's variables (SERVICE * means every service); secret values show as ***."""
    _no_devices(device_uuid)
    with _app(ctx).database.session(readonly=True) as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        found = variables.list_variables(session, fleet.id, service)
    if as_json:
        listed = [{"key": v.key, "value": v.shown, "service": v.service, "secret": v.secret} for v in found]
        click.echo(to_json(listed))
        return
    rows = ((v.service or "*", v.key, v.shown.replace("\n", "\\n")) for v in found)
    print_table(("SERVICE", "KEY", "VALUE"), rows)
