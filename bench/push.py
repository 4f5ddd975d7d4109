"""Push benchmark: fleetgate against native git over OpenSSH, measured in one run (DESIGN.md §7).

    .venv/bin/python bench/push.py                 # 100 MB history, 300 MB for the memory comparison
    .venv/bin/python bench/push.py --no-big        # skip the 300 MB pack
    .venv/bin/python bench/push.py --size-mb 50 --big-size-mb 150 --rounds 5
    .venv/bin/python bench/push.py --ingest-only    # the gateway's unpack + checks alone, in-process

It starts Debian's sshd (own config, loopback port, root login with a generated key) in front of plain
bare repositories as the reference, and `fleetgate serve` (own FLEETGATE_HOME, SQLite) with a user,
key and fleets made through the CLI. Histories are generated (seeded, with git fast-import) and cached
under /var/tmp/fleetgate-bench/. It prints figures and ratios, and MISSED next to any figure over its
target; it exits 0 either way: it reports, it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402  (bench/ is not a package)
    MemorySampler,
    free_port,
    median,
    run,
    stop,
    wait_for_port,
)

CACHE = Path("/var/tmp/fleetgate-bench")
GEN_VERSION = 1
FOLLOWUPS = 12  # one-commit follow-ups generated after each history
MB = 1024 * 1024
FLEETGATE = [sys.executable, "-m", "fleetgate.cli"]
# `fleetgate serve` composed with the branch-rules pipeline: §7 times pushes with no build.
PLAIN_SERVE = [sys.executable, str(Path(__file__).resolve()), "--serve-plain"]
DEVICE_TYPE = "raspberrypi3"
OWNER = "bench"

# ---------------------------------------------------------------------------------------------------
# A deterministic history: evolving source-like files (hunks inserted, tweaked, deleted; new files;
# the odd copied file) and binary assets that are replaced in parts, fed to git fast-import.
# ---------------------------------------------------------------------------------------------------

COMMITS_PER_MB = 110  # calibrated on seed 1: 100 asked gives a pack of about 100 MB
SYLLABLES = [
    "ka",
    "to",
    "ri",
    "mon",
    "ser",
    "vel",
    "dat",
    "ing",
    "proc",
    "han",
    "ler",
    "buf",
    "fer",
    "conf",
    "ig",
    "pars",
    "node",
    "dev",
    "ice",
    "fle",
    "et",
    "rel",
    "ease",
    "push",
    "pull",
    "reg",
    "ist",
    "ry",
    "lay",
    "er",
    "img",
    "tag",
    "ref",
    "obj",
    "pack",
    "idx",
    "hash",
    "net",
    "sock",
    "port",
    "time",
    "out",
    "lim",
    "cap",
]
KEYWORDS = ("self", "None", "True", "False", "await", "yield", "lambda", "not", "and", "or")
OPS = ("==", "!=", "<", ">=", "is", "in")


def _identifiers(rng: random.Random, count: int) -> list[str]:
    names = set()
    while len(names) < count:
        parts = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 3))) for _ in range(rng.randint(1, 3))]
        names.add("_".join(parts))
    return sorted(names)


def _line(rng: random.Random, words: list[str]) -> str:
    w = rng.choice
    ind = " " * (4 * rng.choice((0, 1, 1, 2, 2, 2, 3, 3, 4)))
    kind = rng.randrange(10)
    if kind == 0:
        return f"{ind}def {w(words)}({w(words)}, {w(words)}={rng.randrange(1000)}):"
    if kind == 1:
        return f"{ind}{w(words)} = {w(words)}.{w(words)}({w(words)}, {rng.randrange(100000)})"
    if kind == 2:
        return f"{ind}if {w(words)} {w(OPS)} {w(words)}.{w(words)}:"
    if kind == 3:
        return f"{ind}return {w(words)}({w(words)}, {w(KEYWORDS)})"
    if kind == 4:
        return f"{ind}# " + " ".join(rng.choices(words, k=rng.randint(3, 10)))
    if kind == 5:
        return f'{ind}log.{w(("info", "debug", "warning"))}("{w(words)} {w(words)} %s", {w(words)})'
    if kind == 6:
        return ""
    if kind == 7:
        return f"{ind}{w(words)}[{rng.randrange(64)}] = 0x{rng.getrandbits(32):08x}"
    return f"{ind}{w(words)} = {w(words)} + {w(words)} * {rng.randrange(1, 500)}"


class Generator:
    """Writes a fast-import stream of `commits` commits, then `followups` one-file commits on `next`."""

    def __init__(self, seed: int, commits: int, followups: int) -> None:
        self.rng = random.Random(seed)
        self.commits = commits
        self.followups = followups
        words = _identifiers(self.rng, 3000)
        self.pool = [_line(self.rng, words) for _ in range(150_000)]
        self.words = words
        self.dirs = [f"src/{name}" for name in words[:30]]
        self.files: dict[str, list[str]] = {}
        self.assets: dict[str, bytes] = {}
        self.recent: list[str] = []
        self.mark = 0
        self.when = 1_600_000_000

    # -- content -------------------------------------------------------------------------------------

    def _lines(self, count: int) -> list[str]:
        return [self.pool[self.rng.randrange(len(self.pool))] for _ in range(count)]

    def _new_file(self) -> tuple[str, list[str]]:
        rng = self.rng
        if rng.random() < 0.02:
            self.dirs.append(f"src/{rng.choice(self.words)}/{rng.choice(self.words)}")
        path = f"{rng.choice(self.dirs)}/{rng.choice(self.words)}.py"
        while path in self.files:
            path = path[:-3] + "_.py"
        if self.files and rng.random() < 0.05:  # a copied file, then edited
            lines = list(self.files[rng.choice(sorted(self.files))])
            self._edit(lines)
        else:
            lines = self._lines(int(rng.lognormvariate(4.9, 0.8)) + 20)
        return path, lines

    def _edit(self, lines: list[str]) -> None:
        rng = self.rng
        grow = 0.6 if len(lines) < 300 else 0.2  # files grow, but not without bound
        for _ in range(rng.choice((1, 2, 3, 3, 4, 5, 6))):
            pos = rng.randrange(len(lines) + 1)
            kind = rng.random()
            if kind < 0.35:  # tweak a few lines
                count = rng.randint(1, 8)
                lines[pos : pos + count] = self._lines(count)
            elif kind < 0.35 + grow:  # a new block
                lines[pos:pos] = self._lines(rng.randint(5, 120))
            else:  # a block goes
                del lines[pos : pos + rng.randint(5, 100)]
        if not lines:
            lines.extend(self._lines(10))

    def _asset(self) -> tuple[str, bytes]:
        rng = self.rng
        if self.assets and rng.random() < 0.6:  # a new version of an asset: some regions replaced
            path = rng.choice(sorted(self.assets))
            data = bytearray(self.assets[path])
            for _ in range(rng.randint(1, 4)):
                size = min(len(data), rng.randint(1024, 64 * 1024))
                at = rng.randrange(len(data) - size + 1)
                data[at : at + size] = rng.randbytes(size)
            return path, bytes(data)
        path = f"assets/{rng.choice(self.words)}-{len(self.assets)}.bin"
        return path, rng.randbytes(int(min(rng.lognormvariate(11.5, 1.0), 2 * MB)))

    def _pick_file(self) -> str:
        rng = self.rng
        if self.recent and rng.random() < 0.6:
            path = rng.choice(self.recent[-40:])
            if path in self.files:
                return path
        return rng.choice(sorted(self.files)) if len(self.files) < 50 else self._random_key()

    def _random_key(self) -> str:
        keys = getattr(self, "_keys", None)
        if keys is None or len(keys) != len(self.files):
            keys = self._keys = sorted(self.files)
        return keys[self.rng.randrange(len(keys))]

    # -- the stream ----------------------------------------------------------------------------------

    def stream(self) -> Iterator[bytes]:
        for _ in range(150):  # an initial import
            path, lines = self._new_file()
            self.files[path] = lines
        yield self._commit("refs/heads/master", "initial import", [(p, None) for p in self.files])
        for i in range(1, self.commits):
            yield self._commit("refs/heads/master", f"change {i}", self._changes())
        yield b"reset refs/heads/next\nfrom refs/heads/master\n\n"
        for i in range(self.followups):
            path = self._pick_file()
            self._edit(self.files[path])
            yield self._commit("refs/heads/next", f"follow-up {i}", [(path, None)])

    def _changes(self) -> list[tuple[str, bytes | None]]:
        rng = self.rng
        changes: list[tuple[str, bytes | None]] = []
        if rng.random() < 0.02:
            path, data = self._asset()
            self.assets[path] = data
            changes.append((path, data))
        for _ in range(min(1 + int(rng.expovariate(0.5)), 12)):
            roll = rng.random()
            if roll < 0.08:
                path, lines = self._new_file()
                self.files[path] = lines
            elif roll < 0.09 and len(self.files) > 100:
                path = self._random_key()
                del self.files[path]
                changes.append((path, b""))
                continue
            else:
                path = self._pick_file()
                self._edit(self.files[path])
            self.recent.append(path)
            changes.append((path, None))
        del self.recent[:-200]
        return changes

    def _commit(self, ref: str, message: str, changes: list[tuple[str, bytes | None]]) -> bytes:
        self.mark += 1
        self.when += self.rng.randint(60, 7200)
        who = f"Bench Author <bench@example.org> {self.when} +0000"
        msg = message.encode()
        out = [f"commit {ref}\nmark :{self.mark}\nauthor {who}\ncommitter {who}\n".encode()]
        out.append(b"data %d\n%s\n" % (len(msg), msg))
        for path, data in dict(changes).items():
            if data == b"":
                out.append(f"D {path}\n".encode())
                continue
            if data is None:
                data = ("\n".join(self.files[path]) + "\n").encode()
            out.append(f"M 100644 inline {path}\n".encode())
            out.append(b"data %d\n%s\n" % (len(data), data))
        out.append(b"\n")
        return b"".join(out)


@dataclass(frozen=True)
class History:
    """A cached bare repository: `master` is the big history, `followups` are one commit each after it."""

    path: Path
    size_mb: int
    pack_bytes: int
    objects: int
    master: str
    followups: list[str]

    @property
    def pack_mb(self) -> float:
        return self.pack_bytes / MB


def _git(repo: Path, *args: str, **kwargs) -> str:
    return run(["git", "--git-dir", str(repo), *args], **kwargs).stdout.decode().strip()


def generate(path: Path, size_mb: int, seed: int, followups: int) -> None:
    """Build the bare repository at `path` (fast-import, then one full repack as `git gc` would)."""
    run(["git", "init", "-q", "--bare", "-b", "master", str(path)])
    gen = Generator(seed, max(20, size_mb * COMMITS_PER_MB), followups)
    importer = subprocess.Popen(
        ["git", "-c", "pack.compression=1", "--git-dir", str(path), "fast-import", "--quiet"],
        stdin=subprocess.PIPE,
    )
    assert importer.stdin is not None
    try:
        for chunk in gen.stream():
            importer.stdin.write(chunk)
    except BaseException:
        importer.kill()
        raise
    finally:
        importer.stdin.close()
    if importer.wait() != 0:
        raise RuntimeError("git fast-import failed")
    run(["git", "--git-dir", str(path), "repack", "-a", "-d", "-F", "-q", "--window=10", "--depth=50"])


def pack_size(repo: Path, rev: str) -> tuple[int, int]:
    """Bytes and object count of the pack a push of `rev` into an empty repository sends."""
    objects = run(["git", "--git-dir", str(repo), "rev-list", "--objects", "--count", rev]).stdout
    packer = subprocess.Popen(
        ["git", "--git-dir", str(repo), "pack-objects", "--revs", "--stdout", "-q"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert packer.stdin is not None and packer.stdout is not None
    packer.stdin.write(rev.encode() + b"\n")
    packer.stdin.close()
    total = 0
    while chunk := packer.stdout.read(MB):
        total += len(chunk)
    if packer.wait() != 0:
        raise RuntimeError("git pack-objects failed")
    return total, int(objects)


def history(size_mb: int, seed: int, followups: int = FOLLOWUPS) -> History:
    """The cached history for (size, seed), generated on first use."""
    name = f"history-{size_mb}mb-seed{seed}-g{GEN_VERSION}"
    path = CACHE / f"{name}.git"
    meta_path = CACHE / f"{name}.json"
    if not meta_path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=CACHE))
        try:
            started = time.monotonic()
            print(f"generating a ~{size_mb} MB history (seed {seed}) in {path} ...", flush=True)
            generate(tmp / "repo.git", size_mb, seed, followups)
            master = _git(tmp / "repo.git", "rev-parse", "master")
            chain = _git(tmp / "repo.git", "rev-list", "--reverse", "master..next").split()
            pack_bytes, objects = pack_size(tmp / "repo.git", "master")
            os.rename(tmp / "repo.git", path)
            meta = {"pack_bytes": pack_bytes, "objects": objects, "master": master, "followups": chain}
            meta_path.write_text(json.dumps(meta))
            print(f"  generated in {time.monotonic() - started:.0f} s", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    meta = json.loads(meta_path.read_text())
    return History(path, size_mb, meta["pack_bytes"], meta["objects"], meta["master"], meta["followups"])


# ---------------------------------------------------------------------------------------------------
# The two servers
# ---------------------------------------------------------------------------------------------------

SSH_OPTIONS = (
    "-F /dev/null -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
    "-o LogLevel=ERROR -o BatchMode=yes"
)


def keygen(path: Path) -> Path:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)])
    return path


class Server:
    """What the measurements need from either server."""

    label = ""
    proc: subprocess.Popen | None = None

    def prepare(self, names: list[str]) -> None:
        raise NotImplementedError

    def url(self, name: str) -> str:
        raise NotImplementedError

    def ssh_command(self) -> str:
        raise NotImplementedError

    def login_args(self, name: str) -> list[str]:
        """An ssh command line that logs in and starts git-upload-pack on repository `name`."""
        raise NotImplementedError

    def master_of(self, name: str) -> str:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Native(Server):
    """Debian's sshd with its own config on a loopback port, root login by key, plain bare repositories."""

    label = "native"

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "native"
        self.repos = self.dir / "repos"
        self.repos.mkdir(parents=True)
        self.port = free_port()
        self.key = keygen(self.dir / "client_key")

    def start(self) -> None:
        keygen(self.dir / "ssh_host_ed25519_key")
        shutil.copy(self.key.with_suffix(".pub"), self.dir / "authorized_keys")
        config = self.dir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\n"
            f"HostKey {self.dir / 'ssh_host_ed25519_key'}\nPidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxStartups 100\n"
            "MaxSessions 100\nLogLevel ERROR\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        run(["/usr/sbin/sshd", "-t", "-f", str(config)])
        log = open(self.dir / "sshd.log", "wb")  # noqa: SIM115  (sshd keeps it for its lifetime)
        self.proc = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_for_port(self.port, self.proc, "sshd")

    def prepare(self, names: list[str]) -> None:
        for name in names:
            run(["git", "init", "-q", "--bare", "-b", "master", str(self.repos / f"{name}.git")])

    def url(self, name: str) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{self.repos / name}.git"

    def ssh_command(self) -> str:
        return f"ssh {SSH_OPTIONS} -i {self.key}"

    def login_args(self, name: str) -> list[str]:
        return [
            *self.ssh_command().split(),
            *("-p", str(self.port), "root@127.0.0.1"),
            f"git-upload-pack '{self.repos / name}.git'",
        ]

    def master_of(self, name: str) -> str:
        return _git(self.repos / f"{name}.git", "rev-parse", "--verify", "-q", "refs/heads/master")


