"""`fleetgate env set|unset|list`: the operator's variables per fleet, service and device (DESIGN.md §2.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from . import fleets
from .cli_output import json_option, print_table, to_json
from .deploy import variables

if TYPE_CHECKING:
    from .cli import App

service_option = click.option(
    "--service", metavar="S", help="Only this service of the fleet (default: every service)."
)
device_option = click.option("--device", "device_uuid", metavar="UUID", help="Only this device.")


def _app(ctx: click.Context) -> App:
    return ctx.find_root().obj


def _scope(slug: str, service: str | None, device_uuid: str | None = None) -> str:
    where = f"device {device_uuid} of {slug}" if device_uuid else slug
    return f"service {service} of {where}" if service else where


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
    """Set KEY for the fleet's containers, or for one service's or one device's."""
    key, value = assignment
    with _app(ctx).database.session() as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        variables.set_variable(session, fleet.id, key, value, service, secret, device_uuid)
    kind = "secret " if secret else ""
    click.echo(
        f"set {kind}{key} for {_scope(fleet.slug, service, device_uuid)}; "
        "containers get it when they next (re)start"
    )


@env.command("unset")
@click.argument("slug", metavar="OWNER/NAME")
@click.argument("key", metavar="KEY")
@service_option
@device_option
@click.pass_context
def env_unset(ctx: click.Context, slug: str, key: str, service: str | None, device_uuid: str | None) -> None:
    """Remove KEY from the fleet, or from one service or device."""
    with _app(ctx).database.session() as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        variables.unset_variable(session, fleet.id, key, service, device_uuid)
    click.echo(f"unset {key} for {_scope(fleet.slug, service, device_uuid)}")


@env.command("list")
@click.argument("slug", metavar="OWNER/NAME")
@service_option
@device_option
@json_option
@click.pass_context
def env_list(
    ctx: click.Context, slug: str, service: str | None, device_uuid: str | None, as_json: bool
) -> None:
    """List the fleet's variables (SERVICE * means every service); secret values show as ***.

    With --device, only the variables set for that device.
    """
    with _app(ctx).database.session(readonly=True) as session:
        fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
        found = variables.list_variables(session, fleet.id, service, device_uuid)
    if as_json:
        listed = [
            {
                "key": v.key,
                "value": v.shown,
                "service": v.service,
                "device": v.device_uuid,
                "secret": v.secret,
            }
            for v in found
        ]
        click.echo(to_json(listed))
        return
    rows = ((v.service or "*", v.key, v.shown.replace("\n", "\\n")) for v in found)
    print_table(("SERVICE", "KEY", "VALUE"), rows)
