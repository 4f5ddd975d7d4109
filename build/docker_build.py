"""Docker build adapter: one service built by the docker CLI (Debian's by default) with BuildKit, streamed."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .build_output import VERTEX, failure_message, scan_output
from .secret_mounts import inject_secret_mounts

# Debian's 20.10 client by default (FLEETGATE_DOCKER_CLI sets another): the newer client refuses
# DOCKER_BUILDKIT=1 without buildx, and the SDK drives only the legacy builder (no secrets, no RUN --mount).
DOCKER_CLI = "/usr/bin/docker"
NO_CLIENT_HINT = "install Debian's docker.io, or set FLEETGATE_DOCKER_CLI to the client's path"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
LOG_CAP = 4 * 1024 * 1024
LINE_CAP = 64 * 1024
KILL_GRACE = 3.0


class BuildFailed(Exception):
    """The project's build failed: the pusher's fault, shown to them verbatim."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log  # kept with the failed release


class BuildCancelled(BuildFailed):
    """The build was cancelled (the client went away)."""


class BuilderUnavailable(Exception):
    """The builder itself is broken (daemon down, CLI missing): the operator's fault."""


@dataclass(frozen=True)
class BuildRequest:
    """Everything one service's `docker build` needs."""

    service: str
    context_dir: Path
    dockerfile: str  # relative to context_dir, or an absolute path to a rendered file outside it
    tag: str
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[tuple[str, Path], ...] = ()  # (id, source file); visible as /run/secrets/<id>
    platform: str | None = None  # e.g. linux/arm/v7; None builds for the daemon's own platform
    no_cache: bool = False
    cache_from: tuple[str, ...] = ()
    timeout: float = 3600.0
    idle_timeout: float = 600.0
    docker_host: str | None = None
    docker_config: Path | None = None  # a docker CLI config dir (registry auth for cache_from)
    docker_cli: str = DOCKER_CLI  # an absolute path; "" when the gateway found none


@dataclass(frozen=True)
class BuildResult:
    """A finished build: the image id, the wall-clock seconds and the whole (capped) log."""

    image_id: str
    seconds: float
    log: str


# --- Running the CLI ---------------------------------------------------------------------------------


def build_command(request: BuildRequest, dockerfile: Path, iidfile: Path) -> list[str]:
    """The docker CLI argument list for a request (the Dockerfile already rewritten)."""
    cmd = [request.docker_cli, "build", "--progress=plain", "-f", str(dockerfile), "-t", request.tag]
    cmd += ["--iidfile", str(iidfile), "--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    for key, value in request.build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in request.labels.items():
        cmd += ["--label", f"{key}={value}"]
    for secret_id, src in request.secrets:
        cmd += ["--secret", f"id={secret_id},src={src}"]
    if request.target:
        cmd += ["--target", request.target]
    if request.platform:
        cmd += ["--platform", request.platform]
    if request.no_cache:
        cmd.append("--no-cache")
    else:
        for ref in request.cache_from:
            cmd += ["--cache-from", ref]
    cmd.append(str(request.context_dir))
    return cmd


def _environment(request: BuildRequest) -> dict[str, str]:
    """A minimal environment: nothing of ours leaks into the CLI but what a build needs."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_BUILDKIT": "1", "HOME": "/nonexistent"}
    env["DOCKER_HOST"] = request.docker_host or DEFAULT_DOCKER_HOST
    if request.docker_config:
        env["DOCKER_CONFIG"] = str(request.docker_config)
    return env


def _prepare_dockerfile(request: BuildRequest, scratch: Path) -> Path:
    """The Dockerfile to pass with -f: the request's own, or a copy with secret mounts injected."""
    path = Path(request.dockerfile)
    if not path.is_absolute():
        path = request.context_dir / path
    if not request.secrets:
        return path
    rewritten = scratch / "Dockerfile"
    text = path.read_text(encoding="utf-8")
    rewritten.write_text(inject_secret_mounts(text, [i for i, _ in request.secrets]), encoding="utf-8")
    return rewritten


def _pump(stream, lines: queue.Queue) -> None:
    """Read the CLI's combined output line by line; None marks the end."""
    try:
        for raw in iter(lambda: stream.readline(LINE_CAP), b""):
            lines.put(raw.decode("utf-8", "replace"))  # newline kept: "" means "nothing yet"
    finally:
        lines.put(None)


def _kill(proc: subprocess.Popen) -> None:
    """Stop the CLI's process group: SIGTERM lets it cancel the solve in the daemon, SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=KILL_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue


def run_build(
    request: BuildRequest, on_line: Callable[[str], None], cancelled: threading.Event
) -> BuildResult:
    """Build one service, streaming each output line to on_line; raise BuildFailed or BuilderUnavailable."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fleetgate-build-") as scratch_dir:
        scratch = Path(scratch_dir)
        iidfile = scratch / "iid"
        if not request.docker_cli:
            raise BuilderUnavailable(f"no Docker client found: {NO_CLIENT_HINT}")
        cmd = build_command(request, _prepare_dockerfile(request, scratch), iidfile)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_environment(request),
                start_new_session=True,  # its own process group, so a kill reaches every child
            )
        except OSError as exc:
            raise BuilderUnavailable(
                f"cannot run the Docker client {request.docker_cli} ({exc.strerror or exc}); {NO_CLIENT_HINT}"
            ) from exc
        log, returncode = _follow(proc, request, on_line, cancelled, started)
        image_id = iidfile.read_text().strip() if iidfile.exists() else ""
    return _result(request, log, returncode, image_id, time.monotonic() - started)


