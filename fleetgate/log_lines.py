"""The operator's log lines: one line per event, as text or as JSON (`FLEETGATE_LOG_FORMAT`).

An event's fields ride on its record (`log.info(message, extra=fields(user=…))`): JSON shows them as keys,
text shows the message alone, which names them in words. Both escape control characters, so nothing a
client sends (a login name, a command line) can start a line of its own: fail2ban reads these lines, and
a forged one would ban someone else's address.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FIELDS = "fleetgate_fields"
# C0 and C1 controls and the Unicode line and paragraph separators: each may end a line for some reader.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def fields(**values: Any) -> dict[str, Any]:
    """The `extra` of a log call that records an event with these fields."""
    return {_FIELDS: values}


def escape(text: str) -> str:
    """The text on one line: a newline becomes `\\n`, any other control character its `\\x..` escape."""
    return _BREAKS.sub(lambda found: repr(found.group())[1:-1], text)


class TextLines(logging.Formatter):
    """`2025-01-02 03:04:05,678 INFO fleetgate: message`, a traceback included on the same line."""

    def __init__(self) -> None:
        super().__init__(TEXT)

    def format(self, record: logging.LogRecord) -> str:
        """The record on one line."""
        return escape(super().format(record))


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (json.dumps escapes every control character)."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


FORMATTERS: dict[str, type[logging.Formatter]] = {"text": TextLines, "json": JsonLines}
