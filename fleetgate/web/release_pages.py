"""A fleet's releases (filtered by status, searched by commit or hash), one release, its live build log."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fleetgate.operations import releases as release_ops
from fleetgate.releases import STATUSES

from . import display
from .fleet_pages import slug_of
from .log_stream import build_log_events
from .pages import Fields, Pages, Refused
from .render import SECURITY_HEADERS, page
from .visitors import Visitor

SHOWN = 200  # releases on one page: the newest; a search or filter reaches older ones


def spec_of(request: Request) -> str:
    """OWNER/NAME#N from the page's path; a number that is not one is a missing release."""
    number = request.path_params["number"]
    if not number.isdigit() or len(number) > 18:
        raise Refused(404, f"release {number[:20]} not found; see the fleet's releases")
    return f"{slug_of(request)}#{int(number)}"


def add_release_pages(pages: Pages) -> None:
    """/fleets/OWNER/NAME/releases[/N[/events]]."""

    @pages.get("/fleets/{owner}/{name}/releases")
    async def releases(request: Request, me: Visitor, _fields: Fields) -> Response:
        slug = slug_of(request)
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            raise Refused(400, f"no status {status[:20]}; the statuses are: {', '.join(STATUSES)}")
        query = request.query_params.get("q", "")[:64]
        found = await pages.call(me, release_ops.list_releases, slug, status)
        shown = [r for r in found if display.matches(query, (r.commit, r.hash, r.name))]
        return page(
            "releases.html",
            title=f"Releases of {slug}",
            me=me,
            slug=slug,
            releases=shown[:SHOWN],
            more=max(0, len(shown) - SHOWN),
            wanted=status,
            statuses=STATUSES,
            query=query,
        )

    @pages.get("/fleets/{owner}/{name}/releases/{number}")
    async def release(request: Request, me: Visitor, _fields: Fields) -> Response:
        spec = spec_of(request)
        details = await pages.call(me, release_ops.show_release, spec)
        return page(
            "release.html",
            title=details.release.name,
            me=me,
            slug=slug_of(request),
            release=details.release,
            images=details.images,
            events=request.url.path + "/events",
        )

    @pages.get("/fleets/{owner}/{name}/releases/{number}/events")
    async def events(request: Request, me: Visitor, _fields: Fields) -> Response:
        spec = spec_of(request)
        await pages.call(me, release_ops.show_release, spec)  # a stranger gets the 404 page, not a stream
        headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}  # nginx in front: do not hold events
        return StreamingResponse(
            build_log_events(pages.ctx, me.actor, spec), media_type="text/event-stream", headers=headers
        )