def _follow(
    proc: subprocess.Popen,
    request: BuildRequest,
    on_line: Callable[[str], None],
    cancelled: threading.Event,
    started: float,
) -> tuple[list[str], int]:
    """Stream lines until the CLI exits; kill it on cancel, wall-clock or idle timeout."""
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
    reader.start()
    log: list[str] = []
    size = 0
    last_output = time.monotonic()
    try:
        while (line := _next_line(lines)) is not None:
            now = time.monotonic()
            if line:
                line = line.rstrip("\r\n")
                last_output = now
                log.append(line)
                size += len(line) + 1
                if size > 2 * LOG_CAP:  # a build that floods its output must not flood our memory
                    log = _trimmed(log)
                    size = sum(len(kept) + 1 for kept in log)
                on_line(line)
            if cancelled.is_set():
                raise BuildCancelled("build cancelled", _capped(log))
            if now - started > request.timeout:
                raise BuildFailed(f"build timed out after {request.timeout:g} s", _capped(log))
            if now - last_output > request.idle_timeout:
                message = f"build produced no output for {request.idle_timeout:g} s"
                raise BuildFailed(message, _capped(log))
    except BaseException:
        # Whatever stops us (a limit, a cancel, a failing on_line) must not leave the build running.
        _kill(proc)
        reader.join(timeout=KILL_GRACE)
        raise
    returncode = proc.wait()
    reader.join()
    return log, returncode


def _next_line(lines: queue.Queue) -> str | None:
    """The next output line, "" when none came within a tick, None at the end of the output."""
    try:
        return lines.get(timeout=0.1)
    except queue.Empty:
        return ""


def _trimmed(log: list[str]) -> list[str]:
    """The log's tail, with the step headers of the dropped head kept so the failing step can be named."""
    cut = len(log) // 2
    seen: set[str] = set()
    headers = []
    for line in log[:cut]:
        if (m := VERTEX.match(line)) and m.group(1) not in seen:
            seen.add(m.group(1))
            headers.append(line)
    return [*headers, "[log truncated]", *log[cut:]]


def _capped(log: list[str]) -> str:
    """The log as one text, its tail kept when it is too long to store."""
    text = "\n".join(log)
    return "[log truncated]\n" + text[-LOG_CAP:] if len(text) > LOG_CAP else text


def _result(
    request: BuildRequest, log: list[str], returncode: int, image_id: str, seconds: float
) -> BuildResult:
    """Judge the finished build by its output, exit status and image id — a zero exit alone is not success."""
    scan = scan_output(log)
    if scan.daemon_down:
        host = request.docker_host or DEFAULT_DOCKER_HOST
        raise BuilderUnavailable(f"cannot reach the Docker daemon at {host}; is dockerd running?")
    message = failure_message(scan, returncode)
    if message is None and not image_id:
        message = "docker build reported success but wrote no image id"
    if message:
        raise BuildFailed(message, _capped(log))
    return BuildResult(image_id=image_id, seconds=seconds, log=_capped(log))
