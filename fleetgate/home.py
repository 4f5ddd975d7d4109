"""The gateway's home (FLEETGATE_HOME): `fleetgate serve` makes it; every other command needs one made.

A home holds a gateway once it has a settings file, which `serve` writes on its first start (every line a
comment) and an operator may write before it; a home made before settings files has the SSH host key.
A command pointed at any other path refuses it: a typo must not start a second, empty gateway.
"""

from __future__ import annotations

import os
from pathlib import Path

from .setting_sources import FILE_NAME, SettingsError

MARKERS = (FILE_NAME, "ssh_host_ed25519_key")

TEMPLATE = """\
# fleetgate's settings. Each key is a FLEETGATE_... environment variable in lower case without the
# prefix (FLEETGATE_SSH_LISTEN is ssh_listen); a variable set in the environment wins over this file.
# `fleetgate config show` lists every setting, its value and where it came from.
#
# public_ssh_url = "ssh://git@gw.example.org:2222"   # what users add as their git remote
# public_http_url = "https://gw.example.org"
# ssh_listen = "0.0.0.0:2222"
# http_listen = "127.0.0.1:8080"
# registry = "registry.example.org:5000"
# log_format = "json"                                 # text or json; SIGHUP (systemctl reload) applies it
"""


def holds_gateway(home: Path) -> bool:
    """Whether `home` is a gateway's home (it has its settings file, or the host key of an older one)."""
    return any((home / marker).is_file() for marker in MARKERS)


def require(home: Path) -> None:
    """Refuse a home that holds no gateway, naming it and how to choose another."""
    if not holds_gateway(home):
        raise SettingsError(
            f"no gateway in {home}: set FLEETGATE_HOME to the home of your `fleetgate serve`, "
            "or start the gateway there first"
        )


def create(home: Path) -> None:
    """Make `home` a gateway's home: the directory (0700) and a settings file of comments, if it has none."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if holds_gateway(home):
            return
        home.chmod(0o700)  # the database, the host key and the registry's signing key live here
        # 0600: the file may come to hold a registry password.
        fd = os.open(home / FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(TEMPLATE)
    except OSError as error:
        raise SettingsError(f"cannot create FLEETGATE_HOME {home}: {error.strerror}") from None
