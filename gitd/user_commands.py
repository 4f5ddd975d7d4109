"""User commands over SSH, Dokku and Soft Serve style: `ssh git@HOST VERB ARGS…` with the push key.

The grammar is strict and pure: the command line is split with shlex (POSIX rules; no globbing, no
variables, no shell ever sees it), bounded in size, and its verb must be one of `VERBS`. Each verb runs
one `fleetgate` command (the same command, JSON and exit status as the operator's CLI) as the
authenticated user; the composition root hands the SSH edge a runner for that, so gitd knows nothing
of what the commands do. Authorization is the application layer's, not this module's.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from .commands import CommandRefused
from .paths import quoted

MAX_LINE = 4096  # bytes of command line: a fleet, a release, a variable (values up to ~4 kB over SSH)
MAX_ARGS = 32


@dataclass(frozen=True)
class Verb:
    """One SSH command: the `fleetgate` command it runs, and how `help` shows it."""

    name: str
    command: tuple[str, ...]
    usage: str
    summary: str


VERBS: dict[str, Verb] = {
    verb.name: verb
    for verb in (
        Verb("help", (), "help [VERB]", "this list, or how to use one command"),
        Verb("whoami", (), "whoami", "who you are logged in as, and with which key"),
        Verb("fleets", ("fleet", "list"), "fleets [--json]", "the fleets you own or are a member of"),
        Verb("fleet", ("fleet", "show"), "fleet OWNER/NAME [--json]", "a fleet, its remote and its target"),
        Verb(
            "releases",
            ("release", "list"),
            "releases OWNER/NAME [--status S] [--json]",
            "a fleet's releases, newest first",
        ),
        Verb("release", ("release", "show"), "release RELEASE [--logs] [--json]", "one release"),
        Verb(
            "logs",
            ("release", "logs"),
            "logs RELEASE [--service S] [-f]",
            "a release's build log; -f follows a running build",
        ),
        Verb("rollback", ("rollback",), "rollback OWNER/NAME [RELEASE]", "back to the previous release"),
        Verb("pin", ("fleet", "pin"), "pin OWNER/NAME RELEASE|--latest", "keep the fleet on a release"),
        Verb("deploy", ("deploy",), "deploy OWNER/NAME [RELEASE]", "roll out to the fleet's servers again"),
        Verb(
            "env",
            ("env",),
            "env list|set|unset OWNER/NAME [KEY[=VALUE]] [--service S] [--device UUID] [--secret]",
            "the fleet's variables (secrets shown as ***)",
        ),
        Verb("devices", ("device", "list"), "devices OWNER/NAME [--json]", "the fleet's devices"),
        Verb(
            "device",
            ("device",),
            "device pin UUID RELEASE|--fleet | remove UUID | lock-override UUID on|off",
            "act on one device",
        ),
        Verb("servers", ("server", "list"), "servers OWNER/NAME [--json]", "the fleet's servers"),
        Verb(
            "server-status",
            ("server", "status"),
            "server-status OWNER/NAME [--json]",
            "what each server runs: release, health, deploy lock",
        ),
        Verb(
            "members",
            ("fleet", "member"),
            "members OWNER/NAME [add|remove USER] [--json]",
            "who may use the fleet",
        ),
        Verb(
            "keys",
            ("key",),
            "keys list [--json] | add [--title T] < KEY.pub | remove FINGERPRINT --yes",
            "your SSH keys",
        ),
        Verb(
            "token",
            ("token",),
            "token create [--name N] [--read-only] [--expires DAYS] | list [--json] | revoke ID",
            "your access tokens (and browser sessions) for the HTTP API",
        ),
        Verb("login", ("login",), "login", "a link that signs you in to the web pages (once, 5 minutes)"),
    )
}
HELP_FLAGS = ("-h", "--help")


@dataclass(frozen=True)
class UserCommand:
    """A parsed user command: the verb and its arguments, as the user typed them."""

    verb: str
    args: tuple[str, ...]

    def argv(self, user: str) -> list[str]:
        """The `fleetgate` argv this runs for `user` (whose own keys and tokens `keys`/`token` mean)."""
        command, args = list(VERBS[self.verb].command), list(self.args)
        if self.verb == "release" and "--logs" in args:
            args.remove("--logs")
        elif self.verb == "release":
            args.append("--no-logs")  # over SSH, `release` is the facts; `--logs` or `logs` the build log
        if self.verb == "members":  # members OWNER/NAME [add|remove USER]: the CLI's verb comes first
            first = args[:1]
            rest = args[1:]
            sub = rest[:1] if rest[:1] in (["add"], ["remove"]) else ["list"]
            rest = rest[1:] if sub != ["list"] else rest
            return [*command, *sub, *first, *rest]
        if self.verb == "keys" and args[:1] in (["list"], ["add"], ["remove"]):
            sub, rest = args[0], args[1:]
            source = ["-"] if sub == "add" else []  # `keys add` reads the key from stdin
            return [*command, sub, user, *source, *rest]
        return [*command, *args]

    @property
    def label(self) -> str:
        """How the user named the command, for usage lines: `releases`, `env set`, `keys add`."""
        sub = self.args[:1]
        if self.verb in ("env", "device", "keys", "token") and sub and not sub[0].startswith("-"):
            return f"{self.verb} {sub[0]}"
        return self.verb

    def logged(self) -> str:
        """The command for the operator's log: every `KEY=VALUE` shows its key only."""
        shown = [arg.split("=", 1)[0] + "=…" if "=" in arg else arg for arg in self.args]
        return shlex.join([self.verb, *shown])


def is_user_command(line: str, git_verbs: tuple[str, ...]) -> bool:
    """True for a command line that is not a git command (nor an empty one: a shell request)."""
    first = line.split(maxsplit=1)[0] if line.strip() else ""
    return bool(first) and first not in git_verbs


def parse_user_command(line: str) -> UserCommand:
    """Split and check a user command line; CommandRefused says what is wrong in one line."""
    if len(line.encode("utf-8", "surrogateescape")) > MAX_LINE:
        raise CommandRefused(f"the command is longer than {MAX_LINE} bytes")
    if any(not c.isprintable() for c in line):
        raise CommandRefused("the command contains control characters")
    try:
        words = shlex.split(line, comments=False, posix=True)
    except ValueError as error:  # an unclosed quote, a trailing backslash
        raise CommandRefused(f"cannot split the command: {error}") from None
    if not words:
        raise CommandRefused("no command; see: help")
    if len(words) > MAX_ARGS:
        raise CommandRefused(f"more than {MAX_ARGS} arguments")
    verb, args = words[0], tuple(words[1:])
    if verb not in VERBS:
        raise CommandRefused(f"unknown command {quoted(verb)}; the commands are: {', '.join(VERBS)}")
    return UserCommand(verb, args)


def help_text(ssh: str) -> str:
    """What `help` prints: every verb with its usage; `ssh` is how to reach the gateway (`ssh -p …`)."""
    width = max(len(v.usage) for v in VERBS.values() if len(v.usage) < 48)
    lines = [f"fleetgate commands, run as: {ssh} COMMAND (each takes --help)", ""]
    for verb in VERBS.values():
        if len(verb.usage) <= width:
            lines.append(f"  {verb.usage:<{width}}  {verb.summary}")
        else:  # a long usage gets its own line
            lines += [f"  {verb.usage}", f"  {'':<{width}}  {verb.summary}"]
    lines += ["", "RELEASE is OWNER/NAME#N, a release hash or its first 7 characters."]
    return "\n".join(lines) + "\n"
