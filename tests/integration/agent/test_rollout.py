"""Real agents against a real gateway: registration, instant rollout by long-poll, reports, old images."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from .conftest import Fleet, metrics, wait_running
from .devices import until


def requests(counts: dict) -> int:
    """Requests the devices made, all routes."""
    return sum(sum(routes.values()) for routes in counts["devices"].values())


def test_a_bad_provisioning_key_ends_the_agent_with_one_line(fleet: Fleet, devices) -> None:
    device = devices(1)
    device.start(fleet.api, "not-a-key")
    assert device.proc is not None and device.proc.wait(30) == 1
    last = device.log.read_text().strip().splitlines()[-1]
    assert last.startswith("fleetgate: error: the device API refused the registration (401)"), last
    assert not (device.state_dir / "device.json").exists()


def test_a_push_reaches_every_agent_within_seconds_and_they_long_poll(fleet: Fleet, devices) -> None:
    first = fleet.push()
    one, two = devices(1), devices(2)
    one.start(fleet.api, fleet.provisioning_key, "generic-amd64", "--name", "kitchen")
    two.start(fleet.api, fleet.provisioning_key)
    wait_running([one, two], first)
    assert one.identity["fleet"] == fleet.slug and "provisioning_key" not in one.identity

    def idle_on(release: str) -> bool:
        shown = fleet.devices().values()
        return len(shown) == 2 and all(x["status"] == "idle" and x["release"] == release for x in shown)

    until(lambda: idle_on(first), 10, "both devices to report idle on the first release")
    shown = fleet.devices()
    assert shown[one.uuid]["name"] == "kitchen" and shown[one.uuid]["services"]["main"]["status"] == "running"
    # Both agents now wait in long-polls: over two idle seconds they make (almost) no requests.
    before = metrics(fleet.api)
    time.sleep(2)
    after = metrics(fleet.api)
    assert requests(after) - requests(before) <= 2, (before, after)
    assert after["waiting"] == 2

    second = fleet.push()
    wait_running([one, two], second, timeout=30)
    # From the moment the release finished (the gateway's clock) to each new container's start (the
    # device daemon's clock; one machine): the download of one small layer and a container swap. The
    # bound proves the waiting long-poll was woken: a device that learnt of the release only when its
    # 30 s long-poll ran out would start it up to 30 s late. (Not a speed target: bench/ measures that;
    # a loaded CI machine has shown 3.4 s.)
    done = datetime.fromisoformat(fleet.releases()[0]["finished"]).replace(tzinfo=UTC).timestamp()
    for device in (one, two):
        started = device.dockerd.cli("inspect", "-f", "{{.State.StartedAt}}", f"main_{second[:12]}").stdout
        lag = datetime.fromisoformat(started.strip()[:26]).replace(tzinfo=UTC).timestamp() - done
        assert 0 < lag < 12, f"{device.state_dir.name} ran the release {lag:.2f}s after it finished"
    assert one.exec(f"main_{second[:12]}", "cat", "/data/starts").split()[0::2] == ["1", "2"]  # volume kept
    # The old release's image is gone from the device; only the running one is left.
    image = fleet.gw.cli("release", "show", second, "--json")
    assert one.images() == [i for i in one.images() if i in image.stdout] and len(one.images()) == 1
