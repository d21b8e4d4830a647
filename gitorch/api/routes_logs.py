"""Task logs: /v1/client/fs/logs/:alloc_id, streamed from this agent's client, or proxied
to the agent of the node that runs the allocation."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Literal

import anyio
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gitorch.api.client import ApiError, open_proxied_stream
from gitorch.api.http import endpoint, nomad_headers, query_bool, query_int, text_response
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend, ClientBackend

POLL_SECONDS = 0.2  # how often a follow re-reads a log file that has not grown
HEARTBEAT_SECONDS = 10.0  # an empty frame this often keeps framed streams alive
CHUNK = 64 * 1024
FORWARDED = "X-Gitorch-Forwarded"  # set on a proxied request so it is never proxied again

Kind = Literal["stdout", "stderr"]


def routes(backend: Backend, client: ClientBackend | None) -> list[BaseRoute]:
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

            chunks = _follow_file(
                current_path,
                path,
                start=_start(path, origin, offset),
                follow=follow,
                done=done,
            )
            return _stream(chunks, plain=plain, file=f"alloc/logs/{task}.{kind}.0")
        if alloc is None:
            raise NotFoundError("alloc not found")
        return await _proxy(request, backend, alloc_id, alloc.node_id)

    return [Route("/v1/client/fs/logs/{alloc_id:str}", logs, methods=["GET"])]


def _start(path: Path, origin: str, offset: int) -> int:
    if origin == "start":
        return offset
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        size = 0
    return max(0, size - offset)


async def _follow_file(
    current_path: Callable[[], Path],
    path: Path,
    *,
    start: int,
    follow: bool,
    done: Callable[[], bool],
) -> AsyncIterator[tuple[int, bytes] | None]:
    """Yield ``(offset, bytes)`` of the file from ``start``; while following, poll for
    growth (and a rotation to a new file), yielding ``None`` when idle, until the task
    is done."""
    pos = start
    while True:
        data = _read(path, pos)
        if data:
            yield pos, data
            pos += len(data)
            continue
        if not follow:
            return
        try:
            latest = current_path()
        except NotFoundError:
            latest = path
        if latest != path:
            path, pos = latest, 0
            continue
        if done():
            if not _read(path, pos):
                return
            continue
        yield None
        await anyio.sleep(POLL_SECONDS)


def _read(path: Path, pos: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(pos)
            return f.read(CHUNK)
    except FileNotFoundError:
        return b""


def _stream(chunks: AsyncIterator[tuple[int, bytes] | None], *, plain: bool, file: str) -> Response:
    """Raw bytes (``plain``) or Nomad's JSON frames ``{"Data", "File", "Offset"}``."""

    async def body() -> AsyncIterator[bytes]:
        idle = 0.0
        async for chunk in chunks:
            if chunk is None:
                idle += POLL_SECONDS
                if not plain and idle >= HEARTBEAT_SECONDS:
                    idle = 0.0
                    yield b"{}"
                continue
            idle = 0.0
            offset, data = chunk
            if plain:
                yield data
            else:
                encoded = base64.b64encode(data).decode("ascii")
                yield json.dumps({"Data": encoded, "File": file, "Offset": offset}).encode()

    media = "text/plain; charset=utf-8" if plain else "application/json"
    return StreamingResponse(body(), media_type=media, headers=nomad_headers())


async def _proxy(request: Request, backend: Backend, alloc_id: str, node_id: str) -> Response:
    """Relay the request to the agent of ``node_id``."""
    node = backend.state.nodes.get(node_id)
    if request.headers.get(FORWARDED) or node is None or not node.http_addr:
        raise NotFoundError(
            f"logs of alloc {alloc_id} live on node {node_id}, which this agent cannot reach"
        )
    headers = {FORWARDED: "1"}
    token = request.headers.get("X-Nomad-Token")
    if token:
        headers["X-Nomad-Token"] = token
    try:
        upstream = await open_proxied_stream(
            node.http_addr, request.url.path, dict(request.query_params), headers
        )
    except ApiError as exc:
        raise NotFoundError(
            f"logs of alloc {alloc_id} live on node {node_id} at {node.http_addr}, "
            f"which did not answer: {exc.message}"
        ) from exc
    if upstream.status_code >= 400:
        text = b""
        async for part in upstream.body:
            text += part
        await upstream.aclose()
        return text_response(text.decode(errors="replace"), upstream.status_code)
    return StreamingResponse(
        upstream.body,
        media_type=upstream.media_type,
        headers=nomad_headers(),
        background=BackgroundTask(upstream.aclose),
    )
