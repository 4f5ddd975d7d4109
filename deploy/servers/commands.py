"""Commands: the shell commands a rollout runs on a host, as data (kamal style, issue 5).

Every function here is pure: it returns `Command`s (argv lists, quoted with shlex when sent) and the
executor (`ssh`) runs them. Paths are relative to the login directory of the SSH user, where an
exec channel starts, so nothing here depends on `~` expansion.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

STATE_DIR = ".fleetgate"
LOCKS = f"{STATE_DIR}/locks"
AUDIT_LOG = f"{STATE_DIR}/audit.log"
ENV_DIR = f"{STATE_DIR}/env"
LOCK_HELD = 3  # exit status of the lock command when another rollout holds the lock
LABEL = "io.fleetgate"
PS_FORMAT = (
    '{{.Names}}\t{{.Label "io.fleetgate.release"}}\t{{.Label "io.fleetgate.service"}}\t{{.State}}\t{{.Image}}'
)


class CommandError(ValueError):
    """A release cannot be turned into commands (a value the shell or Docker cannot carry)."""


@dataclass(frozen=True)
class Command:
    """One command for a host: its argv, the bytes it reads on stdin, the exit statuses that are fine."""

    argv: tuple[str, ...]
    stdin: bytes | None = None
    ok: tuple[int, ...] = (0,)
    secret: bool = False  # stdin holds a secret: never log it

    @property
    def line(self) -> str:
        """The command line the host's shell runs."""
        return shlex.join(self.argv)


