"""The users' HTTP API of a real `fleetgate serve` over real HTTP (httpx): tokens, tenants, limits, JSON."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fleetgate.deploy import devices, provisioning, targets
from sqlalchemy import update

from fleetgate import fleets, models, releases, tokens
from fleetgate.db import Database
from fleetgate.models import utcnow

from .support import SERVE, Gateway, new_gateway

COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: example.org/alice/demo/main@sha256:" + "0" * 64
USER_ROUTES = ("/v1/fleets", "/v1/releases", "/v1/tokens")


@dataclass
class UserApi:
    """One running gateway's HTTP API, as users with access tokens reach it."""

    gw: Gateway
    url: str
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        made = httpx.Client(base_url=self.url, headers=headers, timeout=60)
        self.clients.append(made)
        return made

    def database(self) -> Database:
        return Database(f"sqlite:///{self.gw.home / 'fleetgate.db'}")

    def token(self, user: str, *flags: str) -> str:
        """A new token's secret, as the operator makes one: `fleetgate token create --user USER`."""
        return self.gw.cli("token", "create", "--user", user, *flags).stdout.strip()

    def cli_json(self, *args: str):
        return json.loads(self.gw.cli(*args, "--json").stdout)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserApi]:
    """A gateway with users alice (owns alice/demo), bob (owns bob/secret) and carol (owns nothing)."""
    gw = new_gateway(tmp_path_factory.mktemp("user-api"), SERVE)
    gw.start()
    for name in ("alice", "bob", "carol"):
        gw.cli("user", "add", name)
    gw.cli("fleet", "create", "alice/demo", "--device-type", "raspberrypi3")
    gw.cli("fleet", "create", "bob/secret", "--device-type", "raspberrypi3")
    started = UserApi(gw, gw.http_url())
    try:
        yield started
    finally:
        for made in started.clients:
            made.close()
        gw.stop()
        shutil.rmtree(gw.tmp, ignore_errors=True)


def refused(answer: httpx.Response, status: int) -> str:
    """The one-line detail of a refusal with `status`."""
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, answer.text
    assert answer.json() == {"detail": detail}
    return detail


def record_release(api: UserApi, slug: str) -> str:
    """A successful release recorded as the build pipeline records one (no build); returns its hash."""
    database = api.database()
    try:
        with database.session() as session:
            fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
            started = releases.start_release(
                session, fleet.id, COMMIT, "refs/heads/master", (), None, "alice", "SHA256:x", "default",
                "linux/amd64", "test",
            )  # fmt: skip
            releases.set_composition(session, started.id, COMPOSITION)
            targets.on_release_success(session, releases.finish_release(session, started.id, "success"))
            return started.hash
    finally:
        database.dispose()


def test_a_full_token_answers_the_json_the_cli_prints(api: UserApi) -> None:
    alice = api.client(api.token("alice"))
    assert alice.get("/v1/fleets").json() == api.cli_json("fleet", "list", "--user", "alice")
    assert alice.get("/v1/fleets/alice/demo").json() == api.cli_json("fleet", "show", "alice/demo")
    release = record_release(api, "alice/demo")
    shown = alice.get(f"/v1/releases/{release[:8]}")
    assert shown.json() == api.cli_json("release", "show", release)
    assert shown.json()["images"] == [] and shown.json()["created"].endswith("+00:00")
    number = shown.json()["id"]
    assert alice.get(f"/v1/fleets/alice/demo/releases/{number}").json() == shown.json()
    listed = alice.get("/v1/fleets/alice/demo/releases", params={"status": "success"}).json()
    assert release in [r["hash"] for r in listed]
    assert listed == api.cli_json("release", "list", "alice/demo", "--status", "success")
    for path in ("devices", "servers", "members"):
        assert alice.get(f"/v1/fleets/alice/demo/{path}").status_code == 200


