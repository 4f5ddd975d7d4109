"""The users' HTTP API (DESIGN.md §9): `/v1/` routes over the application layer, by access token.

Each route parses, calls one operation as the token's user, and answers the JSON of `operations.views`
(what `fleetgate … --json` prints). Every refusal is `{"detail": "<one line>"}`: a fleet the user may not
see answers 404 like a missing one, a role or read-only token that may not act answers 403. Bodies over
64 KiB are refused by `BodyLimit` before anything reads them whole or looks at the token.
"""

# No `from __future__ import annotations`: FastAPI evaluates the routes' annotations, and they name
# dependencies that are closures of user_api_router, invisible from the module's globals.
import json
import logging
import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fleetgate import fleets, keys, releases, tokens, users
from fleetgate.deploy import devices, targets, variables
from fleetgate.deploy.api.schemas import Problem
from fleetgate.operations import devices as device_ops
from fleetgate.operations import fleets as fleet_ops
from fleetgate.operations import releases as release_ops
from fleetgate.operations import servers as server_ops
from fleetgate.operations import targets as target_ops
from fleetgate.operations import tokens as token_ops
from fleetgate.operations import variables as variable_ops
from fleetgate.operations import views
from fleetgate.operations.actor import Actor
from fleetgate.operations.permissions import AccessDenied, NotVisible
from fleetgate.operations.scope import Context

T = TypeVar("T")
log = logging.getLogger("fleetgate.user_api")
MAX_BODY = 64 * 1024
PREFIXES = ("/v1/fleets", "/v1/releases", "/v1/tokens")  # the user routes, where BodyLimit applies
TOO_LARGE = f"the request body is over {MAX_BODY // 1024} KiB; send a smaller one"
DOMAIN_ERRORS = (
    AccessDenied, fleets.FleetError, releases.ReleaseError, targets.TargetError, devices.DeviceError,
    variables.VariableError, tokens.TokenError, keys.PublicKeyError, users.UserError,
    target_ops.RolloutFailed,
)  # fmt: skip
# A refusal's status, first match wins: the state forbids it, something named is missing, or it exists.
STATUS_RULES: tuple[tuple[type[Exception], re.Pattern[str], int], ...] = (
    (NotVisible, re.compile(""), 404),
    (AccessDenied, re.compile(""), 403),
    (targets.TargetError, re.compile(""), 409),
    (target_ops.RolloutFailed, re.compile(""), 409),
    (ValueError, re.compile(r"^no |\bhas no |\bis not (set|a member)\b"), 404),
    (ValueError, re.compile(r"\balready\b"), 409),
)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "bad request: malformed JSON, a bad value or name"),
        (401, "no access token, or an unknown, revoked or expired one"),
        (403, "your role on the fleet, or a read-only token, does not allow it"),
        (404, "no such fleet, release or thing, or you do not have access to it"),
        (409, "the fleet's state does not allow it now"),
        (413, f"the body is over {MAX_BODY // 1024} KiB"),
        (503, "a fault of fleetgate: retry later (the reference is in the operator's log)"),
    )
}
BEARER = HTTPBearer(auto_error=False, description="an access token (`fleetgate token create`), fgt_…")


def status_of(error: Exception) -> int:
    """The HTTP status of a refusal from the application layer or the domain."""
    for kind, pattern, status in STATUS_RULES:
        if isinstance(error, kind) and pattern.search(str(error)):
            return status
    return 400


def one_line(text: str) -> str:
    """`text` on one line, as every refusal is."""
    return " ".join(text.split())


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes on a user route is refused (413) before the app runs."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY, prefixes: tuple[str, ...] = PREFIXES) -> None:
        self.app, self.limit, self.prefixes = app, limit, prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read at most `limit` bytes (Content-Length first, then counting), and replay them to the app."""
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "0")
        if not length.isdigit() or int(length) > self.limit:
            await _too_large(send)
            return
        chunks, size, message = [], 0, {"type": "http.request", "more_body": True}
        while message["type"] == "http.request" and message.get("more_body", False):
            message = await receive()
            size += len(message.get("body", b""))
            if size > self.limit:  # a chunked body: it never says its length up front
                await _too_large(send)
                return
            chunks.append(message.get("body", b""))
        if message["type"] != "http.request":
            return  # the client went away
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send) -> None:
    body = json.dumps({"detail": TOO_LARGE}).encode()
    # Connection: close, since the rest of the body stays unread.
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Assignment(BaseModel):
    """A variable's value, where it applies, and whether it is secret (never shown again)."""

    model_config = ConfigDict(extra="forbid")
    value: str
    service: str | None = Field(None, description="only this service (default: every service)")
    device: str | None = Field(None, description="only this device (uuid or a unique prefix)")
    secret: bool = False


