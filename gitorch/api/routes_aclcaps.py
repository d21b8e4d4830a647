"""``GET /v1/internal/ui/capabilities``: what the caller's own token may do, decided by
the server, so the web UI shows only the buttons a token can use without reading the
policy language itself.

Nomad has no such route (its UI reads each policy's ``RulesJSON`` and re-derives the
decision in JavaScript); gitorch keeps the rules in one place, ``gitorch.core.acl``,
and answers here with the very ``allow`` the ACL gate uses:

    GET /v1/internal/ui/capabilities?namespace=prod      (default: "default"; "*": every
                                                          namespace the token has rights in)
    {"Management": false,
     "Namespaces": {"prod": ["list-jobs", "read-job", ...]},   # sorted; deny never listed
     "Scopes": {"node": ["read"], "agent": [], "operator": ["read", "write"],
                "quota": [], "plugin": []}}                    # levels granted, weakest first

It answers only about the presented token (or the anonymous policy when none is
presented), so it is open in the route table like ``/v1/namespaces``; an unknown or
expired token is refused (403), and with ACLs off it answers 400 as Nomad's ACL routes
do. It is a hint for pages: every route still checks its own capability.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gitorch.api.http import blocking_index, endpoint, json_response
from gitorch.core import nsstate
from gitorch.core.acl import DENY, NAMESPACE_CAPABILITIES, SCOPE_LEVELS, Capability
from gitorch.errors import BadRequestError, PermissionDeniedError
from gitorch.server.acl import Identity
from gitorch.server.backend import Backend

PATH = "/v1/internal/ui/capabilities"
_TABLES = ("acl_policy", "acl_token", "acl_role")
_ASKED = tuple(Capability("namespace", c) for c in sorted(NAMESPACE_CAPABILITIES - {DENY}))
_SCOPES = tuple(
    (scope, tuple(Capability(scope, level) for level in levels))  # type: ignore[arg-type]
    for scope, levels in SCOPE_LEVELS.items()
)


def granted(who: Identity, namespaces: list[str]) -> dict[str, Any]:
    """The answer: the gate's own decision (``Identity.allows``), asked for each
    namespace capability in each of ``namespaces`` and each level of each scope."""
    return {
        "Management": who.management,
        "Namespaces": {ns: [c.action for c in _ASKED if who.allows(c, ns)] for ns in namespaces},
        "Scopes": {scope: [c.action for c in levels if who.allows(c)] for scope, levels in _SCOPES},
    }


def routes(backend: Backend, *, enabled: bool) -> list[BaseRoute]:
    """The capabilities route (the resolver has already refused an expired token)."""

    @endpoint
    async def capabilities(request: Request) -> Response:
        if not enabled:
            raise BadRequestError("ACL support disabled")
        who = request.scope.get("state", {}).get("acl_identity")
        if not isinstance(who, Identity):
            raise PermissionDeniedError("no ACL identity for this request")
        if who.problem:
            raise PermissionDeniedError(who.problem)
        index = await blocking_index(request, backend, _TABLES)
        asked = request.query_params.get("namespace") or "default"
        wildcard = asked == "*"
        names = nsstate.names(backend.state) if wildcard else [asked]
        body = granted(who, names)
        if wildcard:  # only the namespaces where the token holds something
            body["Namespaces"] = {ns: caps for ns, caps in body["Namespaces"].items() if caps}
        return json_response(body, index=index)

    return [Route(PATH, capabilities, methods=["GET"])]
