"""``gitorch alloc status|logs``."""

from __future__ import annotations

import sys

import click

from gitorch.api.wire import AllocListStub, AllocWithJob
from gitorch.cli import alloc_stats
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


@click.group()
def alloc() -> None:
    """Inspect allocations and read their task logs."""


def find_alloc(ctx: Context, prefix: str) -> AllocWithJob:
    """The allocation whose ID is or starts with ``prefix``."""
    client = ctx.client()
    stub: AllocListStub = resolve("allocation", prefix, client.list_allocations, lambda a: a.id)
    return client.get_allocation(stub.id)


@alloc.command()
@click.argument("alloc_id")
@click.option("-verbose", "--verbose", is_flag=True, help="Full IDs, indexes, every event.")
@click.option("-stats", "--stats", is_flag=True, help="Each task's resource usage, in detail.")
@template_option
@pass_context
def status(
    ctx: Context, alloc_id: str, verbose: bool, stats: bool, template: str | None
) -> None:
    """Show an allocation (by ID or unique prefix), its tasks and their events."""
    found = find_alloc(ctx, alloc_id)
    if emit(ctx, found, template):
        return
    usage, why = alloc_stats.fetch_usage(ctx, found) if stats else ({}, "")
    ident = (lambda s: s) if verbose else short
    extra: list[tuple[str, object]] = []
    if verbose:
        extra = [("Create Index", found.create_index), ("Modify Index", found.modify_index)]
    click.echo(
        fields(
            [
                ("ID", found.id),
                ("Eval ID", ident(found.eval_id)),
                ("Name", found.name),
                ("Node ID", ident(found.node_id)),
                ("Node Name", found.node_name),
                ("Job ID", found.job_id),
                ("Job Version", found.job_version),
                ("Client Status", found.client_status),
                ("Client Description", found.client_description or "<none>"),
                ("Desired Status", found.desired_status),
                ("Desired Description", found.desired_description or "<none>"),
                ("Created", when(found.create_time)),
                ("Modified", when(found.modify_time)),
                *extra,
            ]
        )
    )
    for name, task in sorted(found.task_states.items()):
        failed = " (failed)" if task.failed else ""
        click.echo(f'\nTask "{name}" is "{task.state}"{failed}')
        click.echo("Task Events:")
        click.echo(
            fields(
                [
                    ("Started At", when(task.started_at) if task.started_at else "N/A"),
                    ("Finished At", when(task.finished_at) if task.finished_at else "N/A"),
                    ("Total Restarts", task.restarts),
                    ("Last Restart", when(task.last_restart) if task.last_restart else "N/A"),
                ]
            )
        )
        if stats:
            click.echo(alloc_stats.task_usage(found, name, usage, why))
        events = task.events if verbose else task.events[-10:]
        rows = [(when(e.time), e.type, e.display_message or e.message) for e in reversed(events)]
        if rows:
            click.echo("\nRecent Events:")
            click.echo(table(("Time", "Type", "Description"), rows))


@alloc.command()
@click.argument("alloc_id")
@click.argument("task", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep streaming as the log grows.")
@click.option("-stderr", "--stderr", "stderr", is_flag=True, help="Show stderr, not stdout.")
@click.option("-tail", "--tail", "tail", is_flag=True, help="Start at the end of the log.")
@click.option("-c", "--bytes", "offset", type=int, default=0, help="With -tail: bytes back.")
@pass_context
def logs(
    ctx: Context,
    alloc_id: str,
    task: str | None,
    follow: bool,
    stderr: bool,
    tail: bool,
    offset: int,
) -> None:
    """Print a task's stdout (or stderr) log."""
    found = find_alloc(ctx, alloc_id)
    task = task or only_task(found)
    out = click.get_binary_stream("stdout")
    chunks = ctx.client().stream_logs(
        found.id,
        task,
        kind="stderr" if stderr else "stdout",
        follow=follow,
        origin="end" if tail else "start",
        offset=offset if tail else 0,
    )
    try:
        for chunk in chunks:
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        sys.exit(0)


def only_task(found: AllocWithJob) -> str:
    """The task to read when none is named: the group's only task."""
    group = found.job.group(found.task_group) if found.job else None
    names = [t.name for t in group.tasks] if group else sorted(found.task_states)
    if len(names) == 1:
        return names[0]
    listed = ", ".join(names) or "none known"
    raise click.ClickException(
        f"allocation {short(found.id)} has tasks {listed}: name the one to read"
    )
