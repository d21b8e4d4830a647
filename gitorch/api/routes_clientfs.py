"""An allocation's files, as Nomad's /v1/client/fs/{ls,stat,cat,readat,stream}/:alloc_id,
answered by this agent's client or relayed to the node that runs the allocation.

``?path=`` is relative to the allocation dir and confined to it (``gitorch.api.allocfs``).
``cat`` and ``readat`` answer the bytes; ``stream`` answers Nomad's JSON frames
(``{"Data", "File", "Offset"}``, ``{}`` heartbeats) and follows the file by default,
until the allocation is done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gitorch.api import clientproxy
from gitorch.api.allocfs import AllocFs
from gitorch.api.filestream import follow_open, read_range, stream_response
from gitorch.api.http import endpoint, json_response, nomad_headers, query_bool, query_int
from gitorch.api.nodehop import NodeHop
from gitorch.errors import BadRequestError
from gitorch.server.backend import Backend, ClientBackend

PREFIX = "/v1/client/fs"
# bytes a task wrote are shown, never run: no sniffing, no scripts (Nomad's
# wrapUntrustedContent)
UNTRUSTED = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


def routes(
    backend: Backend, client: ClientBackend | None, hop: NodeHop = clientproxy.PLAIN
) -> list[BaseRoute]:
    """The fs routes, bound to ``backend`` and the local client agent (if any)."""

    def files(request: Request) -> AllocFs | None:
        """The allocation's files here, or None when another node has them."""
        alloc_id = request.path_params["alloc_id"]
        local = clientproxy.local_client(backend, client, alloc_id)
        if local is None:
            return None
        root, tasks = local.alloc_dir(alloc_id)
        return AllocFs.of(alloc_id, root, tasks)

    def required_path(request: Request) -> str:
        path = request.query_params.get("path", "")
        if not path:
            raise BadRequestError("must provide a file name (?path=)")
        return path

    async def relay(request: Request) -> Response:
        alloc_id = request.path_params["alloc_id"]
        return await clientproxy.to_alloc_node(request, backend, alloc_id, "the files", hop)

    @endpoint
    async def ls(request: Request) -> Response:
        fs = files(request)
        if fs is None:
            return await relay(request)
        return json_response(fs.listing(request.query_params.get("path") or "/"))

    @endpoint
    async def stat(request: Request) -> Response:
        path = required_path(request)
        fs = files(request)
        if fs is None:
            return await relay(request)
        return json_response(fs.stat(path))

    @endpoint
    async def cat(request: Request) -> Response:
        path = required_path(request)
        fs = files(request)
        if fs is None:
            return await relay(request)
        return _bytes(read_range(fs.open(path), 0, 0))

    @endpoint
    async def readat(request: Request) -> Response:
        path = required_path(request)
        if not request.query_params.get("offset"):
            raise BadRequestError("must provide an offset (?offset=, bytes from the start)")
        offset = query_int(request, "offset", lo=0)
        limit = query_int(request, "limit", lo=0)
        fs = files(request)
        if fs is None:
            return await relay(request)
        return _bytes(read_range(fs.open(path), offset, limit))

    @endpoint
    async def stream(request: Request) -> Response:
        path = required_path(request)
        origin = request.query_params.get("origin") or "start"
        if origin not in ("start", "end"):
            raise BadRequestError(f"origin must be start or end, not {origin!r}")
        offset = query_int(request, "offset", lo=0)
        follow = query_bool(request, "follow", default=True)  # Nomad follows by default
        fs = files(request)
        if fs is None:
            return await relay(request)
        alloc_id = fs.alloc_id
        f = fs.open(path)
        size = f.seek(0, 2)
        start = offset if origin == "start" else max(0, size - offset)

        def done() -> bool:
            alloc = backend.state.allocs.get(alloc_id)
            return alloc is None or alloc.client_terminal()

        chunks = follow_open(f, start=start, follow=follow, done=done)
        return stream_response(chunks, plain=False, file=path)

    param = "{alloc_id:str}"
    return [
        Route(f"{PREFIX}/ls/{param}", ls, methods=["GET"]),
        Route(f"{PREFIX}/stat/{param}", stat, methods=["GET"]),
        Route(f"{PREFIX}/cat/{param}", cat, methods=["GET"]),
        Route(f"{PREFIX}/readat/{param}", readat, methods=["GET"]),
        Route(f"{PREFIX}/stream/{param}", stream, methods=["GET"]),
    ]


def _bytes(chunks: AsyncIterator[bytes]) -> Response:
    headers = {**nomad_headers(), **UNTRUSTED}
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8", headers=headers)
