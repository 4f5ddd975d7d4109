"""The API's guard: counts every request, and turns a fault of fleetgate into a 503 with a reference id.

The counts are how an operator (and the integration tests) tell long-polling devices from polling
ones: `GET /v1/metrics` shows requests per route and per device, and how many long-polls wait now.
A fault never answers 500 with a traceback (DESIGN.md §4): the device gets one line with a reference
id and a hint to retry, the operator's log gets the traceback under that id.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("fleetgate.deploy.api")
ROUTES = ("POST /v1/devices", "GET /v1/device/state", "PATCH /v1/device/state", "GET /v1/metrics")


class RequestCounts:
    """Requests since the process started: per route, per device and route, and long-polls waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.routes: Counter[str] = Counter()
        self.devices: dict[str, Counter[str]] = {}
        self.waiting = 0

    def request(self, method: str, path: str) -> None:
        """Count one request by its route (`other` for paths the API does not have)."""
        route = f"{method} {path}"
        with self._lock:
            self.routes[route if route in ROUTES else "other"] += 1

    def device(self, uuid: str, method: str, path: str) -> None:
        """Count one authenticated request of a device."""
        with self._lock:
            self.devices.setdefault(uuid, Counter())[f"{method} {path}"] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counts as JSON-ready data."""
        with self._lock:
            return {
                "requests": dict(self.routes),
                "devices": {uuid: dict(counts) for uuid, counts in self.devices.items()},
                "waiting": self.waiting,
            }


class Guard:
    """ASGI middleware: count the request, and answer 503 with a reference id when a route faults."""

    def __init__(self, app: ASGIApp, counts: RequestCounts) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; a fault before the answer started becomes a 503."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.counts.request(scope["method"], scope["path"])
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            reference = secrets.token_hex(4)
            log.error("fault %s in %s %s", reference, scope["method"], scope["path"], exc_info=True)
            if started:
                return  # the answer is under way; the connection just ends
            detail = f"internal error in fleetgate (reference {reference}); retry later"
            body = json.dumps({"detail": detail}).encode()
            headers = [(b"content-type", b"application/json"), (b"retry-after", b"5")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body})
