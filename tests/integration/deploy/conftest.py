"""A real `fleetgate serve` with its device API, real HTTP (httpx), and helpers to act as devices."""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fleetgate.deploy import provisioning, targets

from fleetgate import fleets, releases, users
from fleetgate.db import Database

from ..support import SERVE, Gateway, new_gateway

AUTH_REGISTRY, AUTH_USER, AUTH_PASSWORD = "127.0.0.1:5001", "fleetgate", "fleetgate-ci"  # .ci/services.sh
METRICS_TOKEN = "metrics-" + secrets.token_hex(8)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def registry_env(registry: str = AUTH_REGISTRY) -> dict[str, str]:
    return {
        "FLEETGATE_REGISTRY": registry,
        "FLEETGATE_REGISTRY_USER": AUTH_USER,
        "FLEETGATE_REGISTRY_PASSWORD": AUTH_PASSWORD,
        "FLEETGATE_METRICS_TOKEN": METRICS_TOKEN,
    }


def new_uuid() -> str:
    return secrets.token_hex(16)


@dataclass
class Api:
    """The device API of one running gateway, as devices and the operator reach it."""

    gw: Gateway
    url: str
    verify: bool | str = True
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        verify = self.verify
        if isinstance(verify, str):  # a CA file: httpx wants it as an SSL context
            verify = ssl.create_default_context(cafile=verify)
        made = httpx.Client(base_url=self.url, headers=headers, timeout=400, verify=verify)
        self.clients.append(made)
        return made

    def provisioning_key(self, slug: str) -> str:
        return self.gw.cli("fleet", "provisioning-key", slug).stdout.strip()

    def register(self, key: str, device_type: str, uuid: str | None = None, name: str | None = None) -> str:
        """Register a device; return its API key."""
        body = {"uuid": uuid or new_uuid(), "device_type": device_type, **({"name": name} if name else {})}
        answer = self.client(key).post("/v1/devices", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["api_key"]

    def metrics(self) -> dict:
        answer = self.client(METRICS_TOKEN).get("/v1/metrics")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def close(self) -> None:
        for made in self.clients:
            made.close()


class LongPoll:
    """A long-poll running in a thread: when it was answered, and with what."""

    def __init__(self, client: httpx.Client, etag: str, wait: int = 60) -> None:
        self.answer: httpx.Response | None = None
        self.answered_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(client, etag, wait), daemon=True)
        self._thread.start()

    def _run(self, client: httpx.Client, etag: str, wait: int) -> None:
        self.answer = client.get("/v1/device/state", params={"wait": wait}, headers={"If-None-Match": etag})
        self.answered_at = time.monotonic()

    def result(self, timeout: float = 90) -> httpx.Response:
        self._thread.join(timeout)
        assert self.answer is not None, "the long-poll was not answered"
        return self.answer


def wait_until_waiting(api: Api, count: int, timeout: float = 20) -> None:
    """Until `count` long-polls wait in the serve process (so a change cannot slip in before them)."""
    deadline = time.monotonic() + timeout
    while api.metrics()["waiting"] < count:
        assert time.monotonic() < deadline, f"{count} long-polls never waited"
        time.sleep(0.05)


def database_of(gw: Gateway) -> Database:
    return Database(gw.env.get("FLEETGATE_DATABASE_URL") or f"sqlite:///{gw.home / 'fleetgate.db'}")


def record_release(gw: Gateway, slug: str, composition: str) -> str:
    """A successful release recorded as the build pipeline records one (no build); returns its hash."""
    database = database_of(gw)
    try:
        with database.session() as session:
            fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
            started = releases.start_release(
                session, fleet.id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x", "default",
                "linux/amd64", "test",
            )  # fmt: skip
            releases.set_composition(session, started.id, composition)
            targets.on_release_success(session, releases.finish_release(session, started.id, "success"))
            return started.hash
    finally:
        database.dispose()


def composition(slug: str, services: tuple[str, ...] = ("main",)) -> str:
    body = "".join(
        f"  {name}:\n    image: {AUTH_REGISTRY}/{slug}/{name}@sha256:{'0' * 64}\n"
        f"    environment: {{FROM_COMPOSE: '1'}}\n"
        for name in services
    )
    return f"version: '2.1'\nservices:\n{body}"


def start_api(tmp_path: Path, extra_env: dict[str, str] | None = None, verify: bool | str = True) -> Api:
    gw = new_gateway(tmp_path, SERVE, {**registry_env(), **(extra_env or {})})
    gw.start()
    return Api(gw, gw.http_url(), verify)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A started gateway (registry configured, metrics on) and its device API, shared by a module's tests.

    Each test uses fleets of its own names; the gateway and its home go when the module ends.
    """
    started = start_api(tmp_path_factory.mktemp("api"))
    try:
        yield started
    finally:
        started.close()
        started.gw.stop()
        shutil.rmtree(started.gw.tmp, ignore_errors=True)


def fleet_with_key(api: Api, slug: str, device_type: str = "raspberrypi3") -> str:
    """The fleet (its owner made on first use) and a provisioning key for it, made in the database.

    Not through the CLI: each `fleetgate` run costs seconds on a busy machine, and these rows are
    the same either way (the CLI's own commands have their tests).
    """
    owner, name = fleets.parse_slug(slug)
    database = database_of(api.gw)
    try:
        with database.session() as session:
            if owner not in {u.name for u in users.list_users(session)}:
                users.add_user(session, owner)
            return provisioning.issue_key(session, fleets.create_fleet(session, owner, name, device_type))
    finally:
        database.dispose()


def device_list(api: Api, slug: str) -> list[dict]:
    return json.loads(api.gw.cli("device", "list", slug, "--json").stdout)
