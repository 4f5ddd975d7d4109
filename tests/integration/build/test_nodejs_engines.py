"""engines.node through a real push: a range no Node.js image meets is refused, not built on another."""

from __future__ import annotations

import json
from pathlib import Path

from ..support import Gateway, git, remote_lines, unwrapped
from .conftest import fleet, project, push, releases


def test_a_node_range_no_image_meets_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/node23", "generic-amd64")
    work = project(tmp_path, "nodejs")
    manifest = json.loads((work / "package.json").read_text())
    manifest["engines"]["node"] = ">=23"
    (work / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    git("commit", "-qam", "node 23", cwd=work)
    result = push(gateway, work, key, "alice/node23", "master", check=False)
    assert result.returncode == 1
    said = "\n".join(unwrapped(remote_lines(result.stderr)))  # the [Error] line, wrapped to 100 columns
    assert (
        "alice/node23#1 failed to build: package.json: engines.node '>=23' allows none of the Node.js "
        "majors this gateway builds with (10, 12, 14, 16, 18, 20, 22); allow one of them"
    ) in said
    assert "node-fg:20" not in result.stderr
    assert all(r["status"] != "success" for r in releases(gateway, "alice/node23"))
