"""Keeping values out of error messages: short excerpts, and no secrets at all.

While one file is processed (see :mod:`gitorch.jobspec.guard`), the values that must
never be repeated are collected here: every value of a ``sensitive = true`` variable,
every value from a var file or an override, and every value under a key that looks
secret (``password``, ``token``, ``secret``, ``key``, ...) in ``env``, ``meta`` or a
template. :func:`excerpt` renders a value for a message (scrubbed, then cut short) and
:func:`scrub` removes any collected secret from a finished message.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Iterator
from typing import Any

HIDDEN = "(hidden)"
EXCERPT_LENGTH = 48
_MIN_SECRET = 3  # shorter values ("1", "on") would hide ordinary words, not secrets
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private|credential|auth|"
    r"(^|[_-])key($|[_-])|cert|signature|cookie|session|dsn|salt",
    re.IGNORECASE,
)

_secrets: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "gitorch_jobspec_secrets", default=None
)


def looks_secret(key: str) -> bool:
    """True for a key whose value should never appear in a message (``DB_PASSWORD``)."""
    return bool(_SECRET_KEY.search(key))


@contextlib.contextmanager
def collecting() -> Iterator[set[str]]:
    """The set of secrets for the work inside the block (one file's processing); a block
    nested in another shares the outer one's set."""
    outer = _secrets.get()
    found: set[str] = set() if outer is None else outer
    token = _secrets.set(found)
    try:
        yield found
    finally:
        _secrets.reset(token)


def add_secret(value: Any) -> None:
    """Remember every string (and number) inside ``value`` as never to be shown."""
    found = _secrets.get()
    if found is None:
        return
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            text = str(item)
            if len(text.strip()) >= _MIN_SECRET:
                found.add(text)


def scrub(text: str, secrets: set[str] | None = None) -> str:
    """``text`` with every collected secret replaced by ``(hidden)``, longest first."""
    found = _secrets.get() if secrets is None else secrets
    for secret in sorted(found or (), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, HIDDEN)
    return text


def excerpt(value: Any, length: int = EXCERPT_LENGTH) -> str:
    """``repr(value)`` for a message: secrets hidden, then cut to about ``length`` chars."""
    text = _short_repr(value, length * 4)
    text = scrub(text)
    return cut(text, length)


def cut(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters, saying how much was left out."""
    if len(text) <= length:
        return text
    return f"{text[:length]}... ({len(text) - length} more characters)"


def _short_repr(value: Any, budget: int) -> str:
    """A repr that never builds more than about ``budget`` characters of a huge value."""
    if isinstance(value, str):
        return repr(value[:budget]) if len(value) > budget else repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > 128:
            return f"<a {value.bit_length()}-bit number>"
        return repr(value)
    if isinstance(value, (list, tuple)):
        parts, size = [], 0
        for item in value:
            if size > budget:
                parts.append("...")
                break
            part = _short_repr(item, budget - size)
            parts.append(part)
            size += len(part) + 2
        return "[" + ", ".join(parts) + "]"
    if isinstance(value, dict):
        parts, size = [], 0
        for key, item in value.items():
            if size > budget:
                parts.append("...")
                break
            part = f"{_short_repr(key, budget)}: {_short_repr(item, budget - size)}"
            parts.append(part)
            size += len(part) + 2
        return "{" + ", ".join(parts) + "}"
    return repr(value)[:budget]
