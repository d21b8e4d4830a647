"""``gitorch status [ID]`` (Nomad's ``nomad status``): the jobs, or whatever one ID
prefix names: a job, allocation, node, evaluation or deployment.

There is no search route yet, so the prefix is looked up with each list route's
``?prefix=``; more than one match lists them all and exits 1.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from gitorch.cli.output import Context


@click.command("status")
@click.argument("ident", required=False)
@click.option("-verbose", "--verbose", is_flag=True, help="Show full IDs where supported.")
@click.pass_context
def status(click_ctx: click.Context, ident: str | None, verbose: bool) -> None:
    """The jobs, or the job, allocation, node, evaluation or deployment that IDENT names
    (an ID or a unique prefix)."""
    from gitorch.cli import alloc, deployment, evals, job, node

    ctx = click_ctx.ensure_object(Context)
    if ident is None:
        click_ctx.invoke(job.status, job_id=None)
        return
    client = ctx.client()
    lookups: list[tuple[str, Callable[[], list[str]]]] = [
        ("job", lambda: [j.id for j in client.list_jobs(ident)]),
        ("allocation", lambda: [a.id for a in client.list_allocations(ident)]),
        ("node", lambda: [n.id for n in client.list_nodes(ident)]),
        ("evaluation", lambda: [e.id for e in client.list_evaluations(ident)]),
        ("deployment", lambda: [d.id for d in client.list_deployments(ident)]),
    ]
    matches = [(kind, found) for kind, fetch in lookups for found in fetch()]
    exact = [(kind, found) for kind, found in matches if found == ident]
    if exact:
        matches = exact[:1]
    if not matches:
        raise click.ClickException(f"No job, allocation, node, evaluation or deployment "
                                   f"matches {ident!r}")  # fmt: skip
    if len(matches) > 1:
        listed = "\n".join(f"  {kind:<11} {found}" for kind, found in matches[:20])
        raise click.ClickException(
            f"Prefix {ident!r} matched multiple objects; give more of the ID:\n{listed}"
        )
    kind, found = matches[0]
    if kind == "job":
        click_ctx.invoke(job.status, job_id=found)
    elif kind == "allocation":
        click_ctx.invoke(alloc.status, alloc_id=found, verbose=verbose, template=None)
    elif kind == "node":
        click_ctx.invoke(node.status, node_id=found, verbose=verbose, template=None)
    elif kind == "evaluation":
        click_ctx.invoke(evals.eval_status, eval_id=found, verbose=verbose, template=None)
    else:
        click_ctx.invoke(
            deployment.deployment_status, deployment_id=found, verbose=verbose, template=None
        )
