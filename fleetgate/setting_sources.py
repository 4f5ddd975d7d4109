"""Where each setting comes from: the environment, over `$FLEETGATE_HOME/fleetgate.toml`, over the default.

A setting is named by its environment variable; its key in the file is that name in lower case without
`FLEETGATE_` (`FLEETGATE_SSH_LISTEN` is `ssh_listen`, `DOCKER_HOST` is `docker_host`). An empty value counts
as unset, wherever it is written, as it always has for the environment.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

FILE_NAME = "fleetgate.toml"
ENVIRONMENT, FILE, DEFAULT = "environment", "file", "default"
HOME = "FLEETGATE_HOME"  # the one setting the file cannot hold: the file lives in the home

_TOML_TYPES = {list: "an array", dict: "a table"}


class SettingsError(ValueError):
    """The operator's configuration is invalid."""


def file_key(name: str) -> str:
    """A setting's key in the settings file: its variable's name, lower case, without `FLEETGATE_`."""
    return name.removeprefix("FLEETGATE_").lower()


def default_home(env: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/fleetgate`, else `~/.local/share/fleetgate` (the XDG base directory specification)."""
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the specification: a relative path is invalid, and ignored
        return Path(xdg) / "fleetgate"
    return Path(env.get("HOME") or Path.home()) / ".local" / "share" / "fleetgate"


def _unknown(key: str, keys: Iterable[str]) -> str:
    if key == file_key(HOME):
        return "home cannot be set in the file that lives in it; set FLEETGATE_HOME instead"
    near = get_close_matches(key, list(keys), n=1)
    hint = f"; did you mean {near[0]}?" if near else ""
    return f"unknown setting {key!r}{hint} (`fleetgate config show` lists them all)"


def read_file(path: Path, names: Iterable[str]) -> dict[str, str]:
    """The settings `path` sets, by variable name ({} when there is no file); a wrong one is one line."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise SettingsError(f"cannot read {path}: {error.strerror}") from None
    by_key = {file_key(name): name for name in names if name != HOME}
    values = {}
    for key, value in data.items():
        if key not in by_key:
            raise SettingsError(f"{path}: {_unknown(key, by_key)}")
        if isinstance(value, bool):
            value = str(value).lower()
        if not isinstance(value, str | int | float):
            kind = _TOML_TYPES.get(type(value), "a date")
            raise SettingsError(f"{path}: {key} must be a string or a number, not {kind}")
        values[by_key[key]] = str(value)
    return values


@dataclass(frozen=True)
class Layers:
    """The values set in the environment and in the settings file; the environment wins."""

    environment: Mapping[str, str]
    file: Mapping[str, str]
    path: Path  # the settings file, named in errors about what it set

    def get(self, name: str) -> str | None:
        """The value set for `name`, or None when neither sets it."""
        return self.environment.get(name) or self.file.get(name) or None

    def source(self, name: str) -> str:
        """Where the value of `name` comes from: environment, file or default."""
        if self.environment.get(name):
            return ENVIRONMENT
        return FILE if self.file.get(name) else DEFAULT

    def blame(self, error: SettingsError) -> SettingsError:
        """`error`, naming the file and the key when a value the file set is what it refuses."""
        message = str(error)
        for name in self.file:
            if self.source(name) == FILE:  # \b: FLEETGATE_REGISTRY is no part of FLEETGATE_REGISTRY_USER
                message = re.sub(rf"\b{name}\b", file_key(name), message)
        return error if message == str(error) else SettingsError(f"{self.path}: {message}")


def layers(environment: Mapping[str, str], home: Path, names: Iterable[str]) -> Layers:
    """The environment over the settings file in `home`."""
    path = home / FILE_NAME
    return Layers(environment, read_file(path, names), path)


@dataclass(frozen=True)
class Known:
    """A setting: its environment variable, its default (or how the other settings make it), secret or not."""

    name: str
    default: str | Callable[[Values], str] = ""
    secret: bool = False  # masked in `fleetgate config show` (only the password of a URL)


class Values:
    """Each setting's value as it is parsed: the environment's, else the file's, else its default."""

    def __init__(
        self, environment: Mapping[str, str], home: Path, sources: Layers, table: Mapping[str, Known]
    ) -> None:
        self.environment, self.home, self.sources, self.table = environment, home, sources, table

    def __getitem__(self, name: str) -> str:
        if name == HOME:
            return str(self.home)
        value = self.sources.get(name)
        if value is not None:
            return value
        default = self.table[name].default
        return default(self) if callable(default) else default
