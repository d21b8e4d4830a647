"""HCL blocks as the docker driver's config receives them: a block arrives as a list
of dicts (one per occurrence), a map as a dict; both are accepted where Nomad accepts
either. Helpers to read them and to name what is wrong in them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def block(value: object) -> dict[str, Any] | None:
    """An HCL block or map as one dict (``[{...}, {...}]`` merged); None if not one."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        merged: dict[str, Any] = {}
        for item in value:
            merged.update(item)
        return merged
    return None


def blocks(value: object) -> list[dict[str, Any]] | None:
    """Repeated blocks (a list of dicts, or one dict) as a list; None if not that."""
    if isinstance(value, Mapping):
        return [dict(value)]
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        return [dict(v) for v in value]
    return None


def check_block(
    value: object, where: str, kinds: Mapping[str, type | tuple[type, ...]]
) -> list[str]:
    body = block(value)
    if body is None:
        return [f"{where}: must be a block of key = value settings"]
    problems = []
    for key, item in body.items():
        kind = kinds.get(key)
        if kind is None:
            problems.append(f"{where}.{key}: unknown field (known: {', '.join(sorted(kinds))})")
        elif not isinstance(item, kind):
            problems.append(f"{where}.{key}: must be a {getattr(kind, '__name__', 'value')}")
    return problems
