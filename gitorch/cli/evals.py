"""``gitorch eval list|status``."""

from __future__ import annotations

import click

from gitorch.cli.output import (
    Context,
    emit,
    fields,
    pass_context,
    resolve,
    short,
    table,
    template_option,
    when,
)
from gitorch.core.model import Evaluation


@click.group("eval")
def evals() -> None:
    """Inspect evaluations: the scheduler's units of work."""


def find_eval(ctx: Context, prefix: str) -> Evaluation:
    client = ctx.client()
    found: Evaluation = resolve("evaluation", prefix, client.list_evaluations, lambda e: e.id)
    return found


@evals.command("list")
@click.option("-job", "--job", "job_id", default="", help="Only this job's evaluations.")
@click.option("-status", "--status", "status", default="", help="Only evaluations in this status.")
@click.option("-verbose", "--verbose", is_flag=True, help="Show full IDs.")
@template_option
@pass_context
def list_evals(ctx: Context, job_id: str, status: str, verbose: bool, template: str | None) -> None:
    """List evaluations, newest first."""
    found = ctx.client().list_evaluations(job=job_id)
    found = [e for e in found if not status or e.status == status]
    found.sort(key=lambda e: -e.create_index)
    if emit(ctx, found, template):
        return
    if not found:
        click.echo("No evals found")
        return
    ident = (lambda s: s) if verbose else short
    rows = [
        (ident(e.id), e.priority, e.triggered_by, e.job_id, e.status,
         "true" if e.failed_tg_allocs else "false")
        for e in found
    ]  # fmt: skip
    click.echo(table(("ID", "Priority", "Triggered By", "Job ID", "Status", "Placement Failures"),
                     rows))  # fmt: skip


@evals.command("status")
@click.argument("eval_id")
@click.option("-verbose", "--verbose", is_flag=True, help="Show full IDs.")
@template_option
@pass_context
def eval_status(ctx: Context, eval_id: str, verbose: bool, template: str | None) -> None:
    """Show one evaluation (by ID or unique prefix) and why it could not place."""
    ev = find_eval(ctx, eval_id)
    if emit(ctx, ev, template):
        return
    ident = (lambda s: s) if verbose else short
    pairs: list[tuple[str, object]] = [
        ("ID", ident(ev.id)),
        ("Create Time", when(ev.create_time)),
        ("Modify Time", when(ev.modify_time)),
        ("Status", ev.status),
        ("Status Description", ev.status_description or "<none>"),
        ("Type", ev.type),
        ("TriggeredBy", ev.triggered_by),
        ("Job ID", ev.job_id),
        ("Namespace", ev.namespace),
        ("Priority", ev.priority),
        ("Placement Failures", str(bool(ev.failed_tg_allocs)).lower()),
    ]
    if ev.node_id:
        pairs.append(("Node ID", ident(ev.node_id)))
    if ev.deployment_id:
        pairs.append(("Deployment ID", ident(ev.deployment_id)))
    if ev.blocked_eval:
        pairs.append(("Blocked Eval", ident(ev.blocked_eval)))
    if verbose:
        pairs += [("Create Index", ev.create_index), ("Modify Index", ev.modify_index)]
    click.echo(fields(pairs))
    if ev.failed_tg_allocs:
        click.echo("\n==> Failed Placements")
        for group, metric in sorted(ev.failed_tg_allocs.items()):
            click.echo(f'Task Group "{group}" (failed to place {metric.coalesced_failures + 1}'
                       f" allocation(s)):")  # fmt: skip
            reasons = {**metric.constraint_filtered, **metric.dimension_exhausted}
            for reason, count in sorted(reasons.items()):
                click.echo(f'  * "{reason}" exhausted or filtered on {count} node(s)')
            if not reasons:
                click.echo("  * no eligible nodes")
