"""``gitorch system gc``, ``gitorch alloc stop`` and ``gitorch job scale``: thin
commands over ``/v1/system/gc``, ``/v1/allocation/:id/stop`` and ``/v1/job/:id/scale``
(registered into their groups by ``gitorch.cli.main``). They print what Nomad's print
with ``-detach``: the evaluation that follows, not a monitor of it."""

from __future__ import annotations

from typing import Any

import click
import msgspec

from gitorch.cli.alloc import find_alloc
from gitorch.cli.job_versions import find_job
from gitorch.cli.output import Context, emit_json, pass_context


@click.group()
def system() -> None:
    """Cluster housekeeping."""


@system.command("gc")
@click.option(
    "-threshold", "--threshold", default="", help="Keep what changed within this long (1h)."
)
@pass_context
def gc(ctx: Context, threshold: str) -> None:
    """Purge the finished allocations and evaluations of stopped jobs."""
    params = {"threshold": threshold} if threshold else None
    ctx.client().request("PUT", "/v1/system/gc", params=params)


def _answer(resp_content: bytes) -> dict[str, Any]:
    body = msgspec.json.decode(resp_content)
    return body if isinstance(body, dict) else {}


@click.command("stop")
@click.argument("alloc_id")
@click.option("-detach", "--detach", is_flag=True, help="Accepted for Nomad's habit; always on.")
@pass_context
def alloc_stop(ctx: Context, alloc_id: str, detach: bool) -> None:
    """Stop an allocation; its job places a replacement."""
    found = find_alloc(ctx, alloc_id)
    body = _answer(ctx.client().request("POST", f"/v1/allocation/{found.id}/stop").content)
    if ctx.json:
        emit_json(body)
        return
    click.echo(body.get("EvalID", ""))


@click.command("scale")
@click.argument("job_id")
@click.argument("args", nargs=-1)
@click.option("-detach", "--detach", is_flag=True, help="Accepted for Nomad's habit; always on.")
@pass_context
def job_scale(ctx: Context, job_id: str, args: tuple[str, ...], detach: bool) -> None:
    """Set a task group's count: ``job scale JOB [GROUP] COUNT`` (the group may be left
    out when the job has one)."""
    if len(args) not in (1, 2) or not args[-1].isdigit():
        raise click.UsageError("usage: job scale JOB [GROUP] COUNT (COUNT a whole number)")
    found = find_job(ctx, job_id)
    client = ctx.client()
    group = args[0] if len(args) == 2 else ""
    if not group:
        groups = [g.name for g in client.get_job(found).task_groups]
        if len(groups) != 1:
            raise click.UsageError(f"job {found!r} has groups {', '.join(groups)}: name one")
        group = groups[0]
    request = {"Count": int(args[-1]), "Target": {"Group": group}}
    body = _answer(client.request("POST", f"/v1/job/{found}/scale", body=request).content)
    if ctx.json:
        emit_json(body)
        return
    click.echo(f"Job scale successful\nEvaluation ID: {body.get('EvalID', '')}")
