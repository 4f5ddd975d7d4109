"""Resolution order, at the root and per compose service, as tables of exact results."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetgate.build.compose import DEFAULT_SERVICE, DEFAULT_TOP, ComposeError
from fleetgate.build.resolve import Project, ResolveError, ServiceSpec, candidates, resolve

from fleetgate.device_types import device_type

RPI3 = device_type("raspberrypi3")
NUC = device_type("intel-nuc")


def single(dockerfile: str | None, source: str) -> Project:
    main = ServiceSpec("main", ".", dockerfile, source, compose=DEFAULT_SERVICE)  # type: ignore[arg-type]
    return Project("single", (main,), DEFAULT_TOP)


@pytest.mark.parametrize(
    ("paths", "device", "expected"),
    [
        ({"Dockerfile"}, RPI3, single("Dockerfile", "dockerfile")),
        ({"Dockerfile", "Dockerfile.raspberrypi3"}, RPI3, single("Dockerfile.raspberrypi3", "template")),
        ({"Dockerfile", "Dockerfile.raspberrypi3"}, NUC, single("Dockerfile", "dockerfile")),
        ({"Dockerfile.template", "Dockerfile.armv7hf"}, RPI3, single("Dockerfile.armv7hf", "template")),
        ({"Dockerfile.template", "Dockerfile.armv7hf"}, NUC, single("Dockerfile.template", "template")),
        (
            {"Dockerfile.amd64", "Dockerfile.intel-nuc", "Dockerfile"},
            NUC,
            single("Dockerfile.intel-nuc", "template"),
        ),
        ({"Dockerfile.template", "Dockerfile"}, NUC, single("Dockerfile.template", "template")),
        ({"Dockerfile", "package.json"}, NUC, single("Dockerfile", "dockerfile")),
        ({"package.json", "server.js"}, NUC, single(None, "package.json")),
        ({"sub/Dockerfile", "package.json"}, NUC, single(None, "package.json")),
    ],
)
def test_resolve_single(paths: set[str], device, expected: Project) -> None:
    assert resolve(paths, device, {}) == expected


def test_resolve_single_error_lists_what_was_looked_for() -> None:
    message = (
        "nothing to build in the project root: looked for docker-compose.yml, docker-compose.yaml, "
        "Dockerfile.raspberrypi3, Dockerfile.armv7hf, Dockerfile.template, Dockerfile, package.json"
    )
    with pytest.raises(ResolveError) as e:
        resolve({"README.md", "sub/Dockerfile"}, RPI3, {})
    assert str(e.value) == message


COMPOSE = b"""
version: '2.1'
volumes:
  data: {}
services:
  api:
    build: ./api
    ports: ["80:80"]
  web:
    build:
      context: web
      dockerfile: Dockerfile.custom
      args: {A: 1}
      target: prod
      labels: [x=y]
  node:
    build: node
  tmpl:
    build: {context: ./tmpl/.}
  cache:
    image: redis:7
