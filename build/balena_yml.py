"""balena.yml: build secrets and build variables, global and per service, as balena documents them."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .compose import ARG_NAME, RESERVED_ARG_PREFIX

# The files balena reads, first found wins, each with the folder its secret sources live in.
CONFIG_FILES: tuple[tuple[str, str], ...] = (
    (".balena/balena.yml", ".balena/secrets"),
    (".balena/balena.yaml", ".balena/secrets"),
    (".resin/resin.yml", ".resin/secrets"),
    (".resin/resin.yaml", ".resin/secrets"),
)
SECTION_KEYS = frozenset({"global", "services"})
# A secret's dest becomes a BuildKit secret id and a file under /run/secrets: no separators, no commas.
SECRET_DEST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BalenaYmlError(ValueError):
    """The pushed balena.yml is unusable; the message names the file and the key."""


@dataclass(frozen=True)
class Secret:
    """A build secret: a file of `.balena/secrets/` mounted at `/run/secrets/<dest>` in every RUN step."""

    source: str
    dest: str
    data: bytes = field(repr=False)  # never in logs


@dataclass(frozen=True)
class BuildConfig:
    """Per service: the build secrets and the build variables (global ones merged in, service ones win)."""

    secrets: Mapping[str, tuple[Secret, ...]]
    variables: Mapping[str, Mapping[str, str]]


def _section(doc: dict, key: str, filename: str) -> tuple[Any, dict]:
    section = doc.get(key) or {}
    if not isinstance(section, dict) or not set(section) <= SECTION_KEYS:
        raise BalenaYmlError(f"{filename}: {key}: use a mapping with 'global' and 'services'")
    services = section.get("services") or {}
    if not isinstance(services, dict):
        raise BalenaYmlError(f"{filename}: {key}.services: must map service names to entries")
    return section.get("global") or [], services


def _secret(item: Any, where: str, files: Mapping[str, bytes], folder: str) -> Secret:
    if not isinstance(item, dict) or set(item) != {"source", "dest"}:
        raise BalenaYmlError(f"{where}: write each secret as {{source: FILE, dest: NAME}}")
    source, dest = item["source"], item["dest"]
    if not isinstance(dest, str) or not SECRET_DEST.match(dest) or dest in (".", ".."):
        raise BalenaYmlError(f"{where}.dest: {dest!r} must be a plain name like my-token")
    if not isinstance(source, str) or not source or source.startswith("/"):
        raise BalenaYmlError(f"{where}.source: {source!r} must be a file name under {folder}/")
    path = posixpath.normpath(posixpath.join(folder, source))
    if not path.startswith(folder + "/"):
        raise BalenaYmlError(f"{where}.source: {source!r} is outside {folder}/; keep secrets in that folder")
    if path not in files:
        raise BalenaYmlError(f"{where}.source: {path} is not in the project; commit it")
    return Secret(source, dest, files[path])


def _secrets(value: Any, where: str, files: Mapping[str, bytes], folder: str) -> dict[str, Secret]:
    if not isinstance(value, list):
        raise BalenaYmlError(f"{where}: must be a list of {{source, dest}}")
    return {
        s.dest: s for s in (_secret(item, f"{where}[{i}]", files, folder) for i, item in enumerate(value))
    }


def _variables(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, list):
        pairs = [str(item).partition("=")[::2] for item in value]
        if any("=" not in str(item) for item in value):
            raise BalenaYmlError(f"{where}: write each variable as KEY=value")
    elif isinstance(value, dict):
        pairs = [(str(k), "" if v is None else str(v)) for k, v in value.items()]
    else:
        raise BalenaYmlError(f"{where}: must be a list of KEY=value")
    for key, _ in pairs:
        if not ARG_NAME.match(key) or key.upper().startswith(RESERVED_ARG_PREFIX):
            raise BalenaYmlError(f"{where}: {key!r} is not allowed as a build variable name; rename it")
    return dict(pairs)


def _check_services(per_service: dict, services: list[str], where: str) -> None:
    for name in per_service:
        if name not in services:
            raise BalenaYmlError(f"{where}.{name}: no such service; use one of {', '.join(services)}")


def _load(balena_files: Mapping[str, bytes]) -> tuple[str, str, dict]:
    for filename, folder in CONFIG_FILES:
        if filename in balena_files:
            try:
                doc = yaml.safe_load(balena_files[filename])
            except yaml.YAMLError:
                raise BalenaYmlError(f"{filename}: not valid YAML; fix the syntax") from None
            if doc is not None and not isinstance(doc, dict):
                raise BalenaYmlError(f"{filename}: must be a mapping")
            return filename, folder, doc or {}
    return "", "", {}


def build_config(balena_files: Mapping[str, bytes], services: Iterable[str]) -> BuildConfig:
    """Read `.balena/balena.yml` (or the legacy `.resin/resin.yml`) for the given services."""
    names = list(services)
    filename, folder, doc = _load(balena_files)
    global_secrets, service_secrets = _section(doc, "build-secrets", filename)
    global_vars, service_vars = _section(doc, "build-variables", filename)
    _check_services(service_secrets, names, f"{filename}: build-secrets.services")
    _check_services(service_vars, names, f"{filename}: build-variables.services")
    shared = _secrets(global_secrets, f"{filename}: build-secrets.global", balena_files, folder)
    shared_vars = _variables(global_vars, f"{filename}: build-variables.global")
    secrets, variables = {}, {}
    for name in names:
        own = _secrets(service_secrets.get(name) or [], f"{filename}: build-secrets.services.{name}",
                       balena_files, folder)  # fmt: skip
        secrets[name] = tuple({**shared, **own}.values())
        own_vars = _variables(service_vars.get(name) or [], f"{filename}: build-variables.services.{name}")
        variables[name] = {**shared_vars, **own_vars}
    return BuildConfig(secrets, variables)
