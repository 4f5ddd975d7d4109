"""`fleetgate serve` as a service, through the real process (issue 19, item 2): /healthz, a taken port,
the log lines (text, JSON, fail2ban's), SIGHUP and the settings file, systemd's notify socket.

The drain of pushes on SIGTERM needs real builds: tests/integration/build/test_shutdown.py.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .service_support import (
    TEXT_LINE,
    NotifySocket,
    fingerprint,
    healthz,
    json_events,
    log_text,
    wait_for_log,
)
from .support import SERVE, Gateway, free_port, git, make_repo, new_gateway, setup_fleet

README = Path(__file__).resolve().parents[2] / "README.md"


OWN = ("FLEETGATE_HOME", "FLEETGATE_SSH_LISTEN", "FLEETGATE_HTTP_LISTEN", "FLEETGATE_LOCK_WAIT")


def service(tmp_path: Path, settings: dict[str, str]) -> Gateway:
    """A gateway (not started) with these settings and none of this machine's other FLEETGATE_ variables."""
    gw = new_gateway(tmp_path, SERVE)
    gw.env = {k: v for k, v in gw.env.items() if not k.startswith("FLEETGATE_") or k in OWN}
    gw.env.update(settings)
    return gw


@pytest.fixture
def gateway(tmp_path: Path, registry: str):
    """A started `fleetgate serve` that publishes to the loopback registry, logging text."""
    gw = service(tmp_path, {"FLEETGATE_REGISTRY": registry})
    gw.start()
    yield gw
    gw.stop()


def ssh(gw: Gateway, key: Path, command: str, login: str = "git") -> subprocess.CompletedProcess:
    argv = gw.ssh_argv(key, command)
    argv[argv.index("-l") + 1] = login  # one argument, spaces and all
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


# ---- a taken port -----------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["SSH", "HTTP"])
def test_a_listen_address_in_use_is_one_line_and_exit_1(tmp_path: Path, what: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        other = f"FLEETGATE_{'HTTP' if what == 'SSH' else 'SSH'}_LISTEN"
        gw = service(tmp_path, {f"FLEETGATE_{what}_LISTEN": f"127.0.0.1:{port}", other: "127.0.0.1:0"})
        result = subprocess.run(SERVE, env=gw.env, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"fleetgate: error: cannot listen for {what} on 127.0.0.1:{port} (Address already in use); "
        f"set FLEETGATE_{what}_LISTEN to a free HOST:PORT\n"
    )


# ---- /healthz ---------------------------------------------------------------------------------------


def test_healthz_names_each_dependency_without_a_login(gateway: Gateway, registry: str) -> None:
    answer = healthz(gateway)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["down"]) == ("ok", [])
    checks = body["checks"]
    assert {name: (c["status"], c["required"]) for name, c in checks.items()} == {
        "database": ("ok", True),
        "disk": ("ok", True),
        "docker": ("ok", True),
        "registry": ("ok", True),
    }
    assert checks["database"]["detail"] == "sqlite"
    assert checks["disk"]["path"] == str(gateway.home / "repositories")
    assert checks["disk"]["free_bytes"] >= checks["disk"]["min_free_bytes"] == 1 << 30
    assert checks["docker"]["builders"] == {"default": "ok"}
    assert checks["registry"]["detail"] == registry
    assert answer.headers["cache-control"] == "no-store"
    spec = httpx.get(f"{gateway.http_url()}/openapi.json", timeout=10).json()
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200", "503"}


@pytest.mark.parametrize(
    ("setting", "down", "detail"),
    [
        ({"FLEETGATE_REGISTRY": "127.0.0.1:{dead}"}, "registry", "127.0.0.1:{dead}: "),
        ({"FLEETGATE_REGISTRY": "192.0.2.1:5000"}, "registry", "192.0.2.1:5000: "),  # TEST-NET: no answer
        (
            {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
            "docker",
            "default (unix:///nonexistent/docker.sock): ",
        ),
        ({"FLEETGATE_MIN_FREE_BYTES": str(1 << 60)}, "disk", ""),
    ],
    ids=["registry-refuses", "registry-silent", "docker", "disk"],
)
def test_healthz_is_503_naming_what_is_down(
    tmp_path: Path, registry: str, setting: dict[str, str], down: str, detail: str
) -> None:
    dead = free_port()
    settings = {"FLEETGATE_REGISTRY": registry, **{k: v.format(dead=dead) for k, v in setting.items()}}
    gw = service(tmp_path, settings)
    gw.start()
    try:
        url = f"{gw.http_url()}/healthz"
        started = time.monotonic()
        answer = httpx.get(url, timeout=15)
        # A probe's short timeout (2 s) ends it, never the client's (15 s); room left for a loaded machine.
        assert time.monotonic() - started < 10
    finally:
        gw.stop()
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert (body["status"], body["down"]) == ("down", [down])
    assert body["checks"][down]["status"] == "down"
    assert body["checks"][down]["detail"].startswith(detail.format(dead=dead))
    assert all(c["status"] == "ok" for name, c in body["checks"].items() if name != down)


def test_without_a_registry_healthz_says_it_is_off_and_answers_200(tmp_path: Path) -> None:
    gw = service(tmp_path, {})
    gw.start()
    try:
        answer = healthz(gw)
    finally:
        gw.stop()
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"]["registry"] == {
        "status": "off",
        "required": False,
        "detail": "none configured (FLEETGATE_REGISTRY): images stay in the build daemon",
    }


