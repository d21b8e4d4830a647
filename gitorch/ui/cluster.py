"""The cluster's pages: nodes (a page of the list with pool, devices and how full each
is; one node with its bin-packing picture, devices and allocations) and evaluations
(with each one's placement failures)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi, seg
from gitorch.ui.render import page
from gitorch.ui.topology import WIDTH, devices, node_details, node_rows, packing, page_of
from gitorch.ui.view import view

PAGE = 100  # nodes per page of the list (a page costs two in-process reads, any size)


@view
async def node_list(request: Request) -> Response:
    async with UiApi(request) as api:
        stubs = await node_rows(api)
        stubs.sort(key=lambda n: (n.get("Name", ""), n.get("ID", "")))
        number, pages = page_of(request, len(stubs), PAGE)
        nodes = await node_details(api, stubs[(number - 1) * PAGE : number * PAGE])
    return page(
        request,
        "nodes.html",
        {
            "title": "Nodes",
            "nodes": nodes,
            "total": len(stubs),
            "first": (number - 1) * PAGE + 1 if nodes else 0,
            "page": number,
            "pages": pages,
        },
    )


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
        {
            "title": f"Node {node.get('Name', node_id)}",
            "node": node,
            "allocs": allocs,
            "pack": packing(node, allocs),
            "devices": devices(node),
            "width": WIDTH,
        },
    )


@view
async def eval_list(request: Request) -> Response:
    async with UiApi(request) as api:
        evals = await api.get("/v1/evaluations")
    evals.sort(key=lambda e: e.get("CreateIndex", 0), reverse=True)
    return page(
        request, "evals.html", {"title": "Evaluations", "evals": evals[:500], "total": len(evals)}
    )
