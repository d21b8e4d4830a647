"""The cluster's pages: nodes (list and one node with its allocations) and evaluations
(with each one's placement failures)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi, seg
from gitorch.ui.render import page
from gitorch.ui.view import view


@view
async def node_list(request: Request) -> Response:
    async with UiApi(request) as api:
        nodes = await api.get("/v1/nodes")
    nodes.sort(key=lambda n: (n.get("Name", ""), n.get("ID", "")))
    return page(request, "nodes.html", {"title": "Nodes", "nodes": nodes})


@view
async def node_page(request: Request) -> Response:
    node_id = request.path_params["node_id"]
    async with UiApi(request) as api:
        node = await api.get(f"/v1/node/{seg(node_id)}")
        allocs = await api.get(f"/v1/node/{seg(node.get('ID', node_id))}/allocations")
    allocs.sort(key=lambda a: a.get("CreateIndex", 0), reverse=True)
    return page(
        request,
        "node.html",
        {"title": f"Node {node.get('Name', node_id)}", "node": node, "allocs": allocs},
    )


@view
async def eval_list(request: Request) -> Response:
    async with UiApi(request) as api:
        evals = await api.get("/v1/evaluations")
    evals.sort(key=lambda e: e.get("CreateIndex", 0), reverse=True)
    return page(
        request, "evals.html", {"title": "Evaluations", "evals": evals[:500], "total": len(evals)}
    )
