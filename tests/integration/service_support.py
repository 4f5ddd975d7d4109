"""What the service tests watch a real `fleetgate serve` through: its log, its notify socket, /healthz."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .support import Gateway

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) ([\w.]+): (.*)$")


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket `fleetgate serve` finds in $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.seen: list[str] = []

    def wait_for(self, state: str, seconds: float = 30) -> None:
        """Wait for a datagram with the line `state` (READY=1, RELOADING=1, STOPPING=1)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                lines = self.sock.recv(4096).decode().splitlines()
            except TimeoutError:
                break
            self.seen.append(" ".join(lines))
            if state in lines:
                return
        raise AssertionError(f"no {state} from fleetgate serve; it sent: {self.seen}")

    def close(self) -> None:
        self.sock.close()


def log_text(gw: Gateway) -> str:
    return (gw.home / "serve.log").read_text(errors="replace")


def wait_for_log(gw: Gateway, found: Callable[[str], bool], after: int = 0, seconds: float = 30) -> str:
    """The first line of serve's output past byte `after` for which `found` is true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for line in log_text(gw)[after:].splitlines():
            if found(line):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no such line in the log:\n{log_text(gw)[after:]}")


def json_events(gw: Gateway, event: str, after: int = 0) -> list[dict]:
    """The JSON log lines of `event` (push, command, fetch, failed_login) past byte `after`."""
    lines = [line for line in log_text(gw)[after:].splitlines() if line.startswith("{")]
    return [doc for doc in map(json.loads, lines) if doc.get("event") == event]


def healthz(gw: Gateway) -> httpx.Response:
    return httpx.get(f"{gw.http_url()}/healthz", timeout=15)


def fingerprint(key: Path) -> str:
    """`SHA256:…` of a key pair's public half, as ssh-keygen -l prints it."""
    listed = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{key}.pub"], capture_output=True)
    return listed.stdout.decode().split()[1]
