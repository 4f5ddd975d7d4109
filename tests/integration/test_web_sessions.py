"""Web sessions over real HTTP (httpx) with a real `fleetgate serve`: login links, cookies, CSRF, tenants."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from fleetgate import models
from fleetgate.db import Database
from fleetgate.models import utcnow

from .support import PLAIN_SERVE, Gateway
from .web_support import login_link, record, web_gateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """alice owns alice/demo (two releases), bob owns bob/secret, carol owns nothing."""
    gateway = web_gateway(tmp_path_factory.mktemp("web-sessions"), PLAIN_SERVE)
    for name in ("alice", "bob", "carol"):
        gateway.add_user(name)
    gateway.cli("fleet", "create", "alice/demo", "--device-type", "raspberrypi3")
    gateway.cli("fleet", "create", "bob/secret", "--device-type", "raspberrypi3")
    for _ in range(2):
        record(gateway, "alice/demo")
    try:
        yield gateway
    finally:
        gateway.stop()
        shutil.rmtree(gateway.tmp, ignore_errors=True)


def secret_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def signed_in(gw: Gateway, user: str) -> httpx.Client:
    """A client holding the session a fresh login link opened."""
    link = login_link(gw, user)
    client = httpx.Client(base_url=link.split("/login/")[0], timeout=30)
    answer = client.post("/login", data={"link": secret_of(link)})
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', client.get(path).text).group(1)


def target_of(gw: Gateway, slug: str) -> dict:
    return json.loads(gw.cli("fleet", "show", slug, "--json").stdout)


def database(gw: Gateway) -> Database:
    return Database(f"sqlite:///{gw.home / 'fleetgate.db'}")


def test_a_login_link_is_printed_over_ssh_and_opens_one_session_only(gw: Gateway) -> None:
    link = login_link(gw, "alice")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/login/fgl_[A-Za-z0-9_-]{43}", link)
    client = httpx.Client(base_url=link.split("/login/")[0], timeout=30)
    assert client.get("/").status_code == 401  # signed out: the page says how to sign in
    shown = client.get(link)  # opening the link spends nothing: previews of chat apps fetch links too
    assert shown.status_code == 200 and secret_of(link) in shown.text
    first = client.post("/login", data={"link": secret_of(link)})
    assert first.status_code == 303 and first.headers["location"] == "/"
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("fleetgate_session=fgs_")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; behind TLS it is Secure
    assert "alice/demo" in client.get("/").text
    again = httpx.post(link.split("/login/")[0] + "/login", data={"link": secret_of(link)})
    assert again.status_code == 403 and "set-cookie" not in again.headers
    assert "used already" in again.text


def test_an_expired_link_opens_nothing(gw: Gateway) -> None:
    link = login_link(gw, "alice")
    db = database(gw)
    try:
        with db.session() as session:
            session.execute(update(models.LoginLink).values(expires=utcnow() - timedelta(seconds=1)))
    finally:
        db.dispose()
    answer = httpx.post(link.split("/login/")[0] + "/login", data={"link": secret_of(link)})
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_a_session_is_listed_with_the_tokens_and_revoking_it_signs_out(gw: Gateway) -> None:
    client = signed_in(gw, "carol")
    assert client.get("/").status_code == 200
    listed = json.loads(gw.cli("token", "list", "--user", "carol", "--json").stdout)
    sessions = [t for t in listed if t["kind"] == "session" and t["revoked"] is None]
    assert len(sessions) == 1 and sessions[0]["name"] == "browser session"
    assert sessions[0]["expires"] is not None  # a week, then sign in again
    gw.cli("token", "revoke", str(sessions[0]["id"]), "--user", "carol")
    assert client.get("/").status_code == 401


def test_an_expired_session_is_refused(gw: Gateway) -> None:
    client = signed_in(gw, "carol")
    db = database(gw)
    try:
        with db.session() as session:
            session.execute(
                update(models.AccessToken)
                .where(models.AccessToken.kind == "session")
                .values(expires=utcnow() - timedelta(seconds=1))
            )
    finally:
        db.dispose()
    assert client.get("/").status_code == 401


def test_signing_out_ends_the_session(gw: Gateway) -> None:
    client = signed_in(gw, "carol")
    cookie = client.cookies["fleetgate_session"]
    assert client.post("/logout", data={"csrf": csrf_of(client, "/")}).status_code == 200
    # The answer tells the browser to forget the cookie; a copy of it must not work either.
    stale = httpx.get(str(client.base_url) + "/", headers={"Cookie": f"fleetgate_session={cookie}"})
    assert stale.status_code == 401


def test_a_session_and_a_token_are_never_taken_for_each_other(gw: Gateway) -> None:
    client = signed_in(gw, "alice")
    cookie = client.cookies["fleetgate_session"]
    base = str(client.base_url)
    as_bearer = httpx.get(base + "/v1/fleets", headers={"Authorization": f"Bearer {cookie}"})
    assert as_bearer.status_code == 401
    token = gw.cli("token", "create", "--user", "alice").stdout.strip()
    as_cookie = httpx.get(base + "/", headers={"Cookie": f"fleetgate_session={token}"})
    assert as_cookie.status_code == 401
    # An access token opens the pages as the API (Authorization header; no cookie, so no CSRF token).
    page = httpx.get(base + "/fleets/alice/demo", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200 and 'name="csrf"' not in page.text


def test_a_stranger_sees_404_for_an_existing_fleet_as_for_a_missing_one(gw: Gateway) -> None:
    carol = signed_in(gw, "carol")
    for path in ("", "/releases", "/releases/1", "/releases/1/events", "/devices", "/servers"):
        existing = carol.get(f"/fleets/alice/demo{path}")
        missing = carol.get(f"/fleets/alice/nothing{path}")
        assert (existing.status_code, missing.status_code) == (404, 404), path
        assert existing.text.replace("demo", "X") == missing.text.replace("nothing", "X"), path
    assert "alice/demo" not in carol.get("/").text
    token = csrf_of(carol, "/")
    before = target_of(gw, "alice/demo")
    answer = carol.post("/fleets/alice/demo/rollback", data={"csrf": token, "confirmed": "yes"})
    assert answer.status_code == 404
    assert target_of(gw, "alice/demo") == before


def test_a_form_without_its_csrf_token_changes_nothing(gw: Gateway) -> None:
    alice = signed_in(gw, "alice")
    before = target_of(gw, "alice/demo")
    for fields in ({"confirmed": "yes"}, {"confirmed": "yes", "csrf": "0" * 64}):
        refused = alice.post("/fleets/alice/demo/rollback", data=fields)
        assert refused.status_code == 403 and "security token" in refused.text
    assert target_of(gw, "alice/demo") == before
    # Another session's token does not fit this one either.
    other = csrf_of(signed_in(gw, "alice"), "/")
    answer = alice.post("/fleets/alice/demo/env/set", data={"csrf": other, "key": "K", "value": "v"})
    assert answer.status_code == 403
    assert json.loads(gw.cli("env", "list", "alice/demo", "--json").stdout) == []


def test_a_destructive_form_asks_first_then_acts(gw: Gateway) -> None:
    alice = signed_in(gw, "alice")
    token = csrf_of(alice, "/fleets/alice/demo")
    before = target_of(gw, "alice/demo")
    asked = alice.post("/fleets/alice/demo/rollback", data={"csrf": token, "release": ""})
    assert asked.status_code == 200 and "Roll alice/demo back to the previous release?" in asked.text
    assert target_of(gw, "alice/demo") == before
    done = alice.post("/fleets/alice/demo/rollback", data={"csrf": token, "release": "", "confirmed": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/fleets/alice/demo"
    after = target_of(gw, "alice/demo")
    assert after["pinned"] and after["target"]["id"] == before["target"]["id"] - 1
    alice.post("/fleets/alice/demo/pin", data={"csrf": token, "release": "", "confirmed": "yes"})
    assert target_of(gw, "alice/demo") == before


def test_a_big_form_is_refused_before_anything_reads_it(gw: Gateway) -> None:
    base = login_link(gw, "alice").split("/login/")[0]
    answer = httpx.post(base + "/login", data={"link": "x" * 20_000})
    assert answer.status_code == 400 and "KiB" in answer.text
