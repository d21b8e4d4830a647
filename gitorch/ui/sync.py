"""The Sync button: a dry run first, its diff shown, then the real sync on a second POST,
as ``gitorch diff`` then ``gitorch sync`` do. The Apply form carries the commit the dry
run showed, so exactly that commit is applied: if the branch moved in between, the API
answers 409 naming both commits and nothing changes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi
from gitorch.ui.guard import same_origin
from gitorch.ui.render import page
from gitorch.ui.view import failure_page, view

MAX_FORM_BYTES = 4096
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


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
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return failure_page(request, 400, "form too large")
    commit = (parse_qs(body.decode("utf-8", "replace")).get("commit") or [""])[0].strip()
    if commit and not _SHA.fullmatch(commit):
        return failure_page(request, 400, "the form's commit is not a commit SHA")
    sync: dict[str, object] = {"DryRun": False}
    if commit:
        sync["Commit"] = commit
    async with UiApi(request) as api:
        report = await api.post("/v1/gitops/sync", sync)
    return page(request, "sync.html", {"title": "Sync: applied", "report": report})
