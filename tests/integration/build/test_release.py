"""From `git push` to a published release: real git, ssh, dockerd (BuildKit) and registry."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from ..support import Gateway, git, remote_lines, unwrapped
from .conftest import DOCKER, fleet, project, push, release, releases


def run_image(reference: str, platform: str | None = None) -> str:
    args = [DOCKER, "run", "--rm"] + (["--platform", platform] if platform else []) + [reference]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=True).stdout.strip()


def test_dockerfile_push_builds_publishes_and_records(
    gateway: Gateway, tmp_path: Path, registry: str
) -> None:
    key = fleet(gateway, "alice/plain", "generic-amd64")
    work = project(tmp_path, "dockerfile-plain")
    result = push(gateway, work, key, "alice/plain", "master")
    lines = remote_lines(result.stderr)
    assert any(line.startswith("[main]") and "Step" in line or "#" in line for line in lines)
    shown = releases(gateway, "alice/plain")
    assert [r["status"] for r in shown] == ["success"]
    detail = release(gateway, f"alice/plain#{shown[0]['id']}")
    image = detail["images"][0]
    assert image["service"] == "main" and image["image"].startswith(f"{registry}/alice/plain/main@sha256:")
    assert f"Release: {detail['hash']} (id: {detail['id']})" in "\n".join(lines)
    assert run_image(image["image"]) == "rule=dockerfile"
    composition = detail["composition"]
    for expected in (
        "privileged: true",
        "network_mode: host",
        "resin-data:/data",
        "restart: always",
        "io.balena.features.supervisor-api",
    ):
        assert expected in composition
    manifest = urllib.request.Request(
        f"http://{registry}/v2/alice/plain/main/manifests/{detail['hash']}", method="HEAD"
    )
    manifest.add_header("Accept", "application/vnd.docker.distribution.manifest.v2+json")
    with urllib.request.urlopen(manifest) as answer:
        assert answer.headers["Docker-Content-Digest"] == image["digest"]
    git("ls-remote", gateway.url("alice/plain"), cwd=work, key=key, gw=gateway)


def cached_steps(log: str) -> list[str]:
    """The build steps BuildKit took from its cache (BuildKit says FROM is CACHED even with --no-cache)."""
    titles: dict[str, str] = {}
    cached = []
    for line in log.splitlines():
        step, _, rest = line.partition(" ")
        if rest.startswith("[") and step not in titles:
            titles[step] = rest
        elif rest == "CACHED" and "FROM" not in titles.get(step, ""):
            cached.append(titles.get(step, step))
    return cached


def _master(gateway: Gateway, work: Path, key: Path, slug: str) -> str:
    listed = git("ls-remote", gateway.url(slug), "refs/heads/master", cwd=work, key=key, gw=gateway).stdout
    return listed.split("\t")[0]


def test_template_for_a_raspberry_pi_3_prints_its_arch_and_machine(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/pi", "raspberrypi3")
    work = project(tmp_path, "template")
    push(gateway, work, key, "alice/pi", "master")
    detail = release(gateway, "alice/pi#1")
    assert detail["platform"] == "linux/arm/v7"
    assert run_image(detail["images"][0]["image"], "linux/arm/v7") == "armv7hf raspberrypi3"


def test_resolution_order_at_the_root(gateway: Gateway, tmp_path: Path) -> None:
    cases = [
        ("dockerfile-devicetype", "raspberrypi3", "rule=device-type"),
        ("dockerfile-arch", "raspberrypi3", "rule=arch"),
        ("dockerfile-plain", "generic-amd64", "rule=dockerfile"),
    ]
    for name, device, expected in cases:
        slug = f"alice/{name}"
        key = fleet(gateway, slug, device)
        push(gateway, project(tmp_path, name), key, slug, "master")
        image = release(gateway, f"{slug}#1")["images"][0]["image"]
        platform = "linux/arm/v7" if device == "raspberrypi3" else None
        assert run_image(image, platform) == expected, name


def test_compose_builds_every_service_by_its_own_rule_and_publishes_both(
    gateway: Gateway, tmp_path: Path, registry: str
) -> None:
    key = fleet(gateway, "alice/multi", "generic-amd64")
    work = project(tmp_path, "compose-two")
    compose = work / "docker-compose.yml"  # with a strategy label devices would not know
    compose.write_text(
        compose.read_text() + "    labels:\n      io.balena.update.strategy: download-then-kil\n"
    )
    git("commit", "-qam", "a typo in a label", cwd=work)
    result = push(gateway, work, key, "alice/multi", "master", flags=("-o", "plain"))
    lines = unwrapped(remote_lines(result.stderr))  # the warning is wrapped to 100 columns
    assert (
        "[Warn]     service second: io.balena.update.strategy 'download-then-kil' is not one of "
        "download-then-kill, kill-then-download, delete-then-download, hand-over; devices will use "
        "download-then-kill"
    ) in lines
    assert any(line.startswith("[first]") for line in lines) and any(
        line.startswith("[second]") for line in lines
    )
    detail = release(gateway, "alice/multi#1")
    images = {i["service"]: i["image"] for i in detail["images"]}
    assert set(images) == {"first", "second"}
    assert run_image(images["first"]) == "service=first rule=template"
    assert run_image(images["second"]) == "service=second rule=arch"
    for service in ("first", "second"):
        assert images[service].startswith(f"{registry}/alice/multi/{service}@sha256:")
        assert f"{service}:" in detail["composition"]


def test_package_json_builds_from_the_node_image(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/node", "generic-amd64")
    push(gateway, project(tmp_path, "nodejs"), key, "alice/node", "master")
    detail = release(gateway, "alice/node#1")
    assert detail["status"] == "success"
    assert "node-fg:20" in detail["images"][0]["build_log"]


def test_main_moves_master_and_an_unchanged_push_is_up_to_date(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/m", "generic-amd64")
    work = project(tmp_path, "dockerfile-plain")
    git("branch", "-m", "master", "main", cwd=work)
    push(gateway, work, key, "alice/m", "main")
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    assert _master(gateway, work, key, "alice/m") == head
    again = push(gateway, work, key, "alice/m", "main")
    assert "Everything up-to-date" in again.stderr
    assert len(releases(gateway, "alice/m")) == 1


def test_nocache_branch_rebuilds_the_same_commit_without_cache(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/nc", "generic-amd64")
    work = project(tmp_path, "dockerfile-plain")
    push(gateway, work, key, "alice/nc", "master")
    again = push(gateway, work, key, "alice/nc", "master:balena-nocache")
    assert "[new branch]      master -> balena-nocache" in again.stderr
    shown = releases(gateway, "alice/nc")
    assert [r["status"] for r in shown] == ["success", "success"]
    newest = release(gateway, "alice/nc#2")
    assert newest["branch"] == "refs/heads/balena-nocache" and newest["options"] == ["nocache"]
    log = newest["images"][0]["build_log"]
    assert "RUN echo" in log
    assert cached_steps(log) == []
    # Virtual: never stored, so the same push rebuilds again.
    push(gateway, work, key, "alice/nc", "master:balena-nocache")
    assert len(releases(gateway, "alice/nc")) == 3
    assert (
        "balena-nocache"
        not in git("ls-remote", gateway.url("alice/nc"), cwd=work, key=key, gw=gateway).stdout
    )


def test_emulated_builds_run_as_armv7l_and_native_builds_record_the_native_builder(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = fleet(gateway, "alice/emu", "raspberrypi3")
    work = project(tmp_path, "template")
    push(gateway, work, key, "alice/emu", "master")
    native = release(gateway, "alice/emu#1")
    assert (native["builder"], native["options"]) == ("arm", [])
    push(gateway, work, key, "alice/emu", "master:balena-emulated")
    (work / "more.txt").write_text("a new commit, so master moves\n")
    git("add", "more.txt", cwd=work)
    git("commit", "-qm", "more", cwd=work)
    push(gateway, work, key, "alice/emu", "master", flags=("-o", "emulated", "-o", "nocache"))
    for number in (2, 3):
        emulated = release(gateway, f"alice/emu#{number}")
        assert emulated["builder"] == "default" and "emulated" in emulated["options"]
        assert emulated["platform"] == "linux/arm/v7"
        image = emulated["images"][0]["image"]
        inspect = subprocess.run(
            [DOCKER, "image", "inspect", image], capture_output=True, text=True, check=True
        )
        config = json.loads(inspect.stdout)[0]
        assert (config["Architecture"], config.get("Variant")) == ("arm", "v7")
    assert "armv7l" in release(gateway, "alice/emu#3")["images"][0]["build_log"]


def test_a_secret_read_by_a_run_step_is_in_no_layer(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/sec", "generic-amd64")
    work = project(tmp_path, "secrets")
    secret = (work / ".balena/secrets/token").read_bytes()
    push(gateway, work, key, "alice/sec", "master", flags=("-o", "nocache"))
    image = release(gateway, "alice/sec#1")["images"][0]["image"]
    import hashlib

    printed = run_image(image).splitlines()
    assert printed[0] == hashlib.sha256(secret).hexdigest()  # the step read it
    assert printed[1] == "greeting=hello from balena.yml"
    saved = subprocess.run([DOCKER, "save", image], capture_output=True, check=True, timeout=120).stdout
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(saved)) as outer:
        for member in outer.getmembers():
            data = outer.extractfile(member).read() if member.isfile() else b""
            assert secret.strip() not in data, member.name
            if member.name.endswith("layer.tar"):
                with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                    for entry in layer.getmembers():
                        if entry.name.startswith("run/secrets/"):
                            assert entry.size == 0, entry.name  # at most BuildKit's empty mount point
                        if entry.isfile():
                            assert secret.strip() not in layer.extractfile(entry).read()
    history = subprocess.run([DOCKER, "history", "--no-trunc", image], capture_output=True, check=True).stdout
    assert secret.strip() not in history


def test_a_failing_build_rejects_the_push_and_a_fixed_push_succeeds(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/br", "generic-amd64")
    good = project(tmp_path, "dockerfile-plain")
    push(gateway, good, key, "alice/br", "master")
    before = _master(gateway, good, key, "alice/br")
    broken = project(tmp_path, "broken")
    result = push(gateway, broken, key, "alice/br", "master", flags=("-f",), check=False)
    assert result.returncode == 1
    assert "! [remote rejected] master -> master (build failed: " in result.stderr
    assert any(line.startswith("[Error]") for line in remote_lines(result.stderr))
    assert _master(gateway, good, key, "alice/br") == before
    failed = release(gateway, "alice/br#2")
    assert failed["status"] == "failed" and "exit" in failed["error"]
    assert "fleetgate-broken-step" in failed["images"][0]["build_log"]
    (broken / "Dockerfile").write_text('FROM busybox-fg\nCMD ["echo", "fixed"]\n')
    git("commit", "-qam", "fix", cwd=broken)
    push(gateway, broken, key, "alice/br", "master", flags=("-f",))
    assert release(gateway, "alice/br#3")["status"] == "success"


def test_a_project_with_nothing_to_build_is_refused_with_what_was_looked_for(
    gateway: Gateway, tmp_path: Path
) -> None:
    key = fleet(gateway, "alice/empty", "raspberrypi3")
    work = tmp_path / "empty"
    work.mkdir()
    (work / "README").write_text("nothing\n")
    git("init", "-q", "-b", "master", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-qm", "x", cwd=work)
    result = push(gateway, work, key, "alice/empty", "master", check=False)
    assert result.returncode == 1
    assert "looked for" in result.stderr and "Dockerfile.raspberrypi3" in result.stderr


def test_unknown_push_option_is_refused(gateway: Gateway, tmp_path: Path) -> None:
    key = fleet(gateway, "alice/opt", "generic-amd64")
    result = push(
        gateway,
        project(tmp_path, "dockerfile-plain"),
        key,
        "alice/opt",
        "master",
        flags=("-o", "turbo"),
        check=False,
    )
    assert result.returncode == 1
    assert "unknown push option 'turbo'" in result.stderr
