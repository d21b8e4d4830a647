"""Typed, located access to the blocks of a resolved HCL body, for the decoder.

A :class:`BlockReader` reads one block's attributes as typed values, records where each
was (for error messages and for :mod:`gitorch.jobspec.validate`), collects problems
and warnings instead of stopping at the first, and at the end reports every attribute
and block of :data:`~gitorch.jobspec.unsupported.UNSUPPORTED` (a warning or an error, as
the table says) and every other one it was not asked for (an error with a "did you
mean" hint).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from gitorch.errors import JobspecError
from gitorch.jobspec.durations import parse_duration
from gitorch.jobspec.hcl import Attribute, Block, Body
from gitorch.jobspec.redact import add_secret, excerpt, looks_secret
from gitorch.jobspec.unsupported import UNSUPPORTED, Unsupported, harmless, message
from gitorch.jobspec.warnings import JobspecWarning

T = TypeVar("T")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SECRET_MAPS = ("env", "meta", "config")
"""Maps whose values under a secret-looking key (``DB_PASSWORD``) are never shown."""


class BlockReader:
    """Typed, located access to one block's body; remembers what the decoder asked for."""

    def __init__(self, problems: list[JobspecError], lines: dict[str, int], file: str,
                 kind: str, path: str, body: Body,
                 warnings: list[JobspecWarning] | None = None,
                 table: Mapping[str, Unsupported] = UNSUPPORTED) -> None:  # fmt: skip
        self.problems, self.lines, self.file = problems, lines, file
        self.kind, self.path, self.body = kind, path, body
        self.warnings: list[JobspecWarning] = [] if warnings is None else warnings
        self.table = table
        self.asked: set[str] = set()

    def error(self, message: str, line: int) -> None:
        self.problems.append(JobspecError(message, file=self.file, line=line, path=self.path))

    def warn(self, message: str, line: int) -> None:
        """A located warning: the job runs, and gitorch says what it does instead."""
        found = JobspecWarning(message=message, file=self.file, line=line, path=self.path)
        self.warnings.append(found)

    def child(self, block: Block, labels: int = 0, index: int = 0) -> BlockReader | None:
        if len(block.labels) != labels:
            want = f'one label: {block.type} "name" {{ ... }}' if labels else "no label"
            self.error(f'a "{block.type}" block takes {want}', block.line)
            return None
        name = f'{block.type} "{block.labels[0]}"' if labels else block.type
        path = f"{self.path} > {name}" if self.path else name
        self.lines.setdefault(path, block.line)
        self.lines[f"{path}#{index}"] = block.line
        return BlockReader(self.problems, self.lines, self.file, block.type, path,
                           block.body, self.warnings, self.table)  # fmt: skip

    def _get(self, name: str) -> Attribute | None:
        self.asked.add(name)
        attr = self.body.attributes.get(name)
        if attr is not None:
            self.lines[f"{self.path}.{name}"] = attr.line
        return None if attr is None or attr.value is None else attr

    def _as(self, name: str, default: T, convert: Callable[[Any], T]) -> T:
        attr = self._get(name)
        if attr is None:
            return default
        try:
            return convert(attr.value)
        except ValueError as exc:
            self.error(f'"{name}": {exc}', attr.line)
            return default

    def string(self, name: str, default: str = "") -> str:
        return self._as(name, default, _to_str)

    def integer(self, name: str, default: int) -> int:
        return self._as(name, default, _to_int)

    def boolean(self, name: str, default: bool = False) -> bool:
        return self._as(name, default, _to_bool)

    def duration(self, name: str, default: int) -> int:
        return self._as(name, default, _to_duration)

    def strings(self, name: str) -> list[str]:
        return self._as(name, [], _to_strings)

    def mapping(self, name: str) -> dict[str, Any] | None:
        """``name = { ... }`` or one ``name { ... }`` block, as a plain dict.

        In ``env``, ``meta`` and ``config``, values under secret-looking keys are
        remembered as secrets (see :mod:`gitorch.jobspec.redact`).
        """
        found = self._mapping(name)
        if found is not None and name in SECRET_MAPS:
            add_secret([v for k, v in found.items() if looks_secret(str(k))])
        return found

    def _mapping(self, name: str) -> dict[str, Any] | None:
        attr, blocks = self._get(name), self.body.blocks_of(name)
        if attr is not None and not isinstance(attr.value, dict):
            self.error(f'"{name}": expected a map, as in {name} = {{ key = value }}', attr.line)
        for extra in [b for b in blocks if b.labels] + blocks[1:]:
            self.error(f'use one "{name}" block, without a label', extra.line)
        if attr is not None:
            return attr.value if isinstance(attr.value, dict) else None
        if not blocks:
            return None
        self.lines[f"{self.path}.{name}"] = blocks[0].line
        return blocks[0].body.to_dict()

    def string_map(self, name: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in (self.mapping(name) or {}).items():
            if _scalar(value):
                out[key] = _text(value)
            elif looks_secret(key):
                msg = f'"{name}.{excerpt(key)[1:-1]}": expected a string (the value is not shown)'
                self.error(msg, self._line(name))
            else:
                msg = f'"{name}.{excerpt(key)[1:-1]}": expected a string, got {excerpt(value)}'
                self.error(msg, self._line(name))
        return out

    def _line(self, name: str) -> int:
        attr, blocks = self.body.attributes.get(name), self.body.blocks_of(name)
        return attr.line if attr else blocks[0].line if blocks else self.body.line

    def blocks(self, name: str) -> list[Block]:
        self.asked.add(name)
        attr = self.body.attributes.get(name)
        if attr is not None:
            self.error(f'"{name}" is a block: write {name} {{ ... }}, without "="', attr.line)
        return self.body.blocks_of(name)

    def finish(self) -> None:
        """Report each name of the unsupported table this block sets (a warning or an
        error, as the table says) and every other name the decoder did not ask for."""
        prefix = self.kind + "."
        listed = {k.removeprefix(prefix) for k in self.table if k.startswith(prefix)}
        known = sorted(self.asked | listed)
        items: list[tuple[str, int, str, Any]] = [
            (a.name, a.line, "attribute", a.value) for a in self.body.attributes.values()
        ]
        items += [(b.type, b.line, "block", _BLOCK) for b in self.body.blocks]
        reported: set[str] = set()
        for name, line, what, value in items:
            entry = self.table.get(prefix + name)
            # a name the decoder reads is listed only for the values it cannot honour
            applies = entry is not None and (name not in self.asked or bool(entry.harmless))
            if entry is not None and applies and not harmless(entry, value):
                if name not in reported:  # several blocks of one name: said once
                    reported.add(name)
                    if entry.severity == "warning":
                        self.warn(message(name, entry), line)
                    else:
                        self.error(message(name, entry), line)
            if name in self.asked or entry is not None:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.error(f'unknown {what} "{name}"{hint}', line)


_BLOCK = object()  # a block is set by being there, whatever it holds


def each(r: BlockReader, name: str, labels: int, fn: Callable[[BlockReader, str], T]) -> list[T]:
    """``fn(reader, label)`` for every ``name`` block of ``r``, each checked when done."""
    out: list[T] = []
    for index, block in enumerate(r.blocks(name)):
        c = r.child(block, labels, index)
        if c is not None:
            out.append(fn(c, block.labels[0] if labels else ""))
            c.finish()
    return out


def one(r: BlockReader, name: str, default: T, fn: Callable[[BlockReader, str], T]) -> T:
    """``fn`` of the one ``name`` block of ``r``, or ``default`` when there is none."""
    found = each(r, name, 0, fn)
    if len(found) > 1:
        r.error(f'only one "{name}" block is allowed', r.body.blocks_of(name)[1].line)
    return found[0] if found else default


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _to_str(value: Any) -> str:
    if _scalar(value):
        return _text(value)
    raise ValueError(f"expected a string, got {excerpt(value)}")


def _to_int(value: Any) -> int:
    """A whole number that fits Nomad's int64 fields."""
    number: int | None = None
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 40:
        number = int(value)
    if number is None:
        raise ValueError(f"expected a whole number, got {excerpt(value)}")
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"{excerpt(number)} is out of range (a 64-bit whole number)")
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ValueError(f"expected true or false, got {excerpt(value)}")


def _to_duration(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        ns = value  # a number is nanoseconds, as in Nomad
    elif isinstance(value, str) and len(value) <= 64:
        ns = parse_duration(value)
    else:
        raise ValueError(f'expected a duration such as "30s", got {excerpt(value)}')
    if not INT64_MIN <= ns <= INT64_MAX:
        raise ValueError(f"the duration {excerpt(value)} is out of range (about 292 years)")
    return ns


def _to_strings(value: Any) -> list[str]:
    if isinstance(value, list) and all(_scalar(v) for v in value):
        return [_text(v) for v in value]
    raise ValueError(f'expected a list of strings, as in ["a", "b"], got {excerpt(value)}')
