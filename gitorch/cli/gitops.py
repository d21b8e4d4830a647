"""``gitorch sync`` (``--dry-run``, ``--revision``, ``--wait``), ``gitorch diff`` and
``gitorch gitops status|history|suspend|resume``: the GitOps commands, through the HTTP
API only."""

from __future__ import annotations

import time

import click

from gitorch.api.client import Client
from gitorch.cli.output import Context, emit_json, pass_context, table
from gitorch.codec import from_json
from gitorch.core.desired import SUSPENDED
from gitorch.core.model import GitopsStatus
from gitorch.core.model.gitops import FileError, GitopsJob, HistoryItem, SyncReport

APPLIED = ("register", "update", "prune")
WAIT_POLL_S = 1.0  # how often `sync --wait` looks at the rollout


@click.command()
@click.option(
    "--dry-run", "-dry-run", is_flag=True, help="Report what would change; change nothing."
)
@click.option(
    "--revision",
    "-revision",
    default="",
    help="Deploy this commit of the branch (auto-sync stays there until a plain sync).",
)
@click.option(
    "--wait",
    "-wait",
    "wait",
    is_flag=True,
    help="Follow the rollout of changed jobs; exit 1 if one fails.",
)
@click.option(
    "--timeout",
    "-timeout",
    default=600.0,
    show_default=True,
    help="Seconds --wait follows the rollout.",
)
@click.option("-json", "--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def sync(
    ctx: Context, dry_run: bool, revision: str, wait: bool, timeout: float, as_json: bool
) -> None:
    """Sync the cluster with the Git repository now; exits 1 if any file failed (or, with
    --wait, a rollout failed)."""
    client = ctx.client()
    body = {"DryRun": dry_run, "Revision": revision}
    resp = client.request("POST", "/v1/gitops/sync", body=body, timeout=300.0)
    report = from_json(resp.content, SyncReport)
    if as_json or ctx.json:
        emit_json(report)
    else:
        print_report(report)
    for err in report.errors:
        where = f"{err.file}:{err.line}" if err.line else err.file
        click.echo(f"{where}: {err.message}", err=True)
    _print_warnings(report.warnings, report.warnings_omitted)
    if report.fetch_error:
        click.echo(f"fetch failed: {report.fetch_error}", err=True)
    failed = bool(report.errors or report.fetch_error)
    if wait and not dry_run and not report.fetch_error:
        failed = not follow(client, rollouts(client, report), timeout) or failed
    if failed:
        raise SystemExit(1)


