"""The device API of a real `fleetgate serve` over real HTTP: registration, isolation, long-polls, CLI."""

from __future__ import annotations

import time
from pathlib import Path

from .conftest import (
    Api,
    LongPoll,
    composition,
    device_list,
    fleet_with_key,
    new_uuid,
    record_release,
    registry_env,
    start_api,
    wait_until_waiting,
)

WAKE_SECONDS = 1.0  # a change must reach a waiting device within this long of its commit


def state(api: Api, key: str):
    answer = api.client(key).get("/v1/device/state")
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["ETag"]


def test_registration_with_good_and_bad_provisioning_keys(api: Api) -> None:
    key = fleet_with_key(api, "alice/pis")
    uuid = new_uuid()
    answer = api.client(key).post(
        "/v1/devices", json={"uuid": uuid, "device_type": "raspberrypi3", "name": "p"}
    )
    assert answer.status_code == 201
    body = answer.json()
    assert {k: v for k, v in body.items() if k != "api_key"} == {
        "uuid": uuid, "name": "p", "fleet": "alice/pis", "device_type": "raspberrypi3"
    }  # fmt: skip
    first_key = body["api_key"]
    assert len(first_key) >= 43 and first_key != key
    refusals = [
        ("wrong-key", {"uuid": new_uuid(), "device_type": "raspberrypi3"}, 401,
         "unknown provisioning key; ask the fleet's operator: fleetgate fleet provisioning-key"),
        (None, {"uuid": new_uuid(), "device_type": "raspberrypi3"}, 401,
         "send your provisioning key as: Authorization: Bearer <key>"),
        (key, {"uuid": new_uuid(), "device_type": "intel-nuc"}, 400,
         "device type intel-nuc is amd64, but the fleet's releases are built for armv7hf; "
         "register it to a fleet of amd64 devices"),
        (key, {"uuid": uuid, "device_type": "raspberrypi3"}, 409,
         f"device {uuid} is registered already; use its API key, or generate a new uuid"),
        (key, {"uuid": "xyz", "device_type": "raspberrypi3"}, 400,
         "device uuid 'xyz' is not 32 hexadecimal digits; generate a new one"),
    ]  # fmt: skip
    for presented, refused, status, detail in refusals:
        answer = api.client(presented).post("/v1/devices", json=refused)
        assert (answer.status_code, answer.json()) == (status, {"detail": detail})
    # The key stays good for more devices (of any type of the fleet's arch), and the device's key works.
    other = api.register(key, "beaglebone-black")
    assert state(api, other)[0]["device"]["device_type"] == "beaglebone-black"
    assert state(api, first_key)[0]["fleet"]["slug"] == "alice/pis"


def test_each_device_sees_only_its_own_fleet(api: Api) -> None:
    keys = {slug: fleet_with_key(api, slug) for slug in ("alice/one", "bob/two")}
    hashes = {slug: record_release(api.gw, slug, composition(slug)) for slug in keys}
    api.gw.cli("env", "set", "bob/two", "SECRET=bobs", "--secret")
    devices = {slug: api.register(key, "raspberrypi3") for slug, key in keys.items()}
    for slug, device_key in devices.items():
        doc, _ = state(api, device_key)
        assert doc["fleet"]["slug"] == slug
        assert doc["release"]["hash"] == hashes[slug]
        assert list(doc["services"]) == ["main"]
        assert doc["services"]["main"]["image"].startswith(f"127.0.0.1:5001/{slug}/main@sha256:")
        assert ("SECRET" in doc["services"]["main"]["environment"]) is (slug == "bob/two")
    # The registry credentials the device pulls with, and the composition's environment under variables.
    doc, _ = state(api, devices["bob/two"])
    assert doc["registry"] == {
        "server": "127.0.0.1:5001",
        "username": "fleetgate",
        "password": "fleetgate-ci",
    }
    assert doc["services"]["main"]["environment"] == {"FROM_COMPOSE": "1", "SECRET": "bobs"}
    # Nothing in the API names another device or fleet: a key is the only selector.
    assert api.client(devices["alice/one"]).get("/v1/device/state", params={"uuid": "x"}).status_code == 200
    assert api.client(devices["alice/one"]).get("/v1/devices").status_code == 405


