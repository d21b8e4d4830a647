"""``gitorch node status|eligibility``."""

from __future__ import annotations

import click

from gitorch.cli.output import (
    Context,
    emit,
    emit_json,
    fields,
    pass_context,
    resolve,
    short,
    table,
    template_option,
    when,
)
from gitorch.core.model import NodeListStub


@click.group()
def node() -> None:
    """Inspect client nodes and mark them (in)eligible for placements."""


def find_node(ctx: Context, prefix: str) -> NodeListStub:
    stub: NodeListStub = resolve("node", prefix, ctx.client().list_nodes, lambda n: n.id)
    return stub


@node.command()
@click.argument("node_id", required=False)
@click.option("-verbose", "--verbose", is_flag=True, help="Full IDs, attributes and meta.")
@template_option
@pass_context
def status(ctx: Context, node_id: str | None, verbose: bool, template: str | None) -> None:
    """List nodes, or show one node (by ID or unique prefix) with its allocations."""
    client = ctx.client()
    ident = (lambda s: s) if verbose else short
    if node_id is None:
        stubs = client.list_nodes()
        if emit(ctx, stubs, template):
            return
        if not stubs:
            click.echo("No nodes registered")
        else:
            rows = [
                (ident(n.id), n.name, n.datacenter, n.node_class or "<none>", n.address,
                 n.scheduling_eligibility, n.drain, n.status)
                for n in stubs
            ]  # fmt: skip
            headers = ("ID", "Name", "DC", "Class", "Address", "Eligibility", "Drain", "Status")
            click.echo(table(headers, rows))
        return
    found = client.get_node(find_node(ctx, node_id).id)
    allocs, _ = client.node_allocations(found.id)
    if template:
        emit(ctx, found, template)
        return
    if ctx.json:
        emit_json({"Node": found, "Allocations": allocs})
        return
    drivers = ",".join(sorted(n for n, d in found.drivers.items() if d.detected and d.healthy))
    res = found.node_resources
    click.echo(
        fields(
            [
                ("ID", found.id),
                ("Name", found.name),
                ("Datacenter", found.datacenter),
                ("Class", found.node_class or "<none>"),
                ("HTTP Address", found.http_addr),
                ("Status", found.status),
                ("Eligibility", found.scheduling_eligibility),
                ("Drain", found.drain),
                ("Drivers", drivers or "<none>"),
                ("CPU", f"{res.cpu.cpu_shares} MHz"),
                ("Memory", f"{res.memory.memory_mb} MiB"),
                ("Status Updated", when(found.status_updated_at * 1_000_000_000)),
            ]
        )
    )
    if verbose:
        for title, values in (("Attributes", found.attributes), ("Meta", found.meta)):
            click.echo(f"\n{title}")
            click.echo(fields(sorted(values.items())) if values else "<none>")
    click.echo("\nAllocations")
    live = [a for a in allocs if not a.terminal()]
    if not live:
        click.echo("No running allocations")
        return
    alloc_rows = [
        (ident(a.id), a.job_id, a.task_group, a.desired_status, a.client_status) for a in live
    ]
    click.echo(table(("ID", "Job ID", "Task Group", "Desired", "Status"), alloc_rows))


@node.command()
@click.argument("node_id")
@click.option("-enable", "--enable", "enable", flag_value=True, default=None)
@click.option("-disable", "--disable", "enable", flag_value=False)
@pass_context
def eligibility(ctx: Context, node_id: str, enable: bool | None) -> None:
    """Mark a node eligible (-enable) or ineligible (-disable) for new placements."""
    if enable is None:
        raise click.UsageError("one of -enable or -disable is required")
    found = find_node(ctx, node_id)
    result = ctx.client().set_eligibility(found.id, enable)
    if ctx.json:
        emit_json(result)
        return
    state = "eligible" if enable else "ineligible"
    click.echo(f'Node "{short(found.id)}" scheduling eligibility set: {state}')
