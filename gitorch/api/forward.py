"""Request forwarding, as Nomad's servers and client agents forward RPCs.

``LeaderForwarding`` (server agents): a follower relays every write, and every read
without ``?stale``, to the leader's HTTP address (from the replicated member registry)
and hands back its status, headers and body. Agent, status and client routes are
always answered locally. A relayed request carries ``X-Gitorch-Forwarded`` and is never
relayed again: a server that gets one while not leading answers 503 with
``X-Gitorch-Not-Leader`` (nothing was done), and the relaying server tries again.

``Relay`` is the HTTP hop shared with client agents, which proxy to their servers.
Retries: a request that could not be sent (connection refused, no leader yet) is
retried until ``retry_s``; a write whose connection broke after it was sent is not
(it may have been applied) and comes back as 503 saying so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import anyio
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gitorch.api.hop import Answer, Broken, HopClient, NotSent
from gitorch.api.http import parse_wait, text_response
from gitorch.config_tls import TlsSettings
from gitorch.errors import BadRequestError
from gitorch.server.backend import ClusterBackend

log = logging.getLogger(__name__)

FORWARDED = "X-Gitorch-Forwarded"
NOT_LEADER = "X-Gitorch-Not-Leader"
# the event stream and metrics are every server's own (each derives the events from its
# own log): answered where asked, and a stream is never buffered through a relay
LOCAL_PREFIXES = ("/v1/agent/", "/v1/status/", "/v1/client/", "/v1/event/", "/v1/metrics")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HOP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive"})
_HOP_BACK = _HOP | {"date", "server"}  # this agent's own
_NOT_LEADER = NOT_LEADER.lower()


def needs_leader(method: str, path: str, query: str) -> bool:
    """Nomad's rule: writes, and reads not marked ``?stale``, are the leader's."""
    if not path.startswith("/v1/") or path.startswith(LOCAL_PREFIXES):
        return False
    if method not in SAFE_METHODS:
        return True
    params = [p.split("=", 1) for p in query.split("&") if p]
    return not any(p[0] == "stale" and (len(p) == 1 or p[1] in ("", "true", "1")) for p in params)


def request_timeout(request: Request, default: float = 60.0) -> float:
    """A blocking query waits up to ``wait`` on the far side: allow that, plus margin;
    a GitOps sync may fetch a large repository."""
    if request.url.path == "/v1/gitops/sync":
        return 300.0
    if request.query_params.get("index"):
        try:
            return parse_wait(request.query_params.get("wait")) + 15.0
        except BadRequestError:
            return default
    return default


def relayed(answer: Answer) -> Response:
    """The far side's answer, as this agent's response: its status, body (as sent: any
    ``Content-Encoding`` stays with it) and headers, less the hop's own."""
    resp = Response(answer.body, status_code=answer.status)
    for key, value in answer.headers:
        if key.lower() not in _HOP_BACK:
            resp.headers.append(key, value)
    return resp


class Relay:
    """One hop to another agent's HTTP API, with Nomad's retry rules (see above)."""

    def __init__(
        self,
        *,
        retry_s: float = 5.0,
        mark: str | None = FORWARDED,
        tls: TlsSettings | None = None,
        region: str = "global",
    ) -> None:
        self.retry_s = retry_s
        # With tls.http every hop is HTTPS, trusting ca_file, showing the agent's cert;
        # with verify_server_hostname the far side must be server.<region>.nomad.
        self._tls = tls or TlsSettings()
        self.mark = mark  # the header that stops the far side from relaying again
        self._client = HopClient(self._tls.client_context(), self._tls.server_name(region))

    async def send(
        self, request: Request, body: bytes, targets: Callable[[], Sequence[str]]
    ) -> Response:
        """Send to the first of ``targets()`` (``host:port``; re-read on each try)."""
        write = request.method not in SAFE_METHODS
        deadline = time.monotonic() + self.retry_s
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        if self.mark:
            headers.append((self.mark, "1"))
        raw = request.scope.get("raw_path") or request.url.path.encode()  # as it came
        query = request.scope.get("query_string", b"")
        path = (raw + b"?" + query if query else raw).decode("latin-1")
        timeout = request_timeout(request)
        errors: list[str] = []
        while True:
            for target in targets():
                try:
                    up = await self._client.request(
                        target, request.method, path, headers, body, timeout
                    )
                except NotSent as exc:
                    errors.append(f"{target}: {exc}")
                    continue  # never sent: safe to try again
                except Broken as exc:
                    if write:
                        return text_response(
                            f"{target} did not answer ({exc}); the write may or may not "
                            "have been applied: read it back before retrying",
                            503,
                        )
                    errors.append(f"{target}: {exc}")
                    continue
                if up.status == 503 and any(k.lower() == _NOT_LEADER for k, _ in up.headers):
                    errors.append(f"{target}: not the leader")
                    continue  # it did nothing: safe to try again
                return relayed(up)
            if time.monotonic() >= deadline:
                tried = "; ".join(errors[-3:]) or "no cluster leader is known"
                return text_response(f"No cluster leader: {tried}; retry shortly", 503)
            await anyio.sleep(0.05)

    async def aclose(self) -> None:
        await self._client.aclose()


class LeaderForwarding:
    """ASGI middleware for server agents (see the module docstring)."""

    def __init__(self, app: ASGIApp, cluster: ClusterBackend, relay: Relay | None = None) -> None:
        self.app = app
        self.cluster = cluster
        self.relay = relay or Relay()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_leader(
            scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")
        ):
            await self.app(scope, receive, send)
            return
        if self.cluster.is_leader():
            await self.app(scope, receive, send)
            return
        if Headers(scope=scope).get(FORWARDED):
            if scope["method"] in SAFE_METHODS:  # a read the leader sent here: answer it
                await self.app(scope, receive, send)
                return
            resp = text_response("not the leader (forwarded request)", 503)
            resp.headers[NOT_LEADER] = "1"
            await resp(scope, receive, send)
            return
        request = Request(scope, receive)
        body = await request.body()
        resp = await self.relay.send(request, body, self._leader)
        await resp(scope, receive, send)

    def _leader(self) -> list[str]:
        addr = self.cluster.leader_http_addr()
        return [addr] if addr else []
