"""How values read on a page: relative times, durations, sizes, progress bars, who is online. Pure.

Times are rendered relative to the server's clock as a fallback; the page's script rewrites them in the
browser's own zone and keeps them current (static/app.js mirrors `relative`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from fleetgate.hooks.device_progress import ONLINE_WINDOW

# (seconds in the unit, its name): the largest unit that fits is used.
_UNITS = ((365 * 86400, "year"), (30 * 86400, "month"), (7 * 86400, "week"), (86400, "day"),
          (3600, "hour"), (60, "minute"))  # fmt: skip


def relative(then: datetime, now: datetime) -> str:
    """`then` as `3 minutes ago`, `in 2 hours` or `just now` (under 45 seconds either way)."""
    seconds = (then - now).total_seconds()
    span = abs(seconds)
    if span < 45:
        return "just now"
    size, name = next(((s, n) for s, n in _UNITS if span >= s), (1, "second"))
    count = round(span / size)
    words = f"{count} {name}{'' if count == 1 else 's'}"
    return f"in {words}" if seconds > 0 else f"{words} ago"


def duration(seconds: float | None) -> str:
    """A build's length: `42 s`, `3 min 5 s`, `1 h 2 min`; an empty string when unknown."""
    if seconds is None:
        return ""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def size(count: int | None) -> str:
    """Bytes as `512 B`, `1.5 KB`, `12.3 MB` (powers of 1000, as Docker prints image sizes)."""
    if count is None:
        return ""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Progress:
    """A progress bar: the percentage it fills (0–100) and its label."""

    percent: int
    label: str


def progress(percent: int | float | None, status: str | None) -> Progress | None:
    """The bar for a device's download; None when it is not downloading or says no number."""
    if percent is None or status not in ("downloading", "installing"):
        return None
    filled = max(0, min(100, int(percent)))
    return Progress(filled, f"{status} {filled}%")


def online(last_seen: datetime | None, now: datetime) -> bool:
    """Whether a device talked to the gateway lately (agents long-poll: an online one always does)."""
    return last_seen is not None and now - last_seen <= ONLINE_WINDOW


def by_state(statuses: Iterable[str | None]) -> list[tuple[str, int]]:
    """How many devices are in each state, most first (ties by name); no report yet reads `new`."""
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status or "new"] = counts.get(status or "new", 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def matches(query: str, fields: Sequence[str | None]) -> bool:
    """Whether a release matches a search: the query (case-blind) starts one of its commit, hash or name."""
    wanted = query.strip().lower()
    return not wanted or any(f is not None and f.lower().startswith(wanted) for f in fields)
