"""The installed `fleetgate` says only what fleetgate means to say: no dependency's warning on any stderr.

A new `cryptography` once made asyncssh print ten deprecation warnings before every command's output
(issue 18); these run the console script as a user does and compare stderr exactly.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fleetgate import home as gateway_home

# The console script pip installed next to this interpreter: what a user runs, not `python -m`.
FLEETGATE = Path(sys.executable).parent / "fleetgate"
# `fleetgate serve` logs to stderr in this shape; any other line there is someone else's.
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FLEETGATE_HOME=str(home))
    # -W default would show what Python hides by default; users run with the defaults, and so does this.
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([str(FLEETGATE), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def installed() -> Path:
    if not FLEETGATE.exists():
        pytest.fail(f"the console script is not installed next to {sys.executable}: pip install -e .")
    return FLEETGATE


def test_help_prints_help_and_nothing_on_stderr(installed: Path, tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: fleetgate [OPTIONS] COMMAND [ARGS]...")


def test_version_prints_one_line(installed: Path, tmp_path: Path) -> None:
    from importlib.metadata import version

    result = _run(tmp_path, "--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"fleetgate {version('fleetgate')}\n", "")


def test_a_failing_command_prints_only_its_own_line(installed: Path, tmp_path: Path) -> None:
    gateway_home.create(tmp_path)
    result = _run(tmp_path, "fleet", "show", "nobody/nothing")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "fleetgate: error: no fleet nobody/nothing; see: fleetgate fleet list\n"


def test_bad_usage_prints_only_clicks_usage(installed: Path, tmp_path: Path) -> None:
    result = _run(tmp_path, "no-such-verb")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Usage: fleetgate [OPTIONS] COMMAND [ARGS]...",
        "Try 'fleetgate --help' for help.",
        "",
        "Error: No such command 'no-such-verb'.",
    ]


def test_serve_starts_and_stops_with_only_its_own_log_lines(installed: Path, tmp_path: Path) -> None:
    env = dict(
        os.environ,
        FLEETGATE_HOME=str(tmp_path),
        FLEETGATE_SSH_LISTEN="127.0.0.1:0",
        FLEETGATE_HTTP_LISTEN="127.0.0.1:0",
    )
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.Popen(
        [str(installed), "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("fleetgate is listening for git pushes on ssh://127.0.0.1:")
        deadline = time.monotonic() + 20
        while "HTTP API on" not in proc.stdout.readline():
            assert time.monotonic() < deadline, "serve printed no HTTP API line"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    foreign = [line for line in stderr.splitlines() if not LOG_LINE.match(line)]
    assert foreign == []
    assert "Warning" not in stderr


def test_every_module_imports_without_a_warning() -> None:
    # -W error turns any warning raised while importing into a failure that names it.
    code = (
        "import importlib, pkgutil, fleetgate\n"
        "import fleetgate.gitd, fleetgate.hooks, fleetgate.build, fleetgate.deploy\n"
        "from fleetgate.deploy import agent, api, servers\n"
        "packages = (fleetgate, fleetgate.gitd, fleetgate.hooks, fleetgate.build, fleetgate.deploy)\n"
        "for pkg in (*packages, api, agent, servers):\n"
        "    for module in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(module.name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert (result.returncode, result.stderr) == (0, "")
