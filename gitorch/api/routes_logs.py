"""Task logs: /v1/client/fs/logs/:alloc_id, streamed from this agent's client, or proxied
to the agent of the node that runs the allocation (``gitorch.api.clientproxy``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api import clientproxy
from gitorch.api.filestream import follow_file, start_offset, stream_response
from gitorch.api.http import endpoint, query_bool, query_int
from gitorch.api.nodehop import NodeHop
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend, ClientBackend

Kind = Literal["stdout", "stderr"]


def routes(
    backend: Backend, client: ClientBackend | None, hop: NodeHop = clientproxy.PLAIN
) -> list[BaseRoute]:
    """The logs route, bound to ``backend`` and the local client agent (if any)."""

    @endpoint
    async def logs(request: Request) -> Response:
        alloc_id = request.path_params["alloc_id"]
        q = request.query_params
        task = q.get("task", "")
        if not task:
            raise BadRequestError("must include task name")
        if q.get("type") not in ("stdout", "stderr"):
            raise BadRequestError(f"type must be stdout or stderr, not {q.get('type', '')!r}")
        kind: Kind = "stdout" if q["type"] == "stdout" else "stderr"
        origin = q.get("origin", "start")
        if origin not in ("start", "end"):
            raise BadRequestError(f"origin must be start or end, not {origin!r}")
        offset = query_int(request, "offset", lo=0)  # a file offset: int64, as in Nomad
        follow, plain = query_bool(request, "follow"), query_bool(request, "plain")

        alloc = backend.state.allocs.get(alloc_id)
        if client is not None and (alloc is None or alloc.node_id == client.node_id):
            local = client

            def current_path() -> Path:
                return local.log_path(alloc_id, task, kind)

            path = current_path()

            def done() -> bool:
                current = backend.state.allocs.get(alloc_id)
                return current is not None and current.client_terminal()

            chunks = follow_file(
                current_path,
                path,
                start=start_offset(path, origin, offset),
                follow=follow,
                done=done,
            )
            return stream_response(chunks, plain=plain, file=f"alloc/logs/{task}.{kind}.0")
        if alloc is None:
            raise NotFoundError("alloc not found")
        return await clientproxy.to_alloc_node(request, backend, alloc_id, "logs", hop)

    return [Route("/v1/client/fs/logs/{alloc_id:str}", logs, methods=["GET"])]
