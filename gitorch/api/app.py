"""The Starlette application: Nomad's v1 routes and /v1/gitops over a ``Backend``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gitorch.api import (
    routes_acl,
    routes_aclcaps,
    routes_agent,
    routes_allocs,
    routes_clientalloc,
    routes_clientfs,
    routes_deployments,
    routes_events,
    routes_exec,
    routes_gitops,
    routes_internal,
    routes_jobactions,
    routes_jobs,
    routes_logs,
    routes_metrics,
    routes_namespaces,
    routes_nodes,
    routes_operator,
    routes_opstate,
    routes_scaling,
    routes_search,
    routes_services,
    routes_status,
    routes_system,
    routes_vars,
)
from gitorch.api.authz import AclGate
from gitorch.api.forward import LeaderForwarding, Relay
from gitorch.api.http import error_response, text_response
from gitorch.api.listing import ListOptions
from gitorch.api.nodehop import NodeHop
from gitorch.api.workload import WorkloadGate
from gitorch.server.acl import AclResolver, AclService
from gitorch.server.backend import Backend, ClientBackend, ClusterBackend
from gitorch.server.events import EventBroker
from gitorch.server.identity import IdentitySigner
from gitorch.server.metrics import Metrics
from gitorch.server.operator import OperatorService
from gitorch.server.useractions import UserActions
from gitorch.server.variables import VariableService
from gitorch.ui import routes as ui_routes

# Reachable without a token: load balancers probe health, and Git hosts sign webhooks
# with their own secret instead.
OPEN_PATHS = frozenset({"/v1/agent/health", "/v1/gitops/webhook"})
# The web UI's pages pass through the gate: each one reads the API as the user (the token
# from the UI's cookie or header), so the API's answer, 403 included, is what they show.
def _gated(path: str) -> bool:
    return path not in OPEN_PATHS and path not in ("/", "/ui") and not path.startswith("/ui/")


def _actions_of(backend: Backend) -> UserActions | None:
    actions = getattr(backend, "actions", None)
    return actions if isinstance(actions, UserActions) else None


def make_app(
    backend: Backend,
    client: ClientBackend | None = None,
    *,
    acl_tokens: set[str] | None = None,
    cluster: ClusterBackend | None = None,
    resolver: AclResolver | None = None,
    relay: Relay | None = None,
    node_hop: NodeHop | None = None,
) -> Starlette:
    """Build the HTTP API. With ``acl_tokens`` (ACLs on; the set may be empty), every
    route checks its capability (``gitorch.api.authz``) against the token presented:
    one of these static management tokens, or one from the ACL tables. With ``cluster``
    (a server agent), followers forward to the leader and the membership routes exist.
    ``node_hop``: how client routes are relayed to the agent of the node that runs the
    allocation (HTTPS with the agent's TLS settings; default plain HTTP)."""
    hop = node_hop or NodeHop()
    routes = [
        *routes_jobs.routes(backend),
        *routes_allocs.routes(backend),
        *routes_nodes.routes(backend),
        *routes_status.routes(backend, client, cluster),
        *routes_logs.routes(backend, client, hop),
        *routes_clientfs.routes(backend, client, hop),
        *routes_clientalloc.routes(backend, client, hop),
        *routes_exec.routes(backend, client, hop),
        *routes_gitops.routes(backend),
        *routes_deployments.routes(backend),
        *routes_services.routes(backend),
        *routes_internal.routes(backend),
        *routes_search.routes(backend),
        *routes_namespaces.routes(backend, _actions_of(backend)),
        *routes_scaling.routes(backend),
        *(routes_operator.routes(cluster) if cluster is not None else []),
        *ui_routes(),
    ]
    events = getattr(backend, "events", None)
    if isinstance(events, EventBroker):
        routes.extend(routes_events.routes(events))
    actions = _actions_of(backend)
    if actions is not None:
        routes.extend(routes_jobactions.routes(backend, actions))
        routes.extend(routes_system.routes(actions))
    if isinstance(backend, routes_agent.AgentServer):
        routes.extend(routes_agent.routes(backend, cluster))
    operator = getattr(backend, "operator", None)
    if isinstance(operator, OperatorService):
        routes.extend(routes_opstate.routes(operator))
    metrics = getattr(backend, "metrics", None)
    if isinstance(metrics, Metrics):
        routes.extend(routes_metrics.routes(backend, metrics))
    acl = getattr(backend, "acl", None)
    if isinstance(acl, AclService):
        routes.extend(routes_acl.routes(backend, acl, enabled=acl_tokens is not None))
        routes.extend(routes_aclcaps.routes(backend, enabled=acl_tokens is not None))
    variables, identity = getattr(backend, "variables", None), getattr(backend, "identity", None)
    if isinstance(variables, VariableService) and isinstance(identity, IdentitySigner):
        routes.extend(routes_vars.routes(backend, variables, identity))
    middleware = []
    if isinstance(metrics, Metrics):  # counts every answer, refusals included; judges none
        middleware.append(Middleware(routes_metrics.RequestCounter, counters=metrics.counters))
    if isinstance(identity, IdentitySigner):  # outermost: a workload identity is judged first
        middleware.append(Middleware(WorkloadGate, routes=routes, signer=identity))
    # filter, per_page, next_token on the list routes: outside the ACL gate, so a page is
    # cut from what the token may read
    middleware.append(Middleware(ListOptions))
    if acl_tokens is not None:
        resolver = resolver or AclResolver(lambda: backend.state, acl_tokens)
        gate = Middleware(AclGate, routes=routes, resolver=resolver, state=lambda: backend.state)
        middleware.append(gate)
    if cluster is not None:
        middleware.append(Middleware(LeaderForwarding, cluster=cluster, relay=relay))

    async def not_found(request: Request, exc: Exception) -> Response:
        return text_response("Invalid URL path or method", 404)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return text_response("Invalid method", 405)

    async def server_error(request: Request, exc: Exception) -> Response:
        return error_response(exc)

    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )


class TokenGate:
    """ASGI middleware: refuse requests without an accepted ACL token (403)."""

    def __init__(self, app: ASGIApp, tokens: set[str]) -> None:
        self.app = app
        self.tokens = frozenset(tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _gated(scope["path"]):
            headers = Headers(scope=scope)
            token = headers.get("x-nomad-token", "")
            auth = headers.get("authorization", "")
            if not token and auth.lower().startswith("bearer "):
                token = auth[len("bearer ") :].strip()
            if token not in self.tokens:
                await text_response("Permission denied", 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
