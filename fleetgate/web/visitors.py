"""Who asks for a page: a browser session (its cookie) or an access token (Authorization: Bearer)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fleetgate.operations import sessions as session_ops
from fleetgate.operations import tokens as token_ops
from fleetgate.operations.actor import Actor
from fleetgate.operations.scope import Context
from fleetgate.sessions import SESSION_LIFETIME

from . import csrf

COOKIE = "fleetgate_session"


@dataclass(frozen=True)
class Visitor:
    """The actor behind a request, and the CSRF token its forms carry (None: no cookie, no CSRF risk)."""

    actor: Actor
    csrf: str | None
    session_secret: str | None  # to sign out: the session the cookie holds

    @property
    def user(self) -> str:
        """The user's name, for the page's header."""
        return self.actor.user or "operator"


async def visitor_of(request: Request, ctx: Context) -> Visitor | None:
    """Whom the request's token or cookie stands for, or None (signed out, revoked, expired)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        # A token, not a cookie: a browser never adds it to another site's request on its own.
        actor = await run_in_threadpool(token_ops.authenticate, ctx, header[7:].strip())
        return None if actor is None else Visitor(actor, None, None)
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    actor = await run_in_threadpool(session_ops.authenticate, ctx, secret)
    return None if actor is None else Visitor(actor, csrf.token_for(secret), secret)


def uses_tls(request: Request, ctx: Context) -> bool:
    """Whether the browser reaches us over HTTPS (here, or at the operator's proxy in front of us)."""
    return request.url.scheme == "https" or ctx.settings.http_url().startswith("https:")


def set_session(response: Response, secret: str, secure: bool) -> None:
    """Give the browser its session: script cannot read it, other sites' forms and frames do not send it."""
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        secure=secure,
        samesite="lax",
    )


def clear_session(response: Response, secure: bool) -> None:
    """Make the browser forget its session cookie."""
    response.delete_cookie(COOKIE, path="/", httponly=True, secure=secure, samesite="lax")
