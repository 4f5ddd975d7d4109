"""One home and a settings file, through the real command line and the real `fleetgate serve` (issue 19)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from .support import FLEETGATE, SERVE, Gateway, new_gateway

PUBLIC = "ssh://git@gw.example.org:2222"
PUBLIC_HTTP = "https://gw.example.org/fleetgate"
WATCHED = (
    "FLEETGATE_HOME",
    "FLEETGATE_PUBLIC_SSH_URL",
    "FLEETGATE_SSH_LISTEN",
    "FLEETGATE_HTTP_LISTEN",
    "FLEETGATE_REGISTRY_PASSWORD",
    "FLEETGATE_METRICS_TOKEN",
)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any FLEETGATE_ setting (a CI runner's must not leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETGATE_")}
    return {**env, "FLEETGATE_HOME": str(home), **extra}


def fleetgate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FLEETGATE, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("made", [True, False], ids=["empty-home", "no-home"])
def test_a_command_in_a_home_without_a_gateway_is_refused_in_one_line(tmp_path: Path, made: bool) -> None:
    home = tmp_path / "typo"
    if made:
        home.mkdir()
    result = fleetgate(clean_env(home), "user", "add", "alice")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"fleetgate: error: no gateway in {home}: set FLEETGATE_HOME to the home of your `fleetgate serve`, "
        "or start the gateway there first\n"
    )
    assert list(home.iterdir()) == [] if made else not home.exists()  # nothing made there


@pytest.mark.parametrize(
    "args",
    [("user", "add", "--help"), ("--help",), ("--version",), ("device-types",), ("config", "show")],
)
def test_what_needs_no_gateway_runs_without_one(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "none"
    result = fleetgate(clean_env(home), *args)
    assert (result.returncode, result.stderr) == (0, "")
    assert not home.exists()  # and makes no home


def test_config_show_names_where_each_setting_came_from(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "fleetgate.toml").write_text(
        f'public_ssh_url = "{PUBLIC}"\nssh_listen = "0.0.0.0:2200"\nregistry_password = "hunter2"\n'
    )
    env = clean_env(home, FLEETGATE_SSH_LISTEN="127.0.0.1:2201", FLEETGATE_METRICS_TOKEN="t0ken")
    result = fleetgate(env, "config", "show", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    shown = json.loads(result.stdout)
    assert shown["file"] == str(home / "fleetgate.toml")
    rows = {row["name"]: (row["key"], row["value"], row["source"]) for row in shown["settings"]}
    assert {name: rows[name] for name in WATCHED} == {
        "FLEETGATE_HOME": (None, str(home), "environment"),
        "FLEETGATE_PUBLIC_SSH_URL": ("public_ssh_url", PUBLIC, "file"),
        "FLEETGATE_SSH_LISTEN": ("ssh_listen", "127.0.0.1:2201", "environment"),  # the environment wins
        "FLEETGATE_HTTP_LISTEN": ("http_listen", "127.0.0.1:8080", "default"),
        "FLEETGATE_REGISTRY_PASSWORD": ("registry_password", "***", "file"),
        "FLEETGATE_METRICS_TOKEN": ("metrics_token", "***", "environment"),
    }
    assert "hunter2" not in result.stdout and "t0ken" not in result.stdout
    table = fleetgate(env, "config", "show").stdout.splitlines()
    assert table[0] == f"settings file: {home / 'fleetgate.toml'}"
    assert table[1].split() == ["SETTING", "VALUE", "FROM"]
    assert "FLEETGATE_PUBLIC_SSH_URL ssh://git@gw.example.org:2222 file" in [
        " ".join(r.split()) for r in table
    ]


def test_a_wrong_settings_file_is_one_line_for_every_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "fleetgate.toml").write_text('ssh_listn = "0.0.0.0:2222"\n')
    for args in (("config", "show"), ("user", "list"), ("serve",)):
        result = fleetgate(clean_env(home), *args)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == (
            f"fleetgate: error: {home / 'fleetgate.toml'}: unknown setting 'ssh_listn'; "
            "did you mean ssh_listen? (`fleetgate config show` lists them all)\n"
        )


def test_serve_makes_a_private_home_with_a_settings_file(tmp_path: Path) -> None:
    home = tmp_path / "data" / "fleetgate"
    env = clean_env(home, FLEETGATE_SSH_LISTEN="127.0.0.1:0", FLEETGATE_HTTP_LISTEN="127.0.0.1:0")
    proc = subprocess.Popen([*SERVE], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().startswith("fleetgate is listening for git pushes on ssh://127.0.0.1:")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "fleetgate.toml").stat().st_mode) == 0o600
    assert fleetgate(env, "user", "add", "alice").returncode == 0  # now a home with a gateway


@pytest.fixture
def configured(tmp_path: Path):
    """`fleetgate serve` configured by its settings file alone: no FLEETGATE_ variable but the home."""
    gw = new_gateway(tmp_path, SERVE)
    gw.env = clean_env(gw.home)
    (gw.home / "fleetgate.toml").write_text(
        f'ssh_listen = "127.0.0.1:{gw.port}"\nhttp_listen = "127.0.0.1:0"\nlock_wait = 30\n'
        f'public_ssh_url = "{PUBLIC}/"\npublic_http_url = "{PUBLIC_HTTP}"\n'
    )
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def test_serve_honours_its_settings_file(configured: Gateway) -> None:
    # The port takes connections before the text is printed: wait for the text (its HTTP line is last).
    assert configured.http_url() == PUBLIC_HTTP
    log = (configured.home / "serve.log").read_text()
    assert f"fleetgate is listening for git pushes on ssh://127.0.0.1:{configured.port} " in log  # ssh_listen
    assert f"  git remote add balena {PUBLIC}/alice/demo.git" in log.splitlines()
    assert f"HTTP API on {PUBLIC_HTTP} (described at {PUBLIC_HTTP}/openapi.json)" in log.splitlines()


def test_the_registry_token_realm_is_the_public_http_url(configured: Gateway) -> None:
    # Devices and servers reach the realm through the address users do, not the gateway's listen address.
    printed = configured.cli("registry", "token-config").stdout
    assert f"    realm: {PUBLIC_HTTP}/v1/registry/token" in printed.splitlines()


def test_printed_remotes_and_the_ssh_hint_use_the_public_url(configured: Gateway) -> None:
    key = configured.add_user("alice")
    made = configured.cli("fleet", "create", "alice/demo", "--device-type", "raspberrypi3")
    assert f"  git remote add balena {PUBLIC}/alice/demo.git" in made.stdout.splitlines()
    shown = json.loads(configured.cli("fleet", "show", "alice/demo", "--json").stdout)
    assert shown["remote"] == f"{PUBLIC}/alice/demo.git"
    helped = subprocess.run(configured.ssh_argv(key, "help"), capture_output=True, text=True, timeout=60)
    assert helped.stdout.splitlines()[0] == (
        "fleetgate commands, run as: ssh -p 2222 git@gw.example.org COMMAND (each takes --help)"
    )
