"""Typed reads of agent-config attributes: every value is checked against the type its
setting has (a string where a list belongs is an error, never a list of characters),
and every error names the file, the line and the setting.

    values = Values(block.body, "acl", file)
    values.boolean("enabled", False)       values.strings("tokens", ())
    values.integer("http", 4646, lo=1, hi=65535)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitorch.errors import ConfigError
from gitorch.jobspec import hcl
from gitorch.jobspec.durations import parse_duration

_MAX_EXCERPT = 40


def type_name(value: Any) -> str:
    """How a decoded HCL value reads in an error: ``a string ("X")``, ``a list``."""
    if isinstance(value, bool):
        return f"a bool ({str(value).lower()})"
    if isinstance(value, int | float):
        text = str(value)
        return f"a number ({text[:_MAX_EXCERPT]}{'...' if len(text) > _MAX_EXCERPT else ''})"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return "null" if value is None else type(value).__name__


class Values:
    """The attributes of one config block (or the top level, ``where=""``) in ``file``."""

    def __init__(self, body: hcl.Body, where: str, file: str) -> None:
        self._attrs = body.attributes
        self._where = where
        self._file = file

    def has(self, name: str) -> bool:
        return name in self._attrs

    def line(self, name: str) -> int:
        return self._attrs[name].line

    def error(self, name: str, message: str) -> ConfigError:
        setting = f"{self._where}.{name}" if self._where else name
        return ConfigError(f"{self._file}:{self._attrs[name].line}: {setting} {message}")

    def _raw(self, name: str) -> Any:
        return self._attrs[name].value

    def string(self, name: str, default: str, *, empty: bool = True) -> str:
        if name not in self._attrs:
            return default
        value = self._raw(name)
        if not isinstance(value, str):
            raise self.error(name, f'must be a string like "text", not {type_name(value)}')
        if not empty and not value.strip():
            raise self.error(name, "must not be empty")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        if name not in self._attrs:
            return default
        value = self._raw(name)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, not {type_name(value)}")
        return value

    def integer(self, name: str, default: int, *, lo: int, hi: int) -> int:
        if name not in self._attrs:
            return default
        value = self._raw(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be a whole number, not {type_name(value)}")
        if not lo <= value <= hi:
            raise self.error(name, f"must be between {lo} and {hi}, not {type_name(value)}")
        return value

    def strings(self, name: str, default: Sequence[str], *, empty: bool = True) -> tuple[str, ...]:
        """A list of strings; ``empty=False`` also refuses ``""`` (and blank) entries."""
        if name not in self._attrs:
            return tuple(default)
        value = self._raw(name)
        if not isinstance(value, list):
            raise self.error(name, f'must be a list like ["a", "b"], not {type_name(value)}')
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(name, f"[{i}] must be a string, not {type_name(item)}")
            if not empty and not item.strip():
                raise self.error(name, f"[{i}] is empty")
        return tuple(value)

    def duration(self, name: str, default: float) -> float:
        """A Go duration string (``"10s"``, ``"1m30s"``) in seconds."""
        if name not in self._attrs:
            return default
        text = self.string(name, "")
        try:
            return parse_duration(text) / 1e9
        except ValueError as exc:
            raise self.error(name, f"is not a duration: {exc}") from None

    def addresses(self, name: str, default: Sequence[str]) -> tuple[str, ...]:
        """A list of ``host:port`` strings (Raft peers, or servers' HTTP addresses)."""
        if name not in self._attrs:
            return tuple(default)
        if not isinstance(self._raw(name), list):
            raise self.error(name, 'must be a list like ["10.0.0.2:4647"]')
        items = self.strings(name, default, empty=False)
        for item in items:
            host, _, port = item.removeprefix("http://").rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise self.error(name, f"{item[:_MAX_EXCERPT]!r} is not host:port")
        return items


def string_map(body: hcl.Body, where: str, file: str) -> dict[str, str]:
    """A block of ``key = scalar`` (``meta``): numbers and bools read as their text."""
    out: dict[str, str] = {}
    for name, attr in body.attributes.items():
        value = attr.value
        if isinstance(value, bool):
            out[name] = str(value).lower()
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        else:
            raise ConfigError(
                f"{file}:{attr.line}: {where}.{name} must be a string, not {type_name(value)}"
            )
    for block in body.blocks:
        raise ConfigError(f"{file}:{block.line}: {where}: unexpected block {block.type!r}")
    return out