@click.command()
@click.option("-json", "--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def diff(ctx: click.Context, as_json: bool) -> None:
    """What a sync would change (``sync --dry-run``)."""
    ctx.invoke(sync, dry_run=True, as_json=as_json)


def print_report(report: SyncReport) -> None:
    verb = "would change" if report.dry_run else "changed"
    commit = report.commit[:12] or "<no commit>"
    changed = [c for c in report.changes if c.action in APPLIED]
    held = [c for c in report.changes if c.action == "held"]
    pinned = " (pinned revision)" if report.revision else ""
    click.echo(
        f"Commit {commit}{pinned}: {len(changed)} job(s) {verb}, {len(held)} held, "
        f"{len(report.errors)} error(s)"
    )
    if report.changes:
        rows = [(c.job_id, c.action, c.version, c.file, c.detail) for c in report.changes]
        click.echo(table(("Job", "Action", "Version", "File", "Detail"), rows))


def rollouts(client: Client, report: SyncReport) -> list[str]:
    """The jobs whose rollout ``sync --wait`` follows: those this sync applied or held
    (not suspended), and those the loop applied from the same commit a moment before."""
    at_commit = {j.id for j in client.gitops_status().jobs if j.commit == report.commit}
    return [
        ch.job_id
        for ch in report.changes
        if ch.action in ("register", "update")
        or (ch.action == "held" and ch.detail != SUSPENDED)
        or (ch.action == "unchanged" and ch.job_id in at_commit)
    ]


def follow(client: Client, job_ids: list[str], timeout: float) -> bool:
    """Print each followed job's rollout as it moves (per group: healthy/desired, placed,
    unhealthy) until none is progressing or waiting; True when all ended healthy."""
    if not job_ids:
        return True
    deadline = time.monotonic() + timeout
    shown: dict[str, str] = {}
    while True:
        status = client.gitops_status()
        jobs = {j.id: j for j in status.jobs if j.id in job_ids}
        for job_id in job_ids:
            line = _progress(client, jobs.get(job_id), job_id)
            if shown.get(job_id) != line:
                shown[job_id] = line
                click.echo(line)
        pending = [
            j
            for j in job_ids
            if j in jobs and (jobs[j].health == "progressing" or _waiting(jobs[j]))
        ]
        if not pending:
            bad = [j for j in job_ids if j not in jobs or jobs[j].health != "healthy"]
            for job_id in bad:
                click.echo(f"==> job {job_id!r} rollout failed: {shown[job_id]}", err=True)
            return not bad
        if time.monotonic() >= deadline:
            click.echo(
                f"==> timed out after {timeout:g}s waiting for {', '.join(pending)}", err=True
            )
            return False
        time.sleep(WAIT_POLL_S)


def _waiting(job: GitopsJob) -> bool:
    return job.status == "held" and job.detail.startswith("waiting for")


def _progress(client: Client, job: GitopsJob | None, job_id: str) -> str:
    if job is None:
        return f"{job_id}: missing (not in the synced commit)"
    text = f"{job.id}: {job.health}, version {job.version}"
    if job.detail:
        text += f" - {job.detail}"
    if job.deployment_id:
        d = client.get_deployment(job.deployment_id)
        text += f"; deployment {d.id[:8]} {d.status}"
        for name, g in sorted(d.task_groups.items()):
            text += (
                f"; group {name}: {g.healthy_allocs}/{g.desired_total} healthy, "
                f"{g.placed_allocs} placed, {g.unhealthy_allocs} unhealthy"
            )
            if g.desired_canaries:
                text += f", canaries {len(g.placed_canaries)}/{g.desired_canaries}"
    return text


@click.group()
def gitops() -> None:
    """GitOps status, sync history, and per-job suspend/resume of auto-sync."""


@gitops.command("status")
@pass_context
def gitops_status(ctx: Context) -> None:
    """Synced commit and, per Git-managed job, sync status, health and deployment."""
    status = ctx.client().gitops_status()
    if ctx.json:
        emit_json(status)
        return
    print_status(status)


def print_status(status: GitopsStatus) -> None:
    pinned = f" (pinned to {status.pinned_revision[:12]})" if status.pinned_revision else ""
    click.echo(f"Repo {status.repo} branch {status.branch} at {status.commit[:12]}{pinned}")
    if status.fetch_error:
        click.echo(f"Fetch error: {status.fetch_error}")
    rows = [
        (
            j.id,
            j.status + (" (suspended)" if j.suspended and j.status != "suspended" else ""),
            j.health,
            j.commit[:12],
            j.version,
            j.deployment_id[:8],
            j.deployment_status,
            j.detail,
        )
        for j in status.jobs
    ]
    click.echo(
        table(("Job", "Sync", "Health", "Commit", "Version", "Deployment", "State", "Detail"), rows)
    )
    for e in status.errors:
        click.echo(e.message, err=True)
    _print_warnings(status.warnings, status.warnings_omitted)


def _print_warnings(warnings: list[FileError], omitted: int) -> None:
    """Each file's located warnings (its job runs; gitorch does something differently)."""
    for w in warnings:
        click.echo(f"Warning: {w.message}", err=True)
    if omitted:
        click.echo(f"Warning: {omitted} more warning(s) not recorded", err=True)


@gitops.command("history")
@pass_context
def history(ctx: Context) -> None:
    """The last syncs (newest first): commit, time, jobs changed, result."""
    resp = ctx.client().request("GET", "/v1/gitops/history")
    items = from_json(resp.content, list[HistoryItem])
    if ctx.json:
        emit_json(items)
        return
    rows = []
    for item in items:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(item.time / 1e9))
        changed = ", ".join(
            f"{ch.job_id} {ch.action} v{ch.version}"
            + (f" ({ch.deployment_status})" if ch.deployment_status else "")
            for ch in item.changes
        )
        rows.append((item.commit[:12], when, changed or "-", item.result, item.errors))
    click.echo(table(("Commit", "Time", "Jobs changed", "Result", "Errors"), rows))


def _suspend(ctx: Context, job_id: str, suspended: bool) -> None:
    verb = "suspend" if suspended else "resume"
    ctx.client().request("POST", f"/v1/gitops/job/{job_id}/{verb}", body={})
    done = "suspended: syncs leave it as it is" if suspended else "resumed"
    click.echo(f"==> auto-sync of job {job_id!r} {done}")


@gitops.command("suspend")
@click.argument("job_id")
@pass_context
def suspend(ctx: Context, job_id: str) -> None:
    """Stop applying the repository to JOB_ID until `gitops resume` (Flux's suspend)."""
    _suspend(ctx, job_id, True)


@gitops.command("resume")
@click.argument("job_id")
@pass_context
def resume(ctx: Context, job_id: str) -> None:
    """Apply the repository to JOB_ID again from the next sync."""
    _suspend(ctx, job_id, False)
