"""The web pages in a real headless Chromium (Debian's, driven by Playwright) with a real `fleetgate serve`.

Releases here are recorded as the build pipeline records them (no Docker);
tests/integration/build/test_web_live_log.py watches a real push build live.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .support import PLAIN_SERVE, Gateway
from .web_support import chromium, login_link, record, watch, web_gateway

HOSTILE = (
    "Step 1/2 : RUN echo hostile\n"
    "<script>window.__pwned = 1; alert('script ran')</script>\n"
    '<img src="/pwned.png" onerror="alert(\'onerror ran\')">\n'
    "built it\n"
)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """alice owns alice/demo (three releases, one with a hostile build log), bob owns bob/secret."""
    # A registry is named so that devices may register (nothing is pulled from it here).
    registry = {"FLEETGATE_REGISTRY": "127.0.0.1:5000"}
    gateway = web_gateway(tmp_path_factory.mktemp("web-browser"), PLAIN_SERVE, registry)
    for name in ("alice", "bob"):
        gateway.add_user(name)
    gateway.cli("fleet", "create", "alice/demo", "--device-type", "raspberrypi3")
    gateway.cli("fleet", "create", "bob/secret", "--device-type", "raspberrypi3")
    record(gateway, "alice/demo")
    record(gateway, "alice/demo", HOSTILE)
    record(gateway, "alice/demo")
    record(gateway, "bob/secret", user="bob")
    try:
        yield gateway
    finally:
        gateway.stop()
        shutil.rmtree(gateway.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    with chromium() as started:
        yield started


def base_of(link: str) -> str:
    return link.split("/login/")[0]


def sign_in(browser, gw: Gateway, user: str, width: int = 1280):
    """A fresh browser context (its own cookies) signed in as `user` through the login page."""
    link = login_link(gw, user)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(link)
    page.click("#sign-in")
    page.wait_for_url(base_of(link) + "/")
    return page, base_of(link)


def target(gw: Gateway, slug: str) -> dict:
    return json.loads(gw.cli("fleet", "show", slug, "--json").stdout)


def test_the_login_link_signs_in_once_and_not_twice(browser, gw: Gateway) -> None:
    link = login_link(gw, "alice")
    first = browser.new_context()
    page = first.new_page()
    page.goto(link)
    page.click("#sign-in")
    page.wait_for_selector("#fleets")
    assert page.inner_text("#fleets").count("alice/demo") == 1
    cookie = next(c for c in first.cookies() if c["name"] == "fleetgate_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # script cannot read the session
    second = browser.new_context().new_page()
    second.goto(link)
    second.click("#sign-in")
    second.wait_for_selector("#message")
    assert "used already" in second.inner_text("#message")
    second.goto(base_of(link) + "/")
    assert f"run `ssh ssh://git@127.0.0.1:{gw.port} login`" in second.inner_text("#message")  # signed out
    first.close()
    second.context.close()


def test_rollback_from_the_fleet_page_moves_the_target(browser, gw: Gateway) -> None:
    before = target(gw, "alice/demo")
    page, base = sign_in(browser, gw, "alice")
    page.goto(base + "/fleets/alice/demo")
    assert page.inner_text("#target-release") == f"#{before['target']['id']}"
    page.click("#rollback")  # the previous release: asks first
    page.wait_for_selector("#question")
    assert target(gw, "alice/demo") == before
    page.click("#confirm")
    page.wait_for_url(base + "/fleets/alice/demo")
    assert page.inner_text("#target-release") == f"#{before['target']['id'] - 1}"
    assert page.inner_text("#pinned") == "pinned"
    after = target(gw, "alice/demo")
    assert after["target"]["id"] == before["target"]["id"] - 1 and after["pinned"]
    page.select_option("#pin-form select", "")  # follow the newest again
    page.click("#pin")
    page.click("#confirm")
    page.wait_for_url(base + "/fleets/alice/demo")
    assert target(gw, "alice/demo") == before
    page.context.close()


def test_a_stranger_sees_no_trace_of_another_fleet(browser, gw: Gateway) -> None:
    page, base = sign_in(browser, gw, "bob")
    assert "alice/demo" not in page.content()
    for path in ("", "/releases", "/releases/1", "/devices", "/servers"):
        answer = page.goto(base + "/fleets/alice/demo" + path)
        assert answer.status == 404, path
        existing = page.inner_text("main")
        assert page.goto(base + "/fleets/alice/nothing" + path).status == 404
        # Word for word what a fleet that does not exist gets: nothing tells that alice/demo exists.
        assert existing.replace("alice/demo", "X") == page.inner_text("main").replace("alice/nothing", "X")
    page.context.close()


def test_a_form_posted_without_its_csrf_token_changes_nothing(browser, gw: Gateway) -> None:
    before = target(gw, "alice/demo")
    page, base = sign_in(browser, gw, "alice")
    page.goto(base + "/fleets/alice/demo")
    page.click("#rollback")
    page.wait_for_selector("#question")
    page.evaluate("document.querySelector('form.confirm input[name=csrf]').remove()")
    page.click("#confirm")  # the confirmed form, as another site would post it: no token
    page.wait_for_selector("#message")
    assert "security token" in page.inner_text("#message")
    assert target(gw, "alice/demo") == before
    page.context.close()


def test_a_hostile_build_log_line_is_shown_as_text_and_runs_nothing(browser, gw: Gateway) -> None:
    page, base = sign_in(browser, gw, "alice")
    seen = watch(page, base)
    listed = json.loads(gw.cli("release", "list", "alice/demo", "--json").stdout)
    hostile = next(r for r in listed if r["id"] == 2)
    page.goto(base + f"/fleets/alice/demo/releases/{hostile['id']}")
    log = page.inner_text("pre.log")
    assert "<script>window.__pwned = 1; alert('script ran')</script>" in log
    assert "onerror=\"alert('onerror ran')\"" in log
    assert page.evaluate("window.__pwned") is None
    assert page.locator("pre.log img").count() == 0 and page.locator("pre.log script").count() == 0
    page.wait_for_load_state("networkidle")
    assert seen.dialogs == [] and seen.requests == []
    page.context.close()


def test_the_devices_page_shows_a_downloads_progress_moving(browser, gw: Gateway) -> None:
    page, base = sign_in(browser, gw, "alice")
    key = gw.cli("fleet", "provisioning-key", "alice/demo").stdout.strip()
    uuid = "d0" * 16
    joined = httpx.post(
        base + "/v1/devices",
        json={"uuid": uuid, "device_type": "raspberrypi3", "name": "kiosk-1"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert joined.status_code == 201, joined.text
    device = {"Authorization": f"Bearer {joined.json()['api_key']}"}

    def report(progress: int) -> None:
        answer = httpx.patch(
            base + "/v1/device/state", json={"status": "downloading", "progress": progress}, headers=device
        )
        assert answer.status_code == 204, answer.text

    report(10)
    page.goto(base + "/fleets/alice/demo/devices")
    bar = page.locator(f"#device-{uuid} progress")
    assert bar.get_attribute("value") == "10"
    assert "online" in page.inner_text(f"#device-{uuid}")
    page.evaluate("window.__samePage = 1")
    report(60)  # the table refreshes itself: no reload
    page.locator(f"#device-{uuid} progress[value='60']").wait_for(timeout=30_000)
    assert "downloading 60%" in page.inner_text(f"#device-{uuid}")
    assert page.evaluate("window.__samePage") == 1
    page.context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_fit_desktop_and_phone_widths(browser, gw: Gateway, width: int, tmp_path: Path) -> None:
    shots = Path(os.environ.get("FLEETGATE_TEST_SCREENSHOTS", tmp_path))  # to look at them
    page, base = sign_in(browser, gw, "alice", width)
    pages = ("/", "/fleets/alice/demo", "/fleets/alice/demo/releases", "/fleets/alice/demo/releases/2",
             "/fleets/alice/demo/devices")  # fmt: skip
    for path in pages:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        # Nothing wider than the screen: wide tables and logs scroll inside their own boxes.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        # Times are rewritten in the browser's zone (a title with the local time).
        for title in page.locator("time").evaluate_all("els => els.map(e => e.title)"):
            assert "UTC" not in title, path
        name = path.strip("/").replace("/", "_") or "fleets"
        page.screenshot(full_page=True, path=str(shots / f"{name}-{width}.png"))
    page.context.close()
