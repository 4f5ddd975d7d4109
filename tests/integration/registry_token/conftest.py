"""A registry with token auth whose realm is the gateway under test, a real `fleetgate serve`, and a
device's Docker daemon (number 9): fleetgate as the registry's token server (issue 4).
"""

from __future__ import annotations

import importlib.util
import secrets
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleetgate.deploy import devices, provisioning

from fleetgate import fleets
from fleetgate import settings as fleetgate_settings
from fleetgate.db import Database

from ..conftest import AUTH_PASSWORD, AUTH_USER, DOCKER_CLI, docker_cli, missing
from ..dockerds import Dockerd, start_dockerd, stop_dockerd
from ..support import SERVE, Gateway, free_port, new_gateway, setup_fleet

REGISTRY_BINARY = "/usr/bin/docker-registry"
DEVICE_DAEMON = 9  # device tests own 1-9 (contract)


def serve_has_api() -> bool:
    """True when `fleetgate serve` serves the token route itself (fleetgate/serve.py includes it)."""
    spec = importlib.util.find_spec("fleetgate.serve")
    return spec is not None and "registry_token_router" in Path(spec.origin or "").read_text()


def answers(url: str) -> bool:
    """True when anything answers HTTP at `url` (a 401 too)."""
    try:
        urllib.request.urlopen(url, timeout=3)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def wait_until(check, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds}s")


def start_registry(folder: Path, port: int, auth: str) -> subprocess.Popen:
    """Debian's docker-registry on `port`, its `auth` as `fleetgate registry token-config` printed it."""
    folder.mkdir(parents=True)
    config = folder / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: info}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n" + auth
    )
    with open(folder / "registry.log", "wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/v2/"), f"the registry on {port} did not answer")
    return process


class RealmApp:
    """The token route in a uvicorn of the test's own, until `fleetgate serve` serves it itself."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        import uvicorn
        from fastapi import FastAPI
        from fleetgate.deploy.registry_token_route import registry_token_router

        settings = fleetgate_settings.load(env)
        self.database = Database(settings.database_url)
        app = FastAPI()
        app.include_router(registry_token_router(settings, self.database))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, "the test's token route did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.database.dispose()


@dataclass
class TokenSetup:
    """The gateway, its token-auth registry and what a test needs to act as a device."""

    gw: Gateway
    registry: str  # host:port
    realm: str
    device_daemon: Dockerd
    database: Database
    tmp: Path

    def register(self, slug: str) -> tuple[str, str]:
        """A device registered to `slug` (uuid, API key), as the device API would do it."""
        owner, name = slug.split("/")
        with self.database.session() as session:
            key = provisioning.issue_key(session, fleets.get_fleet(session, owner, name))
        with self.database.session() as session:
            device, api_key = devices.register(session, key, secrets.token_hex(16), "intel-nuc")
        return device.uuid, api_key

    def device_cli(self, config: Path, *args: str) -> subprocess.CompletedProcess:
        """The docker CLI against the device's daemon with its own credential store."""
        return subprocess.run(
            [DOCKER_CLI, "--config", str(config), "-H", self.device_daemon.host, *args],
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def token_setup(docker_daemon: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenSetup]:
    """Gateway + registry with `auth: token` pointing at the gateway's realm + device daemon 9."""
    if not Path(REGISTRY_BINARY).exists():
        missing(f"{REGISTRY_BINARY} is not installed")
    tmp = tmp_path_factory.mktemp("registry-token")
    registry_port, realm_port = free_port(), free_port()
    registry = f"127.0.0.1:{registry_port}"
    realm = f"http://127.0.0.1:{realm_port}/v1/registry/token"
    api = serve_has_api()
    gw = new_gateway(
        tmp,
        SERVE,
        {
            "FLEETGATE_REGISTRY": registry,
            "FLEETGATE_REGISTRY_USER": AUTH_USER,
            "FLEETGATE_REGISTRY_PASSWORD": AUTH_PASSWORD,
            "FLEETGATE_REGISTRY_AUTH": "token",
            "FLEETGATE_HTTP_LISTEN": f"127.0.0.1:{realm_port if api else 0}",
            "FLEETGATE_BUILDERS": "default=unix:///var/run/docker.sock;amd64",
        },
    )
    settings = fleetgate_settings.load(gw.env)
    # As the operator does it (README "Registry"): the printed section goes into the registry's config.
    auth = gw.cli("registry", "token-config").stdout
    assert f"realm: {realm}\n" in auth and f"rootcertbundle: {settings.registry_token_cert_path}\n" in auth
    process = start_registry(tmp / "registry", registry_port, auth)
    daemon = None
    realm_app = None
    try:
        gw.start()
        if api:
            wait_until(lambda: answers(realm), "fleetgate serve's HTTP API did not answer")
        else:
            realm_app = RealmApp(gw.env, realm_port)
        daemon = start_dockerd(DEVICE_DAEMON)
        database = Database(settings.database_url)
        yield TokenSetup(gw, registry, realm, daemon, database, tmp)
        database.dispose()
    finally:
        if daemon is not None:
            stop_dockerd(daemon)
        if realm_app is not None:
            realm_app.stop()
        gw.stop()
        process.terminate()
        process.wait(10)
        remove_images(registry)
        shutil.rmtree(tmp / "registry", ignore_errors=True)


def remove_images(registry: str) -> None:
    """Untag every image of the main daemon that names this test's registry."""
    listed = docker_cli("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.decode()
    for ref in listed.split():
        if ref.startswith(registry + "/"):
            docker_cli("rmi", "-f", ref, check=False)


@pytest.fixture
def owner_key(token_setup: TokenSetup) -> Path:
    """The key of user alice (made once per module)."""
    gw = token_setup.gw
    return gw.keys.get("alice") or gw.add_user("alice")


def new_fleet(setup: TokenSetup, slug: str) -> Path:
    """A fleet of generic amd64 devices (the host's arch: its images run on the device daemon)."""
    return setup_fleet(setup.gw, slug, "intel-nuc")
