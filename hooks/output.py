"""What the pusher sees: balena-style status lines, prefixed build lines, the summary table (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

COLOURS = {"Info": "36", "Success": "32", "Warn": "33", "Error": "31"}
# CSI/OSC escapes and other C0 controls a build could print to rewrite the pusher's terminal.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?|[\x00-\x08\x0b-\x1f\x7f]"
)


def sanitise(text: str) -> str:
    """The text without escape sequences or control characters (tabs stay)."""
    return _ESCAPES.sub("", text)


def status(kind: str, text: str, plain: bool) -> str:
    """`[Info]     text`, the tag coloured unless plain."""
    tag = f"[{kind}]"
    pad = " " * max(1, 11 - len(tag))
    if plain:
        return f"{tag}{pad}{text}"
    return f"\x1b[{COLOURS[kind]}m{tag}\x1b[0m{pad}{text}"


def service_line(service: str, line: str) -> str:
    """A build line prefixed by its service, as balena prints them: `[main]     Step 1/4 : FROM …`."""
    tag = f"[{service}]"
    return f"{tag}{' ' * max(1, 11 - len(tag))}{sanitise(line)}"


@dataclass(frozen=True)
class SummaryRow:
    """One service in the final table."""

    service: str
    image: str
    size: int
    seconds: float


def human_size(size: int) -> str:
    """Bytes as balena shows image sizes: 1.23 MB."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{size} B"


def duration(seconds: float) -> str:
    """Seconds as `1m 05s` or `12s`."""
    whole = int(round(seconds))
    return f"{whole // 60}m {whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def summary_table(rows: Sequence[SummaryRow]) -> list[str]:
    """The Service | Image | Size | Build time table, boxed."""
    header = ("Service", "Image", "Size", "Build time")
    body = [(r.service, r.image, human_size(r.size), duration(r.seconds)) for r in rows]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        return "│ " + " │ ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " │"

    rule = "─" * (sum(widths) + 3 * len(widths) - 1)
    return ["┌" + rule + "┐", line(header), "├" + rule + "┤", *map(line, body), "└" + rule + "┘"]