def test_a_long_poll_answers_304_after_its_wait_and_at_once_on_a_change(api: Api) -> None:
    key = fleet_with_key(api, "alice/web")
    first = record_release(api.gw, "alice/web", composition("alice/web"))
    second = record_release(api.gw, "alice/web", composition("alice/web", ("main", "worker")))
    device_key = api.register(key, "raspberrypi3")
    client = api.client(device_key)
    doc, etag = state(api, device_key)
    assert doc["release"]["hash"] == second

    started = time.monotonic()
    answer = client.get("/v1/device/state", params={"wait": 2}, headers={"If-None-Match": etag})
    waited = time.monotonic() - started
    assert (answer.status_code, answer.content, answer.headers["ETag"]) == (304, b"", etag)
    assert 2 <= waited < 4

    # `fleetgate fleet pin` runs in another process: the serve process learns of it from the database.
    poll = LongPoll(client, etag)
    wait_until_waiting(api, 1)
    api.gw.cli("fleet", "pin", "alice/web", "alice/web#1")
    changed_at = time.monotonic()
    answer = poll.result()
    assert answer.status_code == 200 and answer.json()["release"]["hash"] == first
    assert poll.answered_at - changed_at < WAKE_SECONDS
    etag = answer.headers["ETag"]

    # So do a device pin, a variable and the device's removal, each at once.
    uuid = answer.json()["device"]["uuid"]
    for command, check in (
        (("device", "pin", uuid, "alice/web#2"), lambda a: a.json()["release"]["hash"] == second),
        (("env", "set", "alice/web", "LEVEL=debug", "--service", "worker"),
         lambda a: a.json()["services"]["worker"]["environment"]["LEVEL"] == "debug"),
        (("device", "remove", uuid), lambda a: a.status_code == 401),
    ):  # fmt: skip
        poll = LongPoll(client, etag)
        wait_until_waiting(api, 1)
        api.gw.cli(*command)
        changed_at = time.monotonic()
        answer = poll.result()
        assert check(answer), (command, answer.status_code, answer.text)
        assert poll.answered_at - changed_at < WAKE_SECONDS, command
        etag = answer.headers.get("ETag", etag)
    assert answer.json() == {"detail": "this device was removed; register it again with a provisioning key"}


def test_a_change_to_another_fleet_does_not_answer_a_long_poll(api: Api) -> None:
    key = fleet_with_key(api, "alice/quiet")
    fleet_with_key(api, "alice/busy")
    record_release(api.gw, "alice/quiet", composition("alice/quiet"))
    device_key = api.register(key, "raspberrypi3")
    _, etag = state(api, device_key)
    poll = LongPoll(api.client(device_key), etag, wait=3)
    wait_until_waiting(api, 1)
    record_release(api.gw, "alice/busy", composition("alice/busy"))
    api.gw.cli("env", "set", "alice/busy", "A=1")
    assert poll.result().status_code == 304


