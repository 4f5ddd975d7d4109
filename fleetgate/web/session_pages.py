"""Signing in with a login link, and signing out.

Opening the link shows a button; only posting it uses the link. Chat and mail previews fetch links they
see, and a single-use link they fetched would be spent before its user clicked it.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fleetgate.operations import sessions as session_ops
from fleetgate.sessions import SignInError

from .forms import FormRefused, read_form
from .pages import Fields, Pages, back_to, error_page
from .render import page
from .visitors import Visitor, clear_session, set_session, uses_tls


def add_session_pages(pages: Pages) -> None:
    """/login/{secret} (a button), POST /login (the session), POST /logout."""

    async def login_form(request: Request) -> Response:
        return page("login.html", title="Sign in", secret=request.path_params["secret"], me=None)

    async def login(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
            # Another site's form would sign the browser in as whoever's link it holds (login CSRF).
            return error_page(403, "sign in from the link itself, not from another site's page", None)
        try:
            fields = await read_form(request)
            opened = await run_in_threadpool(session_ops.sign_in, pages.ctx, fields.get("link", ""))
        except (FormRefused, SignInError) as error:
            return error_page(400 if isinstance(error, FormRefused) else 403, str(error), None)
        response = back_to("/")
        set_session(response, opened.secret, uses_tls(request, pages.ctx))
        return response

    pages.router.add_api_route(session_ops.LOGIN_PATH + "{secret}", login_form, methods=["GET"])
    pages.router.add_api_route("/login", login, methods=["POST"])

    @pages.post("/logout")
    async def logout(request: Request, me: Visitor, _fields: Fields) -> Response:
        if me.session_secret is not None:
            await run_in_threadpool(session_ops.sign_out, pages.ctx, me.session_secret)
        response = page("signed_out.html", title="Signed out", me=None)
        clear_session(response, uses_tls(request, pages.ctx))
        return response
