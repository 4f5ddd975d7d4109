"""Routing a page request: who asks, the form (capped, CSRF-checked), the handler, and refusals as pages.

Every handler gets the visitor and the posted fields and calls operations through `call`, which runs
them in the threadpool as the visitor: the pages hold no database session of their own. A refusal of the
application layer becomes the page of its status, as the HTTP API's does: a fleet the visitor may not see
is a 404 exactly like a missing one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fleetgate.operations.scope import Context
from fleetgate.user_api import DOMAIN_ERRORS, one_line, status_of

from . import csrf
from .forms import FormRefused, read_form
from .render import page
from .visitors import Visitor, visitor_of

T = TypeVar("T")
log = logging.getLogger("fleetgate.web")
Fields = Mapping[str, str]
Handler = Callable[[Request, Visitor, Fields], Awaitable[Response]]
TITLES = {400: "Refused", 401: "Sign in", 403: "Not allowed", 404: "Not found", 409: "Not now"}
CSRF_REFUSED = (
    "this form came without its security token (or from another site), so nothing was changed; "
    "reload the page and try again"
)


class Refused(Exception):
    """A page that answers the request instead of the handler's (a refusal, a missing thing)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Pages:
    """The web pages' router and what every handler shares."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.router = APIRouter(include_in_schema=False)  # pages are not the API: /openapi.json omits them

    def get(self, path: str) -> Callable[[Handler], Handler]:
        """Register a page for signed-in visitors."""
        return lambda handler: self._add("GET", path, handler)

    def post(self, path: str) -> Callable[[Handler], Handler]:
        """Register a form's target: the form is capped and CSRF-checked before the handler runs."""
        return lambda handler: self._add("POST", path, handler)

    async def call(self, me: Visitor, work: Callable[..., T], *args: Any) -> T:
        """Run an operation as the visitor (blocking work: in the threadpool)."""
        return await run_in_threadpool(work, self.ctx, me.actor, *args)

    def _add(self, method: str, path: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            me: Visitor | None = None
            try:
                fields = await read_form(request) if method == "POST" else {}  # capped before who asks
                me = await visitor_of(request, self.ctx)
                if me is None:
                    hint = f"ssh {self.ctx.settings.ssh_url()} login"  # OpenSSH takes ssh:// URLs
                    raise Refused(401, f"sign in first: run `{hint}` and open the link it prints")
                if method == "POST" and me.csrf is not None and not csrf.valid_form(me.csrf, fields):
                    raise Refused(403, CSRF_REFUSED)
                return await handler(request, me, fields)
            except FormRefused as error:
                return error_page(400, str(error), me)
            except Refused as error:
                return error_page(error.status, str(error), me)
            except DOMAIN_ERRORS as error:
                return error_page(status_of(error), str(error), me)

        self.router.add_api_route(path, endpoint, methods=[method], name=f"{method} {path}")
        return handler


def error_page(status: int, message: str, me: Visitor | None) -> Response:
    """The page of a refusal: what happened and what to do, in one line."""
    return page("error.html", status, title=TITLES.get(status, "Refused"), message=one_line(message), me=me)


def back_to(path: str) -> RedirectResponse:
    """After a form: see the page it changed (303, so a reload does not post the form again)."""
    return RedirectResponse(path, status_code=303)


def confirm(me: Visitor, action: str, fields: Fields, question: str, button: str) -> Response:
    """Ask before a change that replaces what runs: the same form again, with `confirmed=yes`."""
    kept = {name: value for name, value in fields.items() if name not in (csrf.FIELD, "confirmed")}
    back = "/".join(action.split("/")[:4])  # /fleets/OWNER/NAME: the fleet's page
    return page(
        "confirm.html", title="Confirm", me=me, action=action, fields=kept, question=question, button=button,
        back=back,
    )  # fmt: skip
