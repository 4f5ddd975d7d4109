"""The implicit Dockerfile of package.json projects: versions, images, Dockerfiles, as exact tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetgate.build.nodejs import (
    INFINITY,
    NodeImageError,
    NodeSettings,
    PackageJsonError,
    implicit_dockerfile,
    node_image,
    node_major,
    node_ranges,
)

from fleetgate.device_types import device_type

SETTINGS = NodeSettings()
RPI3 = device_type("raspberrypi3")


@pytest.mark.parametrize(
    ("spec", "major"),
    [
        (None, 20),
        (">=14", 22),
        ("^18.1.0", 18),
        ("~16", 16),
        ("~16.4.1", 16),
        ("18.x", 18),
        ("18.X.x", 18),
        ("14 || 16", 16),
        (">=12 <17", 16),
        (">= 12 < 17", 16),
        (">=12 <=17", 16),
        (">=12 <=18", 18),
        (">12", 22),
        (">21.9", 22),
        ("<18", 16),
        ("<=18.2", 18),
        ("*", 22),
        ("", 22),
        ("x", 22),
        ("18.2.0", 18),
        ("v18.2.0", 18),
        ("=16.0.0", 16),
        ("12 - 14.1", 14),
        ("10.1 - 12", 12),
        ("^20.0.0-rc.1", 20),
        ("~>14.2", 14),
        ("<12 || >=16 <19", 18),
    ],
)
def test_node_major(spec: str | None, major: int) -> None:
    assert node_major(spec, SETTINGS) == major


def test_node_major_uses_configured_majors_and_default() -> None:
    settings = NodeSettings(majors=(8, 6), default_major=6)
    assert [node_major(s, settings) for s in (None, ">=4", "^6.1", "6 || 20")] == [6, 8, 6, 6]


KNOWN = "(10, 12, 14, 16, 18, 20, 22)"


@pytest.mark.parametrize(
    ("spec", "settings", "known"),
    [
        (">=23", SETTINGS, KNOWN),
        (">22", SETTINGS, KNOWN),
        ("^24.1.0", SETTINGS, KNOWN),
        ("23.x || 25", SETTINGS, KNOWN),
        ("^8", SETTINGS, KNOWN),
        ("^0.10.22", SETTINGS, KNOWN),
        ("0.10.22", SETTINGS, KNOWN),
        ("<10", SETTINGS, KNOWN),
        (">=20 <20", SETTINGS, KNOWN),
        ("11 - 11.9", SETTINGS, KNOWN),
        ("20", NodeSettings(majors=(8, 6), default_major=6), "(6, 8)"),
    ],
)
def test_node_major_refuses_a_range_no_image_meets(spec: str, settings: NodeSettings, known: str) -> None:
    with pytest.raises(PackageJsonError) as e:
        node_major(spec, settings)
    assert str(e.value) == (
        f"package.json: engines.node {spec!r} allows none of the Node.js majors this gateway builds with "
        f"{known}; allow one of them"
    )


@pytest.mark.parametrize(
    ("spec", "intervals"),
    [
        ("^0.0.3", (((0, 0, 3), (0, 0, 4)),)),
        ("^0.2", (((0, 2, 0), (0, 3, 0)),)),
        ("^0", (((0, 0, 0), (1, 0, 0)),)),
        (">1.2.3", (((1, 2, 4), INFINITY),)),
        ("1 - 2.3.4", (((1, 0, 0), (2, 3, 5)),)),
        ("<2 || 3", (((0, 0, 0), (2, 0, 0)), ((3, 0, 0), (4, 0, 0)))),
    ],
)
def test_node_ranges(spec: str, intervals: tuple) -> None:
    assert node_ranges(spec) == intervals


@pytest.mark.parametrize("spec", ["latest", "lts/*", ">=a", "18.2.0.1", "1 - ", "^^1"])
def test_node_ranges_refuses(spec: str) -> None:
    with pytest.raises(PackageJsonError) as e:
        node_major(spec, SETTINGS)
    assert str(e.value) == f"package.json: engines.node {spec!r} is not a version range; use e.g. '>=18'"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("balenalib/{machine}-node:{version}", "balenalib/raspberrypi3-node:18"),
        ("node-fg-{arch}:{version}", "node-fg-armv7hf:18"),
        (
            "registry.local:5000/node:{version}-{machine}-{arch}",
            "registry.local:5000/node:18-raspberrypi3-armv7hf",
        ),
        ("node:lts", "node:lts"),
    ],
)
def test_node_image(template: str, expected: str) -> None:
    assert node_image(NodeSettings(image=template), RPI3, 18) == expected


@pytest.mark.parametrize("template", ["node:{tag}", "node:{version", "", "node:{version} x", "{0}"])
def test_node_image_refuses(template: str) -> None:
    with pytest.raises(NodeImageError, match="use only {machine}, {arch}, {version}$"):
        node_image(NodeSettings(image=template), RPI3, 18)


NEW = "npm install --omit=dev --no-audit --no-fund"
OLD = "npm install --unsafe-perm --production --no-audit --no-fund"


def dockerfile(image: str, copy: str, cmd: str, install: str = NEW) -> str:
    return f"FROM {image}\nWORKDIR /usr/src/app\nCOPY {copy} ./\nRUN {install}\nCOPY . ./\nCMD {cmd}\n"


@pytest.mark.parametrize(
    ("package_json", "has_lock", "expected"),
    [
        (b"{}", False, dockerfile("balenalib/raspberrypi3-node:20", "package.json", '["node", "server.js"]')),
        (
            b'{"scripts": {"start": "node index.js"}, "engines": {"node": ">=16 <19"}}',
            True,
            dockerfile(
                "balenalib/raspberrypi3-node:18", "package.json package-lock.json", '["npm", "start"]'
            ),
        ),
        (
            b'{"scripts": {"test": "x", "start": " "}, "engines": {"npm": "9"}}',
            False,
            dockerfile("balenalib/raspberrypi3-node:20", "package.json", '["node", "server.js"]'),
        ),
        (
            b'{"engines": {"node": "^14.2"}}',
            False,
            dockerfile("balenalib/raspberrypi3-node:14", "package.json", '["node", "server.js"]', OLD),
        ),
    ],
)
def test_implicit_dockerfile(package_json: bytes, has_lock: bool, expected: str) -> None:
    assert implicit_dockerfile(package_json, RPI3, SETTINGS, has_lock) == expected


@pytest.mark.parametrize(
    ("package_json", "message"),
    [
        (
            b'{"engines": {"node": ">=23"}}',
            "package.json: engines.node '>=23' allows none of the Node.js majors this gateway builds with",
        ),
        (
            b'{"name": ',
            "package.json: not valid JSON (Expecting value: line 1 column 10 (char 9)); fix the syntax",
        ),
        (b"\xff", "package.json: not valid JSON"),
        (b"[]", "package.json: must be a JSON object"),
        (b'{"engines": "node 18"}', "package.json: engines must be an object"),
        (b'{"scripts": []}', "package.json: scripts must be an object"),
        (b'{"engines": {"node": 18}}', "package.json: engines.node must be a string such as '>=18'"),
    ],
)
def test_implicit_dockerfile_refuses(package_json: bytes, message: str) -> None:
    with pytest.raises(PackageJsonError) as e:
        implicit_dockerfile(package_json, RPI3, SETTINGS)
    assert str(e.value).startswith(message)


def test_nodejs_fixture_with_the_test_node_image() -> None:
    package_json = (Path(__file__).resolve().parents[2] / "projects" / "nodejs" / "package.json").read_bytes()
    generic = device_type("generic-amd64")
    assert implicit_dockerfile(package_json, generic, NodeSettings(image="node-fg:{version}")) == dockerfile(
        "node-fg:20", "package.json", '["node", "server.js"]'
    )
