"""The client's link to the servers: the ``ServerConn`` protocol, its HTTP implementation
(httpx, failover across server addresses) and ``InMemoryConn``, a twin for tests backed
by a real ``StateStore``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
import msgspec

from gitorch.config_tls import TlsSettings
from gitorch.core.commands import (
    AllocClientUpdate,
    Command,
    DeleteServices,
    RegisterNode,
    UpdateAllocsFromClient,
    UpdateNodeStatus,
    UpsertCheckResults,
    UpsertServices,
)
from gitorch.core.model import SECOND, Allocation, Job, Node
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.state import ApplyResult, StateStore
from gitorch.errors import GitorchError, NotFoundError
from gitorch.server.backend import NodeRegisterResponse

log = logging.getLogger(__name__)
AllocsWithJobs = list[tuple[Allocation, Job]]
_ALLOC_FIELDS = Allocation.__struct_fields__


class ServerUnavailableError(GitorchError):
    """No server answered; the message names every address tried and its error."""


class ServerConn(Protocol):
    """What a client asks of the servers."""

    def register_node(self, node: Node) -> NodeRegisterResponse: ...

    def heartbeat(self, node_id: str) -> NodeRegisterResponse: ...

    def allocations(self, node_id: str, index: int, wait: float) -> tuple[int, AllocsWithJobs]:
        """Block until the node's allocations pass ``index`` (or ``wait`` seconds pass);
        return the new index and every allocation with its job at that version."""
        ...

    def update_allocs(self, updates: list[AllocClientUpdate]) -> int: ...

    def upsert_services(self, services: list[ServiceRegistration]) -> int: ...

    def delete_services(self, alloc_ids: list[str]) -> int: ...

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int: ...


class _AllocWithJob(Allocation, frozen=True, kw_only=True):
    job: Job | None = None


class _Index(msgspec.Struct, kw_only=True, rename="pascal"):
    index: int = 0


_alloc_list = msgspec.json.Decoder(list[_AllocWithJob])
_register = msgspec.json.Decoder(NodeRegisterResponse)
_index = msgspec.json.Decoder(_Index)


class HTTPConn:
    """``ServerConn`` over Nomad's HTTP routes. A request that cannot connect, times out
    or gets a 5xx moves on to the next address; the one that answered stays first."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        node_secret: str = "",
        tls: TlsSettings | None = None,
        region: str = "global",
    ) -> None:
        if not addresses:
            raise ValueError("HTTPConn needs at least one server address")
        tls = tls or TlsSettings()  # tls.http: HTTPS with ca_file and the agent's own cert
        self._addresses = [a if "://" in a else f"{tls.scheme}://{a}" for a in addresses]
        self._sni = tls.sni(region)
        self._timeout = timeout
        self._lock = threading.Lock()
        # The node secret authenticates this client's calls (Nomad's node SecretID).
        headers = {"X-Nomad-Token": node_secret} if node_secret else None
        self._http = httpx.Client(
            timeout=timeout,
            transport=transport,
            headers=headers,
            verify=tls.client_context() or True,
        )

    def close(self) -> None:
        self._http.close()

    def register_node(self, node: Node) -> NodeRegisterResponse:
        resp = self._request("POST", "/v1/internal/node/register", content=_encode(node))
        return _register.decode(resp.content)

    def heartbeat(self, node_id: str) -> NodeRegisterResponse:
        resp = self._request("POST", f"/v1/internal/node/{node_id}/heartbeat")
        return _register.decode(resp.content)

    def allocations(self, node_id: str, index: int, wait: float) -> tuple[int, AllocsWithJobs]:
        resp = self._request(
            "GET",
            f"/v1/node/{node_id}/allocations",
            # Served by whichever server answers, from its own state (Nomad's client
            # watches with AllowStale too): thousands of watches never pile on the leader.
            params={"index": str(index), "wait": f"{max(int(wait * 1000), 1)}ms", "stale": ""},
            timeout=wait + self._timeout,
        )
        new_index = int(resp.headers.get("X-Nomad-Index", index))
        out: AllocsWithJobs = []
        for item in _alloc_list.decode(resp.content):
            if item.job is None:
                continue
            alloc = Allocation(**{f: getattr(item, f) for f in _ALLOC_FIELDS})
            out.append((alloc, item.job))
        return new_index, out

    def update_allocs(self, updates: list[AllocClientUpdate]) -> int:
        body = _encode({"Allocs": updates})
        resp = self._request("POST", "/v1/internal/allocs/update", content=body)
        return _index.decode(resp.content).index

    def upsert_services(self, services: list[ServiceRegistration]) -> int:
        body = _encode({"Services": services})
        resp = self._request("PUT", "/v1/internal/services/register", content=body)
        return _index.decode(resp.content).index

    def delete_services(self, alloc_ids: list[str]) -> int:
        body = _encode({"AllocIDs": alloc_ids})
        resp = self._request("PUT", "/v1/internal/services/deregister", content=body)
        return _index.decode(resp.content).index

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int:
        body = _encode({"AllocID": alloc_id, "Results": results})
        resp = self._request("PUT", "/v1/internal/checks/update", content=body)
        return _index.decode(resp.content).index

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._lock:
            addresses = list(self._addresses)
        errors: list[str] = []
        for addr in addresses:
            try:
                resp = self._http.request(method, addr + path, extensions=self._sni, **kwargs)
            except httpx.HTTPError as exc:
                errors.append(f"{addr}: {type(exc).__name__}: {exc}")
                continue
            if resp.status_code >= 500:
                errors.append(f"{addr}: HTTP {resp.status_code}: {resp.text[:200]}")
                continue
            if resp.status_code == 404:
                raise NotFoundError(f"{method} {addr}{path}: {resp.text[:200]}")
            if resp.status_code >= 400:
                raise GitorchError(f"{method} {addr}{path}: HTTP {resp.status_code}: {resp.text}")
            self._prefer(addr)
            return resp
        raise ServerUnavailableError(f"{method} {path}: no server answered: " + "; ".join(errors))

    def _prefer(self, addr: str) -> None:
        with self._lock:
            if self._addresses[0] != addr:
                self._addresses.remove(addr)
                self._addresses.insert(0, addr)


