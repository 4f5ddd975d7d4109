"""From `git push` to a published release: real git, ssh, dockerd (BuildKit) and registry."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from ..support import Gateway, git, remote_lines
from .conftest import DOCKER, fleet, project, push, release, releases


def run_image(reference: str, platform: str | None = None) -> str:
    args = [DOCKER, "run", "--rm"] + (["--platform", platform] if platform else []) + [reference]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout.strip()


def test_dockerfile_push_builds_publishes_and_records(gateway: Gateway, tmp_path: Path, registry: str) -> None:
    key = fleet(gateway, "alice/plain", "generic-amd64")
    work = project(tmp_path, "dockerfile-plain")
    result = push(gateway, work, key, "alice/plain", "master")
    lines = remote_lines(result.stderr)
    assert any(line.startswith("[main]") and "Step" in line or "#" in line for line in lines)
    shown = releases(gateway, "alice/plain")
    assert [r["status"] for r in shown] == ["success"]
    detail = release(gateway, f"alice/plain#{shown[0]['id']}")
    image = detail["images"][0]
    assert image["service"] == "main" and image["image"].startswith(f"{registry}/alice/plain/main@sha256:")
    assert f"Release: {detail['hash']} (id: {detail['id']})" in "\n".join(lines)
    assert run_image(image["image"]) == "rule=dockerfile"
    composition = detail["composition"]
    for expected in ("privileged: true", "network_mode: host", "resin-data:/data", "restart: always",
                     "io.balena.features.supervisor-api"):
        assert expected in composition
    manifest = urllib.request.Request(f"http://{registry}/v2/alice/plain/main/manifests/{detail['hash']}",
                                      method="HEAD")
    manifest.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
    with urllib.request.urlopen(manifest) as answer:
        assert answer.headers["Docker-Content-Digest"] == image["digest"]
    git("ls-remote", gateway.url("alice/plain"), cwd=work, key=key, gw=gateway)
