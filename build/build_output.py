"""BuildKit's plain output, scanned (pure): the failing step, its error, an unreachable daemon."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

VERTEX = re.compile(r"^#(\d+) (.+)$")  # the first line of each vertex is its name
_STAGE = re.compile(r"^\[[^\]]*\] ")  # "[2/3] " before a Dockerfile step's name
# A missing or unreadable cache source marks its vertex ERROR, yet the build goes on and succeeds:
# a previous release's image may be gone, and that is no reason to fail a push.
_CACHE_IMPORT = "importing cache manifest from "
_STEP_ERROR = re.compile(r"^#(\d+) ERROR: (.+)$")
_EXIT_CODE = re.compile(r"exit code: (\d+)")
STEP_SHOWN = 60  # characters of a failing step's text in the reason; the build log has all of it
_DAEMON_DOWN = re.compile(
    r"cannot connect to the docker daemon|error during connect|is the docker daemon running", re.I
)


@dataclass(frozen=True)
class _Scan:
    """What the output said about failure, collected as lines arrive."""

    steps: Mapping[str, str]
    step_error: tuple[str, str] | None  # (step text, error text)
    last_error: str | None
    daemon_down: bool


def scan_output(lines: Iterable[str]) -> _Scan:
    """Find the failing step and error lines in BuildKit's plain output."""
    steps: dict[str, str] = {}
    step_error = None
    last_error = None
    daemon_down = False
    for line in lines:
        if m := _STEP_ERROR.match(line):
            # Step output carries a timestamp (`#5 0.17 ERROR: …`): only the daemon's own line matches here.
            name = steps.get(m.group(1), f"#{m.group(1)}")
            if not name.startswith(_CACHE_IMPORT):
                step_error = step_error or (name, m.group(2))
        elif m := VERTEX.match(line):
            steps.setdefault(m.group(1), _STAGE.sub("", m.group(2)))
        elif line.lower().startswith(("error:", "failed to solve", "executor failed")):
            last_error = line.removeprefix("ERROR: ").removeprefix("error: ")
        if _DAEMON_DOWN.search(line):
            daemon_down = True
    return _Scan(steps, step_error, last_error, daemon_down)


def failure_message(scan: _Scan, returncode: int) -> str | None:
    """The one-line reason a build failed, or None when nothing in the output says it failed.

    The caller says that it was a build that failed, and of which service: the reason does not.
    """
    if scan.step_error:
        step, error = scan.step_error
        step = _shortened(step, STEP_SHOWN)
        if code := _EXIT_CODE.search(error):
            return f"step '{step}' exited with code {code.group(1)}"
        return f"step '{step}': {error}"
    if scan.last_error:
        return scan.last_error
    if returncode != 0:
        return f"docker build exited with code {returncode}"
    return None


def _shortened(text: str, width: int) -> str:
    """The text's head and tail around an ellipsis: a long RUN line stays recognisable at both ends."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 3
    return text[: width - 1 - tail] + "…" + text[len(text) - tail :]
