"""``gitorch node drain -enable|-disable [-deadline D] [-force] [-no-deadline]
[-ignore-system] [-keep-ineligible] [-yes] <node>``, as ``nomad node drain``."""

from __future__ import annotations

import click

from gitorch.cli.output import Context, emit_json, pass_context, resolve, short
from gitorch.core.model import NodeListStub
from gitorch.core.model.drain import DrainSpec
from gitorch.jobspec.durations import parse_duration

DEFAULT_DEADLINE = "1h"  # Nomad's


@click.command()
@click.argument("node_id")
@click.option("-enable", "--enable", "enable", flag_value=True, default=None)
@click.option("-disable", "--disable", "enable", flag_value=False)
@click.option("-deadline", "--deadline", default=DEFAULT_DEADLINE, show_default=True,
              help="After this long, allocations still on the node are stopped.")
@click.option("-force", "--force", is_flag=True, help="Stop every allocation at once.")
@click.option("-no-deadline", "--no-deadline", "no_deadline", is_flag=True,
              help="Never stop allocations that cannot migrate.")
@click.option("-ignore-system", "--ignore-system", "ignore_system", is_flag=True,
              help="Leave system job allocations running on the node.")
@click.option("-keep-ineligible", "--keep-ineligible", "keep_ineligible", is_flag=True,
              help="With -disable: leave the node ineligible for placements.")
@click.option("-yes", "--yes", "yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def drain(
    ctx: Context,
    node_id: str,
    enable: bool | None,
    deadline: str,
    force: bool,
    no_deadline: bool,
    ignore_system: bool,
    keep_ineligible: bool,
    yes: bool,
) -> None:  # fmt: skip
    """Move a node's allocations elsewhere (-enable), or stop doing so (-disable)."""
    if enable is None:
        raise click.UsageError("one of -enable or -disable is required")
    if force and no_deadline:
        raise click.UsageError("-force and -no-deadline cannot be used together")
    stub: NodeListStub = resolve("node", node_id, ctx.client().list_nodes, lambda n: n.id)
    spec: DrainSpec | None = None
    if enable:
        try:
            ns = -1 if force else 0 if no_deadline else parse_duration(deadline)
        except ValueError as exc:
            raise click.UsageError(f"-deadline: {exc}") from exc
        if ns <= 0 and not force and not no_deadline:
            raise click.UsageError("-deadline must be positive (use -force or -no-deadline)")
        spec = DrainSpec(deadline=ns, ignore_system_jobs=ignore_system)
    verb = "enable" if enable else "disable"
    if not yes and not click.confirm(
        f'Are you sure you want to {verb} drain mode for node "{short(stub.id)}" ({stub.name})?'
    ):
        raise click.Abort()
    eligible = not enable and not keep_ineligible
    result = ctx.client().drain_node(stub.id, spec, mark_eligible=eligible)
    if ctx.json:
        emit_json(result)
        return
    state = "set" if enable else "unset"
    click.echo(f'Node "{short(stub.id)}" drain strategy {state}')
