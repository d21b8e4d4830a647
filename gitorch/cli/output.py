"""What every command shares: the API client from the general options, tables for
people, JSON (``-json``) or a Go template (``-t``) for scripts, and IDs resolved by
prefix."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
import msgspec

from gitorch.api.client import Client
from gitorch.cli.options import TlsOptions, from_env
from gitorch.codec import to_builtins, to_json
from gitorch.templating import Template, TemplateError

T = TypeVar("T")
SHORT = 8  # characters of an ID shown in tables, as Nomad does


@dataclass
class Context:
    """The general options (``-address``, ``-token``, ``-namespace``, ``-region``, TLS,
    ``-json``) and the client they make."""

    address: str | None = None
    token: str | None = None
    json: bool = False
    namespace: str | None = None
    region: str | None = None
    tls: TlsOptions = field(default_factory=TlsOptions)
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(
                self.address or from_env("ADDR"),
                self.token or from_env("TOKEN"),
                namespace=self.namespace or from_env("NAMESPACE") or "default",
                region=self.region or from_env("REGION") or "",
                verify=self.tls.context(),
                server_name=self.tls.server_name or "",
            )
        return self._client


pass_context = click.make_pass_decorator(Context, ensure=True)


def call_json(ctx: Context, method: str, path: str, body: Any = None) -> Any:
    """One request's decoded JSON answer (None when the body is empty)."""
    resp = ctx.client().request(method, path, body=body)
    return msgspec.json.decode(resp.content) if resp.content.strip() else None


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON (Nomad's wire names)."""
    click.echo(msgspec.json.format(to_json(value), indent=2).decode())


def emit(ctx: Context, value: Any, template: str | None) -> bool:
    """Print ``value`` through the ``-t`` template or as ``-json``; False when neither was
    asked for (the caller prints its table)."""
    if template:
        click.echo(render_template(template, value), nl=False)
        return True
    if ctx.json:
        emit_json(value)
        return True
    return False


def render_template(text: str, value: Any) -> str:
    """``value`` (as its wire JSON: Nomad's field names) through a Go text/template."""
    try:
        return Template("-t", text).render(to_builtins(value))
    except TemplateError as exc:
        raise click.ClickException(f"the -t template failed: {exc}") from exc


def template_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Nomad's ``-t TEMPLATE``: format the output with a Go text/template."""
    return click.option("-t", "template", default=None, help="Format with a Go template.")(fn)


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
    """The one item whose ID starts with ``prefix`` (an exact match wins); several
    matches are an error that lists them, as Nomad's does."""
    found = list(lookup(prefix))
    exact = [item for item in found if key(item) == prefix]
    if exact:
        return exact[0]
    if not found:
        raise click.ClickException(f"No {kind} with prefix {prefix!r} found")
    if len(found) > 1:
        ids = "\n".join(f"  {key(item)}" for item in found[:20])
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        raise click.ClickException(
            f"Prefix {prefix!r} matched multiple {kind}s; give more of the ID:\n{ids}{more}"
        )
    return found[0]
