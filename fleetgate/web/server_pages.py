"""A fleet's servers: what each runs, whether it is healthy, and who holds its deploy lock."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from fleetgate.operations import servers as server_ops

from .fleet_pages import slug_of
from .pages import Fields, Pages
from .render import page
from .visitors import Visitor


def add_server_pages(pages: Pages) -> None:
    """/fleets/OWNER/NAME/servers: the list at once, each server's status asked over SSH."""

    @pages.get("/fleets/{owner}/{name}/servers")
    async def servers(request: Request, me: Visitor, _fields: Fields) -> Response:
        slug = slug_of(request)
        rows = await pages.call(me, server_ops.list_servers, slug)
        statuses, names = ([], {})
        if rows:  # asks each server over SSH: only when there are some
            statuses, names = await pages.call(me, server_ops.server_status, slug)
        by_endpoint = {status.endpoint: status for status in statuses}
        return page(
            "servers.html",
            title=f"Servers of {slug}",
            me=me,
            slug=slug,
            rows=rows,
            statuses=by_endpoint,
            names=names,
        )