def test_state_reports_and_the_device_commands(api: Api) -> None:
    key = fleet_with_key(api, "alice/field")
    release = record_release(api.gw, "alice/field", composition("alice/field"))
    uuid = new_uuid()
    device_key = api.register(key, "raspberrypi3", uuid, name="kiosk")
    assert device_list(api, "alice/field")[0]["status"] is None
    report = {
        "status": "downloading",
        "release": None,
        "progress": 30,
        "message": "pulling",
        "services": {"main": {"status": "downloading", "release": release, "progress": 30}},
    }
    assert api.client(device_key).patch("/v1/device/state", json=report).status_code == 204
    [listed] = device_list(api, "alice/field")
    assert {k: listed[k] for k in ("uuid", "name", "status", "release", "target", "progress", "pinned")} == {
        "uuid": uuid, "name": "kiosk", "status": "downloading", "release": None, "target": release,
        "progress": 30, "pinned": False,
    }  # fmt: skip
    assert listed["services"] == report["services"] and listed["last_seen"]
    done = {"status": "idle", "release": release, "progress": None}  # `services` and `message` are kept
    assert api.client(device_key).patch("/v1/device/state", json=done).status_code == 204
    table = api.gw.cli("device", "list", "alice/field").stdout.splitlines()
    assert table[0].split() == ["UUID", "NAME", "STATUS", "RELEASE", "TARGET", "PROGRESS", "LAST", "SEEN"]
    assert table[1].split()[:6] == [uuid, "kiosk", "idle", release[:7], release[:7], "-"]

    second = record_release(api.gw, "alice/field", composition("alice/field"))
    pinned = api.gw.cli("device", "pin", uuid[:8], "alice/field#1").stdout
    assert pinned.splitlines()[0] == f"pinned device {uuid[:7]} (kiosk) to alice/field#1 ({release[:7]})"
    assert device_list(api, "alice/field")[0]["target"] == release
    assert api.gw.cli("device", "pin", uuid, "--fleet").stdout.strip() == (
        f"device {uuid[:7]} (kiosk) follows alice/field again; target: alice/field#2 ({second[:7]})"
    )
    refused = api.gw.cli("device", "pin", uuid, "nope#1", check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    missing = api.gw.cli("device", "remove", "abcdef0", check=False)
    assert (missing.returncode, missing.stderr) == (
        1, "fleetgate: error: no device abcdef0; see: fleetgate device list OWNER/NAME\n"
    )  # fmt: skip
    assert api.gw.cli("device", "remove", uuid).stdout.strip() == (
        f"removed device {uuid[:7]} (kiosk) from alice/field; its API key no longer works"
    )
    assert device_list(api, "alice/field") == []
    assert api.client(device_key).patch("/v1/device/state", json=done).status_code == 401


BAD_INPUT = [
    ("PATCH", "/v1/device/state", {"status": "sleeping"}, {}, 400,
     "body.status: Input should be 'idle', 'downloading', 'installing', 'update locked' or 'error'"),
    ("PATCH", "/v1/device/state", {"progress": 101}, {}, 400,
     "body.progress: Input should be less than or equal to 100"),
    ("PATCH", "/v1/device/state", {"release": "../../etc"}, {}, 400,
     "body.release: String should match pattern '^[0-9a-f]{32}$'"),
    ("PATCH", "/v1/device/state", {"services": {"main": {"status": "running", "x": 1}}}, {}, 400,
     "body.services.main.x: Extra inputs are not permitted"),
    ("PATCH", "/v1/device/state", {"services": {"../x": {"status": "running"}}}, {}, 400,
     "body.services.../x.[key]: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'"),
    ("PATCH", "/v1/device/state", "not json", {}, 400, "the body is not valid JSON; send a JSON object"),
    ("PATCH", "/v1/device/state", [1, 2], {}, 400,
     "body: Input should be a valid dictionary or object to extract fields from"),
    ("GET", "/v1/device/state?wait=301", None, {}, 400,
     "query.wait: Input should be less than or equal to 300"),
    ("GET", "/v1/device/state?wait=soon", None, {}, 400,
     "query.wait: Input should be a valid integer, unable to parse string as an integer"),
    ("GET", "/v1/device/state", None, {"Authorization": "Bearer nope"}, 401,
     "unknown or revoked device API key; register the device again"),
    ("GET", "/v1/device/state", None, {"Authorization": "Basic eDp5"}, 401,
     "send your device API key as: Authorization: Bearer <key>"),
    ("POST", "/v1/devices", {"uuid": 5}, {}, 400, "body.uuid: Input should be a valid string"),
    ("GET", "/v2/anything", None, {}, 404, "no such route; the API is described at /openapi.json"),
    ("DELETE", "/v1/device/state", None, {}, 405,
     "this route does not take that method; see /openapi.json"),
    ("GET", "/v1/metrics", None, {"Authorization": ""}, 401,
     "send your metrics token (FLEETGATE_METRICS_TOKEN) as: Authorization: Bearer <key>"),
    ("GET", "/v1/metrics", None, {"Authorization": "Bearer wrong"}, 401,
     "wrong metrics token; use the value of FLEETGATE_METRICS_TOKEN"),
]  # fmt: skip


def test_bad_input_gets_a_one_line_4xx(api: Api) -> None:
    key = fleet_with_key(api, "alice/strict")
    client = api.client(api.register(key, "raspberrypi3"))
    for method, path, body, headers, status, detail in BAD_INPUT:
        content = body if isinstance(body, str) else None
        json_body = None if isinstance(body, str) else body
        answer = client.request(
            method,
            path,
            json=json_body,
            content=content,
            headers={"Content-Type": "application/json", **headers},
        )
        assert (answer.status_code, answer.json()) == (status, {"detail": detail}), (method, path, body)


def test_openapi_and_request_counts(api: Api) -> None:
    key = fleet_with_key(api, "alice/counted")
    device_key = api.register(key, "raspberrypi3")
    client = api.client(device_key)
    document = api.client().get("/openapi.json").json()
    assert {"/v1/devices", "/v1/device/state", "/v1/metrics"} <= set(document["paths"])
    _, etag = state(api, device_key)
    client.get("/v1/device/state", params={"wait": 1}, headers={"If-None-Match": etag})
    client.patch("/v1/device/state", json={"status": "idle"})
    counted = api.metrics()
    uuid = client.get("/v1/device/state").json()["device"]["uuid"]
    assert counted["devices"][uuid] == {"GET /v1/device/state": 2, "PATCH /v1/device/state": 1}
    assert counted["requests"]["POST /v1/devices"] >= 1 and counted["waiting"] == 0


def test_without_a_registry_devices_are_told_what_to_set(tmp_path: Path) -> None:
    api = start_api(tmp_path, {"FLEETGATE_REGISTRY": ""})
    try:
        api.gw.cli("user", "add", "alice")
        api.gw.cli("fleet", "create", "alice/local", "--device-type", "raspberrypi3")
        refused = api.gw.cli("fleet", "provisioning-key", "alice/local", check=False)
        line = (
            "deploying to devices needs a registry: images that live only in the build daemon cannot reach "
            "devices; the operator must set FLEETGATE_REGISTRY (and FLEETGATE_REGISTRY_USER/PASSWORD)"
        )
        assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", f"fleetgate: error: {line}\n")
        env = dict(api.gw.env, **registry_env())
        import subprocess

        from ..support import FLEETGATE

        made = subprocess.run([*FLEETGATE, "fleet", "provisioning-key", "alice/local"], env=env,
                              capture_output=True, text=True, check=True)  # fmt: skip
        answer = api.client(made.stdout.strip()).post(
            "/v1/devices", json={"uuid": new_uuid(), "device_type": "raspberrypi3"}
        )
        assert (answer.status_code, answer.json()) == (503, {"detail": line})
    finally:
        api.close()
        api.gw.stop()