def _encode(value: object) -> bytes:
    return msgspec.json.encode(value)


class StatusBatcher:
    """Coalesces alloc status updates: each allocation's latest update waits up to
    ``window_s``, then one request carries every pending one. A failed request is
    retried with backoff; a newer update for the same allocation replaces it."""

    def __init__(
        self,
        send: Callable[[list[AllocClientUpdate]], int],
        *,
        window_s: float = 0.02,
        retry_max_s: float = 15.0,
    ) -> None:
        self._send = send
        self._window = window_s
        self._retry_max = retry_max_s
        self._pending: dict[str, AllocClientUpdate] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gitorch-status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, update: AllocClientUpdate) -> None:
        with self._cond:
            self._pending[update.id] = update
            self._cond.notify()

    def stop(self, flush_timeout: float = 5.0) -> None:
        """Stop the thread after one last attempt to send what is pending."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout=flush_timeout)

    def _run(self) -> None:
        delay = 0.0
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                closing = self._closed
            if not closing:
                self._closing.wait(self._window + delay)
            with self._cond:
                batch, self._pending = self._pending, {}
            if batch:
                try:
                    self._send(list(batch.values()))
                    delay = 0.0
                except (GitorchError, OSError) as exc:
                    with self._cond:
                        self._pending = {**batch, **self._pending}
                    delay = min(self._retry_max, max(0.25, delay * 2))
                    log.warning("sending %d alloc updates failed: %s", len(batch), exc)
            if closing:
                return


class InMemoryConn:
    """``ServerConn`` backed by a real ``StateStore``, for tests. Apply commands through
    ``apply`` (or to ``store`` directly: blocking queries also poll). Set ``available``
    to False to play a cluster that does not answer."""

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        heartbeat_ttl: int = 10 * SECOND,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.store = store if store is not None else StateStore()
        self.heartbeat_ttl = heartbeat_ttl
        self.available = True
        self.heartbeats = 0
        self.update_calls = 0
        self._clock = clock
        self._cond = threading.Condition()

    def apply(self, cmd: Command) -> ApplyResult:
        """Apply one command to the store and wake blocked queries."""
        with self._cond:
            result = self.store.apply(cmd)
            self._cond.notify_all()
        return result

    def register_node(self, node: Node) -> NodeRegisterResponse:
        self._check()
        result = self.apply(RegisterNode(now=self._clock(), node=node))
        return NodeRegisterResponse(index=result.index, heartbeat_ttl=self.heartbeat_ttl)

    def heartbeat(self, node_id: str) -> NodeRegisterResponse:
        self._check()
        self.heartbeats += 1
        node = self.store.nodes.get(node_id)
        if node is None:
            raise NotFoundError(f"node {node_id!r} is not registered")
        index = self.store.index
        if node.status != "ready":
            cmd = UpdateNodeStatus(now=self._clock(), node_id=node_id, status="ready")
            index = self.apply(cmd).index
        return NodeRegisterResponse(index=index, heartbeat_ttl=self.heartbeat_ttl)

    def allocations(self, node_id: str, index: int, wait: float) -> tuple[int, AllocsWithJobs]:
        self._check()
        deadline = time.monotonic() + wait
        with self._cond:
            while self.store.table_index["allocs"] <= index:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.02))
            self._check()
            out: AllocsWithJobs = []
            for alloc in self.store.allocs_for_node(node_id):
                job = self.store.job_version(alloc.namespace, alloc.job_id, alloc.job_version)
                job = job or self.store.job(alloc.namespace, alloc.job_id)
                if job is not None:
                    out.append((alloc, job))
            return max(self.store.table_index["allocs"], 1), out

    def update_allocs(self, updates: list[AllocClientUpdate]) -> int:
        self._check()
        self.update_calls += 1
        return self.apply(UpdateAllocsFromClient(now=self._clock(), updates=updates)).index

    def upsert_services(self, services: list[ServiceRegistration]) -> int:
        self._check()
        return self.apply(UpsertServices(now=self._clock(), services=services)).index

    def delete_services(self, alloc_ids: list[str]) -> int:
        self._check()
        return self.apply(DeleteServices(now=self._clock(), alloc_ids=alloc_ids)).index

    def update_checks(self, alloc_id: str, results: list[CheckResult]) -> int:
        self._check()
        cmd = UpsertCheckResults(now=self._clock(), alloc_id=alloc_id, results=results)
        return self.apply(cmd).index

    def mark_node(self, node_id: str, status: str) -> None:
        """Set a node's status as the server's heartbeat timer would."""
        node = self.store.nodes.get(node_id)
        if node is not None and node.status != status:
            self.apply(UpdateNodeStatus(now=self._clock(), node_id=node_id, status=status))

    def _check(self) -> None:
        if not self.available:
            raise ServerUnavailableError("in-memory cluster is unavailable")


__all__ = [
    "AllocsWithJobs",
    "HTTPConn",
    "InMemoryConn",
    "ServerConn",
    "ServerUnavailableError",
    "StatusBatcher",
]