# ---- what the log says ------------------------------------------------------------------------------


def fail2ban(line: str) -> str | None:
    """The host fail2ban would ban for this line, with the README's filter: the date its datepattern
    finds is cut out first (as fail2ban does), then failregex is matched with <HOST> as an address."""
    section = README.read_text().split("## Running it as a service", 1)[1]
    ini = section.split("```ini\n", 1)[1].split("```", 1)[0]
    settings = dict(re.findall(r"^(\w+) = (.+)$", ini, re.M))
    date = settings["datepattern"].replace("%%Y", r"\d{4}").replace("%%f", r"\d+")
    for code in ("%%m", "%%d", "%%H", "%%M", "%%S"):
        date = date.replace(code, r"\d\d")
    cut = re.sub(date, "", line, count=1)
    found = re.search(settings["failregex"].replace("<HOST>", r"(?P<host>[0-9a-fA-F.:]+)"), cut)
    return found["host"] if found else None


def test_a_failed_login_is_one_line_that_fail2ban_reads(gateway: Gateway) -> None:
    alice = gateway.add_user("alice")
    stranger = gateway.new_key("stranger")
    assert ssh(gateway, stranger, "whoami").returncode == 255
    line = wait_for_log(gateway, lambda text: "failed login" in text)
    said = TEXT_LINE.match(line)
    assert said is not None, line
    assert said.groups()[:2] == ("WARNING", "fleetgate")
    assert re.fullmatch(
        rf"failed login for git from 127\.0\.0\.1 port \d+ key {re.escape(fingerprint(stranger))}", said[3]
    )
    assert fail2ban(line) == "127.0.0.1"
    # A login name is the client's to choose (control characters in it are refused by SSH itself):
    # it cannot add words to the line, nor a ban for another address.
    after = len(log_text(gateway))
    assert ssh(gateway, stranger, "whoami", login="x from 203.0.113.9 port 1 key y").returncode == 255
    forged = wait_for_log(gateway, lambda text: "failed login" in text, after)
    assert forged.split("fleetgate: ", 1)[1].startswith(
        "failed login for x?from?203.0.113.9?port?1?key?y from "
    )
    assert fail2ban(forged) == "127.0.0.1"
    # Nor can a command line a user sends, logged as it is.
    after = len(log_text(gateway))
    ssh(gateway, alice, "releases 'WARNING fleetgate: failed login for x from 203.0.113.9 port 1 key y'")
    command = wait_for_log(gateway, lambda text: "fleetgate: command by alice" in text, after)
    assert fail2ban(command) is None


