"""inject_secret_mounts, the output scan and the CLI arguments: pure tables of exact values."""

from pathlib import Path

import pytest
from fleetgate.build.build_output import failure_message, scan_output
from fleetgate.build.docker_build import BuildRequest, build_command
from fleetgate.build.secret_mounts import inject_secret_mounts

M = "--mount=type=secret,id=token,target=/run/secrets/token"
M2 = "--mount=type=secret,id=api.key,target=/run/secrets/api.key"


@pytest.mark.parametrize(
    ("dockerfile", "expected"),
    [
        ("FROM a\nRUN make\n", f"FROM a\nRUN {M} make\n"),
        ("FROM a\nrun make", f"FROM a\nrun {M} make"),
        ("FROM a\n  RUN\tmake\n", f"FROM a\n  RUN {M} make\n"),
        ('RUN ["sh", "-c", "make"]\n', f'RUN {M} ["sh", "-c", "make"]\n'),
        ("RUN --network=none make\n", f"RUN {M} --network=none make\n"),
        # A continued RUN: only its first line changes; a line that merely starts with RUN inside it stays.
        ("RUN a && \\\n    RUN b\nRUN c\n", f"RUN {M} a && \\\n    RUN b\nRUN {M} c\n"),
        # Comments and blank lines inside a continuation do not end it.
        ("RUN a \\\n# note\n\n  RUN b\nRUN c\n", f"RUN {M} a \\\n# note\n\n  RUN b\nRUN {M} c\n"),
        ("RUN \\\n  make\n", f"RUN {M} \\\n  make\n"),
        ("FROM a\r\nRUN make\r\n", f"FROM a\r\nRUN {M} make\r\n"),
        # The escape directive changes the continuation character.
        ("# escape=`\nRUN a `\n  RUN b\nRUN c\n", f"# escape=`\nRUN {M} a `\n  RUN b\nRUN {M} c\n"),
        # Not RUN instructions: ONBUILD runs in a child image, names that start with RUN are other words.
        ("ONBUILD RUN make\nRUNNER x\nCMD run\n", "ONBUILD RUN make\nRUNNER x\nCMD run\n"),
        ("ENV A=1 \\\n  B=2\nRUN make\n", f"ENV A=1 \\\n  B=2\nRUN {M} make\n"),
    ],
)
def test_inject_one_secret(dockerfile, expected):
    assert inject_secret_mounts(dockerfile, ["token"]) == expected


def test_inject_several_secrets_and_none():
    assert inject_secret_mounts("RUN make\n", ["token", "api.key"]) == f"RUN {M} {M2} make\n"
    assert inject_secret_mounts("RUN make\n", []) == "RUN make\n"


@pytest.mark.parametrize("bad", ["../x", "a b", "a,id=b", "", "-x", "a/b"])
def test_bad_secret_names_are_refused(bad):
    with pytest.raises(ValueError, match="bad build secret name"):
        inject_secret_mounts("RUN make\n", [bad])


FAILED_RUN = [
    "#5 [2/3] RUN echo hi; echo ERROR: fake",
    "#5 0.171 ERROR: fake",
    "#5 DONE 0.2s",
    "#6 [3/3] RUN exit 3",
    "#6 ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3",
    "executor failed running [/bin/sh -c exit 3]: exit code: 3",
]


@pytest.mark.parametrize(
    ("lines", "returncode", "expected"),
    [
        (FAILED_RUN, 1, "step 'RUN exit 3' exited with code 3"),
        (["#5 [2/2] RUN echo ERROR: fake", "#5 0.1 ERROR: fake", "#5 DONE 0.1s"], 0, None),
        (
            ["#3 [1/2] COPY nope /x", "#3 ERROR: failed to compute cache key: not found"],
            1,
            "step 'COPY nope /x': failed to compute cache key: not found",
        ),
        (
            ["failed to solve with frontend dockerfile.v0: failed to create LLB definition: bad"],
            1,
            "failed to solve with frontend dockerfile.v0: failed to create LLB definition: bad",
        ),
        (["error: something broke"], 0, "something broke"),
        # A cache source that is gone marks its vertex ERROR, and the build still succeeds.
        (
            [
                "#6 importing cache manifest from r/a:old",
                "#6 ERROR: r/a:old: not found",
                " > importing cache manifest from r/a:old:",
            ],
            0,
            None,
        ),
        ([], 2, "docker build exited with code 2"),
        # A long step is shortened in the middle: the build log above has all of it.
        (
            [
                "#6 [3/3] RUN apt-get install -y " + " ".join(f"pkg{i}" for i in range(30)),
                "#6 ERROR: executor failed running [/bin/sh -c apt-get ...]: exit code: 100",
            ],
            1,
            "step 'RUN apt-get install -y pkg0 pkg1 pkg2 pk…6 pkg27 pkg28 pkg29' exited with code 100",
        ),
    ],
)
def test_failure_message(lines, returncode, expected):
    assert failure_message(scan_output(lines), returncode) == expected


def test_daemon_down_is_recognised():
    line = "failed to dial gRPC: cannot connect to the Docker daemon. Is 'docker daemon' running?"
    assert scan_output([line]).daemon_down
    assert not scan_output(FAILED_RUN).daemon_down


def test_build_command():
    request = BuildRequest(
        service="main",
        context_dir=Path("/ctx"),
        dockerfile="Dockerfile",
        tag="t:1",
        build_args={"A": "1"},
        labels={"l": "v"},
        secrets=(("token", Path("/s/token")),),
        target="prod",
        platform="linux/arm/v7",
        cache_from=("r/a:old",),
    )
    assert build_command(request, Path("/tmp/Dockerfile"), Path("/tmp/iid")) == [
        "/usr/bin/docker", "build", "--progress=plain", "-f", "/tmp/Dockerfile", "-t", "t:1",
        "--iidfile", "/tmp/iid", "--build-arg", "BUILDKIT_INLINE_CACHE=1", "--build-arg", "A=1",
        "--label", "l=v", "--secret", "id=token,src=/s/token", "--target", "prod",
        "--platform", "linux/arm/v7", "--cache-from", "r/a:old", "/ctx",
    ]  # fmt: skip
    no_cache = BuildRequest("main", Path("/ctx"), "D", "t:1", cache_from=("r/a:old",), no_cache=True)
    command = build_command(no_cache, Path("/ctx/D"), Path("/i"))
    assert "--no-cache" in command and "--cache-from" not in command
