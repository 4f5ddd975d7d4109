"""Node.js: the implicit Dockerfile of a package.json project without one (DESIGN.md §2.4)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fleetgate.device_types import DeviceType

Version = tuple[int, int, int]
Interval = tuple[Version, Version]  # [low, high)

ZERO: Version = (0, 0, 0)
INFINITY: Version = (10**9, 0, 0)
_PART = r"(?:\d+|[xX*])"
_PARTIAL = re.compile(
    rf"^v?({_PART})(?:\.({_PART})(?:\.({_PART})(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)?)?$"
)
_COMPARATOR = re.compile(r"^(<=|>=|<|>|=|\^|~>|~)?(.*)$")
_HYPHEN = re.compile(r"^(\S+)\s+-\s+(\S+)$")
_PLACEHOLDER = re.compile(r"\{(machine|arch|version)\}")
# balena's builder runs `npm install --unsafe-perm --production`; npm 7+ (node 15+) ignores unsafe-perm,
# warns on --production and will refuse unknown flags, so newer majors get today's spelling.
NPM_INSTALL_LEGACY = "npm install --unsafe-perm --production --no-audit --no-fund"
NPM_INSTALL = "npm install --omit=dev --no-audit --no-fund"
NPM_OMIT_DEV_SINCE = 15


class PackageJsonError(ValueError):
    """The pushed package.json cannot be built; the message says what to fix."""


class NodeImageError(ValueError):
    """The operator's node image template is unusable."""


@dataclass(frozen=True)
class NodeSettings:
    """Which node image builds a package.json project, and which majors exist."""

    image: str = "balenalib/{machine}-node:{version}"
    majors: tuple[int, ...] = (22, 20, 18, 16, 14, 12, 10)
    default_major: int = 20


def _partial(text: str) -> list[int] | None:
    match = _PARTIAL.match(text)
    if not match:
        return None
    parts = []
    for part in match.groups():
        if part is None or not part.isdigit():
            break  # an x-range: everything after the first wildcard is free
        parts.append(int(part))
    return parts


def _floor(parts: list[int]) -> Version:
    return (*parts, 0, 0, 0)[:3]  # type: ignore[return-value]


def _next(parts: list[int]) -> Version:
    """The first version above every version the partial `parts` matches."""
    if not parts:
        return INFINITY
    bumped = [*parts[:-1], parts[-1] + 1]
    return _floor(bumped)


def _caret(parts: list[int]) -> Interval:
    # ^ allows changes that do not modify the left-most non-zero part.
    for i, part in enumerate(parts):
        if part != 0 or i == len(parts) - 1:
            return _floor(parts), _next(parts[: i + 1])
    return ZERO, INFINITY


def _comparator(text: str) -> Interval | None:
    op, rest = _COMPARATOR.match(text).groups()  # type: ignore[union-attr]
    parts = _partial(rest)
    if parts is None:
        return None
    low, high = _floor(parts), _next(parts)
    table: dict[str | None, Interval] = {
        None: (low, high),
        "=": (low, high),
        ">=": (low, INFINITY),
        ">": (high, INFINITY),
        "<": (ZERO, low if parts else ZERO),
        "<=": (ZERO, high),
        "~": (low, _next(parts[:2]) if len(parts) > 1 else high),
        "~>": (low, _next(parts[:2]) if len(parts) > 1 else high),
        "^": _caret(parts),
    }
    return table[op]


def _alternative(text: str) -> Interval | None:
    hyphen = _HYPHEN.match(text)
    if hyphen:
        low, high = _partial(hyphen.group(1)), _partial(hyphen.group(2))
        return None if low is None or high is None else (_floor(low), _next(high))
    text = re.sub(r"(<=|>=|<|>|=|\^|~>?)\s+", r"\1", text)
    interval: Interval = (ZERO, INFINITY)
    for word in text.split() or ["*"]:
        one = _comparator(word)
        if one is None:
            return None
        interval = (max(interval[0], one[0]), min(interval[1], one[1]))
    return interval


def node_ranges(spec: str) -> tuple[Interval, ...]:
    """The version intervals a semver range allows, or PackageJsonError if it is not one."""
    intervals = []
    for alternative in spec.split("||"):
        interval = _alternative(alternative.strip())
        if interval is None:
            raise PackageJsonError(
                f"package.json: engines.node {spec!r} is not a version range; use e.g. '>=18'"
            )
        intervals.append(interval)
    return tuple(intervals)


def node_major(spec: str | None, settings: NodeSettings) -> int:
    """The highest known major that `engines.node` allows (the default without one); a range that allows
    none is refused: building on another major would break the project's stated requirement."""
    if spec is None:
        return settings.default_major
    intervals = node_ranges(spec)
    for major in sorted(settings.majors, reverse=True):
        if any(low < (major + 1, 0, 0) and high > (major, 0, 0) and low < high for low, high in intervals):
            return major
    known = ", ".join(str(major) for major in sorted(settings.majors))
    raise PackageJsonError(
        f"package.json: engines.node {spec!r} allows none of the Node.js majors this gateway builds with "
        f"({known}); allow one of them"
    )


def node_image(settings: NodeSettings, device: DeviceType, major: int) -> str:
    """The base image for a package.json project, from the operator's template."""
    values = {"machine": device.slug, "arch": device.arch, "version": str(major)}
    image = _PLACEHOLDER.sub(lambda m: values[m.group(1)], settings.image)
    if not image or "{" in image or "}" in image or any(c.isspace() for c in image):
        raise NodeImageError(
            f"node image template {settings.image!r}: use only {{machine}}, {{arch}}, {{version}}"
        )
    return image


def read_package_json(data: bytes, filename: str = "package.json") -> dict[str, Any]:
    """Parse package.json and check the fields the implicit Dockerfile reads."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise PackageJsonError(f"{filename}: not valid JSON ({e}); fix the syntax") from None
    if not isinstance(doc, dict):
        raise PackageJsonError(f"{filename}: must be a JSON object")
    for key in ("engines", "scripts"):
        if not isinstance(doc.get(key, {}), dict):
            raise PackageJsonError(f"{filename}: {key} must be an object")
    if not isinstance(doc.get("engines", {}).get("node", ""), str):
        raise PackageJsonError(f"{filename}: engines.node must be a string such as '>=18'")
    return doc


def implicit_dockerfile(
    package_json: bytes, device: DeviceType, settings: NodeSettings, has_lock: bool = False
) -> str:
    """The Dockerfile balena's builder would use for a package.json project."""
    doc = read_package_json(package_json)
    major = node_major(doc.get("engines", {}).get("node"), settings)
    image = node_image(settings, device, major)
    install = NPM_INSTALL if major >= NPM_OMIT_DEV_SINCE else NPM_INSTALL_LEGACY
    copy = "package.json package-lock.json" if has_lock else "package.json"
    start = doc.get("scripts", {}).get("start")
    cmd = '["npm", "start"]' if isinstance(start, str) and start.strip() else '["node", "server.js"]'
    return f"FROM {image}\nWORKDIR /usr/src/app\nCOPY {copy} ./\nRUN {install}\nCOPY . ./\nCMD {cmd}\n"
