"""``gitorch job inspect|history|revert|deployments``, and job IDs given by prefix."""

from __future__ import annotations

from typing import Any

import click

from gitorch.api.wire import JobListStub
from gitorch.cli.diffformat import format_job_diff
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
from gitorch.core.model import Job


def find_job(ctx: Context, prefix: str) -> str:
    """The ID of the job that is ``prefix`` or the only job that starts with it (Nomad
    looks a job up by prefix when no job has exactly that ID)."""
    stub: JobListStub = resolve("job", prefix, ctx.client().list_jobs, lambda j: j.id)
    return stub.id


def version_of(versions: list[Job], job_id: str, version: int) -> Job:
    for found in versions:
        if found.version == version:
            return found
    kept = ", ".join(str(v.version) for v in versions)
    raise click.ClickException(f"job {job_id!r} has no version {version}; kept: {kept}")


@click.command()
@click.argument("job_id")
@click.option("-version", "--version", "version", type=int, default=None,
              help="Show this version of the job.")  # fmt: skip
@template_option
@pass_context
def inspect(ctx: Context, job_id: str, version: int | None, template: str | None) -> None:
    """Print a submitted job as JSON ({"Job": ...}), valid input for the jobs API."""
    job_id = find_job(ctx, job_id)
    client = ctx.client()
    if version is None:
        found = client.get_job(job_id)
    else:
        found = version_of(client.job_versions(job_id), job_id, version)
    if template:
        emit(ctx, found, template)
    else:
        emit_json({"Job": found})


@click.command()
@click.argument("job_id")
@click.option("-version", "--version", "version", type=int, default=None,
              help="Show only this version.")  # fmt: skip
@click.option("-full", "--full", is_flag=True, help="Print each version's whole job as JSON.")
@click.option("-p", "diffs", is_flag=True, help="Show each version's changes from the one before.")
@template_option
@pass_context
def history(
    ctx: Context,
    job_id: str,
    version: int | None,
    full: bool,
    diffs: bool,
    template: str | None,
) -> None:
    """List the versions of a job a server keeps (newest first)."""
    job_id = find_job(ctx, job_id)
    answer = ctx.client().job_versions_with_diffs(job_id)
    pairs_of = sorted(
        zip(answer.versions, [*(answer.diffs or []), None], strict=False),
        key=lambda p: -p[0].version,
    )
    if version is not None:
        found_one = version_of([v for v, _ in pairs_of], job_id, version)
        pairs_of = [p for p in pairs_of if p[0] is found_one]
    if emit(ctx, [v for v, _ in pairs_of], template):
        return
    for i, (found, diff) in enumerate(pairs_of):
        if i:
            click.echo()
        pairs: list[tuple[str, object]] = [
            ("Version", found.version),
            ("Stable", str(found.stable).lower()),
            ("Submit Date", when(found.submit_time)),
        ]
        if diffs and diff is not None and diff.type != "None":
            pairs.append(("Diff", "\n" + format_job_diff(diff).strip()))
        click.echo(fields(pairs))
        if full:
            emit_json(found)


@click.command()
@click.argument("job_id")
@click.argument("version", type=int)
@click.option("-detach", "--detach", is_flag=True, help="Return without following the eval.")
@pass_context
def revert(ctx: Context, job_id: str, version: int, detach: bool) -> None:
    """Register VERSION's job again, as a new version."""
    from gitorch.cli.job import monitor  # the job group imports this module

    job_id = find_job(ctx, job_id)
    client = ctx.client()
    result: dict[str, Any] = client.revert_job(job_id, version)
    if ctx.json:
        emit_json(result)
        return
    index = int(result.get("Index", 0))
    ev = next((e for e in client.job_evaluations(job_id) if e.create_index == index), None)
    click.echo(f'==> Job "{job_id}" reverted to version {version}')
    if ev is None:
        return
    click.echo(f"    Evaluation ID: {ev.id}")
    if not detach and not monitor(client, ev.id):
        raise SystemExit(2)


@click.command()
@click.argument("job_id")
@template_option
@pass_context
def deployments(ctx: Context, job_id: str, template: str | None) -> None:
    """List a job's deployments, newest first."""
    job_id = find_job(ctx, job_id)
    found = ctx.client().job_deployments(job_id)
    if emit(ctx, found, template):
        return
    if not found:
        click.echo(f"No deployments found for job {job_id!r}")
        return
    rows = [(short(d.id), d.job_id, d.job_version, d.status, d.status_description) for d in found]
    click.echo(table(("ID", "Job ID", "Job Version", "Status", "Description"), rows))
