"""``gitorch namespace list|status|apply|delete``: Nomad's namespace commands over
``/v1/namespaces`` and ``/v1/namespace/:name``. A namespace also exists, undeclared,
while a job, service or variable lives in it (see docs/http-api.md)."""

from __future__ import annotations

from typing import Any

import click

from gitorch.api.client import ApiError
from gitorch.cli.output import Context, call_json, emit_json, pass_context, table


@click.group()
def namespace() -> None:
    """List, inspect, declare and delete namespaces."""


@namespace.command("list")
@pass_context
def list_namespaces(ctx: Context) -> None:
    """Every namespace: declared, or in use by a job, service or variable."""
    found = call_json(ctx, "GET", "/v1/namespaces") or []
    if ctx.json:
        emit_json(found)
        return
    click.echo(table(("Name", "Description"), [(n["Name"], n["Description"]) for n in found]))


@namespace.command("status")
@click.argument("name")
@pass_context
def status(ctx: Context, name: str) -> None:
    """One namespace's description and meta."""
    found = call_json(ctx, "GET", f"/v1/namespace/{name}")
    if ctx.json:
        emit_json(found)
        return
    rows = [("Name", found["Name"]), ("Description", found["Description"])]
    rows += [(f"Meta {k}", v) for k, v in sorted((found.get("Meta") or {}).items())]
    click.echo(table(("Field", "Value"), rows))


@namespace.command("apply")
@click.argument("name")
@click.option("-description", "--description", default=None, help="What the namespace is for.")
@click.option("-meta", "--meta", multiple=True, help="key=value, repeatable (replaces the meta).")
@pass_context
def apply(ctx: Context, name: str, description: str | None, meta: tuple[str, ...]) -> None:
    """Declare NAME, or change its description or meta (a management token)."""
    body: dict[str, Any] = {"Name": name}
    if description is not None:
        body["Description"] = description
    if meta:
        pairs = [m.partition("=") for m in meta]
        if any(not key or not sep for key, sep, _ in pairs):
            raise click.BadParameter("each -meta is key=value", param_hint="-meta")
        body["Meta"] = {key: value for key, _, value in pairs}
    if description is None or not meta:  # keep what is not given, as Nomad's apply
        try:
            old = call_json(ctx, "GET", f"/v1/namespace/{name}") or {}
        except ApiError as exc:
            if exc.status != 404:
                raise
            old = {}
        body.setdefault("Description", old.get("Description", ""))
        body.setdefault("Meta", old.get("Meta") or {})
    call_json(ctx, "POST", f"/v1/namespace/{name}", body)
    click.echo(f'Successfully applied namespace "{name}"!')


@namespace.command("delete")
@click.argument("name")
@pass_context
def delete(ctx: Context, name: str) -> None:
    """Delete NAME; refused while jobs that are not dead or variables remain in it."""
    call_json(ctx, "DELETE", f"/v1/namespace/{name}")
    click.echo(f'Successfully deleted namespace "{name}"!')
