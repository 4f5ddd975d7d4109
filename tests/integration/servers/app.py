"""The test app: busybox httpd serving /up, a page naming its release and a slow CGI endpoint.

`build_app(tag, release)` builds it on the main daemon FROM busybox-fg and pushes it to the
authenticating registry; it returns the image by digest, as a release's composition names it.
A `healthy=False` app has no /up (its check never passes) and says so in its log.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

DOCKER = "/usr/bin/docker"
REGISTRY = "127.0.0.1:5001"
USER, PASSWORD = "fleetgate", "fleetgate-ci"
PORT = 8000

SLOW = """#!/bin/sh
sleep "${QUERY_STRING:-1}"
printf 'Content-Type: text/plain\\r\\n\\r\\n'
cat /www/index.html
"""


def build_app(repository: str, release: str, healthy: bool = True) -> str:
    """Build and push the app naming `release`; the pushed image as REGISTRY/repository@sha256:..."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        www = root / "www"
        (www / "cgi-bin").mkdir(parents=True)
        (www / "index.html").write_text(f"release {release}\n")
        if healthy:
            (www / "up").write_text("ok\n")
        (www / "cgi-bin" / "slow").write_text(SLOW)
        (www / "cgi-bin" / "slow").chmod(0o755)
        say = f"app {release} starting" + ("" if healthy else ": no /up here, this release is broken")
        (root / "Dockerfile").write_text(
            "FROM busybox-fg\nCOPY www /www\n"
            f'CMD ["sh", "-c", "echo \\"{say}\\"; exec httpd -f -vv -p {PORT} -h /www"]\n'
        )
        tag = f"{REGISTRY}/{repository}:{release}"
        config = root / "docker-config"
        config.mkdir()
        env = {"DOCKER_CONFIG": str(config), "PATH": "/usr/bin:/bin"}
        run = lambda *args, **kw: subprocess.run(  # noqa: E731
            [DOCKER, *args], check=True, capture_output=True, env=env, timeout=300, **kw
        )
        run("build", "-q", "-t", tag, str(root))
        run("login", "--username", USER, "--password-stdin", REGISTRY, input=PASSWORD.encode())
        run("push", "-q", tag)
        digests = json.loads(run("image", "inspect", "--format", "{{json .RepoDigests}}", tag).stdout)
        run("rmi", tag)
    return next(d for d in digests if d.startswith(f"{REGISTRY}/{repository}@"))


def composition(image: str, health_path: str | None = None) -> dict:
    """A one-service composition for the app, labelled for the proxy."""
    labels = {"io.fleetgate.proxy.port": str(PORT)}
    if health_path:
        labels["io.fleetgate.proxy.healthcheck.path"] = health_path
    return {"services": {"web": {"image": image, "labels": labels}}}


def delete_app(image: str) -> None:
    """Delete a pushed app image's manifest from the registry (its blobs go with the registry's GC)."""
    import base64
    import urllib.request

    repository, _, digest = image.removeprefix(f"{REGISTRY}/").partition("@")
    request = urllib.request.Request(f"http://{REGISTRY}/v2/{repository}/manifests/{digest}", method="DELETE")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    urllib.request.urlopen(request, timeout=10).close()
