"""What the pusher sees: balena-style status lines, prefixed build lines, the summary table (pure).

A pusher's terminal line is `remote: ` (git's) and then ours. Every line but a build's own output fits
in WIDTH columns: status lines wrap onto indented continuation lines, the table shortens digests (the
full references are in `fleetgate release show`) and, if it must, service names.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from fleetgate.units import duration, human_size

WIDTH = 100  # columns of a pusher's terminal line, outside build log lines
REMOTE = len("remote: ")  # what git prints before each of our lines
TAG = 11  # `[Success]  `: a status tag and its padding
TEXT_WIDTH = WIDTH - REMOTE - TAG  # what a status line's text may take
COLOURS = {"Info": "36", "Success": "32", "Warn": "33", "Error": "31"}
# CSI/OSC escapes and other C0 controls a build could print to rewrite the pusher's terminal.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.?|[\x00-\x08\x0b-\x1f\x7f]"
)
SHORT_DIGEST = len("sha256:") + 12


def sanitise(text: str) -> str:
    """The text without escape sequences or control characters (tabs stay)."""
    return _ESCAPES.sub("", text)


def status(kind: str, text: str, plain: bool) -> str:
    """`[Info]     text`, the tag coloured unless plain."""
    tag = f"[{kind}]"
    pad = " " * max(1, TAG - len(tag))
    if plain:
        return f"{tag}{pad}{text}"
    return f"\x1b[{COLOURS[kind]}m{tag}\x1b[0m{pad}{text}"


def status_lines(kind: str, text: str, plain: bool, width: int = TEXT_WIDTH) -> list[str]:
    """A status line wrapped to `width` columns of text: the tag once, continuation lines indented."""
    first, *rest = textwrap.wrap(
        text, width, subsequent_indent="  ", break_long_words=True, break_on_hyphens=False
    ) or [""]
    return [status(kind, first, plain)] + [" " * TAG + line for line in rest]


def fit(text: str, width: int) -> str:
    """The text in at most `width` columns, cut with an ellipsis at the end if it must be."""
    return text if len(text) <= width else text[: width - 1] + "…"


def service_line(service: str, line: str) -> str:
    """A build line prefixed by its service, as balena prints them: `[main]     Step 1/4 : FROM …`."""
    tag = f"[{service}]"
    return f"{tag}{' ' * max(1, TAG - len(tag))}{sanitise(line)}"


def short_digest(reference: str) -> str:
    """`sha256:0123456789ab` from an image reference by digest or an image id (the digest's first 12)."""
    digest = reference.rpartition("@")[2]
    return digest[:SHORT_DIGEST] if digest.startswith("sha256:") else fit(digest, SHORT_DIGEST)


@dataclass(frozen=True)
class SummaryRow:
    """One service in the final table."""

    service: str
    image: str  # the image's reference by digest (or its id, without a registry)
    size: int
    seconds: float


def summary_table(rows: Sequence[SummaryRow], width: int = TEXT_WIDTH) -> list[str]:
    """The Service | Image | Size | Build time table with joined borders, at most `width` columns."""
    header = ("Service", "Image", "Size", "Build time")
    body = [(r.service, short_digest(r.image), human_size(r.size), duration(r.seconds)) for r in rows]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(4)]
    # Borders and padding take 3 columns a cell plus 1; a long service name gives way to the rest.
    widths[0] = max(len(header[0]), min(widths[0], width - 13 - sum(widths[1:])))
    body = [(fit(service, widths[0]), *rest) for service, *rest in body]

    def line(cells: Sequence[str]) -> str:
        return "│ " + " │ ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " │"

    def rule(left: str, middle: str, right: str) -> str:
        return left + middle.join("─" * (w + 2) for w in widths) + right

    return [
        rule("┌", "┬", "┐"),
        line(header),
        rule("├", "┼", "┤"),
        *map(line, body),
        rule("└", "┴", "┘"),
    ]
