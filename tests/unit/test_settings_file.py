"""Settings from the environment over `$FLEETGATE_HOME/fleetgate.toml` over the defaults (DESIGN.md §3)."""

from __future__ import annotations

import os
import stat
import types
from pathlib import Path

import pytest
from fleetgate.gitd.gateway import GatewayConfig
from fleetgate.gitd.server import GitSSHServer

from fleetgate import home as gateway_home
from fleetgate import settings
from fleetgate.cli.config import masked
from fleetgate.limits import Limits
from fleetgate.operations.views import remote_url
from fleetgate.serve import getting_started

FLEET = types.SimpleNamespace(owner="alice", name="demo")


def home_with(tmp_path: Path, text: str | None) -> dict[str, str]:
    """An environment naming a home whose settings file holds `text` (None: no file)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    if text is not None:
        (home / "fleetgate.toml").write_text(text)
    return {"FLEETGATE_HOME": str(home), "PATH": os.environ["PATH"]}


@pytest.mark.parametrize(
    ("environment", "file", "expected", "source"),
    [
        ({}, None, "127.0.0.1:2222", "default"),
        ({}, 'ssh_listen = "0.0.0.0:2200"\n', "0.0.0.0:2200", "file"),
        ({"FLEETGATE_SSH_LISTEN": "127.0.0.2:2201"}, None, "127.0.0.2:2201", "environment"),
        (
            {"FLEETGATE_SSH_LISTEN": "127.0.0.2:2201"},
            'ssh_listen = "0.0.0.0:2200"\n',
            "127.0.0.2:2201",
            "environment",
        ),
        # An empty variable counts as unset, as it always has: the file's value stands.
        ({"FLEETGATE_SSH_LISTEN": ""}, 'ssh_listen = "0.0.0.0:2200"\n', "0.0.0.0:2200", "file"),
    ],
)
def test_the_environment_wins_over_the_file_over_the_default(
    tmp_path: Path, environment: dict[str, str], file: str | None, expected: str, source: str
) -> None:
    env = {**home_with(tmp_path, file), **environment}
    loaded = settings.load(env)
    assert f"{loaded.ssh_host}:{loaded.ssh_port}" == expected
    assert settings.values(env).sources.source("FLEETGATE_SSH_LISTEN") == source


@pytest.mark.parametrize(
    ("text", "attribute", "expected"),
    [
        ('registry = "reg.example:5000"\nregistry_user = "fg"\n', "registry_user", "fg"),
        ("max_pack_bytes = 1000\n", "limits", Limits(pack_bytes=1000)),
        ("releases_kept = 2\n", "releases_kept", 2),
        ('releases_kept = "off"\n', "releases_kept", None),
        ("releases_kept = 0\n", "releases_kept", None),
        ("prune_interval = 3600\n", "prune_interval", 3600.0),
        ('prune_interval = "off"\n', "prune_interval", 0.0),
        ('docker_host = "tcp://builder:2375"\n', "docker_host", "tcp://builder:2375"),
        ('node_id = "gw-1"\n', "node_id", "gw-1"),
        ('registry = "reg.example:5000"\n', "registry_token_service", "reg.example:5000"),
    ],
)
def test_every_setting_is_a_key_of_the_file(tmp_path: Path, text: str, attribute: str, expected) -> None:
    assert getattr(settings.load(home_with(tmp_path, text)), attribute) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('ssh_listn = "0.0.0.0:2222"\n', "{file}: unknown setting 'ssh_listn'; did you mean ssh_listen? "),
        ('colour = "blue"\n', "{file}: unknown setting 'colour' (`fleetgate config show` lists them all)"),
        ('home = "/srv"\n', "{file}: home cannot be set in the file that lives in it; set FLEETGATE_HOME"),
        ("ssh_listen = \n", "{file} is not valid TOML: Invalid value (at line 1, column 14)"),
        ("[ssh]\nlisten = 1\n", "{file}: unknown setting 'ssh'"),
        ('builders = ["a", "b"]\n', "{file}: builders must be a string or a number, not an array"),
        (
            'ssh_listen = "nowhere"\n',
            "{file}: ssh_listen='nowhere' is not HOST:PORT; set it like 127.0.0.1:2222",
        ),
        ("rollout_parallel = 0\n", "{file}: rollout_parallel and FLEETGATE_HEALTH_TIMEOUT must be whole"),
        (
            'releases_kept = "all"\n',
            "{file}: releases_kept='all' is neither a number of releases (at least 1) nor off",
        ),
        ("prune_interval = -1\n", "{file}: prune_interval='-1' is neither seconds (e.g. 86400) nor off"),
        ('public_ssh_url = "gw:22"\n', "{file}: public_ssh_url='gw:22' is not ssh://[USER@]HOST[:PORT]"),
    ],
)
def test_a_wrong_file_is_one_line_naming_the_key_and_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    env = home_with(tmp_path, text)
    with pytest.raises(settings.SettingsError) as refused:
        settings.load(env)
    expected = message.format(file=Path(env["FLEETGATE_HOME"]) / "fleetgate.toml")
    assert str(refused.value).startswith(expected)
    assert "\n" not in str(refused.value)


def test_a_value_the_environment_set_is_named_as_the_variable(tmp_path: Path) -> None:
    env = {**home_with(tmp_path, 'ssh_listen = "nowhere"\n'), "FLEETGATE_HTTP_LISTEN": "nowhere"}
    env["FLEETGATE_SSH_LISTEN"] = "127.0.0.1:1"
    with pytest.raises(settings.SettingsError, match=r"^FLEETGATE_HTTP_LISTEN='nowhere' is not HOST:PORT"):
        settings.load(env)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_DATA_HOME": "/data", "HOME": "/home/op"}, "/data/fleetgate"),
        ({"XDG_DATA_HOME": "", "HOME": "/home/op"}, "/home/op/.local/share/fleetgate"),
        ({"XDG_DATA_HOME": "relative/dir", "HOME": "/home/op"}, "/home/op/.local/share/fleetgate"),
        ({"HOME": "/home/op"}, "/home/op/.local/share/fleetgate"),
        ({"FLEETGATE_HOME": "/srv/fleetgate", "XDG_DATA_HOME": "/data"}, "/srv/fleetgate"),
    ],
)
def test_the_home_defaults_to_the_xdg_data_directory(env: dict[str, str], expected: str) -> None:
    loaded = settings.load(env)
    assert (loaded.home, loaded.database_url) == (Path(expected), f"sqlite:///{expected}/fleetgate.db")


def test_the_xdg_default_follows_the_process_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FLEETGATE_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert settings.load().home == tmp_path / "data" / "fleetgate"


@pytest.mark.parametrize(
    ("env", "remote", "hint"),
    [
        ({}, "ssh://git@127.0.0.1:2222/alice/demo.git", "ssh -p 2222 git@127.0.0.1"),
        (
            {"FLEETGATE_SSH_LISTEN": "[::1]:2200"},
            "ssh://git@[::1]:2200/alice/demo.git",
            "ssh -p 2200 git@::1",
        ),
        (
            {"FLEETGATE_SSH_LISTEN": "0.0.0.0:22"},
            "ssh://git@gw.internal:22/alice/demo.git",
            "ssh -p 22 git@0.0.0.0",
        ),
        (
            {"FLEETGATE_PUBLIC_SSH_URL": "ssh://git@gw.example.org:2222/"},
            "ssh://git@gw.example.org:2222/alice/demo.git",
            "ssh -p 2222 git@gw.example.org",
        ),
        (
            {"FLEETGATE_PUBLIC_SSH_URL": "ssh://deploy@[2001:db8::1]"},
            "ssh://deploy@[2001:db8::1]/alice/demo.git",
            "ssh -p 22 deploy@2001:db8::1",
        ),
    ],
)
def test_remotes_and_hints_use_the_public_ssh_url(
    monkeypatch, env: dict[str, str], remote: str, hint: str
) -> None:
    monkeypatch.setattr(settings.socket, "getfqdn", lambda: "gw.internal")
    loaded = settings.load({"FLEETGATE_HOME": "/srv/fg", **env})
    assert remote_url(loaded, FLEET) == remote
    config = GatewayConfig(
        loaded.ssh_host, loaded.ssh_port, Path("k"), Path("r"), loaded.limits, "n", loaded.public_ssh_url
    )
    assert GitSSHServer._ssh_hint(types.SimpleNamespace(gateway=types.SimpleNamespace(config=config))) == hint


def test_the_getting_started_text_names_the_public_remote() -> None:
    public = "ssh://git@gw.example.org:2222"
    loaded = settings.load({"FLEETGATE_HOME": "/srv/fg", "FLEETGATE_PUBLIC_SSH_URL": public})
    text = getting_started(loaded, 40123)
    assert f"  git remote add balena {public}/alice/demo.git" in text.splitlines()
    assert text.startswith(
        "fleetgate is listening for git pushes on ssh://127.0.0.1:40123 "
    )  # where it listens


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "http://127.0.0.1:8080"),
        (
            {"FLEETGATE_PUBLIC_HTTP_URL": "https://gw.example.org/fleetgate/"},
            "https://gw.example.org/fleetgate",
        ),
    ],
)
def test_the_public_http_url(env: dict[str, str], expected: str) -> None:
    assert settings.load({"FLEETGATE_HOME": "/srv/fg", **env}).http_url() == expected


@pytest.mark.parametrize("url", ["ftp://gw", "https://", "http://gw:port", "http://gw/?q=1"])
def test_a_public_http_url_that_is_none_is_refused(url: str) -> None:
    with pytest.raises(settings.SettingsError, match=r"is not http\[s\]://HOST\[:PORT\]\[/PATH\]; e.g. "):
        settings.load({"FLEETGATE_HOME": "/srv/fg", "FLEETGATE_PUBLIC_HTTP_URL": url})


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A PATH directory with an executable `docker` and a `fancy-docker`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("docker", "fancy-docker"):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.parametrize(
    ("debian", "on_path", "configured", "expected"),
    [
        (True, True, "", "{debian}"),  # Debian's client first: the newer one refuses BuildKit without buildx
        (False, True, "", "{bin}/docker"),
        (False, False, "", ""),  # none: a build says so in one line
        (True, True, "fancy-docker", "{bin}/fancy-docker"),
        (True, True, "/opt/docker/bin/docker", "/opt/docker/bin/docker"),  # not there: named as given
    ],
)
def test_the_docker_client(
    tmp_path: Path, bin_dir: Path, monkeypatch, debian: bool, on_path: bool, configured: str, expected: str
) -> None:
    debian_path = tmp_path / "usr-bin-docker"
    if debian:
        debian_path.write_text("#!/bin/sh\n")
        debian_path.chmod(0o755)
    monkeypatch.setattr(settings, "DEBIAN_DOCKER", str(debian_path))
    env = {"FLEETGATE_HOME": "/srv/fg", "PATH": str(bin_dir) if on_path else str(tmp_path / "empty")}
    if configured:
        env["FLEETGATE_DOCKER_CLI"] = configured
    assert settings.load(env).docker_cli == expected.format(debian=debian_path, bin=bin_dir)


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("FLEETGATE_REGISTRY_PASSWORD", "hunter2", "***"),
        ("FLEETGATE_METRICS_TOKEN", "t0ken", "***"),
        ("FLEETGATE_REGISTRY_PASSWORD", "", ""),
        ("FLEETGATE_DATABASE_URL", "postgresql://fg:s3cret@db:5432/fg", "postgresql://fg:***@db:5432/fg"),
        ("FLEETGATE_DATABASE_URL", "sqlite:////srv/fg/fleetgate.db", "sqlite:////srv/fg/fleetgate.db"),
        ("FLEETGATE_REGISTRY_USER", "fleetgate", "fleetgate"),
    ],
)
def test_secrets_are_masked(name: str, value: str, shown: str) -> None:
    known = {k.name: k for k in settings.KNOWN}[name]
    assert masked(known, value) == shown


def test_serve_makes_a_private_home_with_a_settings_file_of_comments(tmp_path: Path) -> None:
    home = tmp_path / "data" / "fleetgate"
    assert not gateway_home.holds_gateway(home)
    gateway_home.create(home)
    assert gateway_home.holds_gateway(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "fleetgate.toml").stat().st_mode) == 0o600
    assert settings.values({"FLEETGATE_HOME": str(home)}).sources.file == {}  # every line a comment
    (home / "fleetgate.toml").write_text('ssh_listen = "0.0.0.0:2222"\n')
    gateway_home.create(home)  # a second start keeps what the operator wrote
    assert (home / "fleetgate.toml").read_text() == 'ssh_listen = "0.0.0.0:2222"\n'


def test_a_home_of_an_older_gateway_holds_one(tmp_path: Path) -> None:
    (tmp_path / "ssh_host_ed25519_key").write_text("key")
    gateway_home.require(tmp_path)
    gateway_home.create(tmp_path)
    assert not (tmp_path / "fleetgate.toml").exists()


def test_a_home_without_a_gateway_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError) as refused:
        gateway_home.require(tmp_path)
    assert str(refused.value) == (
        f"no gateway in {tmp_path}: set FLEETGATE_HOME to the home of your `fleetgate serve`, "
        "or start the gateway there first"
    )


def test_every_known_setting_has_a_key_and_a_default(tmp_path: Path) -> None:
    found = settings.values({"FLEETGATE_HOME": str(tmp_path), "PATH": ""})
    names = [known.name for known in settings.KNOWN]
    assert len(names) == len(set(names))
    assert all(isinstance(found[name], str) for name in names)
