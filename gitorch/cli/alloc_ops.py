"""``gitorch alloc fs|exec|restart|signal``, with Nomad's flags and output shapes.

``alloc fs ALLOC [PATH]`` lists a directory or prints a file of the allocation dir
(``-stat``: its stat line; ``-f``: follow; ``-tail`` with ``-n`` lines or ``-c`` bytes).
``alloc exec [-task T] [-i] [-t] ALLOC CMD...`` runs a command inside the task over
the exec WebSocket and exits with its exit code. ``alloc restart ALLOC [TASK]`` and
``alloc signal [-s SIG] ALLOC [TASK]`` act on one task or on the running tasks.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from typing import Any

import click

from gitorch.api.wsclient import WsClosed
from gitorch.cli.alloc import find_alloc, only_task
from gitorch.cli.alloc_exec import run_exec
from gitorch.cli.alloc_stats import human
from gitorch.cli.output import Context, emit_json, pass_context, table

TAIL_WINDOW = 64 * 1024  # bytes read back from the end to find the last -n lines


@click.command("fs")
@click.argument("alloc_id")
@click.argument("path", default="/")
@click.option("-stat", "--stat", "stat", is_flag=True, help="Show the file's stat line.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing the file as it grows.")
@click.option("-tail", "--tail", is_flag=True, help="Print the end of the file.")
@click.option("-n", "lines", type=int, default=10, help="With -tail: lines from the end.")
@click.option("-c", "nbytes", type=int, default=0, help="With -tail: bytes from the end.")
@click.option("-H", "machine", is_flag=True, help="Sizes in bytes, not humanized.")
@pass_context
def alloc_fs(
    ctx: Context,
    alloc_id: str,
    path: str,
    stat: bool,
    follow: bool,
    tail: bool,
    lines: int,
    nbytes: int,
    machine: bool,
) -> None:
    """List a directory or print a file of an allocation's directory."""
    found = find_alloc(ctx, alloc_id)
    client = ctx.client()
    params = {"path": path}
    info = client.request("GET", f"/v1/client/fs/stat/{found.id}", params=params).json()
    if stat or info.get("IsDir"):
        if stat:
            entries = [info]
        else:
            entries = client.request("GET", f"/v1/client/fs/ls/{found.id}", params=params).json()
        if ctx.json:
            emit_json(entries)
            return
        click.echo(_listing(entries, machine))
        return
    out = click.get_binary_stream("stdout")
    try:
        for chunk in _file_bytes(ctx, found.id, path, follow, tail, lines, nbytes):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        sys.exit(0)


def _file_bytes(
    ctx: Context, alloc_id: str, path: str, follow: bool, tail: bool, lines: int, nbytes: int
) -> Iterator[bytes]:
    client = ctx.client()
    if not tail and not follow:
        resp = client.request("GET", f"/v1/client/fs/cat/{alloc_id}", params={"path": path})
        yield resp.content
        return
    if tail and not nbytes:  # the last -n lines, then follow from the end
        window = _frames(ctx, alloc_id, path, origin="end", offset=TAIL_WINDOW, follow=False)
        text = b"".join(window)
        kept = text.splitlines(keepends=True)[-lines:] if lines > 0 else []
        yield b"".join(kept)
        if follow:
            yield from _frames(ctx, alloc_id, path, origin="end", offset=0, follow=True)
        return
    origin, offset = ("end", nbytes) if tail else ("start", 0)
    yield from _frames(ctx, alloc_id, path, origin=origin, offset=offset, follow=follow)