"""
COMPOSE_PATHS = {
    "docker-compose.yml",
    "Dockerfile",
    "api/Dockerfile",
    "api/Dockerfile.raspberrypi3",
    "web/Dockerfile.custom",
    "web/Dockerfile",
    "node/package.json",
    "tmpl/Dockerfile.template",
    "tmpl/Dockerfile.armv7hf",
}


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (
            RPI3,
            (
                ServiceSpec(
                    "api", "api", "api/Dockerfile.raspberrypi3", "template", compose={"ports": ["80:80"]}
                ),
                ServiceSpec(
                    "web", "web", "web/Dockerfile.custom", "dockerfile", {"A": "1"}, "prod", {"x": "y"}
                ),
                ServiceSpec("node", "node", None, "package.json"),
                ServiceSpec("tmpl", "tmpl", "tmpl/Dockerfile.armv7hf", "template"),
                ServiceSpec("cache", None, None, "image", compose={"image": "redis:7"}),
            ),
        ),
        (
            NUC,
            (
                ServiceSpec("api", "api", "api/Dockerfile", "dockerfile", compose={"ports": ["80:80"]}),
                ServiceSpec(
                    "web", "web", "web/Dockerfile.custom", "dockerfile", {"A": "1"}, "prod", {"x": "y"}
                ),
                ServiceSpec("node", "node", None, "package.json"),
                ServiceSpec("tmpl", "tmpl", "tmpl/Dockerfile.template", "template"),
                ServiceSpec("cache", None, None, "image", compose={"image": "redis:7"}),
            ),
        ),
    ],
)
def test_resolve_compose(device, expected: tuple[ServiceSpec, ...]) -> None:
    project = resolve(COMPOSE_PATHS, device, {"docker-compose.yml": COMPOSE})
    assert project == Project("compose", expected, {"version": "2.1", "volumes": {"data": {}}})
    assert [s.built for s in project.services] == [True, True, True, True, False]


def test_resolve_prefers_yml_then_yaml() -> None:
    files = {"docker-compose.yaml": b"services: {b: {image: busybox-fg}}"}
    project = resolve({"docker-compose.yaml", "Dockerfile"}, NUC, files)
    assert project.kind == "compose"
    assert [s.name for s in project.services] == ["b"]


@pytest.mark.parametrize(
    ("compose", "paths", "error", "message"),
    [
        (
            b"services: {a: {build: a}}",
            {"docker-compose.yml", "a/README"},
            ResolveError,
            "docker-compose.yml: service a: nothing to build in a/: looked for Dockerfile.intel-nuc, "
            "Dockerfile.amd64, Dockerfile.template, Dockerfile, package.json",
        ),
        (
            b"services: {a: {build: {context: a, dockerfile: Nope}}}",
            {"docker-compose.yml", "a/Dockerfile"},
            ResolveError,
            "docker-compose.yml: service a: dockerfile a/Nope is not in the project; commit it",
        ),
        (
            b"services: {a: {build: {context: ../x}}}",
            {"docker-compose.yml"},
            ComposeError,
            "docker-compose.yml: services.a.build.context: '../x' points outside the project; keep it inside",
        ),
    ],
)
def test_resolve_compose_errors(compose: bytes, paths: set[str], error: type, message: str) -> None:
    with pytest.raises(error) as e:
        resolve(paths, NUC, {"docker-compose.yml": compose})
    assert str(e.value) == message


def test_candidates_are_the_documented_order() -> None:
    assert candidates(RPI3) == (
        ("Dockerfile.raspberrypi3", "template"),
        ("Dockerfile.armv7hf", "template"),
        ("Dockerfile.template", "template"),
        ("Dockerfile", "dockerfile"),
        ("package.json", "package.json"),
    )


def test_single_project_gets_its_own_copy_of_the_defaults() -> None:
    project = resolve({"Dockerfile"}, NUC, {})
    project.services[0].compose["labels"]["x"] = "1"  # type: ignore[index]
    assert "x" not in DEFAULT_SERVICE["labels"]


PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def fixture_tree(name: str) -> tuple[set[str], dict[str, bytes]]:
    """The paths of a fixture project and every file's bytes, as export would hand them over."""
    root = PROJECTS / name
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return {p for p in files if not p.startswith(".balena/")}, files


@pytest.mark.parametrize(
    ("project", "slug", "expected"),
    [
        ("dockerfile-plain", "intel-nuc", (("main", "Dockerfile", "dockerfile"),)),
        ("dockerfile-plain", "raspberrypi3", (("main", "Dockerfile", "dockerfile"),)),
        ("dockerfile-devicetype", "raspberrypi3", (("main", "Dockerfile.raspberrypi3", "template"),)),
        ("dockerfile-devicetype", "beaglebone-black", (("main", "Dockerfile", "dockerfile"),)),
        ("dockerfile-arch", "beaglebone-black", (("main", "Dockerfile.armv7hf", "template"),)),
        ("dockerfile-arch", "intel-nuc", (("main", "Dockerfile.template", "template"),)),
        ("template", "raspberrypi3", (("main", "Dockerfile.template", "template"),)),
        ("nodejs", "intel-nuc", (("main", None, "package.json"),)),
        ("secrets", "intel-nuc", (("main", "Dockerfile", "dockerfile"),)),
        ("broken", "intel-nuc", (("main", "Dockerfile", "dockerfile"),)),
        (
            "compose-two",
            "intel-nuc",
            (
                ("first", "first/Dockerfile.template", "template"),
                ("second", "second/Dockerfile.amd64", "template"),
            ),
        ),
        (
            "compose-two",
            "raspberrypi3",
            (
                ("first", "first/Dockerfile.template", "template"),
                ("second", "second/Dockerfile", "dockerfile"),
            ),
        ),
    ],
)
def test_fixture_projects_resolve(project: str, slug: str, expected: tuple) -> None:
    paths, files = fixture_tree(project)
    resolved = resolve(paths, device_type(slug), files)
    assert tuple((s.name, s.dockerfile, s.source) for s in resolved.services) == expected


@pytest.mark.parametrize(
    ("context", "dockerfile", "expected"),
    [
        (".", "Dockerfile", "Dockerfile"),
        ("api", "api/Dockerfile.x", "Dockerfile.x"),
        ("a/b", "Dockerfile", "../../Dockerfile"),
        ("a", None, None),
        (None, None, None),
    ],
)
def test_dockerfile_in_context(context: str | None, dockerfile: str | None, expected: str | None) -> None:
    assert ServiceSpec("s", context, dockerfile, "dockerfile").dockerfile_in_context == expected
