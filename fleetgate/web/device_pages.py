"""A fleet's devices: status, download progress, running and target release, last seen; pin one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fleetgate.operations import devices as device_ops
from fleetgate.operations import releases as release_ops
from fleetgate.operations.abilities import abilities

from .fleet_pages import slug_of
from .pages import Fields, Pages, back_to, confirm
from .render import page
from .visitors import Visitor


def add_device_pages(pages: Pages) -> None:
    """/fleets/OWNER/NAME/devices and the pin form of each device."""

    @pages.get("/fleets/{owner}/{name}/devices")
    async def devices(request: Request, me: Visitor, _fields: Fields) -> Response:
        slug = slug_of(request)
        rows = await pages.call(me, device_ops.list_devices, slug)
        may = await pages.call(me, abilities, slug, ("device.pin",))
        deployable = await pages.call(me, release_ops.list_releases, slug, "success") if may else []
        names = {r.hash: r for r in await pages.call(me, release_ops.list_releases, slug)}
        return page(
            "devices.html",
            title=f"Devices of {slug}",
            me=me,
            slug=slug,
            rows=rows,
            names=names,
            may=may,
            releases=deployable[:50],
        )

    @pages.post("/fleets/{owner}/{name}/devices/{uuid}/pin")
    async def pin(request: Request, me: Visitor, fields: Fields) -> Response:
        slug, uuid = slug_of(request), request.path_params["uuid"]
        spec = (fields.get("release") or "").strip() or None
        if fields.get("confirmed") != "yes":
            what = f"pin device {uuid[:7]} to {spec}" if spec else f"let device {uuid[:7]} follow {slug}"
            return confirm(me, request.url.path, fields, what[0].upper() + what[1:] + "?", "Pin")
        await pages.call(me, device_ops.pin_device, uuid, spec)
        return back_to(f"/fleets/{slug}/devices")
