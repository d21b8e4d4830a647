"""Where a /v1/client/... request is answered: by this agent's client when the
allocation (or node) is its own, else relayed to the agent of the node that runs it
(Nomad's servers forward these to the node by RPC). A relayed request carries
``X-Gitorch-Forwarded`` and is never relayed again. With TLS on the hop is HTTPS and
checks the client agent's certificate (``gitorch.api.nodehop``)."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gitorch.api.client import ApiError, open_proxied_stream
from gitorch.api.http import nomad_headers, text_response
from gitorch.api.nodehop import NodeHop
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import Backend, ClientBackend

FORWARDED = "X-Gitorch-Forwarded"  # set on a proxied request so it is never proxied again
_PASSED = ("X-Nomad-Token", "Authorization", "Content-Type")


def local_client(
    backend: Backend, client: ClientBackend | None, alloc_id: str
) -> ClientBackend | None:
    """This agent's client when it answers for ``alloc_id`` (the allocation runs here,
    or the state does not know it and the client may: a client-only agent); None when
    another node runs it; NotFoundError when nobody knows it."""
    alloc = backend.state.allocs.get(alloc_id)
    if client is not None and (alloc is None or alloc.node_id == client.node_id):
        return client
    if alloc is None:
        raise NotFoundError(f"Unknown allocation {alloc_id!r}")
    return None


def local_node(request: Request, client: ClientBackend | None) -> ClientBackend | None:
    """This agent's client for a node-wide route (``?node_id=`` absent or its own),
    else None (relay to that node); BadRequestError when there is neither."""
    node_id = request.query_params.get("node_id", "")
    if client is not None and node_id in ("", client.node_id):
        return client
    if not node_id:
        raise BadRequestError("this agent runs no client: pass ?node_id= to name the node")
    return None


PLAIN = NodeHop()  # no TLS: plain HTTP to the client agent


async def to_alloc_node(
    request: Request, backend: Backend, alloc_id: str, what: str, hop: NodeHop = PLAIN
) -> Response:
    """Relay the request to the agent of the node that runs ``alloc_id``."""
    alloc = backend.state.allocs.get(alloc_id)
    if alloc is None:
        raise NotFoundError(f"Unknown allocation {alloc_id!r}")
    return await to_node(request, backend, alloc.node_id, f"{what} of alloc {alloc_id}", hop)


async def to_node(
    request: Request, backend: Backend, node_id: str, what: str, hop: NodeHop = PLAIN
) -> Response:
    """Relay the request (method, query, body, token) to the agent of ``node_id`` and
    stream its answer back."""
    node = backend.state.nodes.get(node_id)
    if request.headers.get(FORWARDED) or node is None or not node.http_addr:
        raise NotFoundError(f"{what} lives on node {node_id}, which this agent cannot reach")
    headers = {FORWARDED: "1"}
    for name in _PASSED:
        value = request.headers.get(name)
        if value:
            headers[name] = value
    body = await request.body() if request.method not in ("GET", "HEAD") else b""
    address = node.http_addr
    try:
        upstream = await hop.to_client(
            address,
            lambda name: open_proxied_stream(
                hop.url(address),
                request.url.path,
                dict(request.query_params),
                headers,
                method=request.method,
                body=body,
                verify=hop.client_context(),
                sni=name,
            ),
        )
    except ApiError as exc:
        raise NotFoundError(
            f"{what} lives on node {node_id} at {node.http_addr}, which did not answer: "
            f"{exc.message}"
        ) from exc
    if upstream.status_code >= 400:
        text = b""
        async for part in upstream.body:
            text += part
        await upstream.aclose()
        return text_response(text.decode(errors="replace"), upstream.status_code)
    return StreamingResponse(
        upstream.body,
        status_code=upstream.status_code,
        media_type=upstream.media_type,
        headers=nomad_headers(),
        background=BackgroundTask(upstream.aclose),
    )
