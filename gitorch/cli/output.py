"""What every command shares: the API client from the global options, tables for
people, JSON for scripts, and short IDs resolved by prefix."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import msgspec

from gitorch.api.client import Client
from gitorch.codec import to_json

T = TypeVar("T")
SHORT = 8  # characters of an ID shown in tables, as Nomad does


@dataclass
class Context:
    """The global options (``--address``, ``--token``, ``--json``) and the client they make."""

    address: str | None = None
    token: str | None = None
    json: bool = False
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.address, self.token)
        return self._client


pass_context = click.make_pass_decorator(Context, ensure=True)


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON (Nomad's wire names)."""
    click.echo(msgspec.json.format(to_json(value), indent=2).decode())


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, as ``nomad`` prints them."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, object]]) -> str:
    """``Key = value`` lines with the ``=`` aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k.ljust(width)} = {v}" for k, v in pairs)


def short(ident: str) -> str:
    return ident[:SHORT]


def when(ns: int) -> str:
    """A unix-nanosecond time as local ``YYYY-MM-DDTHH:MM:SS`` ("<none>" for 0)."""
    if not ns:
        return "<none>"
    moment = datetime.datetime.fromtimestamp(ns / 1e9).astimezone()
    return moment.isoformat(timespec="seconds")


def resolve(
    kind: str, prefix: str, lookup: Callable[[str], Sequence[T]], key: Callable[[T], str]
) -> T:
    """The one item whose ID starts with ``prefix`` (an exact match wins)."""
    found = list(lookup(prefix))
    exact = [item for item in found if key(item) == prefix]
    if exact:
        return exact[0]
    if not found:
        raise click.ClickException(f"No {kind} with prefix {prefix!r} found")
    if len(found) > 1:
        ids = ", ".join(key(item) for item in found[:10])
        raise click.ClickException(f"Prefix {prefix!r} matched several {kind}s: {ids}")
    return found[0]
