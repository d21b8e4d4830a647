"""``gitorch var get|put|list|purge`` (Nomad Variables) and ``gitorch operator root
keyring list|rotate``.

``var put`` takes ``KEY=VALUE`` items (``KEY=@FILE`` reads a file) and
``-check-index N`` for check-and-set (0: only create). Paths are sent with their dots
percent-encoded, so the server judges the path as typed (``a/../b`` is refused there,
not silently resolved by the HTTP client). A conflict never prints the items.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import click
import msgspec

from gitorch.api.client import ApiError
from gitorch.cli.output import Context, emit, fields, pass_context, table, template_option, when


def var_url(path: str) -> str:
    quoted = urllib.parse.quote(path, safe="/")
    return "/v1/var/" + quoted.replace(".", "%2E")


def _call(ctx: Context, method: str, path: str, **params: str | int) -> Any:
    try:
        resp = ctx.client().request(method, path, params=params or None)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None
    return msgspec.json.decode(resp.content) if resp.content.strip() else None


def _items(pairs: tuple[str, ...]) -> dict[str, str]:
    items: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.UsageError(f"expected KEY=VALUE, got an item without '=' ({key!r})")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).read_text()
            except OSError as exc:
                raise click.UsageError(f"item {key}: cannot read {value[1:]}: {exc}") from None
        items[key] = value
    return items


def _meta(v: dict[str, Any]) -> str:
    return fields(
        [
            ("Namespace", v.get("Namespace", "")),
            ("Path", v.get("Path", "")),
            ("Create Time", when(int(v.get("CreateTime", 0)))),
            ("Check Index", v.get("ModifyIndex", 0)),
        ]
    )


@click.group("var")
def var() -> None:
    """Read and write Nomad Variables (encrypted secrets under a path)."""


@var.command("get")
@click.argument("path")
@click.option("-item", "--item", default="", help="Print only this item's value.")
@template_option
@pass_context
def get(ctx: Context, path: str, item: str, template: str | None) -> None:
    """Show the variable at PATH with its items."""
    found = _call(ctx, "GET", var_url(path))
    if item:
        items = found.get("Items") or {}
        if item not in items:
            raise click.ClickException(f"variable {path!r} has no item {item!r}")
        click.echo(items[item])
        return
    if emit(ctx, found, template):
        return
    click.echo(_meta(found))
    click.echo("\nItems")
    click.echo(fields(sorted((k, v) for k, v in (found.get("Items") or {}).items())))


@var.command("put")
@click.argument("path")
@click.argument("items", nargs=-1)
@click.option(
    "-check-index", "--check-index", "--cas", "cas", type=int, default=None,
    help="Write only if the variable's modify index is this (0: only if it does not exist).",
)  # fmt: skip
@template_option
@pass_context
def put(
    ctx: Context, path: str, items: tuple[str, ...], cas: int | None, template: str | None
) -> None:
    """Write the variable at PATH with KEY=VALUE items (KEY=@FILE reads a file)."""
    body = {"Namespace": ctx.client().namespace, "Path": path, "Items": _items(items)}
    params: dict[str, str | int] = {} if cas is None else {"cas": cas}
    try:
        resp = ctx.client().request("PUT", var_url(path), params=params, body=body)
    except ApiError as exc:
        if exc.status == 409:
            raise click.ClickException(_conflict(path, exc.message, cas)) from None
        raise click.ClickException(str(exc)) from None
    stored = msgspec.json.decode(resp.content)
    if emit(ctx, stored, template):
        return
    click.echo(f"Created variable {path!r} with modify index {stored.get('ModifyIndex', 0)}")


def _conflict(path: str, body: str, cas: int | None) -> str:
    try:
        current = msgspec.json.decode(body)
        index = int(current.get("ModifyIndex", 0)) if isinstance(current, dict) else 0
    except msgspec.DecodeError:
        index = 0
    if not index:
        return f"Check-and-Set conflict: variable {path!r} does not exist (check index {cas})"
    return (
        f"Check-and-Set conflict: variable {path!r} is at modify index {index}, "
        f"not {cas} [HTTP 409]"
    )


@var.command("list")
@click.argument("prefix", default="")
@template_option
@pass_context
def list_vars(ctx: Context, prefix: str, template: str | None) -> None:
    """List variables (metadata only) whose path starts with PREFIX."""
    found = _call(ctx, "GET", "/v1/vars", prefix=prefix)
    if emit(ctx, found, template):
        return
    if not found:
        click.echo("No variables found")
        return
    rows = [(v["Namespace"], v["Path"], when(int(v.get("ModifyTime", 0)))) for v in found]
    click.echo(table(("Namespace", "Path", "Last Updated"), rows))


@var.command("purge")
@click.argument("path")
@click.option(
    "-check-index", "--check-index", "--cas", "cas", type=int, default=None,
    help="Delete only if the variable's modify index is this.",
)  # fmt: skip
@pass_context
def purge(ctx: Context, path: str, cas: int | None) -> None:
    """Delete the variable at PATH."""
    params: dict[str, str | int] = {} if cas is None else {"cas": cas}
    try:
        ctx.client().request("DELETE", var_url(path), params=params)
    except ApiError as exc:
        if exc.status == 409:
            raise click.ClickException(_conflict(path, exc.message, cas)) from None
        raise click.ClickException(str(exc)) from None
    click.echo(f"Successfully purged variable {path!r}")


@click.group("root")
def root() -> None:
    """The servers' root keyring (encrypts variables, signs workload identities)."""


@root.group("keyring")
def keyring() -> None:
    """List and rotate root keys."""


@keyring.command("list")
@template_option
@pass_context
def keyring_list(ctx: Context, template: str | None) -> None:
    """List the root keys (metadata; key material never leaves the servers)."""
    found = _call(ctx, "GET", "/v1/operator/keyring/keys")
    if emit(ctx, found, template):
        return
    rows = [(k["KeyID"], k["State"], when(int(k.get("CreateTime", 0)))) for k in found]
    click.echo(table(("Key", "State", "Create Time"), rows))


@keyring.command("rotate")
@pass_context
def keyring_rotate(ctx: Context) -> None:
    """Make a new active root key; older keys stay to read what they sealed."""
    found = _call(ctx, "PUT", "/v1/operator/keyring/rotate")
    key = found.get("Key") or {}
    click.echo(table(("Key", "State", "Create Time"),
                     [(key.get("KeyID", ""), key.get("State", ""),
                       when(int(key.get("CreateTime", 0))))]))  # fmt: skip
