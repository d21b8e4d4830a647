"""Attribute values with units, as device plugins report them ("11 GiB", "1.5 GHz").

Device attributes are strings in gitorch's model; constraints and affinities on them
compare by meaning, as Nomad's typed attributes do:

- two numbers, with or without a unit, compare by value once scaled to the base unit of
  their family (``2048 MiB`` equals ``2 GiB``); numbers of different families, or a
  number with a unit against one without, are not comparable;
- otherwise two versions (``470.82.01`` against ``470.5``, ``v1.2.3-beta``) compare
  segment by segment;
- otherwise two strings compare as text; a number against a string does not compare.
"""

from __future__ import annotations

import re

from gitorch.core.scheduler.feasible import compare_versions, parse_version

Quantity = tuple[float, str]  # (value in the family's base unit, family; "" for none)

_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z/]*)\s*")


def _scaled(family: str, base: str, prefixes: dict[str, float]) -> dict[str, Quantity]:
    return {prefix + base: (factor, family) for prefix, factor in prefixes.items()}


_SI = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_IEC = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
UNITS: dict[str, Quantity] = {
    **_scaled("bytes", "B", _SI | _IEC),
    **_scaled("bytes/s", "B/s", _SI | _IEC),
    **_scaled("bits/s", "bps", _SI),
    **_scaled("hertz", "Hz", _SI),
    **_scaled("watts", "W", {**_SI, "m": 1e-3}),
    **_scaled("amperes", "A", {"": 1.0, "m": 1e-3}),
    **_scaled("celsius", "C", {"": 1.0}),
}
"""Unit -> (multiplier to the base unit, family): decimal (KB = 1000 B) and binary
(KiB = 1024 B) byte sizes and rates, bit rates, hertz, watts, amperes, degrees."""


def parse_quantity(text: str) -> Quantity | None:
    """``"1.5 GHz"`` -> ``(1.5e9, "hertz")``; ``"4"`` -> ``(4.0, "")``; None otherwise."""
    m = _NUMBER.fullmatch(text)
    if m is None:
        return None
    unit = m[2]
    if not unit:
        return float(m[1]), ""
    scale = UNITS.get(unit)
    if scale is None:
        return None
    return float(m[1]) * scale[0], scale[1]


def compare(left: str, right: str) -> int | None:
    """-1, 0 or 1 as ``left`` orders against ``right`` (see the module docstring), or
    None when the two cannot be compared."""
    lq, rq = parse_quantity(left), parse_quantity(right)
    if lq is not None and rq is not None:
        if lq[1] != rq[1]:
            return None
        return (lq[0] > rq[0]) - (lq[0] < rq[0])
    lv, rv = parse_version(left, strict=False), parse_version(right, strict=False)
    if lv is not None and rv is not None:
        return compare_versions(lv, rv)
    if lq is not None or rq is not None:
        return None
    return (left > right) - (left < right)
