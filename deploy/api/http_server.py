"""The HTTP server of the device API: uvicorn on a socket bound up front, in the gateway's event loop.

The socket is bound before the loop starts, so a bad address or certificate stops `fleetgate serve`
with one line instead of failing inside a task, and port 0 is resolved before the startup text names
it. uvicorn's own signal handling is off: `fleetgate serve` handles SIGTERM/SIGINT for SSH and HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from fleetgate import listeners

from .wakeups import WakeupHub

LOOPBACK_NAMES = ("localhost", "ip6-localhost")


class ListenError(ValueError):
    """The operator's HTTP listen address or TLS files cannot be used; the message says what to set."""


@dataclass(frozen=True)
class Listen:
    """Where the API listens and with which certificate and key (None: plain HTTP)."""

    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback name or address (the only place plain HTTP is allowed)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(listen: Listen) -> None:
    """Refuse plain HTTP off loopback: device keys would cross the network in clear."""
    if listen.cert is None and not is_loopback(listen.host):
        raise ListenError(
            f"plain HTTP on {listen.host} would send device keys in clear; set FLEETGATE_HTTP_CERT and "
            "FLEETGATE_HTTP_KEY (PEM files), or listen on 127.0.0.1"
        )
    if listen.cert is not None and listen.key is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(listen.cert, listen.key)
        except (OSError, ssl.SSLError) as error:
            raise ListenError(
                f"cannot use FLEETGATE_HTTP_CERT={listen.cert} with FLEETGATE_HTTP_KEY={listen.key}: {error}"
            ) from None


def bind(listen: Listen) -> socket.socket:
    """A listening socket on the configured address (port 0: a free one)."""
    check_listen(listen)
    try:
        return listeners.bind(listen.host, listen.port, "HTTP", "FLEETGATE_HTTP_LISTEN")
    except listeners.ListenError as error:
        raise ListenError(str(error)) from None


def url_of(sock: socket.socket, listen: Listen) -> str:
    """`http(s)://host:port` of the bound socket."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if listen.cert else 'http'}://{shown}:{port}"


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the gateway's own handlers stop SSH and HTTP together


class HttpServer:
    """The API app served on a bound socket; `serve` until `stop`."""

    def __init__(self, app: FastAPI, hub: WakeupHub, sock: socket.socket, listen: Listen) -> None:
        self.hub = hub
        self.sock = sock
        self.url = url_of(sock, listen)
        config = uvicorn.Config(
            app,
            ssl_certfile=str(listen.cert) if listen.cert else None,
            ssl_keyfile=str(listen.key) if listen.key else None,
            log_config=None,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=3,
            lifespan="on",
        )
        self.server = _Embedded(config)

    async def serve(self) -> None:
        """Start the wake-up hub and answer requests until `stop`."""
        await self.hub.start()
        await self.server.serve(sockets=[self.sock])

    async def started(self, serving: asyncio.Task) -> bool:
        """Wait until uvicorn listens (True), or `serving` (the task of `serve`) ended first (False)."""
        while not self.server.started:
            if serving.done():
                return False
            await asyncio.sleep(0.01)  # uvicorn offers a flag, not an event
        return True

    async def stop(self) -> None:
        """End waiting long-polls (304 at once), then stop accepting and finish open requests."""
        await self.hub.close()
        self.server.should_exit = True
        await asyncio.sleep(0)
