"""A real gateway with the build pipeline: real dockerd (BuildKit), a real registry, local base images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ..support import SERVE, Gateway, git, new_gateway
from ..support import setup_fleet as fleet  # noqa: F401 - the build tests' name for it

PROJECTS = Path(__file__).resolve().parents[2] / "projects"
DOCKER = "/usr/bin/docker"


@pytest.fixture
def gateway(tmp_path: Path, registry: str):
    """A started gateway that builds and publishes to the loopback registry."""
    gw = new_gateway(
        tmp_path,
        SERVE,
        {
            "FLEETGATE_REGISTRY": registry,
            "FLEETGATE_NODE_IMAGE": "node-fg:{version}",
            # A second endpoint that says it builds armv7hf natively (the same daemon here, as a real ARM
            # builder would be): native and emulated placements can both be seen.
            "FLEETGATE_BUILDERS": "default=unix:///var/run/docker.sock;amd64 "
            "arm=unix:///var/run/docker.sock;armv7hf",
        },
    )
    gw.start()
    yield gw
    gw.stop()


def project(tmp_path: Path, name: str) -> Path:
    """A git working tree holding one of tests/projects/, committed."""
    work = tmp_path / f"work-{name}"
    shutil.copytree(PROJECTS / name, work)
    git("init", "-q", "-b", "master", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", f"{name}", cwd=work)
    return work


def push(
    gw: Gateway,
    work: Path,
    key: Path,
    slug: str,
    *refspecs: str,
    flags: tuple[str, ...] = (),
    check: bool = True,
):
    """`git push [flags] <fleet> <refspecs>` over real ssh."""
    return git("push", *flags, gw.url(slug), *refspecs, cwd=work, key=key, gw=gw, check=check)


def releases(gw: Gateway, slug: str) -> list[dict]:
    return json.loads(gw.cli("release", "list", slug, "--json").stdout)


def release(gw: Gateway, spec: str) -> dict:
    return json.loads(gw.cli("release", "show", spec, "--json").stdout)
