"""`git push -o wait=devices`: the push streams the rollout line until the fleet's devices run the release.

The devices are played by threads talking to the real device API (long-poll, state reports) of a real
`fleetgate serve`; the push is a real git push over ssh that really builds and publishes.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import httpx

from ..build.conftest import project, push
from ..support import remote_lines, setup_fleet
from .conftest import Api, start_api

SLUG = "alice/wait"


class Device(threading.Thread):
    """A device that reports `steps` (status, seconds) on seeing a new release, then runs it."""

    def __init__(
        self, client: httpx.Client, steps: tuple[tuple[str, float], ...], finish: bool = True
    ) -> None:
        super().__init__(daemon=True)
        self.client, self.steps, self.finish = client, steps, finish
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self.play()
        except httpx.HTTPError:
            if not self.stop.is_set():  # the test closed the client when it was done: not an error
                raise

    def play(self) -> None:
        first = self.client.get("/v1/device/state")
        etag = first.headers["ETag"]
        self.client.patch("/v1/device/state", json={"status": "idle", "release": None})
        while not self.stop.is_set():
            answer = self.client.get("/v1/device/state", params={"wait": 2}, headers={"If-None-Match": etag})
            if answer.status_code == 304:
                self.client.patch("/v1/device/state", json={})  # still here: keeps last_seen fresh
                continue
            etag, release = answer.headers["ETag"], answer.json()["release"]
            if release is None:
                continue
            for status, seconds in self.steps:
                self.client.patch("/v1/device/state", json={"status": status})
                time.sleep(seconds)
            if self.finish:
                self.client.patch("/v1/device/state", json={"status": "idle", "release": release["hash"]})


def devices(api: Api, count: int, steps, finish: bool = True) -> list[Device]:
    key = api.provisioning_key(SLUG)
    made = [Device(api.client(api.register(key, "generic-amd64")), steps, finish) for _ in range(count)]
    for device in made:
        device.start()
    deadline = time.monotonic() + 20
    while any(d["status"] != "idle" for d in device_states(api)):
        assert time.monotonic() < deadline, "the devices never reported"
        time.sleep(0.1)
    return made


def info_lines(stderr: str) -> list[str]:
    """The pusher's lines without their `[Info]`-style tags."""
    return [re.sub(r"^\[\w+\]\s+", "", line) for line in remote_lines(stderr)]


def released(lines: list[str]) -> str:
    return next(line.split()[1] for line in lines if line.startswith("Release: "))


def device_states(api: Api) -> list[dict]:
    return json.loads(api.gw.cli("device", "list", SLUG, "--json").stdout)


def test_the_push_waits_until_every_device_runs_the_release(tmp_path: Path) -> None:
    api = start_api(tmp_path, {"FLEETGATE_DEVICE_WAIT": "120"})
    try:
        running: list[Device] = []
        locked: list[Device] = []
        key = setup_fleet(api.gw, SLUG, "generic-amd64")
        running = devices(api, 1, (("downloading", 0.5),))
        locked = devices(api, 1, (("update locked", 3.0),))
        result = push(
            api.gw, project(tmp_path, "dockerfile-plain"), key, SLUG, "master", flags=("-o", "wait=devices")
        )
        lines = info_lines(result.stderr)
        release = released(lines)
        rollout = [line for line in lines if "devices running" in line]
        assert f"1/2 devices running {release[:7]}, 1 update locked" in rollout
        assert rollout[-1] == f"2/2 devices running {release[:7]}"
        assert lines.index(rollout[0]) > lines.index(next(x for x in lines if x.startswith("Release: ")))
        assert {d["release"] for d in device_states(api)} == {release}
    finally:
        for device in running + locked:
            device.stop.set()
        api.close()
        api.gw.stop()


def test_a_fleet_that_waits_stops_at_the_limit_and_the_push_still_succeeds(tmp_path: Path) -> None:
    api = start_api(tmp_path, {"FLEETGATE_DEVICE_WAIT": "3"})
    try:
        stuck: list[Device] = []
        key = setup_fleet(api.gw, SLUG, "generic-amd64")
        stuck = devices(api, 1, (("update locked", 0),), finish=False)
        api.gw.cli("fleet", "set", SLUG, "--wait-for-devices")  # the fleet's setting instead of -o
        result = push(api.gw, project(tmp_path, "dockerfile-plain"), key, SLUG, "master")
        lines = info_lines(result.stderr)
        release = released(lines)
        assert f"0/1 devices running {release[:7]}, 1 update locked" in lines
        assert "stopped waiting after 3s; see: fleetgate device list" in lines
        assert "master -> master" in result.stderr  # the ref moved: waiting never fails a push
    finally:
        for device in stuck:
            device.stop.set()
        api.close()
        api.gw.stop()
