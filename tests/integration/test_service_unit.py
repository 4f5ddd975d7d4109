"""The README's "Running it as a service", followed: the unit verifies, its ExecStart starts the gateway
with the settings file the README shows, systemd's notify protocol and ExecReload work, /healthz answers.

No systemd runs here as PID 1: the unit's hardening is checked by `systemd-analyze verify` and by
reading it; the process it starts is the real one, on this machine's Docker.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import missing
from .service_support import NotifySocket, log_text, wait_for_log
from .support import Gateway, free_port, need_git_and_ssh

ROOT = Path(__file__).resolve().parents[2]
SECTION = (ROOT / "README.md").read_text().split("## Running it as a service\n", 1)[1].split("\n## ", 1)[0]
INSTALLED = "/opt/fleetgate/.venv"  # where the README's commands install fleetgate


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", SECTION, re.S)


def unit_path() -> Path:
    named = re.search(r"`(contrib/[\w.-]+\.service)`", SECTION)
    assert named is not None, "the README names no unit file"
    return ROOT / named[1]


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def installed_here(text: str) -> str:
    """The unit as the README's steps install it, with this checkout's virtualenv where they put theirs."""
    assert text.count(INSTALLED) == 1, "ExecStart is not where the README installs fleetgate"
    return text.replace(INSTALLED, sys.prefix)


def test_the_readme_installs_where_the_unit_looks() -> None:
    commands = blocks("sh")[0]
    assert "/opt/fleetgate" in commands and "python3 -m venv .venv" in commands
    assert f"cp {unit_path().relative_to(ROOT)} /etc/systemd/system/" in commands
    assert directives(unit_path().read_text())["ExecStart"] == [f"{INSTALLED}/bin/fleetgate serve"]


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        missing("systemd-analyze is not installed (Debian's systemd package)")
    unit = tmp_path / "fleetgate.service"
    unit.write_text(installed_here(unit_path().read_text()))
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (verified.returncode, verified.stderr) == (0, "")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("Restart", "on-failure"),
        ("User", "fleetgate"),
        ("SupplementaryGroups", "docker"),  # builds reach /var/run/docker.sock
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("StateDirectory", "fleetgate"),  # /var/lib/fleetgate stays writable under ProtectSystem=strict
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("KillMode", "mixed"),  # SIGTERM to fleetgate alone: the builds it drains keep running
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Environment", "FLEETGATE_HOME=/var/lib/fleetgate"),
    ],
)
def test_the_unit_is_hardened_and_restarts(key: str, value: str) -> None:
    assert value in directives(unit_path().read_text())[key]


def test_execstart_serves_with_the_readmes_settings_file(tmp_path: Path) -> None:
    need_git_and_ssh()
    if shutil.which("curl") is None:
        missing("curl is not installed")
    unit = directives(installed_here(unit_path().read_text()))
    home = tmp_path / "var-lib-fleetgate"  # the unit's /var/lib/fleetgate
    home.mkdir(mode=0o700)
    [settings] = blocks("toml")
    (home / "fleetgate.toml").write_text(settings)
    environment = dict(item.split("=", 1) for item in unit["Environment"])
    assert environment == {"FLEETGATE_HOME": "/var/lib/fleetgate"}
    notify = NotifySocket(tmp_path / "notify")
    ssh_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGATE_")}
    env.update(
        FLEETGATE_HOME=str(home),
        NOTIFY_SOCKET=str(notify.path),
        # The file's own addresses (0.0.0.0:2222, 127.0.0.1:8080) may be taken here: the environment wins.
        FLEETGATE_SSH_LISTEN=f"127.0.0.1:{ssh_port}",
        FLEETGATE_HTTP_LISTEN="127.0.0.1:0",
    )
    gw = Gateway(home=home, port=ssh_port, env=env, tmp=tmp_path, serve=shlex.split(unit["ExecStart"][0]))
    gw.start()
    try:
        notify.wait_for("READY=1")  # Type=notify
        assert "  git remote add balena ssh://git@gw.example.org:2222/alice/demo.git" in log_text(gw)
        [curl] = [line for line in blocks("sh")[0].splitlines() if "/healthz" in line]
        asked = shlex.split(curl.replace("http://127.0.0.1:8080", gw.http_url()))
        health = json.loads(
            subprocess.run(asked, capture_output=True, text=True, timeout=30, check=True).stdout
        )
        assert (health["status"], health["down"]) == ("ok", [])
        assert health["checks"]["registry"]["status"] == "off"  # commented out in the README's file
        reload = unit["ExecReload"][0].replace("$MAINPID", str(gw.proc.pid))
        subprocess.run(shlex.split(reload), check=True, timeout=30)
        notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1")
        wait_for_log(gw, lambda line: "SIGHUP: settings re-read" in line)
        gw.proc.send_signal(signal.SIGTERM)  # systemctl stop
        notify.wait_for("STOPPING=1")
        assert gw.proc.wait(60) == 0
    finally:
        gw.stop()
        notify.close()
    logged = [line for line in log_text(gw).splitlines() if line.startswith("{")]
    assert logged and all(json.loads(line)["logger"] for line in logged)  # log_format = "json"
    assert [line for line in log_text(gw).splitlines() if " INFO " in line] == []  # no text line