def test_pushes_commands_and_fetches_are_logged_as_json(tmp_path: Path) -> None:
    gw = service(tmp_path, {"FLEETGATE_LOG_FORMAT": "json"})
    gw.start()
    try:
        key = setup_fleet(gw, "alice/demo")
        work = make_repo(tmp_path / "work")
        pushed = git("push", gw.url("alice/demo"), "master:feature", cwd=work, key=key, gw=gw, check=False)
        assert pushed.returncode == 1
        assert ssh(gw, key, "whoami").returncode == 0
        git("ls-remote", gw.url("alice/demo"), cwd=work, key=key, gw=gw)
        wait_for_log(gw, lambda text: '"event": "fetch"' in text)
    finally:
        gw.stop()
    lines = [line for line in log_text(gw).splitlines() if line.startswith("{")]
    assert len(lines) >= 4 and all(json.loads(line)["time"] for line in lines)  # every log line parses
    owner = fingerprint(key)
    [push] = json_events(gw, "push")
    assert push.pop("duration") >= 0 and push.pop("time")
    assert push == {
        "level": "warning",
        "logger": "fleetgate",
        "message": push["message"],
        "event": "push",
        "outcome": "refused",
        "user": "alice",
        "key": owner,
        "fleet": "alice/demo",
        "release": None,
        "release_hash": None,
        "release_status": None,
        "reason": push["reason"],
    }
    assert push["reason"] == "only master deploys; push to master instead: git push <remote> my-branch:master"
    assert push["message"].startswith(f"push refused: alice/demo by alice key {owner} in ")
    [command] = json_events(gw, "command")
    assert (command["user"], command["key"], command["command"], command["status"]) == (
        "alice",
        owner,
        "whoami",
        0,
    )
    assert command["duration"] >= 0
    [fetch] = json_events(gw, "fetch")
    assert (fetch["user"], fetch["command"], fetch["status"]) == ("alice", "alice/demo", 0)
    stopped = json.loads(lines[-1])
    assert (stopped["level"], stopped["message"]) == ("info", "fleetgate stopped")


# ---- SIGHUP and the settings file -------------------------------------------------------------------


@pytest.fixture
def notify(tmp_path: Path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def test_sighup_rereads_the_settings_file(tmp_path: Path, notify: NotifySocket) -> None:
    gw = service(tmp_path, {"NOTIFY_SOCKET": str(notify.path)})
    settings = gw.home / "fleetgate.toml"
    settings.write_text('log_level = "info"\nlog_format = "text"\n')
    gw.start()
    try:
        notify.wait_for("READY=1")
        key = gw.add_user("alice")
        ssh(gw, key, "whoami")
        wait_for_log(gw, lambda text: bool(TEXT_LINE.match(text)) and "command by alice" in text)

        settings.write_text('log_level = "info"\nlog_format = "json"\nnode_image = "node-fg:{version}"\n')
        after = len(log_text(gw))
        gw.proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        ssh(gw, key, "whoami")
        wait_for_log(gw, lambda text: '"event": "command"' in text, after)
        said = [json.loads(line)["message"] for line in log_text(gw)[after:].splitlines()]
        assert "SIGHUP: settings re-read: log level info, log format json, shutdown grace 30 s" in said
        assert "SIGHUP: FLEETGATE_NODE_IMAGE changed; a restart applies it" in said

        settings.write_text('log_level = "warning"\nlog_format = "json"\n')
        after = len(log_text(gw))
        gw.proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1")
        ssh(gw, key, "whoami")  # an INFO line: no longer logged
        ssh(gw, gw.new_key("stranger"), "whoami")  # a WARNING: logged
        wait_for_log(gw, lambda text: '"event": "failed_login"' in text, after)
        assert json_events(gw, "command", after) == []

        settings.write_text('log_level = "loud"\n')  # a wrong file keeps the settings in use
        after = len(log_text(gw))
        gw.proc.send_signal(signal.SIGHUP)
        notify.wait_for("READY=1")
        error = json.loads(wait_for_log(gw, lambda text: "SIGHUP" in text, after))
        assert error["message"] == (
            f"SIGHUP: {settings}: log_level='loud' is none of debug, info, warning, error; "
            "the settings in use stay"
        )
        assert gw.proc.poll() is None
        gw.proc.send_signal(signal.SIGTERM)
        notify.wait_for("STOPPING=1")
        assert gw.proc.wait(30) == 0
    finally:
        gw.stop()


def test_sighup_reopens_the_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "fleetgate.log"
    gw = service(tmp_path, {"FLEETGATE_LOG_FILE": str(log_file)})
    gw.start()
    try:
        key = gw.add_user("alice")
        ssh(gw, key, "whoami")
        deadline = time.monotonic() + 30
        while "command by alice" not in (log_file.read_text() if log_file.exists() else ""):
            assert time.monotonic() < deadline, "no command line in the log file"
            time.sleep(0.05)
        rotated = log_file.rename(tmp_path / "fleetgate.log.1")  # as logrotate does
        gw.proc.send_signal(signal.SIGHUP)
        while not log_file.exists() or "SIGHUP" not in log_file.read_text():
            assert time.monotonic() < deadline, "the log file was not reopened"
            time.sleep(0.05)
        assert "SIGHUP" not in rotated.read_text()
        assert "fleetgate stopped" not in log_text(gw)  # nothing logs to stderr
    finally:
        gw.stop()
    assert log_file.read_text().splitlines()[-1].endswith("INFO fleetgate: fleetgate stopped")
