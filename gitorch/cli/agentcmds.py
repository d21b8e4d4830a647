"""``gitorch monitor`` (stream the agent's log lines), ``gitorch ui`` (the web UI's
address) and ``gitorch server join|force-leave``, as Nomad's (registered by
``gitorch.cli.main``)."""

from __future__ import annotations

import sys
import webbrowser

import click

from gitorch.cli.job_versions import find_job
from gitorch.cli.output import Context, emit_json, pass_context


@click.command()
@click.option("-log-level", "--log-level", "log_level", default="info",
              help="trace, debug, info, warn or error.")  # fmt: skip
@click.option("-node-id", "--node-id", "node_id", default="", help="Not supported: ask that agent.")
@click.option("-server-id", "--server-id", "server_id", default="",
              help="Not supported: ask that server.")  # fmt: skip
@pass_context
def monitor(ctx: Context, log_level: str, node_id: str, server_id: str) -> None:
    """Stream the agent's log lines at LOG_LEVEL and finer, until interrupted."""
    if node_id or server_id:
        raise click.UsageError("gitorch monitors the agent asked: point -address at it")
    params = {"log_level": log_level, "plain": "true"}
    out = sys.stdout.buffer
    try:
        for chunk in ctx.client().stream_plain("/v1/agent/monitor", params):
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        return


@click.command()
@click.argument("identifier", required=False)
@click.option("-show-url", "--show-url", is_flag=True, help="Print the URL; open no browser.")
@click.option("-authenticate", "--authenticate", is_flag=True,
              help="Not supported: sign in on the UI's token page.")  # fmt: skip
@pass_context
def ui(ctx: Context, identifier: str | None, show_url: bool, authenticate: bool) -> None:
    """Open the web UI (of a job, given its ID or prefix) in the default browser."""
    if authenticate:
        raise click.UsageError("-authenticate is not supported: paste a token on /ui/token")
    client = ctx.client()
    client.request("GET", "/v1/agent/health")  # a clear error when nothing answers there
    url = f"{client.address}/ui"
    if identifier:
        url += f"/job/{find_job(ctx, identifier)}"
    if show_url:
        click.echo(f"URL for web UI: {url}")
        return
    click.echo(f"Opening URL {url!r}")
    if not webbrowser.open(url):
        click.echo(f"No browser could be started: open {url} yourself", err=True)


@click.command("join")
@click.argument("addresses", nargs=-1, required=True)
@pass_context
def server_join(ctx: Context, addresses: tuple[str, ...]) -> None:
    """Check that the servers at ADDRESSES (Raft host:port) are members of this
    cluster: gitorch servers join through Raft when they start (server_join)."""
    client = ctx.client()
    results = [
        client.request("PUT", "/v1/agent/join", params={"address": a}).json() for a in addresses
    ]
    joined = sum(int(r.get("num_joined", 0)) for r in results)
    errors = [str(r["error"]) for r in results if r.get("error")]
    if ctx.json:
        emit_json({"num_joined": joined, "error": "; ".join(errors)})
    if errors:
        raise click.ClickException(f"Error joining: {'; '.join(errors)}")
    if not ctx.json:
        click.echo(f"Joined {joined} servers successfully")


@click.command("force-leave")
@click.argument("node")
@pass_context
def force_leave(ctx: Context, node: str) -> None:
    """Remove a failed server (by name, or Raft host:port) from the cluster."""
    ctx.client().request("PUT", "/v1/agent/force-leave", params={"node": node})


def register(cli: click.Group, server: click.Group) -> None:
    cli.add_command(monitor)
    cli.add_command(ui)
    server.add_command(server_join)
    server.add_command(force_leave)