def _frames(
    ctx: Context, alloc_id: str, path: str, *, origin: str, offset: int, follow: bool
) -> Iterator[bytes]:
    """The data of Nomad's stream frames (back-to-back JSON objects) as they come."""
    params = {
        "path": path,
        "origin": origin,
        "offset": str(offset),
        "follow": str(follow).lower(),
        "namespace": ctx.client().namespace,
    }
    decoder = json.JSONDecoder()
    buffer = ""
    for chunk in ctx.client().stream_plain(f"/v1/client/fs/stream/{alloc_id}", params):
        buffer += chunk.decode()
        while buffer:
            buffer = buffer.lstrip()
            try:
                frame, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError:
                break  # the rest of this frame has not arrived yet
            buffer = buffer[end:]
            data = frame.get("Data") if isinstance(frame, dict) else None
            if data:
                yield base64.b64decode(data)


def _listing(entries: list[dict[str, Any]], machine: bool) -> str:
    rows = [
        (
            e.get("FileMode", ""),
            str(e.get("Size", 0)) if machine else human(int(e.get("Size", 0))),
            str(e.get("ModTime", ""))[:19] + "Z",
            e.get("Name", "") + ("/" if e.get("IsDir") else ""),
        )
        for e in entries
    ]
    return table(("Mode", "Size", "Modified Time", "Name"), rows)


@click.command(
    "exec", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.option("-task", "--task", default="", help="The task to run in (needed with several).")
@click.option(
    "-i",
    "interactive",
    is_flag=False,
    flag_value="true",
    default="true",
    metavar="[=BOOL]",
    help="Pass stdin to the command (default true; -i=false to close it at once).",
)
@click.option(
    "-t",
    "tty",
    is_flag=False,
    flag_value="true",
    default="",
    metavar="[=BOOL]",
    help="Allocate a terminal (default: when stdin is one).",
)
@click.argument("alloc_id")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_context
def alloc_exec(
    ctx: Context, task: str, interactive: str, tty: str, alloc_id: str, command: tuple[str, ...]
) -> None:
    """Run a command inside a running task (its isolation, its environment)."""
    found = find_alloc(ctx, alloc_id)
    task = task or only_task(found)
    use_stdin = _flag("-i", interactive)
    use_tty = _flag("-t", tty) if tty else sys.stdin.isatty() and use_stdin
    try:
        code = run_exec(ctx.client(), found.id, task, list(command), use_stdin, use_tty)
    except WsClosed as exc:
        raise click.ClickException(f"exec session ended before the command did: {exc}") from exc
    sys.exit(code)


def _flag(name: str, value: str) -> bool:
    text = value.lstrip("=").lower()
    if text in ("", "true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise click.UsageError(f"{name} takes true or false, not {value.lstrip('=')!r}")


@click.command("restart")
@click.argument("alloc_id")
@click.argument("task_arg", required=False, default="")
@click.option("-task", "--task", default="", help="The task to restart.")
@click.option("-all-tasks", "--all-tasks", "all_tasks", is_flag=True, help="Every task.")
@pass_context
def alloc_restart(ctx: Context, alloc_id: str, task_arg: str, task: str, all_tasks: bool) -> None:
    """Restart a task of an allocation, or its running tasks, at once (not counted by
    the restart policy)."""
    name = task or task_arg
    if name and all_tasks:
        raise click.UsageError("-all-tasks cannot be used with a task name")
    found = find_alloc(ctx, alloc_id)
    body = {"TaskName": name, "AllTasks": all_tasks}
    ctx.client().request("POST", f"/v1/client/allocation/{found.id}/restart", body=body)


@click.command("signal")
@click.argument("alloc_id")
@click.argument("task_arg", required=False, default="")
@click.option("-s", "sig", default="SIGKILL", help="The signal (default SIGKILL, as Nomad).")
@click.option("-task", "--task", default="", help="The task to signal.")
@pass_context
def alloc_signal(ctx: Context, alloc_id: str, task_arg: str, sig: str, task: str) -> None:
    """Send a signal to a task of an allocation, or to its running tasks."""
    found = find_alloc(ctx, alloc_id)
    body = {"Task": task or task_arg, "Signal": sig}
    ctx.client().request("POST", f"/v1/client/allocation/{found.id}/signal", body=body)