def test_env_set_then_list_masks_the_secret_and_unset_removes_it(api: UserApi) -> None:
    alice = api.client(api.token("alice"))
    set_plain = alice.put("/v1/fleets/alice/demo/env/LOG_LEVEL", json={"value": "debug"})
    set_secret = alice.put("/v1/fleets/alice/demo/env/DB_PASSWORD", json={"value": "hunter2", "secret": True})
    assert (set_plain.status_code, set_secret.status_code) == (204, 204)
    listed = alice.get("/v1/fleets/alice/demo/env")
    assert {v["key"]: v["value"] for v in listed.json()} == {"DB_PASSWORD": "***", "LOG_LEVEL": "debug"}
    assert "hunter2" not in listed.text
    assert listed.json() == api.cli_json("env", "list", "alice/demo")
    assert alice.delete("/v1/fleets/alice/demo/env/LOG_LEVEL").status_code == 204
    assert "not set" in refused(alice.delete("/v1/fleets/alice/demo/env/LOG_LEVEL"), 404)
    assert [v["key"] for v in alice.get("/v1/fleets/alice/demo/env").json()] == ["DB_PASSWORD"]


def test_a_read_only_token_lists_but_changes_nothing(api: UserApi) -> None:
    reader = api.client(api.token("alice", "--read-only"))
    assert reader.get("/v1/fleets").status_code == 200
    assert reader.get("/v1/fleets/alice/demo/env").status_code == 200
    assert "read-only" in refused(reader.put("/v1/fleets/alice/demo/env/X", json={"value": "1"}), 403)
    assert "read-only" in refused(reader.post("/v1/fleets/alice/demo/rollback", json={}), 403)
    assert "read-only" in refused(reader.post("/v1/tokens", json={"name": "more"}), 403)
    assert "X" not in [v["key"] for v in reader.get("/v1/fleets/alice/demo/env").json()]


def test_revoked_expired_missing_and_unknown_tokens_are_401(api: UserApi) -> None:
    secret = api.token("alice")
    alice = api.client(secret)
    made = alice.post("/v1/tokens", json={"name": "laptop", "expires_days": 30})
    assert made.status_code == 201 and made.json()["secret"].startswith("fgt_")
    laptop = api.client(made.json()["secret"])
    assert laptop.get("/v1/fleets").status_code == 200
    assert "laptop" in [t["name"] for t in alice.get("/v1/tokens").json()]
    assert alice.delete(f"/v1/tokens/{made.json()['id']}").json()["revoked"] is not None
    refused(laptop.get("/v1/fleets"), 401)
    expiring = api.client(secret_expired := api.token("alice"))
    database = api.database()
    try:
        with database.session() as session:
            session.execute(
                update(models.AccessToken)
                .where(models.AccessToken.token_hash == tokens.token_hash(secret_expired))
                .values(expires=utcnow() - timedelta(seconds=1))
            )
    finally:
        database.dispose()
    refused(expiring.get("/v1/fleets"), 401)
    assert refused(api.client().get("/v1/fleets"), 401).startswith("send an access token")
    refused(api.client("fgt_" + secrets.token_urlsafe(32)).get("/v1/fleets"), 401)
    assert refused(alice.delete("/v1/tokens/424242"), 404)
    # schemathesis found this one: an id no database column holds was a 503 (a fault), not a 404
    assert (
        refused(alice.delete(f"/v1/tokens/{10**24}"), 404) == f"alice has no token {10**24}; see: token list"
    )


def test_device_keys_and_access_tokens_are_never_interchangeable(api: UserApi) -> None:
    database = api.database()
    try:
        with database.session() as session:
            key = provisioning.issue_key(session, fleets.get_fleet(session, "alice", "demo"))
            _device, device_key = devices.register(session, key, secrets.token_hex(16), "raspberrypi3")
    finally:
        database.dispose()
    refused(api.client(device_key).get("/v1/fleets"), 401)
    refused(api.client(key).get("/v1/fleets"), 401)
    refused(api.client(api.token("alice")).get("/v1/device/state"), 401)


def test_another_users_fleet_reads_exactly_like_a_missing_one(api: UserApi) -> None:
    carol = api.client(api.token("carol"))
    assert carol.get("/v1/fleets").json() == []
    for suffix, method, body in (
        ("", "GET", None),
        ("/releases", "GET", None),
        ("/env", "GET", None),
        ("/env/X", "PUT", {"value": "1"}),
        ("/rollback", "POST", {}),
        ("/members", "GET", None),
        ("/members/carol", "PUT", None),
    ):
        there = carol.request(method, f"/v1/fleets/bob/secret{suffix}", json=body)
        missing = carol.request(method, f"/v1/fleets/bob/nothing{suffix}", json=body)
        assert refused(there, 404).replace("secret", "nothing") == refused(missing, 404)
    release = record_release(api, "bob/secret")
    there = refused(carol.get(f"/v1/releases/{release}"), 404)
    assert there == refused(carol.get(f"/v1/releases/{'f' * 32}"), 404).replace("f" * 32, release)
    # A known hash of another tenant's release cannot be pinned to (nor named back by the error).
    alice = api.client(api.token("alice"))
    assert "bob/secret" not in refused(
        alice.post("/v1/fleets/alice/demo/pin", json={"release": release}), 404
    )


