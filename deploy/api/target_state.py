"""Target state: the document a device gets from `GET /v1/device/state`, and its ETag (a pure function).

The document is everything the agent needs to run the release without asking again: image references
by digest, each service's compose mapping, its environment (the composition's, overlaid by the
operator's variables: fleet < service < device), the networks and volumes, and registry credentials.
The ETag is a hash of the document's canonical JSON, so any change a device must act on (release, pin,
variable, credentials) changes it, and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from fleetgate.device_types import device_type


class CompositionError(ValueError):
    """A release's stored composition cannot be read: fleetgate's fault, not the device's."""


@dataclass(frozen=True)
class DeviceFacts:
    """What the target says about the device itself."""

    uuid: str
    name: str
    device_type: str
    lock_override: bool


@dataclass(frozen=True)
class FleetFacts:
    """What the target says about the device's fleet."""

    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class ReleaseFacts:
    """The target release: its hash, its name (`owner/fleet#N`) and its composition (YAML)."""

    hash: str
    name: str
    composition: str


@dataclass(frozen=True)
class RegistryCredentials:
    """Where the images are and how to log in to pull them (user and password may be None)."""

    server: str
    username: str | None
    password: str | None


def parse_composition(text: str) -> dict[str, Any]:
    """The composition YAML as a mapping with a `services` mapping."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CompositionError(f"the release's composition is not YAML: {error}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
        raise CompositionError("the release's composition has no services mapping")
    return doc


def compose_environment(value: Any) -> dict[str, str]:
    """A compose `environment` (mapping or list of KEY=VALUE) as a mapping of strings.

    A bare `KEY` in list form takes its value from the shell that runs compose; a device has no such
    shell, so it is left out, as balena's supervisor does.
    """
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else _scalar(v) for k, v in value.items()}
    if isinstance(value, list):
        pairs = (str(item).partition("=") for item in value)
        return {key: text for key, sep, text in pairs if sep}
    return {}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def service_names(composition: Mapping[str, Any]) -> list[str]:
    """The services of a parsed composition, in its order."""
    return [str(name) for name in composition["services"]]


def target_document(
    device: DeviceFacts,
    fleet: FleetFacts,
    release: ReleaseFacts | None,
    variables: Mapping[str, Mapping[str, str]],
    registry: RegistryCredentials | None,
) -> dict[str, Any]:
    """The target document of the contract; `variables` are the effective ones per service."""
    doc: dict[str, Any] = {
        "device": {
            "uuid": device.uuid,
            "name": device.name,
            "device_type": device.device_type,
            "arch": device_type(device.device_type).arch,
            "lock_override": device.lock_override,
        },
        "fleet": {"slug": fleet.slug, "name": fleet.name, "id": fleet.id},
        "release": None,
        "services": {},
        "networks": {},
        "volumes": {},
        "registry": None,
    }
    if registry is not None:
        doc["registry"] = {
            "server": registry.server,
            "username": registry.username,
            "password": registry.password,
        }
    if release is None:
        return doc
    composition = parse_composition(release.composition)
    doc["release"] = {"hash": release.hash, "name": release.name}
    for name, spec in composition["services"].items():
        spec = spec if isinstance(spec, dict) else {}
        environment = compose_environment(spec.get("environment"))
        environment.update(variables.get(str(name), {}))
        doc["services"][str(name)] = {
            "image": spec.get("image"),
            "compose": spec,
            "environment": environment,
        }
    doc["networks"] = composition.get("networks") or {}
    doc["volumes"] = composition.get("volumes") or {}
    return doc


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """The document's canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def etag(doc: Mapping[str, Any]) -> str:
    """The document's ETag (without quotes): the first 32 hex of the SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()[:32]
