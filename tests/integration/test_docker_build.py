"""docker_build against the real daemon: streaming, failures, emulation, secrets, cache, cancel, limits."""

import hashlib
import io
import json
import re
import secrets
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import docker
import pytest
from fleetgate.build.docker_build import (
    BuildCancelled,
    BuilderUnavailable,
    BuildFailed,
    BuildRequest,
    BuildResult,
    run_build,
)

pytestmark = pytest.mark.timeout(180)


def docker_cli(*args: str) -> subprocess.CompletedProcess:
    """Debian's docker CLI against the default daemon (fixtures in conftest.py check it is there)."""
    return subprocess.run(["/usr/bin/docker", *args], capture_output=True, check=True, timeout=120)


def project(tmp_path: Path, dockerfile: str, **files: str) -> Path:
    """A build context folder holding the Dockerfile and files."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (context / name).write_text(text)
    return context


def build(context: Path, tag: str, **options) -> tuple[BuildResult, list[str]]:
    """Build and collect the streamed lines."""
    lines: list[str] = []
    request = BuildRequest(service="main", context_dir=context, dockerfile="Dockerfile", tag=tag, **options)
    result = run_build(request, lines.append, threading.Event())
    return result, lines


def container_output(image: str, *command: str) -> str:
    """Run a throwaway container of the image and return its stdout."""
    return docker_cli("run", "--rm", image, *command).stdout.decode().strip()


def cached_steps(lines: list[str]) -> list[str]:
    """Steps BuildKit took from cache; a local FROM always reads CACHED, so it does not count."""
    steps = dict(re.findall(r"^#(\d+) \[[^\]]*\] (.+)$", "\n".join(lines), re.M))
    hits = re.findall(r"^#(\d+) CACHED$", "\n".join(lines), re.M)
    return [steps.get(n, n) for n in hits if not steps.get(n, "").startswith("FROM ")]


def test_build_streams_lines_and_returns_image(tmp_path, image_names):
    context = project(
        tmp_path,
        'FROM busybox-fg\nARG GREETING\nCOPY hello.txt /hello.txt\nRUN echo "$GREETING" > /greeting\n',
        **{"hello.txt": "hello from the context\n"},
    )
    tag = image_names("stream") + ":test"
    result, lines = build(context, tag, build_args={"GREETING": "hi-fleetgate"}, labels={"io.fg.test": "1"})

    assert any(re.match(r"^#\d+ \[\d/\d\] RUN ", line) for line in lines)
    assert result.image_id.startswith("sha256:")
    assert result.seconds > 0 and "RUN echo" in result.log
    image = docker.from_env().images.get(tag)
    assert image.id == result.image_id
    assert image.labels["io.fg.test"] == "1"
    assert container_output(tag, "cat", "/hello.txt", "/greeting") == "hello from the context\nhi-fleetgate"


def test_failing_run_names_the_step(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg\nRUN echo before\nRUN exit 3\n")
    with pytest.raises(BuildFailed) as failure:
        build(context, image_names("fail") + ":test")
    assert str(failure.value) == "step 'RUN exit 3' exited with code 3"
    assert "exit code: 3" in failure.value.log


def test_bad_dockerfile_is_the_users_fault(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg\nNOPE this is not an instruction\n")
    with pytest.raises(BuildFailed) as failure:
        build(context, image_names("bad") + ":test")
    assert "nope" in str(failure.value).lower()


def test_output_that_says_error_does_not_fail_a_good_build(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg\nRUN echo 'ERROR: only words'; echo 'error: more words'\n")
    result, lines = build(context, image_names("words") + ":test")
    assert result.image_id and any("ERROR: only words" in line for line in lines)


def test_emulated_arm_build_runs_armv7_and_records_arm(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg-armv7hf\nRUN uname -m | tee /arch\n")
    tag = image_names("arm") + ":test"
    result, lines = build(context, tag, platform="linux/arm/v7", no_cache=True)  # the RUN must run

    assert any(re.match(r"^#\d+ [\d.]+ armv7l$", line) for line in lines)
    attrs = docker.from_env().images.get(result.image_id).attrs
    assert (attrs["Architecture"], attrs.get("Variant"), attrs["Os"]) == ("arm", "v7", "linux")
    assert container_output(tag, "cat", "/arch") == "armv7l"


def test_secret_is_read_by_every_run_step_and_kept_out_of_the_image(tmp_path, image_names):
    token = "fgsecret-" + secrets.token_hex(16)
    secret_file = tmp_path / "token"  # outside the context, as .balena/secrets never reaches the daemon
    secret_file.write_text(token)
    dockerfile = (
        "FROM busybox-fg\n"
        "RUN sha256sum /run/secrets/token | cut -c1-64 > /token.sha256\n"
        'RUN ["sh", "-c", "wc -c < /run/secrets/token > /token.length"]\n'
        "RUN test -s /run/secrets/token && \\\n"
        "    echo multi-line-saw-it > /multi\n"
    )
    context = project(tmp_path, dockerfile)
    tag = image_names("secret") + ":test"
    # no_cache: BuildKit's cache key ignores a secret's content, so a cached step would prove nothing.
    result, _ = build(context, tag, secrets=(("token", secret_file),), no_cache=True)

    # Proof the steps read it: what they wrote depends on the secret's bytes.
    assert container_output(tag, "cat", "/token.sha256") == hashlib.sha256(token.encode()).hexdigest()
    assert container_output(tag, "cat", "/token.length") == str(len(token))
    assert container_output(tag, "cat", "/multi") == "multi-line-saw-it"
    assert container_output(tag, "ls", "-A", "/run/secrets") == ""

    needle = token.encode()
    saved = docker_cli("save", tag).stdout
    assert needle not in saved
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        for member in archive.getmembers():
            if member.isfile():
                assert needle not in archive.extractfile(member).read(), member.name
    assert needle not in docker_cli("history", "--no-trunc", tag).stdout
    assert needle not in json.dumps(docker.from_env().images.get(result.image_id).attrs).encode()


def test_no_cache_rebuild_takes_nothing_from_cache(tmp_path, image_names):
    context = project(
        tmp_path, "FROM busybox-fg\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n", **{"a.txt": "a"}
    )
    tag = image_names("cache") + ":test"
    first, _ = build(context, tag)
    _, cached_lines = build(context, tag)
    assert cached_steps(cached_lines), "a plain rebuild should hit the cache"
    fresh, fresh_lines = build(context, tag, no_cache=True)
    assert cached_steps(fresh_lines) == []
    assert fresh.image_id != first.image_id
    docker_cli("rmi", first.image_id)  # untagged by the rebuild: the fixture no longer finds it by name


def test_missing_cache_source_does_not_fail_the_build(tmp_path, image_names, registry):
    context = project(tmp_path, "FROM busybox-fg\nRUN echo built > /x\n")
    gone = f"{registry}/fgtest/gone/main:{secrets.token_hex(8)}"
    result, lines = build(context, image_names("nocachesrc") + ":test", cache_from=(gone,))
    assert result.image_id and any(line.endswith(f"importing cache manifest from {gone}") for line in lines)


def test_cancel_kills_the_build_quickly(tmp_path, image_names):
    marker = f"sleep {secrets.randbelow(1000) + 1000}"
    context = project(tmp_path, f"FROM busybox-fg\nRUN echo started; {marker}\n")
    cancelled, started = threading.Event(), threading.Event()
    request = BuildRequest("main", context, "Dockerfile", image_names("cancel") + ":test", no_cache=True)

    def on_line(line: str) -> None:
        if line.endswith(" started"):
            started.set()

    def cancel() -> None:
        started.wait(60)
        cancelled.set()

    threading.Thread(target=cancel, daemon=True).start()
    with pytest.raises(BuildCancelled, match="build cancelled"):
        run_build(request, on_line, cancelled)
    stopped = time.monotonic()
    assert started.is_set()
    # The daemon ends the step's process too, not only our client.
    while _pgrep(marker) and time.monotonic() - stopped < 10:
        time.sleep(0.2)
    assert not _pgrep(marker)


def _pgrep(pattern: str) -> bool:
    """True while a process with that command line runs on this machine."""
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


def test_idle_output_limit(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg\nRUN echo quiet-now; sleep 60\n")
    began = time.monotonic()
    with pytest.raises(BuildFailed, match=r"^build produced no output for 2 s$"):
        build(context, image_names("idle") + ":test", no_cache=True, idle_timeout=2)
    assert time.monotonic() - began < 20


def test_wall_clock_limit(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg\nRUN while true; do echo tick; sleep 0.2; done\n")
    began = time.monotonic()
    with pytest.raises(BuildFailed, match=r"^build timed out after 3 s$"):
        build(context, image_names("wall") + ":test", no_cache=True, timeout=3, idle_timeout=60)
    assert time.monotonic() - began < 20


def test_daemon_down_is_the_operators_fault(tmp_path, image_names):
    context = project(tmp_path, "FROM busybox-fg\n")
    with pytest.raises(
        BuilderUnavailable, match=r"cannot reach the Docker daemon at unix:///nonexistent.sock"
    ):
        build(context, image_names("down") + ":test", docker_host="unix:///nonexistent.sock")