def sh(script: str, *args: str, stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> Command:
    """A POSIX shell script; `args` arrive as $1.. so they are never parsed as shell code."""
    return Command(("sh", "-c", script, "sh", *args), stdin, ok)


def fleet_key(slug: str) -> str:
    """A fleet's slug as one path or name component: `alice/demo` → `alice.demo`."""
    return slug.replace("/", ".")


def container_name(slug: str, service: str, release_hash: str) -> str:
    """The container of a service of a release: `<owner>.<fleet>_<service>_<hash[:12]>`."""
    return f"{fleet_key(slug)}_{service}_{release_hash[:12]}"


def lock(slug: str, details: Mapping[str, str]) -> Command:
    """Take the fleet's deploy lock: `mkdir` is atomic; when held, print its details and exit 3."""
    path = f"{LOCKS}/{fleet_key(slug)}"
    script = (
        'mkdir -p "$1" && if mkdir "$2" 2>/dev/null; then cat > "$2/details"; '
        f'else cat "$2/details" 2>/dev/null; exit {LOCK_HELD}; fi'
    )
    data = json.dumps(dict(details), sort_keys=True).encode()
    return sh(script, LOCKS, path, stdin=data, ok=(0, LOCK_HELD))


def lock_held(details: str, slug: str, endpoint: str) -> str:
    """The one line a pusher sees when another rollout holds the fleet's lock on a host."""
    try:
        lock = json.loads(details)
        holder = f"held by {lock.get('who')} since {lock.get('since')} for {lock.get('release')}"
    except ValueError:
        holder = "held (no details)"
    return (
        f"deploy lock of {slug} on {endpoint} is {holder}; wait for that rollout, "
        f"or if it died: fleetgate server unlock {slug} {endpoint}"
    )


def lock_details(slug: str) -> Command:
    """Print the fleet's lock details (nothing, exit 0, when no lock is held)."""
    return sh('cat "$1/details" 2>/dev/null || true', f"{LOCKS}/{fleet_key(slug)}")


def unlock(slug: str) -> Command:
    """Release the fleet's deploy lock."""
    return Command(("rm", "-rf", "--", f"{LOCKS}/{fleet_key(slug)}"))


def audit(line: str) -> Command:
    """Append one line to the host's audit log."""
    return sh('mkdir -p "$1" && printf "%s\\n" "$3" >> "$2"', STATE_DIR, AUDIT_LOG, line.replace("\n", " "))


def login(server: str, username: str) -> Command:
    """`docker login` with the password on stdin (never in argv, where `ps` shows it); stdin added later."""
    return Command(("docker", "login", "--username", username, "--password-stdin", server), secret=True)


PULLED = "pulled"  # what `pull` prints when the image was not on the host before


def pull(image: str) -> Command:
    """Pull an image unless the host has it already (images are by digest, so present means the same);
    print `pulled` when it was missing, so a failed rollout removes what it brought (and nothing else)."""
    script = (
        f'docker image inspect "$1" >/dev/null 2>&1 || {{ docker pull -q "$1" >/dev/null && echo {PULLED}; }}'
    )
    return sh(script, image)


def containers(slug: str) -> Command:
    """The fleet's containers: name, release, service, state, image (tab-separated, one a line)."""
    return Command(("docker", "ps", "-a", "--filter", f"label={LABEL}.fleet={slug}", "--format", PS_FORMAT))


def network(slug: str) -> Command:
    """Create the fleet's network, where its services find each other by name, unless it exists."""
    name = f"fleetgate-{fleet_key(slug)}"
    return sh('docker network inspect "$1" >/dev/null 2>&1 || docker network create "$1" >/dev/null', name)


def env_file_path(name: str) -> str:
    """Where a container's environment waits for `docker create` (removed right after)."""
    return f"{ENV_DIR}/{name}.env"


def env_file(name: str, environment: Mapping[str, str]) -> Command:
    """Write a container's environment file, readable by the SSH user only (values may be secrets)."""
    lines = []
    for key, value in environment.items():
        if "\n" in value or "\r" in value or "=" in key or not key:
            raise CommandError(
                f"environment variable {key!r}: a name without '=' and a one-line value, please"
            )
        lines.append(f"{key}={value}\n")
    script = 'umask 077 && mkdir -p "$1" && cat > "$2"'
    command = sh(script, ENV_DIR, env_file_path(name), stdin="".join(lines).encode())
    return Command(command.argv, command.stdin, command.ok, secret=True)


def start(name: str) -> Command:
    """Start an existing container (a retained one, for a rollback or a switch back)."""
    return Command(("docker", "start", name))


def stop(names: tuple[str, ...] | list[str], timeout: int) -> Command:
    """Stop containers (SIGTERM, then SIGKILL after `timeout` seconds); they stay for rollbacks."""
    return Command(("docker", "stop", "--time", str(timeout), *names))


def remove(names: tuple[str, ...] | list[str]) -> Command:
    """Remove containers."""
    return Command(("docker", "rm", "-f", *names))


# One `docker rm`/`docker rmi` per name, so one refusal (an image in use) leaves the others to go; each
# refusal is one line on stdout, `NAME<TAB>Docker's first line`, and nothing is forced.
_EACH = (
    'verb=$1; shift; for i in "$@"; do if ! out=$(docker $verb "$i" 2>&1 >/dev/null); then '
    'printf "%s\\t%s\\n" "$i" "$(printf %s "$out" | head -n 1)"; fi; done'
)


def remove_stopped(names: tuple[str, ...] | list[str]) -> Command:
    """Remove stopped containers (a running one is refused: a prune never stops what serves)."""
    return sh(_EACH, "rm", *names)


def remove_images(images: tuple[str, ...] | list[str]) -> Command:
    """Remove images by reference (`repository@digest`); one still in use stays, and is named on stdout."""
    return sh(_EACH, "rmi", *images)


def refusals(stdout: str) -> dict[str, str]:
    """What `remove_stopped` or `remove_images` could not remove, and Docker's reason."""
    found = (line.partition("\t") for line in stdout.splitlines() if "\t" in line)
    return {name: reason.strip() for name, _, reason in found}


def images() -> Command:
    """The host's images with their digests: repository and digest, tab-separated, one a line.

    `docker ps` shows a container's image without its digest (it names the repository only), so a
    prune lists images here, by digest, as servers pull them.
    """
    return Command(
        ("docker", "images", "--digests", "--no-trunc", "--format", "{{.Repository}}\t{{.Digest}}")
    )


def published_port(name: str, port: int) -> Command:
    """The host address and port where a container's `port` is published."""
    return Command(("docker", "port", name, f"{port}/tcp"))


def state(name: str) -> Command:
    """State, health, restart count and last exit code: `running healthy 0 0`, `exited none 0 3`..."""
    health = "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"
    template = "{{.State.Status}} " + health + " {{.RestartCount}} {{.State.ExitCode}}"
    return Command(("docker", "inspect", "-f", template, name))


def logs(name: str, lines: int) -> Command:
    """The last lines of a container's log (stdout and stderr)."""
    return Command(("docker", "logs", "--tail", str(lines), name), ok=(0, 1))
