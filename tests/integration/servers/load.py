"""Load: keep-alive HTTP clients hammering the proxies during a rollout (bounded in time and count).

Each client keeps one connection open as long as the proxy allows; half of the clients mix in slow
requests (a CGI script that sleeps) so some requests are in flight while the proxy switches.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """One request: when it started and ended (monotonic), what came back, on which connection."""

    started: float
    ended: float
    path: str
    status: int | None
    body: str
    error: str | None
    connection: int  # counts up per client each time it had to open a new connection
    target: str  # the address the client sent it to


class Load:
    """Clients against (address, port, Host header) targets; `start()`, then `stop()` for the outcomes."""

    def __init__(
        self,
        targets: list[tuple[str, int, str]],
        clients_per_target: int = 4,
        slow_every: int = 4,
        slow_seconds: float = 1.5,
        max_requests: int = 20000,
        max_seconds: float = 120,
    ) -> None:
        self.targets = targets
        self.clients = clients_per_target
        self.slow_every = slow_every
        self.slow_seconds = slow_seconds
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.outcomes: list[Outcome] = []
        self._threads: list[threading.Thread] = []
        self._started = 0

    def _client(self, address: str, port: int, host: str, slow: bool) -> None:
        conn, number, i = None, 0, 0
        if slow:  # slow clients start spread out, so at any moment some slow request is in flight
            time.sleep(self.slow_seconds * (self._offset() % self.clients) / self.clients)
        deadline = time.monotonic() + self.max_seconds
        while (
            not self._stop.is_set() and time.monotonic() < deadline and len(self.outcomes) < self.max_requests
        ):
            i += 1
            path = f"/cgi-bin/slow?{self.slow_seconds}" if slow and (i - 1) % self.slow_every == 0 else "/"
            if conn is None:
                conn, number = http.client.HTTPConnection(address, port, timeout=30), number + 1
            started = time.monotonic()
            try:
                conn.request("GET", path, headers={"Host": host})
                answer = conn.getresponse()
                body = answer.read().decode()
                outcome = Outcome(started, time.monotonic(), path, answer.status, body, None, number, address)
                if answer.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                outcome = Outcome(started, time.monotonic(), path, None, "", repr(error), number, address)
                conn.close()
                conn = None
            with self._lock:
                self.outcomes.append(outcome)
        if conn is not None:
            conn.close()

    def _offset(self) -> int:
        with self._lock:
            self._started += 1
            return self._started

    def start(self) -> None:
        for address, port, host in self.targets:
            for n in range(self.clients):
                thread = threading.Thread(
                    target=self._client, args=(address, port, host, n % 2 == 1), daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> list[Outcome]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return list(self.outcomes)


def p99(seconds: list[float]) -> float:
    """The 99th percentile (nearest rank) of durations."""
    if not seconds:
        return 0.0
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
