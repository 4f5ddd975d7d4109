"""Compose: docker-compose.yml parsed and confined, and the release's composition (DESIGN.md §2.4)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from .resolve import Project

# Only these build options reach the builder; the rest (network, ssh, secrets, cache_from, extra_hosts…)
# would let a pushed repository reach past its build context.
BUILD_KEYS = frozenset({"context", "dockerfile", "args", "target", "labels"})
# BuildKit reads these build args as builder controls (BUILDKIT_SYNTAX pulls a frontend image).
RESERVED_ARG_PREFIX = "BUILDKIT_"
REMOTE_CONTEXT = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|git@|github\.com/)")
# A service name becomes a path component of an image reference.
SERVICE_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_TOP: Mapping[str, Any] = {"version": "2.1", "networks": {}, "volumes": {"resin-data": {}}}
DEFAULT_SERVICE: Mapping[str, Any] = {
    "privileged": True,
    "restart": "always",
    "network_mode": "host",
    "volumes": ["resin-data:/data"],
    "labels": {
        "io.balena.features.kernel-modules": "1",
        "io.balena.features.firmware": "1",
        "io.balena.features.dbus": "1",
        "io.balena.features.supervisor-api": "1",
        "io.balena.features.balena-api": "1",
    },
}


class ComposeError(ValueError):
    """The pushed compose file is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class ComposeService:
    """One service of a compose file: its build section (None when only pulled) and the rest."""

    name: str
    context: str | None
    dockerfile: str | None
    args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    rest: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Composition:
    """A parsed compose file: its services in file order and its other top-level keys."""

    services: tuple[ComposeService, ...]
    top: Mapping[str, Any] = field(default_factory=dict)


def inside_tree(value: str, where: str, base: str = ".") -> str:
    """Normalise `value` relative to `base`; refuse absolute paths and `..` escapes."""
    if value.startswith("/") or "\0" in value or "\\" in value:
        raise ComposeError(f"{where}: {value!r} must be a relative path inside the project")
    path = posixpath.normpath(posixpath.join(base, value))
    if path == ".." or path.startswith("../"):
        raise ComposeError(f"{where}: {value!r} points outside the project; keep it inside")
    return path


def string_map(value: Any, where: str) -> dict[str, str]:
    """A compose `args`/`labels` value (mapping or list of KEY=value) as a plain dict."""
    if isinstance(value, list):
        items = []
        for item in value:
            key, sep, val = str(item).partition("=")
            if not sep:
                raise ComposeError(f"{where}: {item!r} has no value; write {key}=value")
            items.append((key, val))
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        raise ComposeError(f"{where}: must be a mapping or a list of KEY=value")
    out = {}
    for key, val in items:
        if val is None or isinstance(val, (dict, list)):
            raise ComposeError(f"{where}.{key}: give it a plain value")
        out[str(key)] = str(val).lower() if isinstance(val, bool) else str(val)
    return out


def check_arg_names(args: Mapping[str, str], where: str) -> None:
    """Refuse build-arg names that are not names or that BuildKit treats as builder controls."""
    for key in args:
        if not ARG_NAME.match(key) or key.upper().startswith(RESERVED_ARG_PREFIX):
            raise ComposeError(f"{where}.{key}: not allowed as a build argument; rename it")


def _context(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ComposeError(f"{where}: must be a path inside the project")
    if REMOTE_CONTEXT.match(value):
        raise ComposeError(f"{where}: remote build contexts are not supported; use a folder of the project")
    return inside_tree(value, where)


def _build(name: str, build: Any, where: str) -> dict[str, Any]:
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        raise ComposeError(f"{where}: must be a path or a mapping")
    for key in build:
        if key not in BUILD_KEYS:
            allowed = ", ".join(sorted(BUILD_KEYS))
            raise ComposeError(f"{where}.{key}: build option not supported; use only {allowed}")
    context = _context(build.get("context", "."), f"{where}.context")
    dockerfile = build.get("dockerfile")
    if dockerfile is not None:
        if not isinstance(dockerfile, str) or not dockerfile:
            raise ComposeError(f"{where}.dockerfile: must be a file name")
        dockerfile = inside_tree(dockerfile, f"{where}.dockerfile", context)
    args = string_map(build.get("args", {}), f"{where}.args")
    check_arg_names(args, f"{where}.args")
    target = build.get("target")
    if target is not None and not isinstance(target, str):
        raise ComposeError(f"{where}.target: must be a stage name")
    labels = string_map(build.get("labels", {}), f"{where}.labels")
    return {"context": context, "dockerfile": dockerfile, "args": args, "target": target, "labels": labels}


def _service(name: Any, spec: Any, filename: str) -> ComposeService:
    where = f"{filename}: services.{name}"
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise ComposeError(f"{where}: use lower-case letters, digits and . _ - for service names")
    if not isinstance(spec, dict):
        raise ComposeError(f"{where}: must be a mapping")
    rest = {k: v for k, v in spec.items() if k != "build"}
    if "build" not in spec:
        if not isinstance(spec.get("image"), str):
            raise ComposeError(f"{where}: needs a build or an image")
        return ComposeService(name, None, None, rest=rest)
    return ComposeService(name, **_build(name, spec["build"], f"{where}.build"), rest=rest)


def parse_compose(text: bytes | str, filename: str = "docker-compose.yml") -> Composition:
    """Parse and check a compose file with safe YAML."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        raise ComposeError(f"{filename}: not valid YAML{line}; fix the syntax") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict) or not doc["services"]:
        raise ComposeError(f"{filename}: services: a mapping of services is required")
    services = tuple(_service(name, spec, filename) for name, spec in doc["services"].items())
    return Composition(services, {k: v for k, v in doc.items() if k != "services"})


def composition_yaml(project: Project, images: Mapping[str, str]) -> str:
    """The release's composition: the project's services with image references in place of builds."""
    services = {}
    for service in project.services:
        body = dict(service.compose)
        if service.built:
            if service.name not in images:
                raise ComposeError(f"composition: no image for service {service.name}")
            body = {"image": images[service.name], **{k: v for k, v in body.items() if k != "image"}}
        services[service.name] = body
    doc = {**project.compose, "services": services}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
