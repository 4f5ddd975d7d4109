"""Benchmark: push → release for a one-service project (DESIGN.md §7).

Reports, as medians over several rounds:
- fleetgate's own overhead: the `git push` wall time minus the time it waited for the Docker build and
  the registry push (both from the gateway's log), target under 1 s;
- a re-push after a one-file change: its time against the first (uncached) build, and whether the
  expensive layer came from the cache.

Needs what the integration tests need: `bash .ci/services.sh` (dockerd, registry on 127.0.0.1:5000,
the busybox-fg base image). Run: `.venv/bin/python bench/release.py [--rounds N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REGISTRY = "127.0.0.1:5000"
FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]
# The expensive step comes first so that a change to app.txt reuses it from the cache.
DOCKERFILE = """FROM busybox-fg
RUN sleep 2 && dd if=/dev/zero of=/blob bs=1M count=8 2>/dev/null && echo expensive step done
COPY app.txt /app.txt
CMD ["cat", "/app.txt"]
"""
# What the expensive step prints when it runs (`#5 2.104 expensive step done`); its title line, shown
# for a cached step too, has no timestamp.
RAN_EXPENSIVE = re.compile(r"#\d+ \d+\.\d+ expensive step done")
TIMINGS = re.compile(r"release (\w+) built: docker ([\d.]+) s, registry ([\d.]+) s, total ([\d.]+) s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout + done.stderr


class Gateway:
    """`fleetgate serve` with its own home, a user, a key and one fleet."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.env = dict(
            os.environ,
            FLEETGATE_HOME=str(root / "home"),
            FLEETGATE_REGISTRY=REGISTRY,
            FLEETGATE_SSH_LISTEN=f"127.0.0.1:{self.port}",
            FLEETGATE_HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        )
        self.log = root / "serve.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                FLEETGATE + ["serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait()
        key = root / "key"
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        run(*FLEETGATE, "user", "add", "bench", env=self.env)
        run(*FLEETGATE, "key", "add", "bench", f"{key}.pub", env=self.env)
        run(*FLEETGATE, "fleet", "create", "bench/app", "--device-type", "generic-amd64", env=self.env)
        self.git_env = dict(
            os.environ,
            GIT_SSH_COMMAND=(
                f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
            ),
        )

    def _wait(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("fleetgate serve did not start")

    def timings(self, release_hash: str) -> tuple[float, float]:
        for match in TIMINGS.finditer(self.log.read_text()):
            if match.group(1) == release_hash:
                return float(match.group(2)), float(match.group(3))
        raise SystemExit(f"no timings for release {release_hash} in {self.log}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def commit(work: Path, text: str) -> None:
    (work / "app.txt").write_text(text)
    run("git", "add", "-A", cwd=work)
    run("git", "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-qm", text, cwd=work)


def push(gw: Gateway, work: Path, *flags: str) -> tuple[float, str, str]:
    """One push: wall seconds, the release hash it made, and its output."""
    started = time.monotonic()
    output = run(
        "git",
        "push",
        *flags,
        f"ssh://git@127.0.0.1:{gw.port}/bench/app.git",
        "master",
        cwd=work,
        env=gw.git_env,
    )
    seconds = time.monotonic() - started
    found = re.search(r"Release: (\w+) \(id: \d+\)", output)
    if not found:
        raise SystemExit(f"no release in the push output:\n{output}")
    return seconds, found.group(1), output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-release-") as tmp:
        root = Path(tmp)
        gw = Gateway(root)
        try:
            work = root / "work"
            work.mkdir()
            (work / "Dockerfile").write_text(DOCKERFILE)
            run("git", "init", "-q", "-b", "master", cwd=work)
            overheads, cold, warm, cached_hits = [], [], [], 0
            for i in range(rounds):
                commit(work, f"round {i} cold\n")
                seconds, release_hash, _ = push(gw, work, "-o", "nocache")
                docker, registry = gw.timings(release_hash)
                cold.append(seconds)
                overheads.append(seconds - docker - registry)
                commit(work, f"round {i} one file changed\n")
                seconds, release_hash, output = push(gw, work)
                docker, registry = gw.timings(release_hash)
                warm.append(seconds)
                overheads.append(seconds - docker - registry)
                cached_hits += RAN_EXPENSIVE.search(output) is None
            report(rounds, overheads, cold, warm, cached_hits)
        finally:
            gw.stop()


def report(
    rounds: int, overheads: list[float], cold: list[float], warm: list[float], cached_hits: int
) -> None:
    overhead = statistics.median(overheads)
    print(json.dumps({"rounds": rounds, "overhead_s": overheads, "cold_s": cold, "warm_s": warm}))
    print(
        f"fleetgate overhead per push (median of {len(overheads)}): {overhead:.3f} s"
        f"  (target < 1 s){'' if overhead < 1 else '  MISSED'}"
    )
    print(f"push -> release, no cache (median):            {statistics.median(cold):.2f} s")
    print(
        f"re-push after a one-file change (median):      {statistics.median(warm):.2f} s"
        f"  ratio {statistics.median(warm) / statistics.median(cold):.2f}x of the uncached push"
    )
    print(
        f"re-pushes whose expensive layer came from the cache: {cached_hits}/{rounds}"
        f"{'' if cached_hits == rounds else '  MISSED'}"
    )


if __name__ == "__main__":
    main()
