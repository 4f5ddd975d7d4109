"""The device API (issue 4): registration, target state with ETag long-polls, state reports, metrics.

FastAPI app built by `create_app(database, config)`; `fleetgate serve` runs it with uvicorn in its own
event loop. Database work runs in the threadpool; long-poll waits are awaited on the loop (a waiting
device costs no thread). Every refusal is `{"detail": "<one line>"}` with a 4xx; a fault of ours is a
503 with a reference id (deploy/api/guard.py). A device reaches only its own target: the key it
presents is the only thing that names it.
"""

# No `from __future__ import annotations` here: FastAPI evaluates the routes' annotations, and they name
# dependencies that are closures of create_app, invisible from the module's globals.
import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleetgate.db import Database

from .. import devices, provisioning
from ..devices import Device
from .device_targets import load_target
from .guard import Guard, RequestCounts
from .schemas import Problem, Registered, Registration, StateReport
from .target_state import RegistryCredentials
from .wakeups import WakeupHub

T = TypeVar("T")
MAX_WAIT = 300
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 404, 409, 503)}
bearer = HTTPBearer(auto_error=False, description="a device API key (a provisioning key to register)")


@dataclass(frozen=True)
class ApiConfig:
    """What the API needs from the operator's settings."""

    registry: RegistryCredentials | None  # None: no registry, so devices cannot be deployed to
    metrics_token: str | None = None
    # The registry asks fleetgate's token server: each device logs in as itself (its uuid and API key),
    # and may pull only its own fleet's images, instead of getting the operator's account.
    registry_token_auth: bool = False


def _refuse(status: int, detail: str) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(status, detail, headers=headers)


def _key(credentials: HTTPAuthorizationCredentials | None, what: str) -> str:
    if credentials is None or not credentials.credentials:
        raise _refuse(401, f"send your {what} as: Authorization: Bearer <key>")
    return credentials.credentials


def _etags(header: str | None) -> set[str]:
    """The entity tags of an If-None-Match header (weak ones compare equal, as RFC 9110 says for GET)."""
    if not header:
        return set()
    return {part.strip().removeprefix("W/").strip('"') for part in header.split(",")}


def _one_line(error: RequestValidationError) -> str:
    first = error.errors()[0] if error.errors() else {}
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON; send a JSON object"
    where = ".".join(str(part) for part in first.get("loc", ()))
    message = str(first.get("msg", "invalid request")).replace("\n", " ")
    return f"{where}: {message}" if where else message


