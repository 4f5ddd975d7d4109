"""Removals through the real `fleetgate` process: a terminal is asked, a pipe needs --yes (issue 19)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleetgate import home as gateway_home

FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A home where alice owns alice/web."""
    env = dict(os.environ, FLEETGATE_HOME=str(tmp_path / "home"), FLEETGATE_DATABASE_URL=database_url)
    gateway_home.create(tmp_path / "home")  # as `fleetgate serve` makes it
    for args in (("user", "add", "alice"), ("fleet", "create", "alice/web", "--device-type", "intel-nuc")):
        subprocess.run(FLEETGATE + list(args), env=env, check=True, capture_output=True, timeout=60)
    return env


def fleets(env: dict[str, str]) -> list[str]:
    listed = subprocess.run(FLEETGATE + ["fleet", "list", "--json"], env=env, capture_output=True, timeout=60)
    return [f["slug"] for f in json.loads(listed.stdout)]


def on_terminal(env: dict[str, str], args: list[str], answer: str) -> subprocess.CompletedProcess:
    """Run `fleetgate ARGS` with a pseudo-terminal as stdin, typing `answer` at it."""
    leader, follower = os.openpty()
    try:
        proc = subprocess.Popen(
            FLEETGATE + args,
            env=env,
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(leader, answer.encode())
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_a_terminal_is_asked(env: dict[str, str]) -> None:
    question = "remove fleet alice/web and its repository? [y/N]: "
    declined = on_terminal(env, ["fleet", "remove", "alice/web"], "n\n")
    assert (declined.returncode, declined.stdout) == (1, "")
    assert declined.stderr == question + "fleetgate: error: nothing removed\n"
    assert fleets(env) == ["alice/web"]
    accepted = on_terminal(env, ["fleet", "remove", "alice/web"], "y\n")
    assert (accepted.returncode, accepted.stdout, accepted.stderr) == (
        0,
        "removed fleet alice/web and its repository\n",
        question,
    )
    assert fleets(env) == []


def test_a_pipe_needs_yes_whatever_it_says(env: dict[str, str]) -> None:
    piped = subprocess.run(
        FLEETGATE + ["fleet", "remove", "alice/web"], env=env, input="y\n", capture_output=True, text=True
    )
    assert (piped.returncode, piped.stdout, piped.stderr) == (
        1,
        "",
        "fleetgate: error: this would remove fleet alice/web and its repository; add --yes to remove it "
        "(there is no terminal to ask on)\n",
    )
    assert fleets(env) == ["alice/web"]
    forced = subprocess.run(
        FLEETGATE + ["fleet", "remove", "alice/web", "--yes"], env=env, capture_output=True, text=True
    )
    assert (forced.returncode, forced.stderr) == (0, "")
    assert fleets(env) == []
