"""The fleets a visitor may see, one fleet's page, and its actions: rollback, pin, set and unset variables."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fleetgate.operations import devices as device_ops
from fleetgate.operations import fleets as fleet_ops
from fleetgate.operations import releases as release_ops
from fleetgate.operations import servers as server_ops
from fleetgate.operations import targets as target_ops
from fleetgate.operations import variables as variable_ops
from fleetgate.operations.abilities import abilities

from . import display
from .pages import Fields, Pages, back_to, confirm, log
from .render import page
from .visitors import Visitor

FLEET_ACTIONS = ("rollback", "pin", "env.set", "env.unset", "device.pin")


def slug_of(request: Request) -> str:
    """OWNER/NAME from the page's path."""
    return f"{request.path_params['owner']}/{request.path_params['name']}"


def fleet_path(slug: str) -> str:
    """The fleet's page."""
    return f"/fleets/{slug}"


def _say(me: Visitor):
    return lambda line: log.info("%s: %s", me.actor, line)


def _blank(value: str | None) -> str | None:
    return (value or "").strip() or None


def add_fleet_pages(pages: Pages) -> None:
    """/, /fleets/OWNER/NAME and the fleet's forms."""

    @pages.get("/")
    async def fleets(request: Request, me: Visitor, _fields: Fields) -> Response:
        found = await pages.call(me, fleet_ops.list_fleets)
        return page("fleets.html", title="Fleets", me=me, fleets=found)

    @pages.get("/fleets/{owner}/{name}")
    async def fleet(request: Request, me: Visitor, _fields: Fields) -> Response:
        slug = slug_of(request)
        details = await pages.call(me, fleet_ops.show_fleet, slug)
        may = await pages.call(me, abilities, slug, FLEET_ACTIONS)
        devices = await pages.call(me, device_ops.list_devices, slug)
        servers = await pages.call(me, server_ops.list_servers, slug)
        variables = await pages.call(me, variable_ops.list_variables, slug)
        deployable = await pages.call(me, release_ops.list_releases, slug, "success")
        return page(
            "fleet.html",
            title=slug,
            me=me,
            fleet=details.fleet,
            details=details,
            may=may,
            states=display.by_state(d.device.status for d in devices),
            device_count=len(devices),
            servers=servers,
            variables=variables,
            releases=deployable[:50],  # what a rollback or pin may choose, newest first
        )

    @pages.post("/fleets/{owner}/{name}/rollback")
    async def rollback(request: Request, me: Visitor, fields: Fields) -> Response:
        slug, spec = slug_of(request), _blank(fields.get("release"))
        if fields.get("confirmed") != "yes":
            to = spec or "the previous release"
            return confirm(me, request.url.path, fields, f"Roll {slug} back to {to}?", "Roll back")
        await pages.call(me, target_ops.rollback, slug, spec, _say(me))
        return back_to(fleet_path(slug))

    @pages.post("/fleets/{owner}/{name}/pin")
    async def pin(request: Request, me: Visitor, fields: Fields) -> Response:
        slug, spec = slug_of(request), _blank(fields.get("release"))
        if fields.get("confirmed") != "yes":
            question = f"Pin {slug} to {spec}?" if spec else f"Let {slug} follow its newest release again?"
            return confirm(me, request.url.path, fields, question, "Pin" if spec else "Follow the newest")
        await pages.call(me, target_ops.pin, slug, spec, _say(me))
        return back_to(fleet_path(slug))

    @pages.post("/fleets/{owner}/{name}/env/set")
    async def env_set(request: Request, me: Visitor, fields: Fields) -> Response:
        slug = slug_of(request)
        await pages.call(
            me,
            variable_ops.set_variable,
            slug,
            fields.get("key", "").strip(),
            fields.get("value", ""),
            _blank(fields.get("service")),
            _blank(fields.get("device")),
            fields.get("secret") == "yes",
        )
        return back_to(fleet_path(slug) + "#variables")

    @pages.post("/fleets/{owner}/{name}/env/unset")
    async def env_unset(request: Request, me: Visitor, fields: Fields) -> Response:
        slug, key = slug_of(request), fields.get("key", "").strip()
        service, device = _blank(fields.get("service")), _blank(fields.get("device"))
        if fields.get("confirmed") != "yes":
            where = f" of service {service}" if service else f" of device {device}" if device else ""
            return confirm(me, request.url.path, fields, f"Unset {key}{where} in {slug}?", "Unset")
        await pages.call(me, variable_ops.unset_variable, slug, key, service, device)
        return back_to(fleet_path(slug) + "#variables")
