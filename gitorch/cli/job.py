"""``gitorch job run|plan|status|stop|validate`` (``inspect``, ``history``, ``revert`` and
``deployments`` live in :mod:`gitorch.cli.job_versions`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from click.decorators import FC

from gitorch.api.client import Client
from gitorch.cli import job_versions, launch
from gitorch.cli.output import Context, emit_json, fields, pass_context, short, table, when
from gitorch.core.model import Evaluation, Job
from gitorch.core.model.submission import JobSubmission, submission_problem
from gitorch.errors import GitorchError, JobspecError
from gitorch.jobspec import JobspecWarning, parse_file
from gitorch.jobspec.isolate import parse_isolated
from gitorch.jobspec.limits import DEFAULT_LIMITS
from gitorch.jobspec.submission import submission
from gitorch.plugins.validation import installed_driver_check

MONITOR_SECONDS = 30.0  # how long `job run` and `job stop` follow their evaluation


@click.group()
def job() -> None:
    """Run, plan, inspect and stop jobs."""


def load_job(
    file: str,
    var: tuple[str, ...],
    var_file: tuple[str, ...],
    warnings: list[JobspecWarning] | None = None,
    submitted: list[JobSubmission] | None = None,
) -> Job:
    """Parse a local jobspec (rendering ``.j2``) the way a sync would, without a server;
    ``warnings``, when given, receives the file's located warnings, ``submitted`` its
    source as submitted (Nomad's Submission; sensitive variable values left out)."""
    path = Path(file)
    try:
        text = path.read_text()
        var_files = [(f, Path(f).read_text()) for f in var_file]
    except OSError as exc:
        raise click.ClickException(f"cannot read {exc.filename}: {exc.strerror}") from exc
    overrides: dict[str, str] = {}
    for item in var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.ClickException(f"-var {item!r} is not NAME=VALUE")
        overrides[name] = value
    found: dict[str, Any] = {}
    job = parse_file(
        file,
        text,
        vars_=overrides,
        var_files=var_files,
        driver_check=installed_driver_check(),
        env=os.environ,
        warnings=warnings,
        submitted=found,
    )
    if submitted is not None:
        sensitive = found["sensitive"]
        flags = overrides
        submitted.append(
            submission(found["source"], var_files=var_files, flags=flags, sensitive=sensitive)
        )
    return job


def show_warnings(warnings: list[JobspecWarning], *, err: bool = False) -> None:
    """Nomad's "Job Warnings:" section: each located warning on its own line."""
    if warnings:
        click.echo(f"Job Warnings:\n{len(warnings)} warning(s):\n", err=err)
        for w in warnings:
            click.echo(f"* {w.located()}", err=err)
        click.echo("", err=err)


def _with_vars(fn: FC) -> FC:
    """The ``-var NAME=VALUE`` and ``-var-file FILE`` options of Nomad's job commands."""
    fn = click.option("-var", "--var", "var", multiple=True, help="NAME=VALUE variable.")(fn)
    return click.option("-var-file", "--var-file", "var_file", multiple=True, help="Var file.")(fn)


@job.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_with_vars
def validate(file: str, var: tuple[str, ...], var_file: tuple[str, ...]) -> None:
    """Check a jobspec offline; exits 1 with the located problem.

    The file is processed as a sync would, in a worker with the default time and memory
    budget (docs/jobspec-limits.md): whatever it holds, the answer is a line, never a
    traceback.
    """
    limits = DEFAULT_LIMITS
    texts = [_read_bounded(f, limits.max_file_size) for f in (file, *var_file)]
    overrides: dict[str, str] = {}
    for item in var:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.ClickException(f"-var {item!r} is not NAME=VALUE")
        overrides[name] = value
    warnings: list[JobspecWarning] = []
    parsed = parse_isolated(
        file,
        texts[0],
        vars_=overrides,
        var_files=list(zip(var_file, texts[1:], strict=True)),
        driver_check=installed_driver_check(),
        limits=limits,
        env=os.environ,
        warnings=warnings,
    )
    if isinstance(parsed, JobspecError):
        raise click.ClickException(parsed.located())
    show_warnings(warnings)
    click.echo(f"Job validation successful: {parsed.id}")


def _read_bounded(file: str, most: int) -> str:
    """The text of ``file``, refused (with the reason) when too big or not UTF-8."""
    path = Path(file)
    try:
        size = path.stat().st_size
        if size > most:
            raise click.ClickException(f"{file}:1: the file is {size} bytes, over {most}")
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file}: not UTF-8 text (byte {exc.start})") from exc


