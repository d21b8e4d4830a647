"""The deployment buttons (promote, fail, pause, resume) and the token form. Every POST
passes the same-origin check, then goes through the API as the user."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gitorch.ui.api import UiApi, seg
from gitorch.ui.guard import TOKEN_COOKIE, same_origin
from gitorch.ui.render import job_url, page
from gitorch.ui.view import failure_page, view

MAX_FORM_BYTES = 8192
ACTIONS = {
    "promote": ("promote", {"All": True}),
    "fail": ("fail", {}),
    "pause": ("pause", {"Pause": True}),
    "resume": ("pause", {"Pause": False}),
}


@view
async def deployment_action(request: Request) -> Response:
    if not same_origin(request):
        return failure_page(request, 403, "cross-site request refused")
    dep_id, action = request.path_params["dep_id"], request.path_params["action"]
    if action not in ACTIONS:
        return failure_page(request, 404, f"no deployment action {action!r}")
    route, body = ACTIONS[action]
    async with UiApi(request) as api:
        dep = await api.get(f"/v1/deployment/{seg(dep_id)}")
        await api.post(f"/v1/deployment/{route}/{seg(dep_id)}", body)
    return RedirectResponse(job_url(dep.get("JobID"), dep.get("Namespace")), status_code=303)


async def token_form(request: Request) -> Response:
    return page(request, "token.html", {"title": "ACL token"})


async def token_save(request: Request) -> Response:
    if not same_origin(request):
        return failure_page(request, 403, "cross-site request refused")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return failure_page(request, 400, "form too large")
    form = parse_qs(body.decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    resp = RedirectResponse("/ui/", status_code=303)
    if token:
        resp.set_cookie(
            TOKEN_COOKIE,
            token,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    else:
        resp.delete_cookie(TOKEN_COOKIE, path="/ui")
    return resp
