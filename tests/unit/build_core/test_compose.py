"""Compose parsing, confinement and the release composition, as tables of exact results."""

from __future__ import annotations

import pytest
import yaml
from fleetgate.build.compose import (
    ComposeError,
    ComposeService,
    Composition,
    inside_tree,
    parse_compose,
    string_map,
)
from fleetgate.build.compose import composition_yaml as render_composition
from fleetgate.build.resolve import resolve

from fleetgate.device_types import device_type

NUC = device_type("intel-nuc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "services: {a: {build: .}}",
            Composition((ComposeService("a", ".", None),)),
        ),
        (
            "version: '2'\nservices:\n  a:\n    build: ./svc/\n    restart: always\n",
            Composition((ComposeService("a", "svc", None, rest={"restart": "always"}),), {"version": "2"}),
        ),
        (
            "services: {a: {build: {context: svc, dockerfile: ../Dockerfile.x}}}",
            Composition((ComposeService("a", "svc", "Dockerfile.x"),)),
        ),
        (
            "services: {a: {build: {args: [A=1=2, B=], labels: {l: true, n: 3}, target: t}}}",
            Composition(
                (ComposeService("a", ".", None, {"A": "1=2", "B": ""}, "t", {"l": "true", "n": "3"}),)
            ),
        ),
        (
            "services: {db: {image: 'postgres:16', volumes: [d:/d]}}",
            Composition(
                (ComposeService("db", None, None, rest={"image": "postgres:16", "volumes": ["d:/d"]}),)
            ),
        ),
        (
            "services: {b: {build: b}, a: {build: a}}",
            Composition((ComposeService("b", "b", None), ComposeService("a", "a", None))),
        ),
    ],
)
def test_parse_compose(text: str, expected: Composition) -> None:
    assert parse_compose(text) == expected


