"""Where `fleetgate serve` logs (stderr, or `FLEETGATE_LOG_FILE`), at which level, in which format.

SIGHUP applies a new setting and reopens the file, so logrotate can move it away (no copytruncate).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from .log_lines import FORMATTERS

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
# asyncssh logs every command line at INFO, and a user's `env set KEY=VALUE` carries a secret; fleetgate
# logs each command itself, with values masked (gitd/audit.py). httpx logs each request of /healthz.
QUIET = {"asyncssh": logging.WARNING, "httpx": logging.WARNING}


@dataclass(frozen=True)
class LogSetting:
    """`FLEETGATE_LOG_LEVEL`, `FLEETGATE_LOG_FORMAT` and `FLEETGATE_LOG_FILE` (None: stderr)."""

    level: str = "info"
    format: str = "text"
    file: Path | None = None


def _handler(file: Path | None) -> logging.Handler:
    if file is None:
        return logging.StreamHandler(sys.stderr)
    return logging.FileHandler(file, encoding="utf-8")


class LogOutput:
    """The root logger's one handler, set from a LogSetting; `apply` again and `reopen` on SIGHUP."""

    def __init__(self, setting: LogSetting) -> None:
        self.setting = setting
        self.handler = _handler(setting.file)
        logging.getLogger().addHandler(self.handler)
        self._configure(setting)

    def _configure(self, setting: LogSetting) -> None:
        self.handler.setFormatter(FORMATTERS[setting.format]())
        logging.getLogger().setLevel(LEVELS[setting.level])
        for name, level in QUIET.items():
            logging.getLogger(name).setLevel(max(level, LEVELS[setting.level]))

    def apply(self, setting: LogSetting) -> None:
        """Log at the new level, in the new format, to the new place."""
        if setting.file != self.setting.file:
            old, self.handler = self.handler, _handler(setting.file)
            root = logging.getLogger()
            root.addHandler(self.handler)
            root.removeHandler(old)
            old.close()
        self._configure(setting)
        self.setting = setting

    def reopen(self) -> None:
        """Reopen the log file under its name (after a rotation moved it); nothing to do for stderr."""
        if isinstance(self.handler, logging.FileHandler):
            stream = open(self.handler.baseFilename, "a", encoding="utf-8")  # noqa: SIM115 - the handler owns it
            old = self.handler.setStream(stream)
            if old is not None:
                old.close()

    def close(self) -> None:
        """Flush and detach the handler."""
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