class Fleetgate(Server):
    """`fleetgate serve` with its own FLEETGATE_HOME (SQLite), a user, a key and fleets made by the CLI."""

    label = "fleetgate"

    def __init__(self, tmp: Path) -> None:
        self.home = tmp / "fleetgate"
        self.home.mkdir()
        self.port = free_port()
        self.env = dict(
            os.environ,
            FLEETGATE_HOME=str(self.home),
            FLEETGATE_SSH_LISTEN=f"127.0.0.1:{self.port}",
            FLEETGATE_HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        )
        self.key = keygen(tmp / "fleetgate_key")
        self.ids: dict[str, int] = {}

    def start(self) -> None:
        with open(self.home / "serve.log", "ab") as log:
            self.proc = subprocess.Popen(PLAIN_SERVE, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.proc, "fleetgate serve")

    def restart(self) -> None:
        stop(self.proc)
        self.start()

    def cli(self, *args: str) -> str:
        return run([*FLEETGATE, *args], env=self.env).stdout.decode()

    def add_user(self) -> None:
        self.cli("user", "add", OWNER)
        self.cli("key", "add", OWNER, str(self.key.with_suffix(".pub")))

    def prepare(self, names: list[str]) -> None:
        with ThreadPoolExecutor(4) as pool:
            list(
                pool.map(
                    lambda n: self.cli("fleet", "create", f"{OWNER}/{n}", "--device-type", DEVICE_TYPE), names
                )
            )
        listed = json.loads(self.cli("fleet", "list", "--json"))
        self.ids.update({f["slug"].split("/", 1)[1]: f["id"] for f in listed})

    def url(self, name: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{OWNER}/{name}.git"

    def ssh_command(self) -> str:
        return f"ssh {SSH_OPTIONS} -i {self.key}"

    def login_args(self, name: str) -> list[str]:
        return [
            *self.ssh_command().split(),
            *("-p", str(self.port), "git@127.0.0.1"),
            f"git-upload-pack '/{OWNER}/{name}.git'",
        ]

    def master_of(self, name: str) -> str:
        repo = self.home / "repositories" / f"{self.ids[name]}.git"
        return _git(repo, "rev-parse", "--verify", "-q", "refs/heads/master")


# ---------------------------------------------------------------------------------------------------
# Pushing and probing
# ---------------------------------------------------------------------------------------------------


class PushFailed(RuntimeError):
    pass


@dataclass
class Client:
    """The real git client, with its own empty HOME so no user configuration leaks in."""

    home: Path

    def env(self, server: Server) -> dict[str, str]:
        return dict(
            os.environ,
            HOME=str(self.home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_TERMINAL_PROMPT="0",
            GIT_SSH_COMMAND=server.ssh_command(),
        )

    def push(self, server: Server, source: Path, rev: str, name: str) -> float:
        """Push `rev` of `source` to `name`'s master; seconds taken; checks the ref moved."""
        started = time.monotonic()
        result = subprocess.run(
            ["git", "--git-dir", str(source), "push", "-q", server.url(name), f"{rev}:refs/heads/master"],
            env=self.env(server),
            capture_output=True,
            timeout=1800,
        )
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            raise PushFailed(f"{server.label} push to {name}: {result.stderr.decode(errors='replace')}")
        want = _git(source, "rev-parse", rev)
        if server.master_of(name) != want:
            raise PushFailed(f"{server.label} push to {name} reported success but master is not {want}")
        return elapsed

    def try_push(self, server: Server, source: Path, rev: str, name: str) -> tuple[bool, float]:
        started = time.monotonic()
        try:
            self.push(server, source, rev, name)
            return True, time.monotonic() - started
        except (PushFailed, RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"  push failed: {e}", flush=True)
            return False, time.monotonic() - started


def login_latency(server: Server, name: str, timeout: float = 30.0) -> float:
    """Seconds from starting `ssh … git-upload-pack` to the first byte of the ref advertisement."""
    started = time.monotonic()
    proc = subprocess.Popen(
        server.login_args(name), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        first = proc.stdout.read(4)
        elapsed = time.monotonic() - started
        if len(first) != 4:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{server.label}: no ref advertisement from a new login: {err}")
        proc.stdin.write(b"0000")  # a flush: no wants, the fetch ends here
        proc.stdin.close()
        proc.wait(timeout)
    finally:
        stop(proc, 2)
    return elapsed


def concurrently(jobs: list[Callable[[], object]]) -> tuple[float, list[object]]:
    """Run every job at once in threads; wall seconds and results (exceptions as results)."""
    started = time.monotonic()
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        results = [f.exception() or f.result() for f in futures]
    return time.monotonic() - started, results


def small_repo(path: Path) -> Path:
    """A bare repository with one commit of a few files: the one-commit push to a fresh fleet."""
    src = path.with_suffix(".work")
    src.mkdir(parents=True)
    for i in range(5):
        (src / f"file{i}.py").write_text("".join(f"line {i} {j}\n" for j in range(200)))
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@example.org")
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.org", GIT_CONFIG_NOSYSTEM="1")
    run(["git", "init", "-q", "-b", "master", str(src)], env=env)
    run(["git", "-C", str(src), "add", "-A"], env=env)
    run(["git", "-C", str(src), "commit", "-q", "-m", "one"], env=env)
    run(["git", "clone", "-q", "--bare", str(src), str(path)], env=env)
    return path


# ---------------------------------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """What one run measured; filled in as the measurements go."""

    big: dict[str, list[float]] = field(default_factory=lambda: {"native": [], "fleetgate": []})
    small: dict[str, list[float]] = field(default_factory=lambda: {"native": [], "fleetgate": []})
    pair: dict[str, float] = field(default_factory=dict)
    huge: dict[str, float] = field(default_factory=dict)
    memory: dict[str, float] = field(default_factory=dict)  # MB of RssAnon
    idle_login: dict[str, float] = field(default_factory=dict)
    busy_logins: list[float] = field(default_factory=list)
    many: dict[str, tuple[int, float]] = field(default_factory=dict)


@dataclass
class Bench:
    native: Native
    gate: Fleetgate
    client: Client
    hist: History
    small_src: Path
    rounds: int
    small_rounds: int
    figures: Figures = field(default_factory=Figures)
    _serial: int = 0

    def names(self, prefix: str, count: int = 1) -> list[str]:
        """Fresh repository names, prepared on both servers."""
        names = []
        for _ in range(count):
            self._serial += 1
            names.append(f"{prefix}-{self._serial}")
        self.native.prepare(names)
        self.gate.prepare(names)
        return names

    def fresh_gateway(self) -> None:
        """A new gateway process (so memory peaks do not carry over), warmed up by one small push."""
        self.gate.restart()
        (name,) = self.names("warm")
        self.client.push(self.gate, self.small_src, "master", name)

    def big_rounds(self) -> None:
        say(f"big push: {self.rounds} rounds of {self.hist.pack_mb:.1f} MB into fresh repositories")
        peaks = []
        for r in range(self.rounds):
            order = (self.native, self.gate) if r % 2 == 0 else (self.gate, self.native)
            self.fresh_gateway()
            (name,) = self.names("big")
            for server in order:
                with MemorySampler(server.pid) as mem:
                    seconds = self.client.push(server, self.hist.path, "master", name)
                self.figures.big[server.label].append(seconds)
                if server is self.gate:
                    peaks.append(mem.peak_mb)
                else:
                    self.figures.memory["native-100"] = max(
                        self.figures.memory.get("native-100", 0), mem.peak_mb
                    )
                where = f" ({mem.breakdown})" if server is self.gate else ""
                line = f"  round {r + 1} {server.label:9} {seconds:6.2f} s  peak RssAnon{mem.peak_mb:6.1f} MB"
                say(line + where)
                say(f"          CPU {mem.cpu}")
            self.last_big = name
        self.figures.memory["fleetgate-100"] = max(peaks)

    def small_pushes(self) -> None:
        say(f"one-commit push: {self.small_rounds} follow-up commits onto the big history")
        for r, sha in enumerate(self.hist.followups[: self.small_rounds]):
            order = (self.native, self.gate) if r % 2 == 0 else (self.gate, self.native)
            for server in order:
                seconds = self.client.push(server, self.hist.path, sha, self.last_big)
                self.figures.small[server.label].append(seconds)
            say(
                f"  round {r + 1} native {self.figures.small['native'][-1]:.3f} s  "
                f"fleetgate {self.figures.small['fleetgate'][-1]:.3f} s"
            )

    def pair_push(self) -> None:
        say("two concurrent big pushes to two fresh repositories")
        for server in (self.native, self.gate):
            names = self.names("pair", 2)
            jobs = [lambda n=n, s=server: self.client.push(s, self.hist.path, "master", n) for n in names]
            wall, results = concurrently(jobs)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                raise PushFailed(f"concurrent push failed: {failed[0]}")
            self.figures.pair[server.label] = wall
            say(f"  {server.label:9} {wall:6.2f} s (each: {', '.join(f'{r:.2f}' for r in results)} s)")

    def login_during_push(self) -> None:
        say("new logins: idle, then back to back during a big push to fleetgate")
        (probe,) = self.names("probe")
        for server in (self.native, self.gate):
            self.client.push(server, self.small_src, "master", probe)
            self.figures.idle_login[server.label] = median([login_latency(server, probe) for _ in range(5)])
        (name,) = self.names("busy")
        with ThreadPoolExecutor(1) as pool:
            pushing = pool.submit(self.client.push, self.gate, self.hist.path, "master", name)
            time.sleep(0.5)
            while not pushing.done():
                self.figures.busy_logins.append(login_latency(self.gate, probe))
                time.sleep(0.1)
            pushing.result()
        lat = self.figures.busy_logins
        idle = self.figures.idle_login
        say(f"  idle: native {idle['native']:.3f} s  fleetgate {idle['fleetgate']:.3f} s")
        if lat:
            say(f"  during the push: {len(lat)} logins, median {median(lat):.3f} s, worst {max(lat):.3f} s")

    def many_small(self, count: int = 20) -> None:
        say(f"{count} concurrent one-commit pushes to {count} fresh repositories")
        for server in (self.native, self.gate):
            names = self.names("many", count)
            jobs = [lambda n=n, s=server: self.client.try_push(s, self.small_src, "master", n) for n in names]
            wall, results = concurrently(jobs)
            ok = sum(1 for r in results if isinstance(r, tuple) and r[0])
            self.figures.many[server.label] = (ok, wall)
            say(f"  {server.label:9} {ok}/{count} ok in {wall:.2f} s")

    def huge_push(self, huge: History) -> None:
        say(f"memory: one {huge.pack_mb:.1f} MB push into each, fleetgate freshly started")
        self.fresh_gateway()
        (name,) = self.names("huge")
        for server in (self.native, self.gate):
            with MemorySampler(server.pid) as mem:
                seconds = self.client.push(server, huge.path, "master", name)
            self.figures.huge[server.label] = seconds
            self.figures.memory[f"{server.label}-300"] = mem.peak_mb
            say(f"  {server.label:9} {seconds:6.2f} s  peak RssAnon {mem.peak_mb:6.1f} MB ({mem.breakdown})")


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------


def _verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "MISSED"


def _ratio_row(label: str, native: float, gate: float, limit: float, unit: str = "s") -> str:
    ratio = gate / native
    return (
        f"{label:34} native {native:7.2f} {unit}  fleetgate {gate:7.2f} {unit}  ratio {ratio:5.2f}x"
        f"  (target <= {limit:.1f}x) {_verdict(ratio, limit)}"
    )


def report(f: Figures, hist: History, huge: History | None) -> None:
    print()
    print(
        f"history: {hist.pack_mb:.1f} MB pack, {hist.objects} objects"
        + (f"; big: {huge.pack_mb:.1f} MB pack, {huge.objects} objects" if huge else "")
    )
    nat, gate = median(f.big["native"]), median(f.big["fleetgate"])
    rows = [
        _ratio_row(f"big push ({hist.pack_mb:.0f} MB), median", nat, gate, 1.3),
        f"{'  throughput':34} native {hist.pack_mb / nat:7.1f} MB/s"
        f" fleetgate {hist.pack_mb / gate:7.1f} MB/s",
        _ratio_row("one-commit push, median", median(f.small["native"]), median(f.small["fleetgate"]), 0.5),
        _ratio_row("two concurrent big pushes, wall", f.pair["native"], f.pair["fleetgate"], 1.3),
    ]
    if huge:
        rows.append(
            f"{f'big push ({huge.pack_mb:.0f} MB), one round':34} native {f.huge['native']:7.2f} s  "
            f"fleetgate {f.huge['fleetgate']:7.2f} s  "
            f"ratio {f.huge['fleetgate'] / f.huge['native']:5.2f}x  (info, no target)"
        )
    m100 = f.memory["fleetgate-100"]
    rows.append(
        f"{f'peak RssAnon, {hist.pack_mb:.0f} MB push':34} native {f.memory['native-100']:7.1f} MB "
        f"fleetgate {m100:7.1f} MB  (target <= 250 MB) {_verdict(m100, 250)}"
    )
    if huge:
        m300 = f.memory["fleetgate-300"]
        growth = m300 / m100
        rows.append(
            f"{f'peak RssAnon, {huge.pack_mb:.0f} MB push':34} native {f.memory['native-300']:7.1f} MB "
            f"fleetgate {m300:7.1f} MB  (target <= 250 MB) {_verdict(m300, 250)}; growth {growth:.2f}x "
            f"(target <= 1.10x) {_verdict(growth, 1.1)}"
        )
    worst = max(f.busy_logins) if f.busy_logins else float("nan")
    rows.append(
        f"{'new login during a big push':34} idle native {f.idle_login['native']:.3f} s  idle fleetgate "
        f"{f.idle_login['fleetgate']:.3f} s  busy fleetgate worst {worst:.3f} s of {len(f.busy_logins)} "
        f"(median {median(f.busy_logins):.3f} s)  (target < 1 s) {_verdict(worst, 0.999)}"
    )
    for label in ("native", "fleetgate"):
        ok, wall = f.many[label]
        mark = "ok" if ok == 20 else "MISSED"
        rows.append(f"{f'20 concurrent one-commit, {label}':34} {ok}/20 succeeded in {wall:.2f} s  {mark}")
    print("\n".join(rows))


# ---------------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=int, default=100, help="history size for the timed pushes")
    p.add_argument("--big-size-mb", type=int, default=300, help="history size for the memory comparison")
    p.add_argument("--no-big", action="store_true", help="skip the big history (memory growth)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3, help="rounds of the big push")
    p.add_argument(
        "--small-rounds", type=int, default=7, help=f"rounds of the one-commit push (at most {FOLLOWUPS})"
    )
    p.add_argument("--serve-plain", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--ingest-only",
        action="store_true",
        help="time the gateway's unpack and checks of the history's pack in this process (no ssh, no git)",
    )
    p.add_argument("--profile", metavar="FILE", help="with --ingest-only: write a cProfile to FILE")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (servers' logs)")
    return p.parse_args(argv)


def environment() -> str:
    head = run(["git", "-C", str(Path(__file__).parent), "describe", "--always", "--dirty"]).stdout.decode()
    git = run(["git", "--version"]).stdout.decode().strip()
    sshd = subprocess.run(["/usr/sbin/sshd", "-V"], capture_output=True).stderr.decode().split(",")[0]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"fleetgate {head.strip()}; {os.cpu_count()} CPUs, {git}, {sshd.strip()}, load average {load}"


def warm_cache(repo: Path) -> None:
    """Read the source packs once so that the first round does not pay for the disk."""
    for pack in (repo / "objects" / "pack").glob("*.pack"):
        with open(pack, "rb") as f:
            while f.read(8 * MB):
                pass


def serve_plain() -> None:
    """The gateway as `fleetgate serve` runs it, but accepting master/main without building."""
    from fleetgate.hooks.default import accept_deploy_branches

    from fleetgate import home, serve, settings
    from fleetgate.cli import cli
    from fleetgate.cli.ssh import command_runner
    from fleetgate.db import Database

    config = settings.load()
    home.create(config.home)  # as `fleetgate serve` makes it
    database = Database(config.database_url)
    database.migrate()
    serve.run(
        config, database, pipeline=accept_deploy_branches, commands=command_runner(cli, config, database)
    )


def ingest_only(hist: History, profile: str | None) -> None:
    """Unpack and check the history's pack as a worker does, in this process: CPU, wall, peak RssAnon.

    Not a §7 figure: a before/after measure of the ingest alone that shared-machine noise and the
    SSH path do not blur (CPU seconds are the figure to compare when the machine is busy).
    """
    import cProfile

    from fleetgate.gitd.quarantine import Quarantine
    from fleetgate.gitd.unpack import unpack_and_check

    from fleetgate.limits import Limits

    pack = next((hist.path / "objects" / "pack").glob("*.pack"))
    tmp = Path(tempfile.mkdtemp(prefix="fleetgate-ingest-"))
    try:
        objects = tmp / "repo.git" / "objects"
        (objects / "pack").mkdir(parents=True)
        (objects / "info").mkdir()
        quarantine = Quarantine(objects)
        tips = [hist.master.encode()]
        with open(pack, "rb", buffering=1 << 20) as f, MemorySampler(os.getpid()) as memory:
            wall, cpu = time.monotonic(), time.process_time()
            work = lambda: unpack_and_check(quarantine.store, objects, f.read1, Limits(), tips)  # noqa: E731
            if profile:
                cProfile.runctx("work()", globals(), {"work": work}, profile)
            else:
                work()
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        quarantine.discard()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(pack, "rb") as f:
        count = int.from_bytes(f.read(12)[8:], "big")
    say(
        f"ingest of the {pack.stat().st_size / MB:.1f} MB pack on disk ({count} objects): "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak RssAnon {memory.peak_mb:.1f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_plain:
        serve_plain()
        return 0
    if args.ingest_only:
        say(environment())
        ingest_only(history(args.size_mb, args.seed), args.profile)
        return 0
    if shutil.which("/usr/sbin/sshd") is None:
        say("needs Debian's openssh-server (/usr/sbin/sshd)")
        return 2
    started = time.monotonic()
    say(environment())
    hist = history(args.size_mb, args.seed)
    huge = None if args.no_big else history(args.big_size_mb, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="fleetgate-bench-"))
    native = gate = None
    try:
        native, gate = Native(tmp), Fleetgate(tmp)
        native.start()
        gate.start()
        gate.add_user()
        (tmp / "client-home").mkdir()
        bench = Bench(
            native,
            gate,
            Client(tmp / "client-home"),
            hist,
            small_repo(tmp / "small.git"),
            args.rounds,
            args.small_rounds,
        )
        warm_cache(hist.path)
        bench.big_rounds()
        bench.small_pushes()
        bench.pair_push()
        bench.login_during_push()
        bench.many_small()
        if huge is not None:
            warm_cache(huge.path)
            bench.huge_push(huge)
        report(bench.figures, hist, huge)
        say(f"\n{environment()}; run took {time.monotonic() - started:.0f} s")
    finally:
        for server in (gate, native):
            stop(server.proc if server else None)
        if args.keep:
            say(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
