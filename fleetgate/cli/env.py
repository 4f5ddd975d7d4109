"""`fleetgate env set|unset|list`: the operator's variables per fleet, service and device (DESIGN.md §2.5)."""

from __future__ import annotations

import click

from fleetgate.operations import variables as variable_ops
from fleetgate.operations import views

from .context import app_of
from .output import echo, json_option, print_table, to_json

service_option = click.option(
    "--service", metavar="S", help="Only this service of the fleet (default: every service)."
)
device_option = click.option("--device", "device_uuid", metavar="UUID", help="Only this device.")


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
    app = app_of(ctx)
    fleet = variable_ops.set_variable(app.context, app.actor, slug, key, value, service, device_uuid, secret)
    kind = "secret " if secret else ""
    echo(
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
    app = app_of(ctx)
    fleet = variable_ops.unset_variable(app.context, app.actor, slug, key, service, device_uuid)
    echo(f"unset {key} for {_scope(fleet.slug, service, device_uuid)}")


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
    app = app_of(ctx)
    found = variable_ops.list_variables(app.context, app.actor, slug, service, device_uuid)
    if as_json:
        echo(to_json([views.variable(v) for v in found]))
        return
    rows = ((v.service or "*", v.key, v.shown.replace("\n", "\\n")) for v in found)
    print_table(("SERVICE", "KEY", "VALUE"), rows)