def test_a_member_reads_and_rolls_back_but_only_the_owner_adds_members(api: UserApi) -> None:
    alice, bob = api.client(api.token("alice")), api.client(api.token("bob"))
    assert alice.put("/v1/fleets/alice/demo/members/bob").status_code == 204
    assert "already" in refused(alice.put("/v1/fleets/alice/demo/members/bob"), 409)
    assert bob.get("/v1/fleets/alice/demo/members").json() == [
        {"user": "alice", "role": "owner"}, {"user": "bob", "role": "member"}
    ]  # fmt: skip
    assert "only the owner" in refused(bob.put("/v1/fleets/alice/demo/members/carol"), 403)
    assert alice.delete("/v1/fleets/alice/demo/members/bob").status_code == 204
    refused(bob.get("/v1/fleets/alice/demo"), 404)


def test_rollback_moves_the_target_and_pin_latest_follows_again(api: UserApi) -> None:
    api.gw.cli("fleet", "create", "alice/roll", "--device-type", "raspberrypi3")
    first, second = record_release(api, "alice/roll"), record_release(api, "alice/roll")
    alice = api.client(api.token("alice"))
    assert alice.get("/v1/fleets/alice/roll").json()["target"]["hash"] == second
    rolled = alice.post("/v1/fleets/alice/roll/rollback")
    assert rolled.status_code == 200, rolled.text
    assert (rolled.json()["target"]["hash"], rolled.json()["pinned"]) == (first, True)
    shown = api.cli_json("fleet", "show", "alice/roll")
    assert (shown["target"]["hash"], shown["pinned"]) == (first, True)
    latest = alice.post("/v1/fleets/alice/roll/pin", json={"latest": True}).json()
    assert (latest["target"]["hash"], latest["pinned"]) == (second, False)
    named = alice.post("/v1/fleets/alice/roll/rollback", json={"release": first[:8]}).json()
    assert named == {"target": {**shown["target"]}, "pinned": True}
    refused(alice.post("/v1/fleets/alice/roll/pin", json={"release": first, "latest": True}), 400)


def test_big_and_malformed_bodies_get_one_line(api: UserApi) -> None:
    alice = api.client(api.token("alice"))
    big = json.dumps({"value": "x" * 70_000})
    # Refused before the token is looked at: without one, still 413 (not 401).
    assert "64 KiB" in refused(api.client().put("/v1/fleets/alice/demo/env/BIG", content=big), 413)
    chunked = alice.put(
        "/v1/fleets/alice/demo/env/BIG", content=iter([big[:40_000].encode(), big[40_000:].encode()])
    )
    assert "64 KiB" in refused(chunked, 413)
    headers = {"Content-Type": "application/json"}
    malformed = alice.put("/v1/fleets/alice/demo/env/BAD", content=b'{"value": ', headers=headers)
    assert "not valid JSON" in refused(malformed, 400)
    refused(alice.put("/v1/fleets/alice/demo/env/BAD", json={"value": 1}), 400)
    refused(alice.put("/v1/fleets/alice/demo/env/BAD", json={"value": "1", "colour": "red"}), 400)
    refused(alice.post("/v1/tokens", json={"expires_days": 0}), 400)
    assert refused(alice.get("/v1/no-such-route"), 404)


def test_every_user_route_is_described_in_openapi(api: UserApi) -> None:
    spec = httpx.get(f"{api.url}/openapi.json").json()
    operations = [
        (path, method, op) for path, item in spec["paths"].items() if path.startswith(USER_ROUTES)
        for method, op in item.items()
    ]  # fmt: skip
    assert len(operations) == 18
    for path, method, op in operations:
        assert op.get("summary"), (path, method)
        assert {"400", "401", "403", "404", "413"} <= set(op["responses"]), (path, method)
