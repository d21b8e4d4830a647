"""``gitorch service list|info|delete``: Nomad's native service discovery."""

from __future__ import annotations

from typing import Any

import click

from gitorch.cli.output import Context, emit, fields, pass_context, table, template_option


@click.group()
def service() -> None:
    """Inspect and delete service registrations (provider = "nomad")."""


@service.command("list")
@template_option
@pass_context
def list_services(ctx: Context, template: str | None) -> None:
    """List the registered services of the namespace, with their tags."""
    found: list[dict[str, Any]] = ctx.client().list_services()
    if emit(ctx, found, template):
        return
    rows = [
        (s["ServiceName"], f"[{','.join(s.get('Tags') or [])}]")
        for ns in found
        for s in ns.get("Services") or []
    ]
    if not rows:
        click.echo("No service registrations found")
        return
    click.echo(table(("Service Name", "Tags"), rows))


@service.command()
@click.argument("name")
@click.option("-verbose", "--verbose", is_flag=True, help="Show every field of each instance.")
@template_option
@pass_context
def info(ctx: Context, name: str, verbose: bool, template: str | None) -> None:
    """List the instances of service NAME (address, port, node, allocation)."""
    found = ctx.client().get_service(name)
    if emit(ctx, found, template):
        return
    if not found:
        click.echo(f"No service registrations found for {name!r}")
        return
    if verbose:
        for i, reg in enumerate(found):
            if i:
                click.echo()
            click.echo(
                fields(
                    [
                        ("ID", reg.id),
                        ("Service Name", reg.service_name),
                        ("Namespace", reg.namespace),
                        ("Job ID", reg.job_id),
                        ("Alloc ID", reg.alloc_id),
                        ("Node ID", reg.node_id),
                        ("Datacenter", reg.datacenter),
                        ("Address", f"{reg.address}:{reg.port}"),
                        ("Tags", f"[{','.join(reg.tags)}]"),
                    ]
                )
            )
        return
    rows = [
        (r.job_id, f"{r.address}:{r.port}", f"[{','.join(r.tags)}]", r.node_id[:8], r.alloc_id[:8])
        for r in found
    ]
    click.echo(table(("Job ID", "Address", "Tags", "Node ID", "Alloc ID"), rows))


@service.command()
@click.argument("name")
@click.argument("registration_id")
@pass_context
def delete(ctx: Context, name: str, registration_id: str) -> None:
    """Delete one registration of service NAME (a running task registers it again)."""
    ctx.client().delete_service(name, registration_id)
    click.echo(f'Successfully deleted service registration "{registration_id}"')
