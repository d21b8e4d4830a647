"""An allocation's files: ``/ui/allocation/:id/fs?path=&offset=``.

A directory is listed through ``/v1/client/fs/ls`` (directories first, then by name,
with sizes and modes, each a link). A file is shown one window of ``WINDOW`` bytes at a
time through ``/v1/client/fs/readat``: the last window by default, with links to the
previous and next ones, so a 100 MB file is never loaded whole. A file the API sniffs as
binary (or a window holding NUL bytes) is a notice, not bytes. A path the API refuses
(outside the allocation dir: 400; a task's secrets: 403; missing: 404) is a page saying
so, with the way back.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import ApiFailure, UiApi, seg
from gitorch.ui.render import page
from gitorch.ui.view import view

WINDOW = 64 * 1024
BINARY = "application/octet-stream"


class FsApi(UiApi):
    """``UiApi`` with the fs routes, whose query parameter is named ``path``."""

    async def fs(self, op: str, alloc_id: str, **params: str) -> httpx.Response:
        url = f"/v1/client/fs/{op}/{seg(alloc_id)}"
        r = await self._client.get(url, params=params)
        if r.status_code >= 400:
            raise ApiFailure(r.status_code, r.text.strip()[:2000], url)
        return r


def clean(path: str) -> str:
    """The path as the API takes it, relative to the allocation dir ("" for its root)."""
    return "/".join(p for p in path.replace("\\", "/").split("/") if p and p != ".")


def crumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) for each step from the allocation dir down to ``path``."""
    parts = path.split("/") if path else []
    return [(p, "/".join(parts[: i + 1])) for i, p in enumerate(parts)]


def entries(listing: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """Directories first, then files, each by name, with the path its link opens."""
    rows = [
        {**e, "path": f"{path}/{e.get('Name', '')}" if path else str(e.get("Name", ""))}
        for e in listing
        if isinstance(e, dict)
    ]
    return sorted(rows, key=lambda e: (not e.get("IsDir"), str(e.get("Name", ""))))


def window(size: int, asked: str) -> tuple[int, int]:
    """The window's (offset, end): the last ``WINDOW`` bytes unless ``asked`` says where."""
    try:
        offset = int(asked) if asked else max(0, size - WINDOW)
    except ValueError:
        offset = max(0, size - WINDOW)
    offset = max(0, min(offset, max(0, size - 1)))
    return offset, min(size, offset + WINDOW)


@view
async def files(request: Request) -> Response:
    alloc_id = request.path_params["alloc_id"]
    path = clean(request.query_params.get("path", ""))
    api = FsApi(request)
    async with api:
        alloc = await api.get(f"/v1/allocation/{seg(alloc_id)}")
        full_id = str(alloc.get("ID", alloc_id))
        context: dict[str, Any] = {
            "title": f"Files of {alloc.get('Name', alloc_id)}: /{path}",
            "alloc": alloc,
            "path": path,
            "crumbs": crumbs(path),
            "error": "",
            "listing": None,
            "file": None,
        }
        try:
            info = (await api.fs("stat", full_id, path=path or "/")).json()
            if info.get("IsDir"):
                listing = (await api.fs("ls", full_id, path=path or "/")).json()
                context["listing"] = entries(listing or [], path)
            else:
                offset = request.query_params.get("offset", "")
                context["file"] = await read_window(api, full_id, path, info, offset)
        except ApiFailure as exc:
            context["error"] = exc.message
            context["title"] = f"Files of {alloc.get('Name', alloc_id)}: refused"
            status = exc.status if exc.status in (400, 403, 404) else 502
            return page(request, "alloc_files.html", context, status_code=status)
    return page(request, "alloc_files.html", context)


async def read_window(
    api: FsApi, alloc_id: str, path: str, info: dict[str, Any], asked: str
) -> dict[str, Any]:
    """One window of a text file (the bytes between ``offset`` and ``end``)."""
    size = int(info.get("Size") or 0)
    offset, end = window(size, asked)
    shown: dict[str, Any] = {
        "info": info,
        "size": size,
        "offset": offset,
        "end": end,
        "text": "",
        "binary": info.get("ContentType") == BINARY,
        "prev": max(0, offset - WINDOW) if offset > 0 else None,
        "next": end if end < size else None,
        "last": max(0, size - WINDOW),
    }
    if shown["binary"] or size == 0:
        return shown
    r = await api.fs("readat", alloc_id, path=path, offset=str(offset), limit=str(end - offset))
    data = r.content[:WINDOW]
    if b"\x00" in data:
        shown["binary"] = True
    else:
        shown["text"] = data.decode("utf-8", "replace")
    return shown
