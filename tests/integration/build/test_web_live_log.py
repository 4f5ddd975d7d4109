"""A push's build log on the release page in a real Chromium: live while it builds, then success."""

from __future__ import annotations

from pathlib import Path

from ..support import Gateway, git
from ..web_support import chromium, watch
from .conftest import fleet, project, release
from .test_follow_logs import _running_release
from .test_release_lifecycle import start_push

# "live step" "started": the build log also shows the RUN line itself, which must not hold the marker.
DOCKERFILE = """FROM busybox-fg
RUN echo "live step" "started" && sleep 4 \\
 && echo '<script>window.__pwned = 1; alert("script ran")</script>' \\
 && echo '<img src="/pwned.png" onerror="alert(1)">' \\
 && sleep 15 && echo "live step" "finished"
"""


def test_a_pushs_build_log_appears_live_and_the_status_turns_to_success(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = fleet(gateway, "alice/live", "generic-amd64")
    work = project(tmp_path, "slow")
    (work / "Dockerfile").write_text(DOCKERFILE)
    git("commit", "-qam", "a build that takes a while and prints markup", cwd=work)
    base = gateway.http_url()
    link = gateway.cli("login", "--user", "alice").stdout.strip()  # as `ssh git@HOST login` prints it
    with chromium() as browser:  # signed in before the push: a browser starts slowly on a busy machine
        page = browser.new_page()
        seen = watch(page, base)
        page.goto(base + "/login/" + link.rsplit("/", 1)[1])
        page.click("#sign-in")
        page.wait_for_url(base + "/")
        pusher = start_push(gateway, work, key, "alice/live", "-o", "nocache")
        name = _running_release(gateway, "alice/live")
        number = name.rsplit("#", 1)[1]
        page.goto(f"{base}/fleets/alice/live/releases/{number}")
        assert page.inner_text("#status") == "running"
        page.evaluate("window.__samePage = 42")  # gone if anything reloads the page
        # Locators, not wait_for_function: the page's CSP refuses the eval that one needs.
        page.locator("#live-log", has_text="live step started").wait_for(timeout=120_000)
        assert page.inner_text("#status") == "running"  # the line came while it still built
        assert "live step finished" not in page.inner_text("#live-log")
        page.locator("#status", has_text="success").wait_for(timeout=180_000)
        assert page.evaluate("window.__samePage") == 42
        log = page.inner_text("#live-log")
        assert log.index("live step started") < log.index("live step finished")
        assert '<script>window.__pwned = 1; alert("script ran")</script>' in log
        assert '<img src="/pwned.png" onerror="alert(1)">' in log
        assert page.evaluate("window.__pwned") is None
        assert seen.dialogs == [] and seen.requests == []
    pusher.communicate(timeout=120)
    assert pusher.returncode == 0
    assert release(gateway, name)["status"] == "success"
