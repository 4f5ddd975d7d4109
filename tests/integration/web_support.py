"""The web pages' tests: a real gateway whose users sign in with `ssh git@HOST login`, and a real Chromium.

Chromium is Debian's (`/usr/bin/chromium`), driven by Playwright for Python; nothing downloads a browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fleetgate.deploy import targets

from fleetgate import fleets, release_images, releases
from fleetgate.db import Database

from .support import Gateway, free_port, new_gateway

CHROMIUM = "/usr/bin/chromium"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
COMPOSITION = "version: '2.1'\nservices:\n  main:\n    image: registry.test/main@sha256:" + 64 * "0"


def web_gateway(tmp: Path, serve: list[str], extra_env: dict[str, str] | None = None) -> Gateway:
    """A started gateway whose HTTP API listens on a known port, so the login links it prints work."""
    port = free_port()
    gw = new_gateway(tmp, serve, {"FLEETGATE_HTTP_LISTEN": f"127.0.0.1:{port}", **(extra_env or {})})
    gw.start()
    return gw


def login_link(gw: Gateway, user: str) -> str:
    """The link `ssh git@HOST login` prints for `user` (with the key they push with)."""
    done = subprocess.run(gw.ssh_argv(gw.keys[user], "login"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def record(gw: Gateway, slug: str, log: str = "Step 1/1 : FROM busybox\n", user: str = "alice") -> str:
    """A successful release with one image and its build log, made the fleet's target; returns its name."""
    database = Database(f"sqlite:///{gw.home / 'fleetgate.db'}")
    try:
        with database.session() as session:
            fleet = fleets.get_fleet(session, *fleets.parse_slug(slug))
            started = releases.start_release(
                session, fleet.id, COMMIT, "refs/heads/master", (), None, user, "SHA256:testkey", "default",
                "linux/arm/v7", "test",
            )  # fmt: skip
            releases.set_composition(session, started.id, COMPOSITION)
            release_images.record_image(
                session, started.id, "main", f"registry.test/{slug}/main:{started.hash}",
                "sha256:" + "1" * 64, 12_345_678, 4.2, log, "success",
            )  # fmt: skip
            targets.on_release_success(session, releases.finish_release(session, started.id, "success"))
            return f"{slug}#{started.number}"
    finally:
        database.dispose()


def need_chromium() -> None:
    """Debian's Chromium and Playwright, or a skip (a failure in CI)."""
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required in CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Debian Chromium (a Playwright Browser); --no-sandbox: the tests run as root."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What a page did that it must not: dialogs it opened, requests it sent to paths outside `allowed`."""

    dialogs: list[str]
    requests: list[str]


OURS = ("/fleets/", "/static/", "/login", "/favicon.ico")  # the requests our own pages make


def watch(page, base: str, allowed: tuple[str, ...] = OURS) -> Watch:
    """Record every dialog and every request the page makes that is not to our own pages."""
    seen = Watch([], [])

    def dialog(opened) -> None:
        seen.dialogs.append(opened.message)
        opened.dismiss()

    def request(sent) -> None:
        url = sent.url
        path = url[len(base) :] if url.startswith(base) else url
        if not path.startswith(allowed) and path != "/":
            seen.requests.append(url)

    page.on("dialog", dialog)
    page.on("request", request)
    return seen
