"""Render: template variables by a regex over an allowlist, and Dockerfile checks (DESIGN.md §2.4)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

# Template variable (after the BALENA_/RESIN_ prefix) -> RenderContext field. Never a template engine.
VARIABLES: dict[str, str] = {
    "APP_NAME": "app_name",
    "ARCH": "arch",
    "MACHINE_NAME": "machine_name",
    "RELEASE_HASH": "release_hash",
    "SERVICE_NAME": "service_name",
}
PREFIXES = ("BALENA_", "RESIN_")  # RESIN_ is balena's legacy name for the same variables
_MARKER = re.compile(r"%%((?:BALENA|RESIN)_[A-Za-z0-9_]*)%%")
# A `syntax` parser directive makes BuildKit pull a frontend image; it accepts `#` and `//` comments.
_SYNTAX = re.compile(r"^\s*(?:#|//)\s*syntax\s*=", re.IGNORECASE)


class DockerfileError(ValueError):
    """A pushed Dockerfile cannot be built as it is; the message says what to change."""


class RenderError(DockerfileError):
    """A Dockerfile template names a variable that does not exist."""


@dataclass(frozen=True)
class RenderContext:
    """The values of the template variables for one service of one release."""

    app_name: str
    arch: str
    machine_name: str
    release_hash: str
    service_name: str


def known_variables() -> tuple[str, ...]:
    """Every template variable name accepted, BALENA_ names first."""
    return tuple(prefix + name for prefix in PREFIXES for name in VARIABLES)


def _value(marker: str, context: RenderContext) -> str | None:
    for prefix in PREFIXES:
        if marker.startswith(prefix) and marker[len(prefix) :] in VARIABLES:
            return getattr(context, VARIABLES[marker[len(prefix) :]])
    return None


def render_template(text: str, context: RenderContext, filename: str = "Dockerfile.template") -> str:
    """Replace the `%%BALENA_…%%` and `%%RESIN_…%%` variables; an unknown one is an error."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        for match in _MARKER.finditer(line):
            if _value(match.group(1), context) is None:
                known = ", ".join(f"%%{v}%%" for v in known_variables()[: len(VARIABLES)])
                name = match.group(1)
                raise RenderError(
                    f"{filename} line {number}: unknown template variable %%{name}%%; use one of {known}"
                )
    return _MARKER.sub(lambda m: _value(m.group(1), context) or "", text)


def _json_syntax(text: str) -> bool:
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and "syntax" in doc


def check_dockerfile(text: str, filename: str = "Dockerfile") -> None:
    """Refuse a `# syntax=` parser directive: it would pull a frontend image from a registry."""
    for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if _SYNTAX.match(line):
            raise DockerfileError(
                f"{filename} line {number}: '# syntax=' directives are not supported (they pull a frontend "
                "image); remove the line"
            )
    if _json_syntax(text):
        raise DockerfileError(f"{filename}: a 'syntax' key selects a frontend image; remove it")
