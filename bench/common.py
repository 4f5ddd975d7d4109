"""Small helpers for the benchmarks: commands, ports, process trees and their anonymous memory."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path


def run(args: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, capture its output, raise with its stderr when it fails."""
    result = subprocess.run(list(args), capture_output=True, **kwargs)
    if result.returncode != 0:
        err = result.stderr.decode(errors="replace") if isinstance(result.stderr, bytes) else result.stderr
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({result.returncode}): {err}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    """Wait until something accepts connections on the loopback `port`; fail if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on port {port}")


def stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM one process we started, then SIGKILL it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after its last ')'
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return parents


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss_anon_kib(pid: int) -> int:
    """RssAnon of one process in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _role(pid: int) -> str:
    """A short name for a process of a server's tree, from its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    line = b" ".join(argv).decode(errors="replace").strip()
    if not line:
        return "gone"  # exited, not reaped yet: no command line any more
    for needle, role in (("pack_stream", "pack stream"), ("spawn_main", "unpack worker"),
                         ("resource_tracker", "resource tracker"), ("receive-pack", "receive-pack"),
                         ("index-pack", "index-pack"), ("sshd", "sshd")):  # fmt: skip
        if needle in line:
            return role
    return "main" if pid else "?"


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of one process in clock ticks (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))


class MemorySampler:
    """Samples the summed RssAnon of a process tree every `interval` seconds; keeps the peak.

    It also follows each process's CPU time, to tell which one a push waits for (a process that ends
    between two samples loses its last `interval` of CPU).
    """

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak_kib = 0
        self.peak_roles: dict[str, int] = {}
        self.samples = 0
        self._ticks: dict[int, tuple[str, int, int]] = {}  # pid -> (role, ticks first seen, ticks last seen)
        self._sampling = False  # processes found from now on were born while sampling
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> MemorySampler:
        self.peak_kib = sum(self._sample().values())
        self._sampling = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # the CPU up to the end

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            roles = self._sample()
            if sum(roles.values()) > self.peak_kib:
                self.peak_kib, self.peak_roles = sum(roles.values()), roles
            self.samples += 1

    def _sample(self) -> dict[str, int]:
        """One look at every process of the tree: RssAnon by role (summed when several share one),
        and each process's CPU time so far."""
        roles: dict[str, int] = {}
        for pid in process_tree(self.root):
            role = "main" if pid == self.root else _role(pid)  # again each time: a fork may exec since
            if role != "gone":
                roles[role] = roles.get(role, 0) + rss_anon_kib(pid)
            ticks = cpu_ticks(pid)
            # A process born while sampling counts from 0; one already there, from when sampling began.
            known, first, _ = self._ticks.get(pid, (role, 0 if self._sampling else ticks, 0))
            self._ticks[pid] = (known if role == "gone" else role, first, max(ticks, first))
        return roles

    @property
    def breakdown(self) -> str:
        """The peak by process role: `main 90.1 MB, unpack worker 120.3 MB, ...`."""
        return ", ".join(f"{role} {kib / 1024:.1f} MB" for role, kib in sorted(self.peak_roles.items()))

    @property
    def cpu(self) -> str:
        """CPU seconds spent while sampling, by process role: `main 1.20 s, unpack worker 2.31 s`."""
        roles: dict[str, int] = {}
        for role, first, last in self._ticks.values():
            roles[role] = roles.get(role, 0) + last - first
        tick = os.sysconf("SC_CLK_TCK")
        return ", ".join(f"{role} {t / tick:.2f} s" for role, t in sorted(roles.items()) if t)

    @property
    def peak_mb(self) -> float:
        return self.peak_kib / 1024
