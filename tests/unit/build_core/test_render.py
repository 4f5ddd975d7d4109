"""Template rendering and Dockerfile checks, as tables of exact results."""

from __future__ import annotations

from pathlib import Path

import pytest
from fleetgate.build.render import (
    DockerfileError,
    RenderContext,
    RenderError,
    check_dockerfile,
    known_variables,
    render_template,
)

CTX = RenderContext(
    app_name="gadgets",
    arch="armv7hf",
    machine_name="raspberrypi3",
    release_hash="0123456789abcdef0123456789abcdef",
    service_name="main",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM busybox-fg\n", "FROM busybox-fg\n"),
        ("FROM busybox-fg-%%BALENA_ARCH%%\n", "FROM busybox-fg-armv7hf\n"),
        ("FROM balenalib/%%BALENA_MACHINE_NAME%%-node", "FROM balenalib/raspberrypi3-node"),
        ("CMD echo %%BALENA_ARCH%% %%BALENA_MACHINE_NAME%%", "CMD echo armv7hf raspberrypi3"),
        ("LABEL a=%%BALENA_APP_NAME%% s=%%BALENA_SERVICE_NAME%%", "LABEL a=gadgets s=main"),
        ("ENV R=%%BALENA_RELEASE_HASH%%", "ENV R=0123456789abcdef0123456789abcdef"),
        ("%%RESIN_ARCH%%/%%RESIN_MACHINE_NAME%%/%%RESIN_APP_NAME%%", "armv7hf/raspberrypi3/gadgets"),
        ("%%RESIN_RELEASE_HASH%% %%RESIN_SERVICE_NAME%%", "0123456789abcdef0123456789abcdef main"),
        ("%%BALENA_ARCH%%%%BALENA_ARCH%%", "armv7hfarmv7hf"),
        ("%%OTHER%% %BALENA_ARCH% %%balena_arch%%", "%%OTHER%% %BALENA_ARCH% %%balena_arch%%"),
        ("a\r\nb %%BALENA_ARCH%%\r\n", "a\r\nb armv7hf\r\n"),
    ],
)
def test_render_template(text: str, expected: str) -> None:
    assert render_template(text, CTX) == expected


KNOWN = (
    "use one of %%BALENA_APP_NAME%%, %%BALENA_ARCH%%, %%BALENA_MACHINE_NAME%%, %%BALENA_RELEASE_HASH%%, "
    "%%BALENA_SERVICE_NAME%%"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM %%BALENA_DEVICE%%", "Dockerfile.template line 1: unknown template variable %%BALENA_DEVICE%%"),
        (
            "FROM x\n\nRUN %%RESIN_FOO%%",
            "Dockerfile.template line 3: unknown template variable %%RESIN_FOO%%",
        ),
        ("FROM x %%BALENA_%%", "Dockerfile.template line 1: unknown template variable %%BALENA_%%"),
        (
            "%%BALENA_ARCH%% %%BALENA_arch%%",
            "Dockerfile.template line 1: unknown template variable %%BALENA_arch%%",
        ),
    ],
)
def test_render_template_unknown_variable(text: str, message: str) -> None:
    with pytest.raises(RenderError) as e:
        render_template(text, CTX)
    assert str(e.value) == f"{message}; {KNOWN}"


def test_render_error_names_the_file() -> None:
    with pytest.raises(RenderError, match=r"^api/Dockerfile\.template line 1: "):
        render_template("%%BALENA_X%%", CTX, "api/Dockerfile.template")


def test_known_variables() -> None:
    assert known_variables() == (
        "BALENA_APP_NAME",
        "BALENA_ARCH",
        "BALENA_MACHINE_NAME",
        "BALENA_RELEASE_HASH",
        "BALENA_SERVICE_NAME",
        "RESIN_APP_NAME",
        "RESIN_ARCH",
        "RESIN_MACHINE_NAME",
        "RESIN_RELEASE_HASH",
        "RESIN_SERVICE_NAME",
    )


@pytest.mark.parametrize(
    "text",
    [
        "FROM busybox-fg\nRUN echo hi\n",
        "# escape=`\nFROM busybox-fg\n",
        "# a comment about syntax = nothing\nFROM x\n",
        "FROM x\nRUN echo '# syntax=x'\n",
        "[1, 2]",
    ],
)
def test_check_dockerfile_accepts(text: str) -> None:
    assert check_dockerfile(text) is None


DIRECTIVE = "'# syntax=' directives are not supported (they pull a frontend image); remove the line"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# syntax=docker/dockerfile:1\nFROM x\n", f"Dockerfile line 1: {DIRECTIVE}"),
        ("#syntax=evil/frontend\nFROM x\n", f"Dockerfile line 1: {DIRECTIVE}"),
        ("\ufeff# SYNTAX = evil\nFROM x\n", f"Dockerfile line 1: {DIRECTIVE}"),
        ("#!/usr/bin/env docker\n# syntax=evil\n", f"Dockerfile line 2: {DIRECTIVE}"),
        ("# escape=\\\n  #  Syntax=evil\n", f"Dockerfile line 2: {DIRECTIVE}"),
        ("// syntax=evil\nFROM x\n", f"Dockerfile line 1: {DIRECTIVE}"),
        ('{"syntax": "evil"}', "Dockerfile: a 'syntax' key selects a frontend image; remove it"),
    ],
)
def test_check_dockerfile_refuses_syntax(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as e:
        check_dockerfile(text)
    assert str(e.value) == message


PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def test_template_fixture_renders_for_a_raspberry_pi_3() -> None:
    text = (PROJECTS / "template" / "Dockerfile.template").read_text()
    assert render_template(text, CTX) == (
        "FROM busybox-fg-armv7hf\n"
        "RUN uname -m\n"
        'LABEL io.fleetgate.test.service="main" '
        'io.fleetgate.test.release="0123456789abcdef0123456789abcdef"\n'
        "CMD echo armv7hf raspberrypi3\n"
    )


@pytest.mark.parametrize(
    "path", sorted(p.relative_to(PROJECTS).as_posix() for p in PROJECTS.rglob("Dockerfile*"))
)
def test_fixture_dockerfiles_pass_the_checks(path: str) -> None:
    text = (PROJECTS / path).read_text()
    check_dockerfile(text, path)
    assert "%%" not in render_template(text, CTX, path)
