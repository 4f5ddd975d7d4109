"""Benchmark: a zero-downtime rollout to two servers under load (issue 5).

Starts two test servers (Debian's sshd on 127.0.0.21 and .22, each with its own dockerd and the proxy),
rolls release one out, measures steady-state latency through the proxies, then rolls release two out
while keep-alive clients (some with slow requests) load both proxies. Prints, per host, the rollout time,
requests served during it, failed requests (must be 0) and p99 latency of the fast requests within one
second of the switch, against steady state.

Needs what the integration tests need: `bash .ci/services.sh` (dockerd, the registry with authentication
on 127.0.0.1:5001, busybox-fg, fleetgate-proxy:2.6) and Debian's openssh-server.
Run: `.venv/bin/python bench/servers.py [--clients N] [--steady SECONDS]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fleetgate.deploy.servers.rollout import rollout  # noqa: E402

from tests.integration.servers.app import build_app, delete_app  # noqa: E402
from tests.integration.servers.conftest import HTTP_PORT, OPTIONS, host_name, release, targets  # noqa: E402
from tests.integration.servers.load import Load, p99  # noqa: E402
from tests.integration.servers.sshd import start_servers, stop_servers  # noqa: E402

NUMBERS = (21, 22)  # benchmark daemons: 21-29
SLUG = "bench/servers"


def fast_latencies(outcomes, target: str, start: float, end: float) -> list[float]:
    return [
        o.ended - o.started
        for o in outcomes
        if o.target == target and o.path == "/" and o.status == 200 and start <= o.started <= end
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=6, help="keep-alive clients per server")
    parser.add_argument("--steady", type=float, default=5.0, help="seconds of steady-state load")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_servers(NUMBERS, Path(tmp))
        pushed: list[str] = []
        try:
            repository = f"fgbench/app-{uuid.uuid4().hex[:8]}"
            pushed = [build_app(repository, n) for n in ("one", "two")]
            one, two = (release(SLUG, n, image) for n, image in zip(("one", "two"), pushed, strict=True))
            options = replace(OPTIONS, stop_timeout=2)
            first = rollout(one, targets(servers), who="bench", say=lambda _: None, options=options)
            assert first.ok, first.reason
            load_targets = [(s.host, HTTP_PORT, host_name(SLUG)) for s in servers]

            steady = Load(load_targets, args.clients, slow_every=1, slow_seconds=1)
            steady.start()
            time.sleep(args.steady)
            steady_outcomes = steady.stop()

            lines: list[tuple[float, str]] = []
            load = Load(load_targets, args.clients, slow_every=1, slow_seconds=1)
            load.start()
            time.sleep(1)
            started = time.monotonic()
            result = rollout(
                two,
                targets(servers),
                who="bench",
                say=lambda line: lines.append((time.monotonic(), line)),
                options=options,
            )
            ended = time.monotonic()
            time.sleep(1)
            outcomes = load.stop()
        finally:
            stop_servers(servers)
            for image in pushed:
                delete_app(image)
    print(
        f"rollout to {len(NUMBERS)} servers: {'ok' if result.ok else result.reason}, "
        f"{ended - started:.1f}s in all"
    )
    total_failed = 0
    for server, host in zip(servers, result.hosts, strict=True):
        prefix = f"{server.host}:{server.port}: "
        switched = [t for t, line in lines if line.startswith(prefix) and "proxy switched to" in line]
        during = [o for o in outcomes if o.target == server.host and started <= o.started <= ended]
        failed = [o for o in outcomes if o.target == server.host and (o.error or o.status != 200)]
        total_failed += len(failed)
        steady_p99 = p99(fast_latencies(steady_outcomes, server.host, 0, float("inf")))
        around = fast_latencies(outcomes, server.host, switched[0] - 1, switched[0] + 1) if switched else []
        print(
            f"  {server.host}: rollout {host.seconds:.1f}s, {len(during)} requests served during it, "
            f"{len(failed)} failed; p99 of fast requests: steady {steady_p99 * 1000:.1f} ms, "
            f"within 1 s of the switch {p99(around) * 1000:.1f} ms ({len(around)} requests)"
        )
    print(f"failed requests in all: {total_failed} (must be 0)")
    return 0 if result.ok and total_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
