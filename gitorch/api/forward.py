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

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio
import httpx
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

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
_HOP_BACK = _HOP | {"content-encoding", "date", "server"}  # decoded body; ours
SHARDS = 8  # HTTP clients a relay spreads its requests over (see Relay._client)


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


@dataclass(frozen=True)
class Upstream:
    """What came back from the far side, ready to relay."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def response(self) -> Response:
        resp = Response(self.body, status_code=self.status)
        for key, value in self.headers:
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
        transport: httpx.AsyncBaseTransport | None = None,
        tls: TlsSettings | None = None,
        region: str = "global",
    ) -> None:
        self.retry_s = retry_s
        # With tls.http every hop is HTTPS, trusting ca_file, showing the agent's cert.
        self._tls = tls or TlsSettings()
        self._sni = self._tls.sni(region)
        self.mark = mark  # the header that stops the far side from relaying again
        self._transport = transport  # tests: httpx.ASGITransport
        self._http: list[httpx.AsyncClient] = []
        self._turn = itertools.count()

    def _client(self) -> httpx.AsyncClient:
        """One of ``SHARDS`` clients, in turn. httpcore scans its whole pool (every
        connection, every queued request) on each request and each response, so one
        client relaying hundreds of concurrent requests (a follower forwarding 10,000
        clients' heartbeats and registrations) spends its core in that scan; small
        pools keep the scan short."""
        if not self._http:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=16)
            verify = self._tls.client_context() or True
            self._http = [
                httpx.AsyncClient(
                    limits=limits, trust_env=False, transport=self._transport, verify=verify
                )
                for _ in range(SHARDS)
            ]
        return self._http[next(self._turn) % SHARDS]

    async def send(
        self, request: Request, body: bytes, targets: Callable[[], Sequence[str]]
    ) -> Response:
        """Send to the first of ``targets()`` (``host:port``; re-read on each try)."""
        write = request.method not in SAFE_METHODS
        deadline = time.monotonic() + self.retry_s
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        if self.mark:
            headers.append((self.mark, "1"))
        timeout = request_timeout(request)
        errors: list[str] = []
        while True:
            for target in targets():
                url = f"{self._tls.scheme}://{target}{request.url.path}"
                try:
                    up = await self._client().request(
                        request.method,
                        url,
                        params=request.url.query,
                        headers=headers,
                        content=body,
                        timeout=timeout,
                        extensions=self._sni,
                    )
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    errors.append(f"{target}: {exc or type(exc).__name__}")
                    continue  # never sent: safe to try again
                except httpx.HTTPError as exc:
                    if write:
                        return text_response(
                            f"{target} did not answer ({type(exc).__name__}: {exc}); the write "
                            "may or may not have been applied: read it back before retrying",
                            503,
                        )
                    errors.append(f"{target}: {type(exc).__name__}: {exc}")
                    continue
                if up.status_code == 503 and up.headers.get(NOT_LEADER):
                    errors.append(f"{target}: not the leader")
                    continue  # it did nothing: safe to try again
                return Upstream(
                    up.status_code, list(up.headers.multi_items()), up.content
                ).response()
            if time.monotonic() >= deadline:
                tried = "; ".join(errors[-3:]) or "no cluster leader is known"
                return text_response(f"No cluster leader: {tried}; retry shortly", 503)
            await anyio.sleep(0.05)

    async def aclose(self) -> None:
        clients, self._http = self._http, []
        for client in clients:
            await client.aclose()


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
