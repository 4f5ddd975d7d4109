"""`fleetgate … | head`: a reader that goes away is not a fault of fleetgate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    env = dict(os.environ, FLEETGATE_HOME=str(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fleetgate.cli", "device-types"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert (proc.wait(30), stderr) == (0, b"")
