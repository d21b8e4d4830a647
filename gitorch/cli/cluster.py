"""``gitorch server members`` and ``gitorch operator raft list-peers|remove-peer``."""

from __future__ import annotations

from typing import Any

import click

from gitorch.api.client import ApiError
from gitorch.cli.output import Context, emit_json, pass_context, table


@click.group()
def server() -> None:
    """Inspect the cluster's servers."""


@server.command()
@pass_context
def members(ctx: Context) -> None:
    """List the servers, their status (alive, failed, left) and which one leads."""
    client = ctx.client()
    try:
        found: dict[str, Any] = client.request("GET", "/v1/agent/members").json()
    except ApiError as exc:
        if exc.status != 404:
            raise
        _peers_only(ctx)  # an agent without the members route: Raft peers only
        return
    leader = client.leader()
    if ctx.json:
        emit_json(found["Members"])
        return
    rows = []
    for m in found["Members"]:
        tags = m.get("Tags") or {}
        leads = str(f"{m['Addr']}:{m['Port']}" == leader).lower()
        where = (tags.get("build", ""), tags.get("dc", ""), tags.get("region", ""))
        rows.append((m["Name"], m["Addr"], m["Port"], m["Status"], leads, *where))
    headers = ("Name", "Address", "Port", "Status", "Leader", "Build", "Datacenter", "Region")
    click.echo(table(headers, rows))


def _peers_only(ctx: Context) -> None:
    client = ctx.client()
    peers, leader = client.peers(), client.leader()
    if ctx.json:
        emit_json([{"Address": p, "Leader": p == leader} for p in peers])
        return
    rows = []
    for peer in peers:
        host, _, port = peer.rpartition(":")
        rows.append((peer, host or peer, port, "alive", str(peer == leader).lower()))
    click.echo(table(("Name", "Address", "Port", "Status", "Leader"), rows))


@click.group()
def operator() -> None:
    """Operate the cluster: Raft membership."""


@operator.group()
def raft() -> None:
    """Inspect and change the Raft peer set."""


@raft.command("list-peers")
@click.option("-stale", "--stale", is_flag=True, help="Answer from this server's own state.")
@pass_context
def list_peers(ctx: Context, stale: bool) -> None:
    """List the Raft peers as the leader sees them."""
    params = {"stale": "true"} if stale else {}
    config = ctx.client().request("GET", "/v1/operator/raft/configuration", params=params).json()
    if ctx.json:
        emit_json(config)
        return
    rows = [
        (s["Node"], s["ID"], s["Address"], "leader" if s["Leader"] else "follower",
         str(s["Voter"]).lower(), s["RaftProtocol"])
        for s in config["Servers"]
    ]  # fmt: skip
    click.echo(table(("Node", "ID", "Address", "State", "Voter", "RaftProtocol"), rows))


@raft.command("remove-peer")
@click.option("-peer-address", "--peer-address", "address", required=True,
              help="The Raft address (ip:port) of the server to remove.")  # fmt: skip
@pass_context
def remove_peer(ctx: Context, address: str) -> None:
    """Remove a (dead) server from the Raft peer set."""
    ctx.client().request("DELETE", "/v1/operator/raft/peer", params={"address": address})
    click.echo(f'Removed peer with address "{address}"')
