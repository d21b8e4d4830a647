"""Go-style durations ("15s", "1m30s", "2h", "500ms") to integer nanoseconds."""

from __future__ import annotations

import re
from decimal import Decimal

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """Nanoseconds in ``text``, as Go's ``time.ParseDuration``; ValueError if malformed."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    body = s.lstrip("+-") if s[:1] in "+-" else s
    if body == "0":
        return 0
    if not body:
        raise ValueError(f"invalid duration {text!r}")
    total, pos = Decimal(0), 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: write a number and a unit (ns, us, ms, s, m, h), "
                'as in "30s" or "1m30s"'
            )
        total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * int(total)


def format_duration(ns: int) -> str:
    """A short Go-style rendering of ``ns`` nanoseconds ("1m30s", "500ms", "0s")."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit in ("ms", "us", "ns"):
            if ns % _UNITS[unit] == 0:
                return f"{sign}{ns // _UNITS[unit]}{unit}"
    hours, rest = divmod(ns, _UNITS["h"])
    minutes, rest = divmod(rest, _UNITS["m"])
    seconds = Decimal(rest) / _UNITS["s"]
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{sign}{out}{seconds.normalize():f}s"
