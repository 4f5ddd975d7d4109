"""A registry of a test's own: Debian's docker-registry on a free loopback port, its storage in the test's
folder, deletes enabled as .ci/services.sh configures the shared ones. For tests that delete manifests or
run the registry's garbage collection, which the shared registries (other tests push there at the same
time) must never see.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .conftest import missing
from .support import free_port

REGISTRY = "/usr/bin/docker-registry"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
)


@dataclass
class OwnRegistry:
    """A running (or stopped) registry: `host` is what FLEETGATE_REGISTRY names."""

    folder: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.folder / "config.yml"

    def start(self) -> None:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "version: 0.1\nlog: {level: warn}\n"
            f"storage:\n  filesystem: {{rootdirectory: {data}}}\n  delete: {{enabled: true}}\n"
            f"http: {{addr: {self.host}}}\n"
        )
        with open(self.folder / "registry.log", "ab") as log:
            self.process = subprocess.Popen([REGISTRY, "serve", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("registry did not start: " + (self.folder / "registry.log").read_text())
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
        except (urllib.error.URLError, OSError):
            return False
        return True

    def _get(self, path: str, method: str = "GET") -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://{self.host}{path}", method=method, headers={"Accept": MANIFEST_TYPES}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, b""

    def catalog(self) -> list[str]:
        return json.loads(self._get("/v2/_catalog")[1])["repositories"]

    def tags(self, repository: str) -> set[str]:
        status, body = self._get(f"/v2/{repository}/tags/list")
        return set(json.loads(body).get("tags") or []) if status == 200 else set()

    def has(self, repository: str, digest: str) -> bool:
        """Whether the registry serves the manifest `repository@digest`."""
        return self._get(f"/v2/{repository}/manifests/{digest}", "HEAD")[0] == 200

    def blobs(self) -> int:
        """How many blobs its storage holds (what `garbage-collect` frees)."""
        root = self.folder / "data" / "docker" / "registry" / "v2" / "blobs"
        return sum(1 for path in root.rglob("data") if path.is_file())

    def garbage_collect(self) -> str:
        """`registry garbage-collect CONFIG`, as README's Registry section tells operators (stopped first)."""
        self.stop()
        done = subprocess.run([REGISTRY, "garbage-collect", str(self.config)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout


def start_registry(folder: Path) -> OwnRegistry:
    """A registry of the test's own, started; a missing docker-registry skips (fails in CI)."""
    if not Path(REGISTRY).exists():
        missing(f"{REGISTRY} is not installed (Debian's docker-registry)")
    registry = OwnRegistry(folder, free_port())
    registry.start()
    return registry