class Rollback(BaseModel):
    """The release to roll back to (OWNER/NAME#N, hash or hash prefix); default: the previous target."""

    model_config = ConfigDict(extra="forbid")
    release: str | None = None


class Pin(Rollback):
    """The release to pin the fleet to, or `latest` to follow new releases again."""

    latest: bool = False


class NewToken(BaseModel):
    """A token to make: a name, read-only or not, and days until it expires (default: never)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=100)
    read_only: bool = False
    expires_days: int | None = Field(None, description=f"1 to {tokens.MAX_DAYS}")


def _refuse(status: int, detail: str) -> HTTPException:
    return HTTPException(
        status, one_line(detail), headers={"WWW-Authenticate": "Bearer"} if status == 401 else None
    )


def _json(value: Any, status: int = 200) -> Response:
    return Response(views.to_json(value, indent=None), status_code=status, media_type="application/json")


def user_api_router(ctx: Context) -> APIRouter:
    """The `/v1/` routes of users, who present an access token; add `BodyLimit` to the app as well."""
    router = APIRouter(prefix="/v1", tags=["users"], responses=ERRORS)

    async def actor(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> Actor:
        if credentials is None or not credentials.credentials:
            raise _refuse(
                401, "send an access token as: Authorization: Bearer fgt_…; see: fleetgate token create"
            )
        found = await run_in_threadpool(token_ops.authenticate, ctx, credentials.credentials)
        if found is None:
            raise _refuse(
                401, "unknown, revoked or expired access token; ask for a new one (fleetgate token create)"
            )
        return found

    Me = Annotated[Actor, Depends(actor)]

    async def call(work: Callable[..., T], *args: Any) -> T:
        try:
            return await run_in_threadpool(work, ctx, *args)
        except DOMAIN_ERRORS as error:
            raise _refuse(status_of(error), str(error)) from None

    def _say(me: Actor) -> Callable[[str], None]:
        return lambda line: log.info("%s: %s", me, line)

    @router.get("/fleets", summary="Your fleets (every fleet you own or are a member of)")
    async def fleet_list(me: Me) -> Response:
        return _json([views.fleet(f) for f in await call(fleet_ops.list_fleets, me)])

    @router.get("/fleets/{owner}/{name}", summary="A fleet: members, git remote, target release")
    async def fleet_show(owner: str, name: str, me: Me) -> Response:
        details = await call(fleet_ops.show_fleet, me, f"{owner}/{name}")
        return _json(views.fleet_details(details, ctx.settings))

    @router.get("/fleets/{owner}/{name}/releases", summary="The fleet's releases, newest first")
    async def release_list(owner: str, name: str, me: Me, status: str | None = None) -> Response:
        found = await call(release_ops.list_releases, me, f"{owner}/{name}", status)
        return _json([views.release(r) for r in found])

    async def _release(me: Actor, spec: str, logs: bool) -> Response:
        shown = views.release_details(await call(release_ops.show_release, me, spec))
        if not logs:  # as `release show --json --no-logs`
            for image in shown["images"]:
                del image["build_log"]
        return _json(shown)

    Logs = Annotated[bool, Query(description="with each image's build log")]

    @router.get("/releases/{spec}", summary="A release by hash or hash prefix, with images and build logs")
    async def release_show(spec: str, me: Me, logs: Logs = True) -> Response:
        return await _release(me, spec, logs)

    @router.get("/fleets/{owner}/{name}/releases/{number}", summary="A release by its number in the fleet")
    async def release_numbered(owner: str, name: str, number: int, me: Me, logs: Logs = True) -> Response:
        return await _release(me, f"{owner}/{name}#{number}", logs)

    @router.post("/fleets/{owner}/{name}/rollback", summary="Roll back to the previous (or a named) release")
    async def rollback(owner: str, name: str, me: Me, body: Rollback | None = None) -> Response:
        spec = None if body is None else body.release
        return _json(views.target(await call(target_ops.rollback, me, f"{owner}/{name}", spec, _say(me))))

    @router.post("/fleets/{owner}/{name}/pin", summary="Pin the fleet to a release, or follow the latest")
    async def pin(owner: str, name: str, body: Pin, me: Me) -> Response:
        if (body.release is None) != body.latest:
            raise _refuse(400, 'send either {"release": "<release>"} or {"latest": true}')
        return _json(views.target(await call(target_ops.pin, me, f"{owner}/{name}", body.release, _say(me))))

    Service = Annotated[str | None, Query(description="only this service")]
    Device = Annotated[str | None, Query(description="only this device (uuid or a unique prefix)")]

    @router.get("/fleets/{owner}/{name}/env", summary="The fleet's variables; secret values are ***")
    async def env_list(
        owner: str, name: str, me: Me, service: Service = None, device: Device = None
    ) -> Response:
        found = await call(variable_ops.list_variables, me, f"{owner}/{name}", service, device)
        return _json([views.variable(v) for v in found])

    @router.put("/fleets/{owner}/{name}/env/{key}", status_code=204, summary="Set a variable")
    async def env_set(owner: str, name: str, key: str, body: Assignment, me: Me) -> Response:
        slug = f"{owner}/{name}"
        await call(
            variable_ops.set_variable, me, slug, key, body.value, body.service, body.device, body.secret
        )
        return Response(status_code=204)

    @router.delete("/fleets/{owner}/{name}/env/{key}", status_code=204, summary="Unset a variable")
    async def env_unset(
        owner: str, name: str, key: str, me: Me, service: Service = None, device: Device = None
    ) -> Response:
        await call(variable_ops.unset_variable, me, f"{owner}/{name}", key, service, device)
        return Response(status_code=204)

    @router.get(
        "/fleets/{owner}/{name}/devices", summary="The fleet's devices: what each runs and should run"
    )
    async def device_list(owner: str, name: str, me: Me) -> Response:
        return _json([views.device(d) for d in await call(device_ops.list_devices, me, f"{owner}/{name}")])

    @router.get("/fleets/{owner}/{name}/servers", summary="The fleet's servers (the first is the canary)")
    async def server_list(owner: str, name: str, me: Me) -> Response:
        return _json([views.server(s) for s in await call(server_ops.list_servers, me, f"{owner}/{name}")])

    @router.get("/fleets/{owner}/{name}/members", summary="Who may use the fleet: its owner and members")
    async def member_list(owner: str, name: str, me: Me) -> Response:
        details = await call(fleet_ops.list_members, me, f"{owner}/{name}")
        owner_row = {"user": details.fleet.owner, "role": "owner"}
        return _json([owner_row, *({"user": m, "role": "member"} for m in details.members)])

    @router.put(
        "/fleets/{owner}/{name}/members/{user}", status_code=204, summary="Let a user push to the fleet"
    )
    async def member_add(owner: str, name: str, user: str, me: Me) -> Response:
        await call(fleet_ops.add_member, me, f"{owner}/{name}", user)
        return Response(status_code=204)

    @router.delete("/fleets/{owner}/{name}/members/{user}", status_code=204, summary="Stop a user pushing")
    async def member_remove(owner: str, name: str, user: str, me: Me) -> Response:
        await call(fleet_ops.remove_member, me, f"{owner}/{name}", user)
        return Response(status_code=204)

    @router.get("/tokens", summary="Your access tokens (never their secrets)")
    async def token_list(me: Me) -> Response:
        return _json([views.token(t) for t in await call(token_ops.list_tokens, me)])

    @router.post("/tokens", status_code=201, summary="A new access token; its secret is shown this once")
    async def token_create(me: Me, body: NewToken | None = None) -> Response:
        body = body or NewToken()
        made, secret = await call(token_ops.create_token, me, body.name, body.read_only, body.expires_days)
        return _json({**views.token(made), "secret": secret}, 201)

    @router.delete("/tokens/{token_id}", summary="Revoke one of your tokens")
    async def token_revoke(token_id: int, me: Me) -> Response:
        return _json(views.token(await call(token_ops.revoke_token, me, token_id)))

    return router