@job.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_with_vars
@click.option("-detach", "--detach", is_flag=True, help="Return after submitting.")
@click.option("-output", "--output", is_flag=True, help='Print {"Job": ...} JSON; submit nothing.')
@pass_context
def run(
    ctx: Context,
    file: str,
    var: tuple[str, ...],
    var_file: tuple[str, ...],
    detach: bool,
    output: bool,
) -> None:
    """Parse FILE locally and register the job; exits 2 if it cannot be placed."""
    warnings: list[JobspecWarning] = []
    submitted: list[JobSubmission] = []
    parsed = load_job(file, var, var_file, warnings, submitted)
    show_warnings(warnings, err=output or ctx.json)  # JSON output stays parseable
    if output:  # Nomad's -output: the API form of the job, no request
        emit_json({"Job": parsed})
        return
    client = ctx.client()
    sub = submitted[0] if submitted else None
    if sub is not None and (problem := submission_problem(sub)):  # Nomad: run it, sourceless
        click.echo(f"Warning: the job's source is not stored: {problem}", err=True)
        sub = None
    result = client.register_job(parsed, sub)
    if ctx.json:
        emit_json(result)
        return
    if result.warnings:  # the server's own (a job it was sent holds what it warns about)
        click.echo(f"Job Warnings:\n{result.warnings}\n")
    if not result.eval_id:  # a periodic or parameterized job: nothing runs until launched
        click.echo(f'==> Job "{parsed.id}" registered (it runs when launched)')
        for key, value in launch.status_fields(parsed)[2:]:
            click.echo(f"    {key}: {value}")
        return
    if detach:
        click.echo(f"Job registration successful\nEvaluation ID: {result.eval_id}")
        return
    click.echo(f'==> Job "{parsed.id}" registered (evaluation {result.eval_id})')
    if not monitor(client, result.eval_id):
        raise SystemExit(2)


@job.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_with_vars
@pass_context
def plan(ctx: Context, file: str, var: tuple[str, ...], var_file: tuple[str, ...]) -> None:
    """Show what registering FILE would change, committing nothing.

    Exit code, as Nomad's: 0 no allocations would be created or destroyed, 1 some
    would, 255 an error.
    """
    warnings: list[JobspecWarning] = []
    try:
        parsed = load_job(file, var, var_file, warnings)
        result = ctx.client().plan_job(parsed, diff=True)
    except (click.ClickException, GitorchError) as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(255) from exc
    show_warnings(warnings, err=ctx.json)
    if result.warnings and not ctx.json:  # the server's own
        click.echo(f"Job Warnings:\n{result.warnings}\n")
    changes = any(
        up.place or up.stop or up.destructive_update or up.migrate or up.canary
        for up in result.annotations.desired_tg_updates.values()
    )
    if ctx.json:
        emit_json(result)
        raise SystemExit(1 if changes else 0)
    mark = {"Added": "+", "Deleted": "-", "Edited": "+/-", "None": ""}[result.diff.type]
    click.echo(f'{mark} Job: "{parsed.id}"'.strip())
    for name, up in sorted(result.annotations.desired_tg_updates.items()):
        counts = [
            f"{n} {label}"
            for n, label in (
                (up.place, "create"),
                (up.destructive_update, "create/destroy update"),
                (up.in_place_update, "in-place update"),
                (up.stop, "destroy"),
                (up.migrate, "migrate"),
                (up.canary, "canary"),
                (up.ignore, "ignore"),
            )
            if n
        ]
        click.echo(f'    Task Group: "{name}" ({", ".join(counts) or "no changes"})')
    for name, metric in sorted(result.failed_tg_allocs.items()):
        click.echo(f'Warning: task group "{name}" cannot be placed fully: ', nl=False)
        click.echo(f"{metric.nodes_evaluated} nodes evaluated, {metric.nodes_exhausted} exhausted")
    click.echo(f"Job Modify Index: {result.job_modify_index}")
    raise SystemExit(1 if changes else 0)


