"""The Sync button: a dry run first, its diff shown, then the real sync on a second POST,
as ``gitorch diff`` then ``gitorch sync`` do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi
from gitorch.ui.guard import same_origin
from gitorch.ui.render import page
from gitorch.ui.view import failure_page, view


@view
async def dry_run(request: Request) -> Response:
    if not same_origin(request):
        return failure_page(request, 403, "cross-site request refused")
    async with UiApi(request) as api:
        report = await api.post("/v1/gitops/sync", {"DryRun": True})
    return page(request, "sync.html", {"title": "Sync: dry run", "report": report})


@view
async def apply(request: Request) -> Response:
    if not same_origin(request):
        return failure_page(request, 403, "cross-site request refused")
    async with UiApi(request) as api:
        report = await api.post("/v1/gitops/sync", {"DryRun": False})
    return page(request, "sync.html", {"title": "Sync: applied", "report": report})
