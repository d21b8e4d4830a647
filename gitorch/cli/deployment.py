"""``gitorch deployment list|status|promote|fail|pause|resume``."""

from __future__ import annotations

from typing import Any

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
from gitorch.core.model import Deployment


@click.group()
def deployment() -> None:
    """Inspect deployments and promote, fail, pause or resume them."""


def find_deployment(ctx: Context, prefix: str) -> Deployment:
    client = ctx.client()
    found: Deployment = resolve("deployment", prefix, client.list_deployments, lambda d: d.id)
    return found


def _ident(verbose: bool, value: str) -> str:
    return value if verbose else short(value)


@deployment.command("list")
@click.option("-verbose", "--verbose", is_flag=True, help="Show full IDs.")
@template_option
@pass_context
def list_deployments(ctx: Context, verbose: bool, template: str | None) -> None:
    """List deployments, newest first."""
    found = ctx.client().list_deployments()
    if emit(ctx, found, template):
        return
    if not found:
        click.echo("No deployments found")
        return
    rows = [
        (_ident(verbose, d.id), d.job_id, d.job_version, d.status, d.status_description)
        for d in found
    ]
    click.echo(table(("ID", "Job ID", "Job Version", "Status", "Description"), rows))


@deployment.command("status")
@click.argument("deployment_id")
@click.option("-verbose", "--verbose", is_flag=True, help="Show full IDs and deadlines.")
@template_option
@pass_context
def deployment_status(
    ctx: Context, deployment_id: str, verbose: bool, template: str | None
) -> None:
    """Show a deployment (by ID or unique prefix) and its task groups."""
    d = find_deployment(ctx, deployment_id)
    if emit(ctx, d, template):
        return
    print_deployment(d, verbose)


def print_deployment(d: Deployment, verbose: bool) -> None:
    click.echo(
        fields(
            [
                ("ID", _ident(verbose, d.id)),
                ("Job ID", d.job_id),
                ("Job Version", d.job_version),
                ("Status", d.status),
                ("Description", d.status_description),
            ]
        )
    )
    if not d.task_groups:
        return
    canaries = any(s.desired_canaries for s in d.task_groups.values())
    headers = ["Task Group"]
    if canaries:
        headers += ["Promoted"]
    headers += ["Desired"]
    if canaries:
        headers += ["Canaries"]
    headers += ["Placed", "Healthy", "Unhealthy", "Progress Deadline"]
    rows = []
    for name, s in sorted(d.task_groups.items()):
        row: list[object] = [name]
        if canaries:
            row.append(str(s.promoted).lower() if s.desired_canaries else "N/A")
        row.append(s.desired_total)
        if canaries:
            row.append(s.desired_canaries)
        deadline = when(s.require_progress_by) if s.require_progress_by else "N/A"
        row += [s.placed_allocs, s.healthy_allocs, s.unhealthy_allocs, deadline]
        rows.append(row)
    click.echo("\nDeployed")
    click.echo(table(headers, rows))


def _act(ctx: Context, action: str, deployment_id: str, body: dict[str, Any], done: str) -> None:
    d = find_deployment(ctx, deployment_id)
    result = ctx.client().deployment_action(action, d.id, body)
    if ctx.json:
        emit_json(result)
        return
    click.echo(f'Deployment "{d.id}" {done}')
    if result.get("EvalID"):
        click.echo(f"Evaluation ID: {result['EvalID']}")


@deployment.command()
@click.argument("deployment_id")
@click.option("-group", "--group", "groups", multiple=True,
              help="Promote only this task group's canaries (repeatable).")  # fmt: skip
@pass_context
def promote(ctx: Context, deployment_id: str, groups: tuple[str, ...]) -> None:
    """Promote a deployment's canaries (all groups unless -group is given)."""
    body: dict[str, Any] = {"Groups": list(groups)} if groups else {"All": True}
    _act(ctx, "promote", deployment_id, body, "promoted")


@deployment.command()
@click.argument("deployment_id")
@pass_context
def fail(ctx: Context, deployment_id: str) -> None:
    """Mark a running deployment failed (with auto_revert, the job rolls back)."""
    _act(ctx, "fail", deployment_id, {}, "failed")


@deployment.command()
@click.argument("deployment_id")
@pass_context
def pause(ctx: Context, deployment_id: str) -> None:
    """Pause a running deployment: no further allocations are replaced."""
    _act(ctx, "pause", deployment_id, {"Pause": True}, "paused")


@deployment.command()
@click.argument("deployment_id")
@pass_context
def resume(ctx: Context, deployment_id: str) -> None:
    """Resume a paused deployment."""
    _act(ctx, "pause", deployment_id, {"Pause": False}, "resumed")
