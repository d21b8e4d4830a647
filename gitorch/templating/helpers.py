"""consul-template's helper functions that need no data source: JSON, strings,
encodings, hashes, ``timestamp`` (with the clock passed in) and ``scratch``."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gitorch.templating.errors import FunctionError
from gitorch.templating.evaluator import Exposed
from gitorch.templating.gofmt import MISSING, format_value, go_type

RFC3339 = "2006-01-02T15:04:05Z07:00"


def _plain(value: Any) -> Any:
    """A JSON-ready copy: records become objects with their Go field names."""
    if value is MISSING:
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_json(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_json_pretty(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, indent=2, ensure_ascii=False)


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FunctionError(f"parseJSON: {exc}") from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise FunctionError(f"expected a string, got {go_type(value)}")
    return value


def split(sep: str, text: str) -> list[str]:
    text = _text(text)
    if not text:
        return []
    return text.split(sep) if sep else list(text)


def join(sep: str, items: Any) -> str:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise FunctionError(f"join: expected a list, got {go_type(items)}")
    return sep.join(format_value(i) for i in items)


def replace_all(old: str, new: str, text: str) -> str:
    return _text(text).replace(old, new)


def regex_match(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, _text(text)) is not None
    except re.error as exc:
        raise FunctionError(f"regexMatch: {exc}") from None


def regex_replace_all(pattern: str, replacement: str, text: str) -> str:
    try:
        return re.sub(pattern, re.sub(r"\$\{?(\w+)\}?", r"\\g<\1>", replacement), _text(text))
    except re.error as exc:
        raise FunctionError(f"regexReplaceAll: {exc}") from None


def contains(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, str):
        return _text(needle) in haystack
    if isinstance(haystack, Mapping | Sequence):
        return needle in haystack
    raise FunctionError(f"contains: cannot look into {go_type(haystack)}")


def base64_encode(text: str) -> str:
    return base64.b64encode(_text(text).encode()).decode()


def base64_decode(text: str) -> str:
    try:
        return base64.b64decode(_text(text), validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise FunctionError(f"base64Decode: {exc}") from None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(_text(text).encode()).hexdigest()


_LAYOUT = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|Z07:00|-07:00|-0700|\.000000|\.000|01|02|15|03|04|05|06|PM|_2"
)
_STRFTIME = {"January": "%B", "Jan": "%b", "Monday": "%A", "Mon": "%a", "MST": "%Z",
             "2006": "%Y", "-0700": "%z", "01": "%m", "02": "%d", "15": "%H", "03": "%I",
             "04": "%M", "05": "%S", "06": "%y", "PM": "%p"}  # fmt: skip


def go_time_format(when: dt.datetime, layout: str) -> str:
    """Format ``when`` with a Go time layout (``2006-01-02T15:04:05Z07:00``)."""

    def one(m: re.Match[str]) -> str:
        token = m.group(0)
        if token in ("Z07:00", "-07:00"):
            offset = when.utcoffset() or dt.timedelta()
            if token == "Z07:00" and not offset:
                return "Z"
            minutes = int(offset.total_seconds() // 60)
            sign = "-" if minutes < 0 else "+"
            return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        if token == ".000":
            return f".{when.microsecond // 1000:03d}"
        if token == ".000000":
            return f".{when.microsecond:06d}"
        if token == "_2":
            return f"{when.day:2d}"
        return when.strftime(_STRFTIME[token])

    return _LAYOUT.sub(one, layout)


def make_timestamp(now: Callable[[], dt.datetime]) -> Callable[..., str]:
    def timestamp(layout: str = RFC3339) -> str:
        when = now()
        if layout == "unix":
            return str(int(when.timestamp()))
        return go_time_format(when, layout)

    return timestamp


class Scratch(Exposed):
    """consul-template's ``scratch``: a key/value store that lives for one render."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def Key(self, key: str) -> bool:  # noqa: N802 - the names are consul-template's
        return key in self._values

    def Get(self, key: str) -> Any:  # noqa: N802
        return self._values.get(key, MISSING)

    def Set(self, key: str, value: Any) -> str:  # noqa: N802
        self._values[key] = value
        return ""

    def SetX(self, key: str, value: Any) -> str:  # noqa: N802
        self._values.setdefault(key, value)
        return ""

    def MapSet(self, key: str, mk: str, value: Any) -> str:  # noqa: N802
        self._values.setdefault(key, {})[mk] = value
        return ""

    def MapSetX(self, key: str, mk: str, value: Any) -> str:  # noqa: N802
        self._values.setdefault(key, {}).setdefault(mk, value)
        return ""

    def MapValues(self, key: str) -> list[Any]:  # noqa: N802
        found = self._values.get(key, {})
        return [found[k] for k in sorted(found)] if isinstance(found, dict) else []


def helper_functions(now: Callable[[], dt.datetime]) -> dict[str, Callable[..., Any]]:
    """The helper functions, with a fresh ``scratch`` for this render."""
    pad = Scratch()
    return {
        "toJSON": to_json,
        "toJSONPretty": to_json_pretty,
        "parseJSON": parse_json,
        "toUpper": lambda s: _text(s).upper(),
        "toLower": lambda s: _text(s).lower(),
        "toTitle": lambda s: _text(s).title(),
        "split": split,
        "join": join,
        "replaceAll": replace_all,
        "regexMatch": regex_match,
        "regexReplaceAll": regex_replace_all,
        "contains": contains,
        "trimSpace": lambda s: _text(s).strip(" \t\n\r\v\f"),
        "base64Encode": base64_encode,
        "base64Decode": base64_decode,
        "sha256Hex": sha256_hex,
        "timestamp": make_timestamp(now),
        "scratch": lambda: pad,
    }
