"""ASGI middleware for requests that present a workload identity (a JWT in
``X-Nomad-Token`` or ``Authorization: Bearer``): verify it, and let it reach only what
``gitorch.core.workload`` allows (its own variables, its namespace's services); 403
otherwise, with the reason and never the token. A verified identity is left in
``scope["state"]["workload_identity"]`` for the routes that narrow lists.

Requests with any other token, or none, pass through untouched: ACL tokens are the ACL
gate's business. The ACL gate can call :func:`authorize` itself for the same decision.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from gitorch.api.http import text_response
from gitorch.core.workload import WorkloadClaims, may_call
from gitorch.errors import PermissionDeniedError
from gitorch.server.identity import IdentitySigner, looks_like_jwt

OPEN = frozenset({"/.well-known/jwks.json", "/v1/agent/health"})


def presented(headers: Headers) -> str:
    token = headers.get("x-nomad-token", "")
    auth = headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[len("bearer ") :].strip()
    return token


def authorize(
    signer: IdentitySigner, token: str, method: str, route: str, params: dict[str, Any],
    namespace: str,
) -> WorkloadClaims:  # fmt: skip
    """The verified claims of ``token`` when it may make this call; else
    PermissionDeniedError with the reason."""
    claims = signer.verify(token)
    why = may_call(claims, method, route, {k: str(v) for k, v in params.items()}, namespace)
    if why:
        raise PermissionDeniedError(why)
    return claims


class WorkloadGate:
    def __init__(self, app: ASGIApp, routes: list[BaseRoute], signer: IdentitySigner) -> None:
        self.app = app
        self.routes = routes
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = presented(headers)
        if not looks_like_jwt(token):
            await self.app(scope, receive, send)
            return
        route_path, params = "", {}
        for route in self.routes:
            match, child = route.matches(scope)
            if match == Match.FULL:
                route_path, params = getattr(route, "path", ""), child.get("path_params", {})
                break
        query = QueryParams(scope.get("query_string", b""))
        namespace = query.get("namespace") or headers.get("x-nomad-namespace") or "default"
        try:
            claims = authorize(self.signer, token, scope["method"], route_path, params, namespace)
        except PermissionDeniedError as exc:
            await text_response(f"Permission denied: {exc}", 403)(scope, receive, send)
            return
        scope.setdefault("state", {})["workload_identity"] = claims
        await self.app(scope, receive, send)
