"""Benchmark: release success → devices running it, and what a device downloads for a one-layer change.

Prints, for N = 1, 10 and 50 simulated agents (they register, long-poll the target and report it as
running, without Docker) plus 2 real `fleetgate agent`s (each with its own dockerd, pulling from the
authenticated registry), the seconds from the release's success (its finished_at) to each device
running it: median and worst. Then the bytes a real device pulled for the first release (everything)
and for a release where one layer of one service changed, against that layer's size in the registry.

Needs what the agent's integration tests need: `bash .ci/services.sh` (dockerd, the registry with
authentication on 127.0.0.1:5001, busybox-fg), run as root (extra daemons). Uses dockerd numbers 21, 22.
Run: `.venv/bin/python bench/rollout.py [--sizes 1,10,50]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from common import free_port, run, stop, wait_for_port  # noqa: E402
from dockerds import start_dockerd, stop_dockerd  # noqa: E402 - the tests' helper for extra daemons

REGISTRY, USER, PASSWORD = "127.0.0.1:5001", "fleetgate", "fleetgate-ci"
FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]
SLUG = "bench/rollout"
DOCKERFILE = """FROM busybox-fg
RUN dd if=/dev/urandom of=/blob bs=1k count={kib} 2>/dev/null
COPY VERSION /VERSION
CMD ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done"]
"""
COMPOSE = """version: '2.1'
services:
  main:
    build: ./main
    network_mode: host
  side:
    build: ./side
    network_mode: host
"""
PULLED = re.compile(r"^(\S+ \S+) INFO fleetgate.agent: pulled (\S+): (\d+) bytes", re.M)
RUNNING = re.compile(r"^(\S+ \S+) INFO fleetgate.agent: running release (\w+)", re.M)


class Gateway:
    """`fleetgate serve` with SSH and the device API, a user, a key and the fleet."""

    def __init__(self, root: Path) -> None:
        self.port, self.http = free_port(), free_port()
        self.api = f"http://127.0.0.1:{self.http}"
        self.env = dict(
            os.environ,
            FLEETGATE_HOME=str(root / "home"),
            FLEETGATE_SSH_LISTEN=f"127.0.0.1:{self.port}",
            FLEETGATE_HTTP_LISTEN=f"127.0.0.1:{self.http}",
            FLEETGATE_REGISTRY=REGISTRY,
            FLEETGATE_REGISTRY_USER=USER,
            FLEETGATE_REGISTRY_PASSWORD=PASSWORD,
        )
        with open(root / "serve.log", "wb") as out:
            self.proc = subprocess.Popen(
                [*FLEETGATE, "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, self.proc, "fleetgate serve")
        wait_for_port(self.http, self.proc, "the device API")
        key = root / "key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
        self.cli("user", "add", "bench")
        self.cli("key", "add", "bench", f"{key}.pub")
        self.cli("fleet", "create", SLUG, "--device-type", "generic-amd64")
        self.provisioning_key = self.cli("fleet", "provisioning-key", SLUG).strip()
        self.git_env = dict(
            os.environ,
            GIT_SSH_COMMAND=f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        )

    def cli(self, *args: str) -> str:
        return run([*FLEETGATE, *args], env=self.env, text=True).stdout

    def release(self, spec: str) -> dict:
        return json.loads(self.cli("release", "show", spec, "--json"))


def push(gw: Gateway, work: Path, main_version: int) -> dict:
    """Commit main's VERSION (one small layer of one service), push, return the release."""
    (work / "main" / "VERSION").write_text(f"{main_version}\n")
    run(["git", "add", "-A"], cwd=work)
    run(["git", "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-qm", f"v{main_version}"], cwd=work)
    url = f"ssh://git@127.0.0.1:{gw.port}/{SLUG}.git"
    run(["git", "push", "-q", url, "master"], cwd=work, env=gw.git_env)
    listed = json.loads(gw.cli("release", "list", SLUG, "--json"))
    return gw.release(listed[0]["hash"])


def finished(release: dict) -> float:
    moment = datetime.fromisoformat(release["finished"])
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class Simulated:
    """An agent without Docker: it long-polls and reports each new target as running at once."""

    def __init__(self, client: httpx.AsyncClient, key: str) -> None:
        self.client, self.key, self.seen = client, key, {}
        self.errors, self.last_error = 0, ""

    async def register(self, provisioning_key: str) -> None:
        body = {"uuid": os.urandom(16).hex(), "device_type": "generic-amd64"}
        answer = await self.client.post(
            "/v1/devices", json=body, headers={"Authorization": f"Bearer {provisioning_key}"}, timeout=60
        )
        answer.raise_for_status()
        self.key = answer.json()["api_key"]

    async def loop(self) -> None:
        etag, headers = None, {"Authorization": f"Bearer {self.key}"}
        while True:
            tagged = {**headers, **({"If-None-Match": f'"{etag}"'} if etag else {})}
            try:
                answer = await self.client.get(
                    "/v1/device/state", params={"wait": 60}, headers=tagged, timeout=90
                )
                if answer.status_code == 304:
                    continue
                answer.raise_for_status()
                release = (answer.json().get("release") or {}).get("hash")
                report = {"status": "idle", "release": release}
                sent = await self.client.patch("/v1/device/state", json=report, headers=headers, timeout=30)
                sent.raise_for_status()
            except httpx.HTTPError as error:
                self.errors += 1
                self.last_error = repr(error)
                await asyncio.sleep(0.2)  # as a real agent would: back off, then ask again
                continue
            etag = answer.headers["ETag"].strip('"')
            self.seen.setdefault(release, time.time())


