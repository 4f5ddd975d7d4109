"""Dockerfile rewriting (pure): a secret mount on every RUN, so each step sees /run/secrets/<id>."""

from __future__ import annotations

import re
from collections.abc import Iterable

SECRET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DIRECTIVE = re.compile(r"^#\s*([A-Za-z]+)\s*=\s*(\S+)\s*$")
_RUN = re.compile(r"^(\s*)(run)(\s+|$)", re.IGNORECASE)


def _escape_char(lines: list[str]) -> str:
    """The Dockerfile's escape character, from the parser directives at its top."""
    for line in lines:
        match = _DIRECTIVE.match(line.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            return match.group(2)
    return "\\"


def inject_secret_mounts(dockerfile_text: str, secret_ids: Iterable[str]) -> str:
    """Add a secret mount per id to every RUN instruction, so each step sees /run/secrets/<id>."""
    ids = list(secret_ids)
    for secret_id in ids:
        if not SECRET_ID.match(secret_id):
            raise ValueError(f"bad build secret name {secret_id!r}: use letters, digits, '.', '_', '-'")
    if not ids:
        return dockerfile_text
    mounts = " ".join(f"--mount=type=secret,id={i},target=/run/secrets/{i}" for i in ids)
    lines = dockerfile_text.splitlines(keepends=True)
    escape = _escape_char(lines)
    continued = False  # inside an instruction continued from the previous line
    out = []
    for line in lines:
        body = line.rstrip("\r\n")
        stripped = body.strip()
        # Comments and blank lines inside a continuation neither end it nor start an instruction.
        if not stripped or stripped.startswith("#"):
            out.append(line)
            continue
        match = None if continued else _RUN.match(body)
        if match:
            # Flags go right after RUN: valid before shell form, exec form and existing --mount flags.
            ending = line[len(body) :]
            rest = body[match.end() :]
            body = f"{match.group(1)}{match.group(2)} {mounts}" + (f" {rest}" if rest else "")
            line = body + ending
        continued = body.rstrip().endswith(escape)
        out.append(line)
    return "".join(out)