def create_app(database: Database, config: ApiConfig, hub: WakeupHub | None = None) -> FastAPI:
    """The device API over `database`; it starts (and stops) its own wake-up hub unless given one."""
    counts = RequestCounts()
    own_hub = hub is None
    hub = hub or WakeupHub(database)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if own_hub:
            await hub.start()
        try:
            yield
        finally:
            if own_hub:
                await hub.close()

    app = FastAPI(
        title="fleetgate device API",
        version="1",
        summary="Devices register, long-poll their target state and report what they run.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.add_middleware(Guard, counts=counts)
    app.state.counts, app.state.hub = counts, hub

    async def db(work: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(work, *args)

    def _authenticate(api_key: str) -> Device | None:
        with database.session() as session:
            return devices.by_api_key(session, api_key)

    async def device(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Device:
        found = await db(_authenticate, _key(credentials, "device API key"))
        if found is None:
            raise _refuse(401, "unknown or revoked device API key; register the device again")
        counts.device(found.uuid, request.method, request.url.path)
        return found

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(error)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def refused(_request: Request, error: StarletteHTTPException) -> Response:
        detail = str(error.detail)
        if error.status_code == 404 and detail == "Not Found":
            detail = "no such route; the API is described at /openapi.json"
        elif error.status_code == 405:
            detail = "this route does not take that method; see /openapi.json"
        return JSONResponse({"detail": detail}, status_code=error.status_code, headers=error.headers)

    def _register(key: str, body: Registration) -> tuple[Device, str]:
        with database.session() as session:
            return devices.register(session, key, body.uuid, body.device_type, body.name)

    @app.post("/v1/devices", status_code=201, response_model=Registered, responses=ERRORS)
    async def register(
        body: Registration, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Registered:
        """Register a device with a provisioning key; the answer holds its own API key."""
        key = _key(credentials, "provisioning key")
        if config.registry is None:
            raise _refuse(503, provisioning.NO_REGISTRY)
        try:
            found, api_key = await db(_register, key, body)
        except devices.UnknownKey as error:
            raise _refuse(401, str(error)) from None
        except devices.DeviceExists as error:
            raise _refuse(409, str(error)) from None
        except (provisioning.RegistrationError, devices.DeviceError) as error:
            raise _refuse(400, str(error)) from None
        return Registered(
            uuid=found.uuid,
            name=found.name,
            fleet=found.fleet,
            device_type=found.device_type,
            api_key=api_key,
        )

    def _registry(me: Device, api_key: str) -> RegistryCredentials | None:
        if config.registry is None or not config.registry_token_auth:
            return config.registry
        return RegistryCredentials(config.registry.server, me.uuid, api_key)

    def _target(device_id: int, registry: RegistryCredentials | None) -> tuple[dict[str, Any], str] | None:
        with database.session(readonly=True) as session:
            current = devices.device_by_id(session, device_id)
            return None if current is None else load_target(session, current, registry)

    @app.get("/v1/device/state", responses={**ERRORS, 304: {"description": "unchanged after `wait`"}})
    async def state(
        me: Annotated[Device, Depends(device)],
        credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
        wait: Annotated[int, Query(ge=0, le=MAX_WAIT, description="seconds to wait for a change")] = 0,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        """The device's target document; with If-None-Match, wait up to `wait` s for it to change."""
        known, deadline = _etags(if_none_match), time.monotonic() + wait
        registry = _registry(me, credentials.credentials)
        while True:
            ticket = hub.ticket(me.fleet_id)  # before reading: a change from here on sets it
            found = await db(_target, me.id, registry)
            if found is None:
                raise _refuse(401, "this device was removed; register it again with a provisioning key")
            doc, tag = found
            headers = {"ETag": f'"{tag}"', "Cache-Control": "no-cache"}
            if tag not in known:
                return JSONResponse(doc, headers=headers)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or hub.closing:
                return Response(status_code=304, headers=headers)
            counts.waiting += 1
            try:
                await hub.wait(ticket, remaining)
            finally:
                counts.waiting -= 1

    def _report(device_id: int, body: StateReport) -> None:
        given = frozenset(body.model_fields_set)
        services = None
        if body.services is not None:
            services = {name: s.model_dump() for name, s in body.services.items()}
        report = devices.StateReport(given, body.status, body.release, body.progress, body.message, services)
        with database.session() as session:
            devices.report(session, device_id, report)

    @app.patch("/v1/device/state", status_code=204, responses=ERRORS)
    async def report(body: StateReport, me: Annotated[Device, Depends(device)]) -> Response:
        """Record what the device runs and does."""
        try:
            await db(_report, me.id, body)
        except devices.UnknownKey as error:
            raise _refuse(401, str(error)) from None
        return Response(status_code=204)

    @app.get("/v1/metrics", responses=ERRORS)
    async def metrics(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> dict[str, Any]:
        """Requests per route and per device since start, and long-polls waiting (operator only)."""
        if not config.metrics_token:
            raise _refuse(404, "metrics are off; the operator sets FLEETGATE_METRICS_TOKEN to turn them on")
        given = _key(credentials, "metrics token (FLEETGATE_METRICS_TOKEN)")
        if not hmac.compare_digest(given.encode(), config.metrics_token.encode()):
            raise _refuse(401, "wrong metrics token; use the value of FLEETGATE_METRICS_TOKEN")
        return counts.snapshot()

    return app
