"""Variables: the list (path, namespace, when modified; ``?prefix=`` and ``?namespace=``)
and one variable's page, whose items show their keys with the values hidden.

A value reaches the page only when the user asks: the Reveal buttons POST back to the
same page (one item, or all), through the same-origin check every UI POST passes.
POST rather than ``GET ?reveal=1``, though revealing changes nothing: a revealed page
then never has a URL of its own, so a secret does not land in the browser's history,
a bookmark, a link pasted into a chat, a proxy's log or a prefetch; and a refresh (or
the live updater, which GETs) hides the values again. Every variable page is sent with
``Cache-Control: no-store``. Nomad's UI hides values the same way until clicked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import Response

from gitorch.ui.api import UiApi
from gitorch.ui.guard import same_origin
from gitorch.ui.render import page
from gitorch.ui.view import failure_page, view

MAX_FORM_BYTES = 8192
NO_STORE = "no-store"


def api_path(path: str) -> str:
    """A variable path for ``/v1/var/``: segments quoted, dots too, so ``a/../b``
    reaches the API as typed (and is refused there) instead of being folded by the
    HTTP client."""
    return quote(path.strip("/"), safe="/").replace(".", "%2E")


@view
async def var_list(request: Request) -> Response:
    q = request.query_params
    prefix, ns = q.get("prefix", "").strip(), q.get("namespace", "*") or "*"
    async with UiApi(request) as api:
        found = await api.get("/v1/vars", prefix=prefix, namespace=ns)
        namespaces = await api.get_or("/v1/namespaces", [])
    found.sort(key=lambda v: (v.get("Namespace", ""), v.get("Path", "")))
    return page(
        request,
        "variables.html",
        {
            "title": "Variables",
            "variables": found,
            "prefix": prefix,
            "namespace": ns,
            "namespaces": [n.get("Name", "") for n in namespaces],
        },
    )


async def _show(request: Request, reveal: set[str], reveal_all: bool = False) -> Response:
    """The variable's page with the items in ``reveal`` (or all) shown, the rest hidden."""
    path = request.path_params["path"]
    ns = request.query_params.get("namespace", "default") or "default"
    async with UiApi(request) as api:
        var = await api.get(f"/v1/var/{api_path(path)}", namespace=ns)
    items: dict[str, Any] = var.get("Items") or {}
    shown = set(items) if reveal_all else reveal & set(items)
    rows = [{"key": k, "value": str(items[k]) if k in shown else None} for k in sorted(items)]
    resp = page(
        request,
        "variable.html",
        {
            "title": f"Variable {var.get('Path', path)}",
            "var": var,
            "rows": rows,
            "revealed": bool(shown),
            "action": f"/ui/variable/{quote(str(var.get('Path', path)), safe='/')}"
            + f"?namespace={quote(str(var.get('Namespace', ns)), safe='')}",
        },
    )
    resp.headers["Cache-Control"] = NO_STORE
    return resp


@view
async def var_page(request: Request) -> Response:
    return await _show(request, set())


@view
async def var_reveal(request: Request) -> Response:
    """The Reveal form: ``key=K`` shows that item, ``all=1`` every item."""
    if not same_origin(request):
        return failure_page(request, 403, "cross-site request refused")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return failure_page(request, 400, "form too large")
    form = parse_qs(body.decode("utf-8", "replace"))
    return await _show(request, set(form.get("key") or []), reveal_all=bool(form.get("all")))
