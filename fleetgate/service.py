"""`fleetgate serve` as a service: it says when it is ready, re-reads its settings on SIGHUP, and on
SIGTERM (or SIGINT) stops taking connections, lets running pushes finish for `FLEETGATE_SHUTDOWN_GRACE`
seconds and interrupts the rest (gitd/shutdown.py). A second SIGTERM or SIGINT skips what is left of the
grace.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from fleetgate.gitd import shutdown
from fleetgate.gitd.gateway import Gateway
from fleetgate.gitd.server import start

from .log_output import LogOutput
from .settings import Settings, SettingsError
from .systemd_notify import Notifier

log = logging.getLogger("fleetgate")

# The settings SIGHUP applies to the running process; any other change waits for a restart.
LIVE = ("FLEETGATE_LOG_LEVEL", "FLEETGATE_LOG_FORMAT", "FLEETGATE_LOG_FILE", "FLEETGATE_SHUTDOWN_GRACE")
Reread = Callable[[], tuple[Settings, Mapping[str, str]]]  # the settings and every setting's raw value


def waiting_for_restart(running: Mapping[str, str], read: Mapping[str, str]) -> list[str]:
    """The settings whose new value only a restart applies."""
    return [name for name, value in read.items() if name not in LIVE and running.get(name) != value]


class Service:
    """The gateway's process: SSH and HTTP served together, signals, systemd's notify socket."""

    def __init__(
        self,
        settings: Settings,
        values: Mapping[str, str],
        gateway: Gateway,
        http,  # fleetgate.deploy.api.http_server.HttpServer
        ssh: socket.socket,
        logs: LogOutput,
        reread: Reread,
        jobs: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.settings, self.values, self.jobs = settings, values, jobs
        self.gateway, self.http, self.ssh, self.logs, self.reread = gateway, http, ssh, logs, reread
        self.notify = Notifier(settings.notify_socket)

    def run(self, ready: Callable[[int], None]) -> int:
        """Serve until SIGTERM or SIGINT and the drain after it; how many sessions would not end."""
        return asyncio.run(self._main(ready))

    async def _main(self, ready: Callable[[int], None]) -> int:
        stop, hurry = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop, stop, hurry)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        web = asyncio.create_task(self.http.serve())
        # HTTP first: once the SSH port answers (what scripts wait for), /healthz answers too.
        acceptor = await start(self.gateway, self.ssh) if await self.http.started(web) else None
        if acceptor is not None:
            ready(self.ssh.getsockname()[1])
            for job in self.jobs:  # background work on this loop; asyncio.run cancels it at the end
                job()
            self.notify.send("READY=1", "STATUS=serving SSH and HTTP")
        stopped = asyncio.ensure_future(stop.wait())
        # A failed HTTP server ends `web`: that stops the gateway too, as a signal would.
        await asyncio.wait({stopped, web}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        self.notify.send("STOPPING=1", "STATUS=stopping: letting running pushes finish")
        if acceptor is not None:
            acceptor.close()
        await self.http.stop()
        left = await shutdown.drain(self.gateway, self.settings.shutdown_grace, hurry)
        self.gateway.stop_pools()
        try:
            await web
        except Exception:
            log.exception("the HTTP server stopped with an error")
        if left:
            log.error("fleetgate stopped with %d sessions that would not end", left)
        else:
            log.info("fleetgate stopped")
        return left

    def _stop(self, stop: asyncio.Event, hurry: asyncio.Event) -> None:
        if stop.is_set():
            log.info("stopping now: running sessions are interrupted")
            hurry.set()
            return
        log.info("stopping: no new connections; running pushes get %.0f s", self.settings.shutdown_grace)
        stop.set()

    def _reload(self) -> None:
        """SIGHUP: re-read the settings file, apply the log settings and the grace, reopen the log file."""
        self.notify.send("RELOADING=1")
        try:
            settings, values = self.reread()
        except SettingsError as error:
            log.error("SIGHUP: %s; the settings in use stay", error)
        else:
            self.logs.apply(settings.log)
            self.logs.reopen()
            self.settings = replace(self.settings, log=settings.log, shutdown_grace=settings.shutdown_grace)
            log.info(
                "SIGHUP: settings re-read: log level %s, log format %s, shutdown grace %.0f s",
                settings.log.level,
                settings.log.format,
                settings.shutdown_grace,
            )
            waiting = waiting_for_restart(self.values, values)
            if waiting:
                log.warning("SIGHUP: %s changed; a restart applies it", ", ".join(waiting))
        self.notify.send("READY=1", "STATUS=serving SSH and HTTP")
