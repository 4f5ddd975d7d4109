"""`fleetgate agent`: the device agent in the foreground until SIGTERM or SIGINT (DESIGN.md §3)."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from .output import Failure


class Stopped(BaseException):
    """SIGTERM or SIGINT: leave the loop (whatever step was running is planned again after a restart)."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped


@click.command()
@click.option(
    "--api", required=True, metavar="URL", help="The device API, e.g. https://fleetgate.example:8080."
)
@click.option("--provisioning-key", metavar="KEY", help="The fleet's provisioning key (first start only).")
@click.option("--device-type", required=True, metavar="SLUG", help="This device's type, e.g. raspberrypi3.")
@click.option(
    "--state-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the agent keeps device.json, the last target and the services' lock folders.",
)
@click.option("--docker-host", metavar="URL", help="The device's Docker daemon (default: the local socket).")
@click.option("--name", help="The device's name when it registers.")
@click.option("--ca-cert", type=click.Path(dir_okay=False, exists=True), help="CA of the API's TLS.")
@click.option("--poll-wait", type=click.IntRange(1, 300), default=30, show_default=True, hidden=True)
def agent(
    api: str,
    provisioning_key: str | None,
    device_type: str,
    state_dir: Path,
    docker_host: str | None,
    name: str | None,
    ca_cert: str | None,
    poll_wait: int,
) -> None:
    """Run the device agent: register, then keep this device on its fleet's target release."""
    from fleetgate.deploy.agent.loop import (  # the other commands need no Docker client
        Agent,
        AgentError,
        AgentOptions,
    )

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = AgentOptions(
        api=api,
        provisioning_key=provisioning_key,
        device_type=device_type,
        state_dir=state_dir.absolute(),
        docker_host=docker_host,
        name=name,
        ca_cert=ca_cert,
        poll_wait=float(poll_wait),
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)
    try:
        Agent(options).run()
    except AgentError as error:
        raise Failure(str(error)) from None
    except Stopped:
        logging.getLogger("fleetgate.agent").info("agent stopped")
