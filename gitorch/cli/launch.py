"""``gitorch job dispatch`` and ``gitorch job periodic force``, and what ``job status``
shows of a periodic or parameterized job (as ``nomad job status`` does)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from gitorch.api.client import Client
from gitorch.cli.output import Context, emit_json, fields, pass_context, table
from gitorch.core import periodic as periodic_rules
from gitorch.core.cron import CronError, to_datetime, zone
from gitorch.core.model import Job
from gitorch.core.model.launch import DISPATCH_PAYLOAD_LIMIT


@click.command()
@click.argument("job_id")
@click.argument("input_source", required=False)
@click.option("-meta", "--meta", "meta", multiple=True, help="KEY=VALUE dispatch metadata.")
@click.option("-detach", "--detach", is_flag=True, help="Return after submitting.")
@click.option(
    "-idempotency-token", "--idempotency-token", "token", default="",
    help="A repeated token returns the first dispatch instead of a new one.",
)  # fmt: skip
@click.option(
    "-id-prefix-template", "--id-prefix-template", "id_prefix", default="",
    help="A prefix for the dispatched job's ID suffix.",
)  # fmt: skip
@pass_context
def dispatch(
    ctx: Context,
    job_id: str,
    input_source: str | None,
    meta: tuple[str, ...],
    detach: bool,
    token: str,
    id_prefix: str,
) -> None:
    """Dispatch a parameterized job: INPUT_SOURCE is a file with the payload, or - for
    standard input."""
    pairs: dict[str, str] = {}
    for item in meta:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.ClickException(f"-meta {item!r} is not KEY=VALUE")
        pairs[key] = value
    payload = _read_payload(input_source)
    client = ctx.client()
    result = client.dispatch_job(
        job_id, payload, pairs, idempotency_token=token, id_prefix_template=id_prefix
    )
    if ctx.json:
        emit_json(result)
        return
    rows: list[tuple[str, object]] = [("Dispatched Job ID", result.dispatched_job_id)]
    if result.eval_id:
        rows.append(("Evaluation ID", result.eval_id))
    click.echo(fields(rows))
    if result.eval_id and not detach:
        from gitorch.cli.job import monitor  # the job commands import this module

        click.echo(f'\n==> Monitoring evaluation "{result.eval_id[:8]}"')
        if not monitor(client, result.eval_id):
            raise SystemExit(2)


def _read_payload(source: str | None) -> bytes:
    if source is None:
        return b""
    try:
        data = sys.stdin.buffer.read(DISPATCH_PAYLOAD_LIMIT + 1) if source == "-" else b""
        if source != "-":
            path = Path(source)
            if path.stat().st_size > DISPATCH_PAYLOAD_LIMIT:
                size = path.stat().st_size
                raise click.ClickException(
                    f"{source}: the payload is {size} bytes, over the limit of "
                    f"{DISPATCH_PAYLOAD_LIMIT}"
                )
            data = path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror}") from exc
    if len(data) > DISPATCH_PAYLOAD_LIMIT:
        raise click.ClickException(f"the payload is over the limit of {DISPATCH_PAYLOAD_LIMIT}")
    return data


@click.group()
def periodic() -> None:
    """Interact with periodic jobs."""


@periodic.command()
@click.argument("job_id")
@click.option("-detach", "--detach", is_flag=True, help="Return after submitting.")
@pass_context
def force(ctx: Context, job_id: str, detach: bool) -> None:
    """Launch a periodic job's child now, whatever its schedule."""
    client = ctx.client()
    result = client.force_periodic(job_id)
    if ctx.json:
        emit_json(result)
        return
    click.echo(f"Force periodic successful (evaluation {result.eval_id or '<none>'})")
    from gitorch.cli.job import monitor  # the job commands import this module

    if result.eval_id and not detach and not monitor(client, result.eval_id):
        raise SystemExit(2)


# -- job status ----------------------------------------------------------------------


def status_fields(found: Job, now: int | None = None) -> list[tuple[str, object]]:
    """The Periodic / Parameterized / Next Periodic Launch lines of ``job status``."""
    rows: list[tuple[str, object]] = [
        ("Periodic", str(found.is_periodic()).lower()),
        ("Parameterized", str(found.is_parameterized()).lower()),
    ]
    if found.periodic is None or found.is_parameterized():
        return rows
    if found.stop:
        rows.append(("Next Periodic Launch", "none (job stopped)"))
        return rows
    if not found.periodic.enabled:
        rows.append(("Next Periodic Launch", "none (periodic launches disabled)"))
        return rows
    now = time.time_ns() if now is None else now
    due = periodic_rules.next_launch(found.periodic, now)
    if due is None:
        rows.append(("Next Periodic Launch", "none (the schedule matches no future time)"))
        return rows
    try:
        tz = zone(found.periodic.time_zone)
    except CronError:
        return rows
    stamp = to_datetime(due, tz).isoformat(timespec="seconds").replace("+00:00", "Z")
    rows.append(("Next Periodic Launch", f"{stamp} ({_until(due - now)} from now)"))
    return rows


def _until(ns: int) -> str:
    """Nomad's formatTimeDifference at second precision: ``1h2m3s``."""
    left = max(0, round(ns / 1e9))
    hours, rest = divmod(left, 3600)
    minutes, seconds = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return out + f"{seconds}s"


def print_children(client: Client, found: Job) -> None:
    """The children summary and list a periodic or parameterized job shows instead of
    allocations (it has none of its own)."""
    summary = client.job_summary(found.id).children
    kids = [j for j in client.list_jobs(f"{found.id}/") if j.parent_id == found.id]
    kids.sort(key=lambda j: (j.create_index, j.id))
    if found.is_parameterized():
        p = found.parameterized_job
        assert p is not None
        click.echo("\nParameterized Job")
        click.echo(
            fields(
                [
                    ("Payload", p.payload),
                    ("Required Metadata", ", ".join(p.meta_required)),
                    ("Optional Metadata", ", ".join(p.meta_optional)),
                ]
            )
        )
        title, listing = "Parameterized Job Summary", "Dispatched Jobs"
    else:
        title, listing = "Children Job Summary", "Previously Launched Jobs"
    click.echo(f"\n{title}")
    click.echo(table(("Pending", "Running", "Dead"), [(summary.pending, summary.running,
                                                        summary.dead)]))  # fmt: skip
    click.echo(f"\n{listing}")
    if not kids:
        none = "No dispatched instances of parameterized job found"
        click.echo(none if found.is_parameterized() else "No instances of periodic job found")
        return
    click.echo(table(("ID", "Status"), [(k.id, k.status) for k in kids]))
