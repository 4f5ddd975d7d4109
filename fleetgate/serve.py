"""The gateway process: composes gitd, the receive pipeline and the build core from settings."""

from __future__ import annotations

import asyncio
import logging
import signal

from .db import Database
from .settings import Settings

log = logging.getLogger("fleetgate")


def _pipeline(settings: Settings, database: Database):
    from fleetgate.hooks.default import accept_deploy_branches

    return accept_deploy_branches


def build_gateway(settings: Settings, database: Database):
    """The SSH edge wired to the database and the receive pipeline."""
    from fleetgate.gitd.access import Access
    from fleetgate.gitd.server import Gateway, GatewayConfig

    config = GatewayConfig(
        host=settings.ssh_host,
        port=settings.ssh_port,
        host_key_path=settings.host_key_path,
        repositories=settings.repositories,
        limits=settings.limits,
    )
    return Gateway(config, Access(database), _pipeline(settings, database))


def getting_started(settings: Settings, port: int) -> str:
    """What to do next, printed when the gateway starts: a user, a key, a fleet, a remote, a push."""
    host = settings.ssh_host
    return "\n".join([
        f"fleetgate is listening for git pushes on ssh://{host}:{port} (data in {settings.home})",
        "In another terminal, with FLEETGATE_HOME set the same way:",
        "  fleetgate user add alice",
        "  fleetgate key add alice ~/.ssh/id_ed25519.pub",
        "  fleetgate fleet create alice/demo --device-type raspberrypi3",
        "Then, in your project:",
        f"  git remote add balena ssh://git@{host}:{port}/alice/demo.git",
        "  git push balena master",
    ])


def run(settings: Settings, database: Database) -> None:
    """Serve SSH (and later HTTP) in the foreground until SIGTERM or SIGINT."""
    from fleetgate.gitd.server import serve_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings.repositories.mkdir(parents=True, exist_ok=True)
    gateway = build_gateway(settings, database)

    async def main() -> None:
        task = asyncio.create_task(
            serve_forever(gateway, ready=lambda port: print(getting_started(settings, port), flush=True))
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            log.info("fleetgate stopped")

    asyncio.run(main())
