"""balena.yml build secrets and variables, as tables of exact results."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetgate.build.balena_yml import BalenaYmlError, BuildConfig, Secret, build_config

SECRETS = {".balena/secrets/recipe": b"s3cret", ".balena/secrets/sub/key": b"k3y"}

# balena's documented example (balena-io-examples/example-build-secrets-and-variables), extended per service.
DOCUMENTED = b"""
build-variables:
    global:
        - MY_VAR_1=This is a variable
        - MY_VAR_2=Also=a variable
    services:
        service1:
            - SERVICE1_VAR=This is a service specific variable
            - MY_VAR_2=overridden
build-secrets:
    global:
        - source: recipe
          dest: my-recipe
    services:
        service1:
            - source: sub/key
              dest: key
        service2:
            - source: sub/key
              dest: my-recipe
"""


@pytest.mark.parametrize(
    ("files", "services", "expected"),
    [
        ({}, ["main"], BuildConfig({"main": ()}, {"main": {}})),
        ({".balena/balena.yml": b""}, ["main"], BuildConfig({"main": ()}, {"main": {}})),
        ({".balena/balena.yml": b"name: x\nversion: 1\n"}, ["main"], BuildConfig({"main": ()}, {"main": {}})),
        (
            {".balena/balena.yml": DOCUMENTED, **SECRETS},
            ["service1", "service2", "service3"],
            BuildConfig(
                {
                    "service1": (Secret("recipe", "my-recipe", b"s3cret"), Secret("sub/key", "key", b"k3y")),
                    "service2": (Secret("sub/key", "my-recipe", b"k3y"),),
                    "service3": (Secret("recipe", "my-recipe", b"s3cret"),),
                },
                {
                    "service1": {
                        "MY_VAR_1": "This is a variable",
                        "MY_VAR_2": "overridden",
                        "SERVICE1_VAR": "This is a service specific variable",
                    },
                    "service2": {"MY_VAR_1": "This is a variable", "MY_VAR_2": "Also=a variable"},
                    "service3": {"MY_VAR_1": "This is a variable", "MY_VAR_2": "Also=a variable"},
                },
            ),
        ),
        (
            {".balena/balena.yml": b"build-variables: {global: {A: 1, B: null}, services: {main: {C: x}}}"},
            ["main"],
            BuildConfig({"main": ()}, {"main": {"A": "1", "B": "", "C": "x"}}),
        ),
        (
            {
                ".resin/resin.yml": b"build-secrets: {global: [{source: r, dest: d}]}",
                ".resin/secrets/r": b"legacy",
            },
            ["main"],
            BuildConfig({"main": (Secret("r", "d", b"legacy"),)}, {"main": {}}),
        ),
        (
            {
                ".balena/balena.yml": b"build-variables: {global: [A=balena]}",
                ".resin/resin.yml": b"build-variables: {global: [A=resin]}",
            },
            ["main"],
            BuildConfig({"main": ()}, {"main": {"A": "balena"}}),
        ),
    ],
)
def test_build_config(files: dict[str, bytes], services: list[str], expected: BuildConfig) -> None:
    assert build_config(files, services) == expected


def test_secret_bytes_stay_out_of_repr() -> None:
    assert "s3cret" not in repr(Secret("recipe", "my-recipe", b"s3cret"))


B = ".balena/balena.yml"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"build-secrets: [", f"{B}: not valid YAML; fix the syntax"),
        (b"- a", f"{B}: must be a mapping"),
        (
            b"build-secrets: {global: [], other: 1}",
            f"{B}: build-secrets: use a mapping with 'global' and 'services'",
        ),
        (b"build-variables: [A=1]", f"{B}: build-variables: use a mapping with 'global' and 'services'"),
        (
            b"build-secrets: {services: [x]}",
            f"{B}: build-secrets.services: must map service names to entries",
        ),
        (
            b"build-secrets: {global: {source: recipe}}",
            f"{B}: build-secrets.global: must be a list of {{source, dest}}",
        ),
        (
            b"build-secrets: {global: [{source: recipe}]}",
            f"{B}: build-secrets.global[0]: write each secret as {{source: FILE, dest: NAME}}",
        ),
        (
            b"build-secrets: {global: [{source: recipe, dest: a/b}]}",
            f"{B}: build-secrets.global[0].dest: 'a/b' must be a plain name like my-token",
        ),
        (
            b"build-secrets: {global: [{source: recipe, dest: '..'}]}",
            f"{B}: build-secrets.global[0].dest: '..' must be a plain name like my-token",
        ),
        (
            b"build-secrets: {global: [{source: recipe, dest: 'a,src=/etc/passwd'}]}",
            f"{B}: build-secrets.global[0].dest: 'a,src=/etc/passwd' must be a plain name like my-token",
        ),
        (
            b"build-secrets: {global: [{source: recipe, dest: _x}]}",
            f"{B}: build-secrets.global[0].dest: '_x' must be a plain name like my-token",
        ),
        (
            b"build-secrets: {global: [{source: /etc/passwd, dest: p}]}",
            f"{B}: build-secrets.global[0].source: '/etc/passwd' must be a file name under .balena/secrets/",
        ),
        (
            b"build-secrets: {global: [{source: ../balena.yml, dest: p}]}",
            f"{B}: build-secrets.global[0].source: '../balena.yml' is outside .balena/secrets/; "
            "keep secrets in that folder",
        ),
        (
            b"build-secrets: {global: [{source: nope, dest: p}]}",
            f"{B}: build-secrets.global[0].source: .balena/secrets/nope is not in the project; commit it",
        ),
        (
            b"build-secrets: {services: {main: [{source: sub/key, dest: k}, {source: x, dest: k}]}}",
            f"{B}: build-secrets.services.main[1].source: .balena/secrets/x is not in the project; commit it",
        ),
        (
            b"build-secrets: {services: {other: []}}",
            f"{B}: build-secrets.services.other: no such service; use one of main, api",
        ),
        (
            b"build-variables: {services: {other: []}}",
            f"{B}: build-variables.services.other: no such service; use one of main, api",
        ),
        (b"build-variables: {global: [A]}", f"{B}: build-variables.global: write each variable as KEY=value"),
        (b"build-variables: {global: A=1}", f"{B}: build-variables.global: must be a list of KEY=value"),
        (
            b"build-variables: {global: [BUILDKIT_SYNTAX=evil]}",
            f"{B}: build-variables.global: 'BUILDKIT_SYNTAX' is not allowed as a build variable name; "
            "rename it",
        ),
        (
            b"build-variables: {services: {api: ['A-B=1']}}",
            f"{B}: build-variables.services.api: 'A-B' is not allowed as a build variable name; rename it",
        ),
    ],
)
def test_build_config_refuses(text: bytes, message: str) -> None:
    with pytest.raises(BalenaYmlError) as e:
        build_config({B: text, **SECRETS}, ["main", "api"])
    assert str(e.value) == message


def test_secrets_fixture() -> None:
    root = Path(__file__).resolve().parents[2] / "projects" / "secrets"
    files = {
        p.relative_to(root).as_posix(): p.read_bytes() for p in (root / ".balena").rglob("*") if p.is_file()
    }
    assert build_config(files, ["main"]) == BuildConfig(
        {"main": (Secret("token", "token", b"fleetgate-secret-5e1f0c7a93d24b68"),)},
        {"main": {"GREETING": "hello from balena.yml"}},
    )
