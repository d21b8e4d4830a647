"""Go's notion of truth in templates (``if``, ``with``, ``and``, ``or``, ``not``)."""

from __future__ import annotations

from collections.abc import Mapping, Sized
from typing import Any

from gitorch.templating.gofmt import MISSING


def is_true(value: Any) -> bool:
    """False for the zero value of its type: false, 0, "", nil, an empty list or map."""
    if value is None or value is MISSING:
        return False
    if isinstance(value, bool | int | float | complex):
        return bool(value)
    if isinstance(value, str | bytes | Mapping | list | tuple | Sized):
        return len(value) > 0
    return True
