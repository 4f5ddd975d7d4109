"""The web pages' router, mounted on the HTTP API's app by `fleetgate serve` (fleetgate/serve.py)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fleetgate.operations.scope import Context

from .device_pages import add_device_pages
from .fleet_pages import add_fleet_pages
from .pages import Pages
from .release_pages import add_release_pages
from .server_pages import add_server_pages
from .session_pages import add_session_pages

# What /static/ serves: these files of the package and nothing else (no path ever reaches the disk).
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


def _static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    body = resources.files("fleetgate.web").joinpath("static", name).read_bytes()
    headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=STATIC[name], headers=headers)


def web_router(ctx: Context) -> APIRouter:
    """Every page, form and the static files, as visitors with a session or an access token reach them."""
    pages = Pages(ctx)
    add_session_pages(pages)
    add_fleet_pages(pages)
    add_release_pages(pages)
    add_device_pages(pages)
    add_server_pages(pages)
    pages.router.add_api_route("/static/{name}", _static, methods=["GET"])
    return pages.router