@job.command()
@click.argument("job_id", required=False)
@click.option("-verbose", "--verbose", is_flag=True, help="Full IDs, and the job's evaluations.")
@click.option("-evals", "--evals", "show_evals", is_flag=True, help="The job's evaluations.")
@pass_context
def status(ctx: Context, job_id: str | None, verbose: bool, show_evals: bool) -> None:
    """List jobs, or show one job with its allocations."""
    client = ctx.client()
    if job_id is not None:
        job_id = job_versions.find_job(ctx, job_id)
    if job_id is None:
        stubs = client.list_jobs()
        if ctx.json:
            emit_json(stubs)
        elif not stubs:
            click.echo("No running jobs")
        else:
            rows = [(j.id, j.type, j.priority, j.status, when(j.submit_time)) for j in stubs]
            click.echo(table(("ID", "Type", "Priority", "Status", "Submit Date"), rows))
        return
    found = client.get_job(job_id)
    summary = client.job_summary(job_id)
    allocs = client.job_allocations(job_id)
    if ctx.json:
        emit_json({"Job": found, "Summary": summary, "Allocations": allocs})
        return
    state = next((j.status for j in client.list_jobs(job_id) if j.id == job_id), found.status)
    source = f"{found.source.file}@{found.source.commit[:12]}" if found.source else "<api>"
    click.echo(
        fields(
            [
                ("ID", found.id),
                ("Name", found.name),
                ("Namespace", found.namespace),
                ("Type", found.type),
                ("Priority", found.priority),
                ("Datacenters", ",".join(found.datacenters)),
                ("Status", state),
                ("Version", found.version),
                ("Source", source),
                ("Submit Date", when(found.submit_time)),
                *launch.status_fields(found),
            ]
        )
    )
    if found.is_parent():  # its children run, it has no allocations of its own
        launch.print_children(client, found)
        return
    click.echo("\nSummary")
    group_rows = [
        (g, s.queued, s.starting, s.running, s.failed, s.complete, s.lost)
        for g, s in sorted(summary.summary.items())
    ]
    click.echo(
        table(
            ("Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost"),
            group_rows,
        )
    )
    ident = str if verbose else short
    evals = client.job_evaluations(job_id)
    if verbose or show_evals:  # the evaluations, newest first, as Nomad's
        click.echo("\nEvaluations")
        eval_rows = [
            (
                ident(e.id),
                e.priority,
                e.triggered_by,
                e.status,
                str(bool(e.failed_tg_allocs)).lower(),
            )
            for e in sorted(evals, key=lambda e: e.create_index, reverse=True)
        ]
        click.echo(
            table(("ID", "Priority", "Triggered By", "Status", "Placement Failures"), eval_rows)
        )
    done = [e for e in evals if e.status in ("complete", "failed")]
    latest = max(done, key=lambda e: e.modify_index, default=None)  # the last scheduling run
    failures = placement_failures(latest) if latest is not None else []
    if failures:
        click.echo("\nPlacement Failure")
        for group, detail in failures:
            click.echo(f'Task Group "{group}": {detail}')
    click.echo("\nAllocations")
    if not allocs:
        click.echo("No allocations placed")
        return
    alloc_rows = [
        (
            ident(a.id),
            ident(a.node_id),
            a.task_group,
            a.job_version,
            a.desired_status,
            a.client_status,
            when(a.create_time),
        )
        for a in allocs
    ]
    click.echo(
        table(
            ("ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created"), alloc_rows
        )
    )


@job.command()
@click.argument("job_id")
@click.option("-purge", "--purge", is_flag=True, help="Remove the job from the server too.")
@click.option("-detach", "--detach", is_flag=True, help="Return after submitting.")
@click.option(
    "-force", "--force", is_flag=True, help="Stop a Git-managed job even though auto-sync runs."
)
@pass_context
def stop(ctx: Context, job_id: str, purge: bool, detach: bool, force: bool) -> None:
    """Stop a job (and with --purge, forget it). A Git-managed job is refused unless its
    auto-sync is suspended (gitorch gitops suspend) or -force is given."""
    client = ctx.client()
    result = client.deregister_job(job_id, purge=purge, force=force)
    if ctx.json:
        emit_json(result)
        return
    click.echo(
        f'==> Job "{job_id}" stopped{" and purged" if purge else ""} (evaluation {result.eval_id})'
    )
    if not detach:
        monitor(client, result.eval_id)


job.add_command(launch.dispatch)
job.add_command(launch.periodic)
for _command in (
    job_versions.inspect,
    job_versions.history,
    job_versions.revert,
    job_versions.deployments,
):
    job.add_command(_command)


def placement_failures(ev: Evaluation) -> list[tuple[str, str]]:
    """(group, why) for each group the evaluation could not place, per constraint and
    per exhausted resource dimension, with how many nodes each reason ruled out."""
    out = []
    for group, metric in sorted(ev.failed_tg_allocs.items()):
        reasons = {**metric.constraint_filtered, **metric.dimension_exhausted}
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "no eligible nodes"
        out.append((group, detail))
    return out


def monitor(client: Client, eval_id: str, timeout: float = MONITOR_SECONDS) -> bool:
    """Follow an evaluation until the scheduler is done with it; print its placements.
    False when some group could not be placed."""
    deadline = time.monotonic() + timeout
    ev: Evaluation = client.get_evaluation(eval_id)
    while not ev.terminal() and ev.status != "blocked" and time.monotonic() < deadline:
        time.sleep(0.1)
        ev = client.get_evaluation(eval_id)
    click.echo(f'    Evaluation status changed: "{ev.status}"')
    for alloc in client.evaluation_allocations(eval_id):
        click.echo(
            f'    Allocation "{short(alloc.id)}" created: node "{short(alloc.node_id)}", '
            f'group "{alloc.task_group}"'
        )
    for group, detail in placement_failures(ev):
        click.echo(f'    Task group "{group}" failed to place: {detail}', err=True)
    if not ev.terminal() and ev.status != "blocked":
        click.echo(f"    Evaluation still {ev.status} after {timeout:.0f}s", err=True)
    return not ev.failed_tg_allocs