F = "docker-compose.yml: services.a"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [", "docker-compose.yml: not valid YAML at line 1; fix the syntax"),
        ("version: '2'", "docker-compose.yml: services: a mapping of services is required"),
        ("services: {}", "docker-compose.yml: services: a mapping of services is required"),
        ("[1, 2]", "docker-compose.yml: services: a mapping of services is required"),
        ("services: {a: 3}", f"{F}: must be a mapping"),
        ("services: {a: {restart: always}}", f"{F}: needs a build or an image"),
        (
            "services: {A_b: {build: .}}",
            "docker-compose.yml: services.A_b: use lower-case letters, digits and . _ - for service names",
        ),
        ("services: {a: {build: 3}}", f"{F}.build: must be a path or a mapping"),
        (
            "services: {a: {build: {network: host}}}",
            f"{F}.build.network: build option not supported; "
            "use only args, context, dockerfile, labels, target",
        ),
        (
            "services: {a: {build: {ssh: [default]}}}",
            f"{F}.build.ssh: build option not supported; use only args, context, dockerfile, labels, target",
        ),
        (
            "services: {a: {build: {secrets: [x]}}}",
            f"{F}.build.secrets: build option not supported; "
            "use only args, context, dockerfile, labels, target",
        ),
        (
            "services: {a: {build: {cache_from: [x]}}}",
            f"{F}.build.cache_from: build option not supported; "
            "use only args, context, dockerfile, labels, target",
        ),
        (
            "services: {a: {build: {extra_hosts: [x]}}}",
            f"{F}.build.extra_hosts: build option not supported; "
            "use only args, context, dockerfile, labels, target",
        ),
        (
            "services: {a: {build: /srv}}",
            f"{F}.build.context: '/srv' must be a relative path inside the project",
        ),
        (
            "services: {a: {build: ../x}}",
            f"{F}.build.context: '../x' points outside the project; keep it inside",
        ),
        (
            "services: {a: {build: a/../../x}}",
            f"{F}.build.context: 'a/../../x' points outside the project; keep it inside",
        ),
        (
            "services: {a: {build: 'https://github.com/x/y.git'}}",
            f"{F}.build.context: remote build contexts are not supported; use a folder of the project",
        ),
        (
            "services: {a: {build: 'git@github.com:x/y.git'}}",
            f"{F}.build.context: remote build contexts are not supported; use a folder of the project",
        ),
        (
            "services: {a: {build: 'github.com/x/y'}}",
            f"{F}.build.context: remote build contexts are not supported; use a folder of the project",
        ),
        (
            "services: {a: {build: {context: s, dockerfile: ../../D}}}",
            f"{F}.build.dockerfile: '../../D' points outside the project; keep it inside",
        ),
        (
            "services: {a: {build: {dockerfile: /D}}}",
            f"{F}.build.dockerfile: '/D' must be a relative path inside the project",
        ),
        ("services: {a: {build: {args: [A]}}}", f"{F}.build.args: 'A' has no value; write A=value"),
        ("services: {a: {build: {args: {A: null}}}}", f"{F}.build.args.A: give it a plain value"),
        ("services: {a: {build: {args: 3}}}", f"{F}.build.args: must be a mapping or a list of KEY=value"),
        (
            "services: {a: {build: {args: {BUILDKIT_SYNTAX: x}}}}",
            f"{F}.build.args.BUILDKIT_SYNTAX: not allowed as a build argument; rename it",
        ),
        (
            "services: {a: {build: {args: {'A B': x}}}}",
            f"{F}.build.args.A B: not allowed as a build argument; rename it",
        ),
        ("services: {a: {build: {target: [x]}}}", f"{F}.build.target: must be a stage name"),
    ],
)
def test_parse_compose_refuses(text: str, message: str) -> None:
    with pytest.raises(ComposeError) as e:
        parse_compose(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("value", "base", "expected"),
    [(".", ".", "."), ("./a/", ".", "a"), ("a/./b", ".", "a/b"), ("../b", "a", "b"), ("x", "a/b", "a/b/x")],
)
def test_inside_tree(value: str, base: str, expected: str) -> None:
    assert inside_tree(value, "w", base) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({}, {}),
        ([], {}),
        (["A=1", "B=x=y"], {"A": "1", "B": "x=y"}),
        ({"A": 1.5, "B": False}, {"A": "1.5", "B": "false"}),
    ],
)
def test_string_map(value, expected: dict[str, str]) -> None:
    assert string_map(value, "w") == expected


DEFAULT_COMPOSITION = """\
version: '2.1'
networks: {}
volumes:
  resin-data: {}
services:
  main:
    image: registry.local/o/f/main@sha256:abc
    privileged: true
    restart: always
    network_mode: host
    volumes:
    - resin-data:/data
    labels:
      io.balena.features.kernel-modules: '1'
      io.balena.features.firmware: '1'
      io.balena.features.dbus: '1'
      io.balena.features.supervisor-api: '1'
      io.balena.features.balena-api: '1'
"""


def test_default_composition() -> None:
    project = resolve({"Dockerfile"}, NUC, {})
    text = render_composition(project, {"main": "registry.local/o/f/main@sha256:abc"})
    assert text == DEFAULT_COMPOSITION


COMPOSE = b"""\
version: '2.1'
services:
  api:
    image: ignored-name
    build: {context: api, args: {A: '1'}}
    ports: ['80:80']
  cache:
    image: redis:7
"""
COMPOSE_COMPOSITION = """\
version: '2.1'
services:
  api:
    image: r/o/f/api@sha256:1
    ports:
    - 80:80
  cache:
    image: redis:7
"""


def test_compose_composition() -> None:
    project = resolve({"docker-compose.yml", "api/Dockerfile"}, NUC, {"docker-compose.yml": COMPOSE})
    text = render_composition(project, {"api": "r/o/f/api@sha256:1"})
    assert text == COMPOSE_COMPOSITION
    assert yaml.safe_load(text)["services"]["api"] == {"image": "r/o/f/api@sha256:1", "ports": ["80:80"]}


def test_composition_needs_every_built_image() -> None:
    project = resolve({"Dockerfile"}, NUC, {})
    with pytest.raises(ComposeError, match="^composition: no image for service main$"):
        render_composition(project, {})
