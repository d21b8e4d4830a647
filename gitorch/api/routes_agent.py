"""Agent, node and system routes beyond the basics, in Nomad's shapes:
``/v1/agent/servers|join|force-leave|host|schedulers|monitor``,
``/v1/node/:id/evaluate|purge``, ``/v1/system/reconcile/summaries``, and Nomad's 501
answer for the Enterprise-only paths."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gitorch.api import hostdata
from gitorch.api.http import (
    endpoint,
    json_response,
    nomad_headers,
    query_bool,
    text_response,
)
from gitorch.codec import to_json
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import ClusterBackend
from gitorch.server.monitor import MONITOR, LogMonitor, parse_level

ENTERPRISE_ONLY = "Nomad Enterprise only endpoint"
# Nomad's OSS agent answers these with 501 (command/agent/http_ce.go)
ENTERPRISE_PATHS = (
    "/v1/sentinel/policies", "/v1/sentinel/policy/{rest:path}", "/v1/quotas",
    "/v1/quota-usages", "/v1/quota/{rest:path}", "/v1/quota", "/v1/recommendation",
    "/v1/recommendations", "/v1/recommendations/apply", "/v1/recommendation/{rest:path}",
)  # fmt: skip
ALL_METHODS = ["GET", "PUT", "POST", "DELETE"]


@runtime_checkable
class AgentServer(Protocol):
    """What these routes ask of the server agent (``gitorch.server.server.Server``)."""

    name: str

    def peers(self) -> list[str]: ...
    def leader(self) -> str: ...
    def evaluate_node(self, node_id: str) -> tuple[int, list[str]]: ...
    def purge_node(self, node_id: str) -> tuple[int, list[str]]: ...
    def workers_info(self) -> list[dict[str, Any]]: ...


def _node_response(index: int, eval_ids: list[str]) -> Response:
    body = {
        "EvalIDs": eval_ids,
        "EvalCreateIndex": index if eval_ids else 0,
        "NodeModifyIndex": index,
        "Index": index,
        "LastContact": 0,
        "KnownLeader": True,
    }
    return json_response(body, index=index)


def routes(
    server: AgentServer, cluster: ClusterBackend | None, monitor: LogMonitor = MONITOR
) -> list[BaseRoute]:
    @endpoint
    async def servers(request: Request) -> Response:
        return json_response(await run_in_threadpool(server.peers))

    @endpoint
    async def set_servers(request: Request) -> Response:
        raise BadRequestError(
            "this agent is a server: its client (if any) talks to it directly; a client-only "
            "agent takes its servers from client { servers = [...] } in its configuration"
        )

    @endpoint
    async def join(request: Request) -> Response:
        addresses = request.query_params.getlist("address")
        if not addresses:
            raise BadRequestError("Must specify at least one ?address= to join")
        known = set(await run_in_threadpool(server.peers))
        if cluster is not None:
            members = await run_in_threadpool(cluster.agent_members)
            known |= {f"{m.addr}:{m.port}" for m in members.members if m.status == "alive"}
        joined = [a for a in addresses if a in known]
        missing = [a for a in addresses if a not in known]
        error = ""
        if missing:
            error = (
                f"{', '.join(missing)}: not a member of this cluster; gitorch servers join "
                "through Raft when they start (server { server_join { retry_join = [...] } })"
            )
        return json_response({"num_joined": len(joined), "error": error, "warning": ""})

    @endpoint
    async def force_leave(request: Request) -> Response:
        name = request.query_params.get("node", "")
        if not name:
            raise BadRequestError("Must specify the server to remove with ?node=")
        if cluster is None:
            raise BadRequestError("this agent is a lone server: there is no member to remove")
        members = (await run_in_threadpool(cluster.agent_members)).members
        found = [m for m in members if name in (m.name, f"{m.addr}:{m.port}")]
        if not found:
            names = ", ".join(m.name for m in members)
            raise NotFoundError(f"no server named {name[:80]!r} (members: {names})")
        member = found[0]
        if member.status == "alive":
            raise BadRequestError(
                f"server {member.name} is alive: force-leave removes failed servers only"
            )
        if member.status != "left":
            await run_in_threadpool(cluster.remove_raft_peer, f"{member.addr}:{member.port}")
        return Response(b"", headers=nomad_headers())

    @endpoint
    async def host(request: Request) -> Response:
        if request.query_params.get("node_id") or request.query_params.get("server_id"):
            raise BadRequestError(
                "gitorch answers /v1/agent/host for the agent asked only: "
                "send the request to that agent's address"
            )
        data = await run_in_threadpool(hostdata.host_data, server.name, [])
        return json_response(data)

    @endpoint
    async def schedulers(request: Request) -> Response:
        workers = await run_in_threadpool(server.workers_info)
        return json_response({"server_id": server.name, "schedulers": workers})

    @endpoint
    async def monitor_logs(request: Request) -> Response:
        try:
            level = parse_level(request.query_params.get("log_level") or "info")
        except ValueError as exc:
            raise BadRequestError(str(exc)) from exc
        plain = query_bool(request, "plain")
        if request.query_params.get("node_id") and request.query_params.get("server_id"):
            raise BadRequestError("Cannot target node and server simultaneously")
        follower = monitor.follow(level)

        async def lines() -> AsyncIterator[bytes]:
            try:
                while True:
                    batch: list[str] = []
                    while len(batch) < 256 and not follower.lines.empty():
                        batch.append(follower.lines.get_nowait())
                    if follower.dropped:
                        batch.append(f"[monitor: {follower.dropped} lines dropped]")
                        follower.dropped = 0
                    if not batch:
                        await anyio.sleep(0.1)
                        continue
                    text = ("\n".join(batch) + "\n").encode()
                    if plain:
                        yield text
                    else:
                        yield to_json({"Data": base64.b64encode(text).decode()}) + b"\n"
            finally:
                monitor.unfollow(follower)

        media = "text/plain" if plain else "application/json"
        return StreamingResponse(lines(), media_type=media, headers=nomad_headers())

    @endpoint
    async def node_evaluate(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        index, ids = await run_in_threadpool(server.evaluate_node, node_id)
        return _node_response(index, ids)

    @endpoint
    async def node_purge(request: Request) -> Response:
        node_id = request.path_params["node_id"]
        index, ids = await run_in_threadpool(server.purge_node, node_id)
        return _node_response(index, ids)

    @endpoint
    async def reconcile_summaries(request: Request) -> Response:
        # job summaries are computed from the allocations on every read: nothing drifts
        return Response(b"", headers=nomad_headers())

    async def enterprise_only(request: Request) -> Response:
        return text_response(ENTERPRISE_ONLY, 501)

    return [
        Route("/v1/agent/servers", servers, methods=["GET"]),
        Route("/v1/agent/servers", set_servers, methods=["PUT", "POST"]),
        Route("/v1/agent/join", join, methods=["PUT", "POST"]),
        Route("/v1/agent/force-leave", force_leave, methods=["PUT", "POST"]),
        Route("/v1/agent/host", host, methods=["GET"]),
        Route("/v1/agent/schedulers", schedulers, methods=["GET"]),
        Route("/v1/agent/monitor", monitor_logs, methods=["GET"]),
        Route("/v1/node/{node_id:str}/evaluate", node_evaluate, methods=["PUT", "POST"]),
        Route("/v1/node/{node_id:str}/purge", node_purge, methods=["PUT", "POST"]),
        Route("/v1/system/reconcile/summaries", reconcile_summaries, methods=["PUT", "POST"]),
        *(Route(p, enterprise_only, methods=ALL_METHODS) for p in ENTERPRISE_PATHS),
    ]
