"""``gitorch acl``: bootstrap, policies and tokens, as ``nomad acl``.

The token comes from the global ``-token`` option, or ``NOMAD_TOKEN`` / ``GITORCH_TOKEN``
(through the API client). Secrets are printed only by the commands that create them
(``bootstrap``, ``token create``) and by ``token self``, as Nomad does.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gitorch.cli.output import Context, call_json, emit_json, fields, pass_context, table


def _token_fields(token: dict[str, Any]) -> str:
    return fields(
        [
            ("Accessor ID", token.get("AccessorID", "")),
            ("Secret ID", token.get("SecretID") or "<hidden>"),
            ("Name", token.get("Name", "")),
            ("Type", token.get("Type", "")),
            ("Global", str(token.get("Global", False)).lower()),
            ("Create Time", token.get("CreateTime", "")),
            ("Expiry Time", token.get("ExpirationTime") or "<none>"),
            ("Policies", ", ".join(token.get("Policies") or []) or "n/a"),
            ("Roles", ", ".join(r.get("Name", "") for r in token.get("Roles") or []) or "n/a"),
        ]
    )


def _show(ctx: Context, value: Any, as_json: bool, text: str) -> None:
    if as_json or ctx.json:
        emit_json(value)
    else:
        click.echo(text)


@click.group()
def acl() -> None:
    """Bootstrap ACLs and manage policies and tokens."""


@acl.command()
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def bootstrap(ctx: Context, as_json: bool) -> None:
    """Create the first management token (once per cluster)."""
    token = call_json(ctx, "POST", "/v1/acl/bootstrap")
    _show(ctx, token, as_json, _token_fields(token))


@acl.group()
def policy() -> None:
    """Manage ACL policies."""


@policy.command("apply")
@click.option("-description", "--description", default="", help="A description.")
@click.argument("name")
@click.argument("path", type=click.Path(allow_dash=True, dir_okay=False))
@pass_context
def policy_apply(ctx: Context, description: str, name: str, path: str) -> None:
    """Create or update policy NAME from the rules in PATH (``-`` for stdin)."""
    if path == "-":
        rules = sys.stdin.read()
    else:
        try:
            with open(path, encoding="utf-8") as f:
                rules = f.read()
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    body = {"Name": name, "Description": description, "Rules": rules}
    call_json(ctx, "POST", f"/v1/acl/policy/{name}", body)
    click.echo(f"Successfully wrote {name!r} ACL policy!")


@policy.command("list")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def policy_list(ctx: Context, as_json: bool) -> None:
    """List the policies the token may see."""
    found = call_json(ctx, "GET", "/v1/acl/policies")
    rows = [(p["Name"], p.get("Description", "")) for p in found]
    _show(
        ctx, found, as_json, table(("Name", "Description"), rows) if rows else "No policies found"
    )


@policy.command("info")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("name")
@pass_context
def policy_info(ctx: Context, as_json: bool, name: str) -> None:
    """Show a policy and its rules."""
    p = call_json(ctx, "GET", f"/v1/acl/policy/{name}")
    text = fields([("Name", p["Name"]), ("Description", p.get("Description", ""))])
    _show(ctx, p, as_json, f"{text}\n\nRules\n\n{p.get('Rules', '')}")


@policy.command("delete")
@click.argument("name")
@pass_context
def policy_delete(ctx: Context, name: str) -> None:
    """Delete a policy."""
    call_json(ctx, "DELETE", f"/v1/acl/policy/{name}")
    click.echo(f"Successfully deleted {name!r} ACL policy!")


@acl.group()
def token() -> None:
    """Manage ACL tokens."""


@token.command("create")
@click.option("-name", "--name", default="", help="A name for the token.")
@click.option(
    "-type", "--type", "kind", default="client", type=click.Choice(["client", "management"])
)
@click.option("-policy", "--policy", "policies", multiple=True, help="A policy (repeatable).")
@click.option("-role-name", "--role-name", "roles", multiple=True, help="A role (repeatable).")
@click.option("-global", "--global", "global_", is_flag=True, help="Replicate to all regions.")
@click.option("-ttl", "--ttl", default="", help="Expiry after this long, e.g. 8h or 30m.")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def token_create(
    ctx: Context,
    name: str,
    kind: str,
    policies: tuple[str, ...],
    roles: tuple[str, ...],
    global_: bool,
    ttl: str,
    as_json: bool,
) -> None:
    """Create a token; its secret is printed once."""
    body: dict[str, Any] = {
        "Name": name,
        "Type": kind,
        "Policies": list(policies),
        "Roles": [{"Name": r} for r in roles],
        "Global": global_,
    }
    if ttl:
        body["ExpirationTTL"] = _duration_ns(ttl)
    created = call_json(ctx, "POST", "/v1/acl/token", body)
    _show(ctx, created, as_json, _token_fields(created))


@token.command("list")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def token_list(ctx: Context, as_json: bool) -> None:
    """List tokens (accessor IDs only; secrets are never listed)."""
    found = call_json(ctx, "GET", "/v1/acl/tokens")
    rows = [
        (t.get("Name", ""), t["Type"], str(t.get("Global", False)).lower(), t["AccessorID"],
         t.get("ExpirationTime") or "<none>")
        for t in found
    ]  # fmt: skip
    headers = ("Name", "Type", "Global", "Accessor ID", "Expiration Time")
    _show(ctx, found, as_json, table(headers, rows))


@token.command("info")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("accessor_id")
@pass_context
def token_info(ctx: Context, as_json: bool, accessor_id: str) -> None:
    """Show a token by accessor ID."""
    found = call_json(ctx, "GET", f"/v1/acl/token/{accessor_id}")
    _show(ctx, found, as_json, _token_fields(found))


@token.command("self")
@click.option("-json", "--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def token_self(ctx: Context, as_json: bool) -> None:
    """Show the token this command runs with."""
    found = call_json(ctx, "GET", "/v1/acl/token/self")
    _show(ctx, found, as_json, _token_fields(found))


@token.command("delete")
@click.argument("accessor_id")
@pass_context
def token_delete(ctx: Context, accessor_id: str) -> None:
    """Delete a token by accessor ID."""
    call_json(ctx, "DELETE", f"/v1/acl/token/{accessor_id}")
    click.echo(f"Token {accessor_id} successfully deleted")


_UNITS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _duration_ns(text: str) -> int:
    """A Go duration (``8h``, ``1h30m``, ``90s``) in nanoseconds."""
    total, number = 0, ""
    rest = text.strip()
    while rest:
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = next((u for u in ("ns", "us", "ms", "h", "m", "s") if rest.startswith(u)), "")
        if not number or not unit:
            raise click.BadParameter(
                f"{text!r} is not a duration such as 30m or 8h", param_hint="-ttl"
            )
        total += int(float(number) * _UNITS[unit])
        number, rest = "", rest[len(unit) :]
    if total <= 0:
        raise click.BadParameter("must be more than zero", param_hint="-ttl")
    return total