def agent_times(logs: list[Path], release: str) -> list[float]:
    """When each real agent logged that it runs `release` (epoch seconds)."""
    times = []
    for log in logs:
        for stamp, found in RUNNING.findall(log.read_text()):
            if found == release:
                times.append(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp())
    return times


def wait_agents(logs: list[Path], release: str, timeout: float = 120) -> list[float]:
    deadline = time.monotonic() + timeout
    while len(times := agent_times(logs, release)) < len(logs):
        if time.monotonic() > deadline:
            raise SystemExit(f"the real agents did not run {release} within {timeout}s; see {logs}")
        time.sleep(0.1)
    return times


def layer_sizes(reference: str) -> list[int]:
    """The compressed layer sizes of an image in the registry, from its manifest."""
    repository, _, digest = reference.partition("/")[2].partition("@")
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repository}/manifests/{digest}")
    request.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return [layer["size"] for layer in json.loads(answer.read())["layers"]]


def pulled(logs: list[Path], since: int) -> int:
    """Bytes the first real agent logged as pulled after `since` characters of its log."""
    return sum(int(size) for _, _, size in PULLED.findall(logs[0].read_text()[since:]))


async def rounds(gw: Gateway, work: Path, sizes: list[int], logs: list[Path]) -> list[tuple]:
    results = []
    version = 1
    async with httpx.AsyncClient(base_url=gw.api, limits=httpx.Limits(max_connections=200)) as client:
        for size in sizes:
            sims = [Simulated(client, "") for _ in range(size)]
            await asyncio.gather(*(s.register(gw.provisioning_key) for s in sims))
            tasks = [asyncio.create_task(s.loop()) for s in sims]
            await asyncio.sleep(2)  # every simulated agent is in its long-poll
            version += 1
            release = await asyncio.to_thread(push, gw, work, version)
            done = finished(release)
            real = await asyncio.to_thread(wait_agents, logs, release["hash"])
            deadline = time.monotonic() + 60
            while any(release["hash"] not in s.seen for s in sims) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            simulated = [s.seen.get(release["hash"], float("inf")) - done for s in sims]
            results.append((size, simulated, [t - done for t in real]))
            errors = [s.last_error for s in sims if s.errors]
            if errors:
                print(f"{size} simulated: {len(errors)} saw request errors (retried), e.g. {errors[0]}")
            for task in tasks:
                task.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50", help="numbers of simulated agents, one round each")
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="fleetgate-bench-rollout-"))
    daemons, agents = [], []
    gw = None
    try:
        gw = Gateway(root)
        work = root / "work"
        for service, kib in (("main", 2048), ("side", 1024)):
            (work / service).mkdir(parents=True)
            (work / service / "Dockerfile").write_text(DOCKERFILE.format(kib=kib))
            (work / service / "VERSION").write_text("1\n")
        (work / "docker-compose.yml").write_text(COMPOSE)
        run(["git", "init", "-q", "-b", "master"], cwd=work)
        first = push(gw, work, 1)
        logs = []
        for number in (21, 22):
            daemons.append(start_dockerd(number))
            logs.append(root / f"agent{number}.log")
            argv = [*FLEETGATE, "agent", "--api", gw.api, "--provisioning-key", gw.provisioning_key]
            argv += ["--device-type", "generic-amd64", "--state-dir", str(root / f"agent{number}")]
            argv += ["--docker-host", daemons[-1].host]
            with open(logs[-1], "wb") as out:
                agents.append(subprocess.Popen(argv, env=gw.env, stdout=out, stderr=subprocess.STDOUT))
        wait_agents(logs, first["hash"])
        full = pulled(logs, 0)
        mark = len(logs[0].read_text())
        results = asyncio.run(rounds(gw, work, sizes, logs))
        print("release success -> device runs it (seconds)")
        print(f"{'simulated':>10}  {'median':>7}  {'worst':>7}  {'2 real agents':>14}")
        for size, simulated, real in results:
            print(
                f"{size:>10}  {statistics.median(simulated):7.2f}  {max(simulated):7.2f}  "
                f"{', '.join(f'{t:.2f}' for t in real):>14}"
            )
        last = gw.release(json.loads(gw.cli("release", "list", SLUG, "--json"))[0]["hash"])
        main_image = next(i["image"] for i in last["images"] if i["service"] == "main")
        sizes_now = layer_sizes(main_image)
        changed = pulled(logs, mark) / max(len(results), 1)
        print(f"first release, fresh device: {full} bytes pulled (both services, base layers included)")
        print(
            f"one layer of one service changed: {changed:.0f} bytes pulled per release; the changed layer "
            f"is {sizes_now[-1]} bytes in the registry, the whole image {sum(sizes_now)} "
            f"({100 * changed / max(sum(sizes_now), 1):.4f}% of it)"
        )
    finally:
        for proc in agents:
            stop(proc)
        for daemon in daemons:
            ids = daemon.cli("ps", "-aq", check=False).stdout.split()
            if ids:
                daemon.cli("rm", "-f", *ids, check=False)
            stop_dockerd(daemon)
        if gw is not None:
            gw.proc.send_signal(signal.SIGTERM)
            gw.proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
