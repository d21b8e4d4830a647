"""Where the agent's DNS responder finds services: the passing instances of one service
in one namespace, or ``None`` when no instance of it is registered at all (the name
does not exist).

A server agent reads its own replicated state (``StateCatalog``: every answer is as
fresh as the server's copy of the Raft log). A client-only agent asks its servers over
HTTP (``HttpCatalog``: ``/v1/services`` and ``/v1/service/:name``, remembered for
``ttl_s`` so a burst of queries costs the servers two requests per name). Service
names match case-insensitively, as DNS names do.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import httpx
import msgspec

from gitorch.core.model.service import ServiceRegistration
from gitorch.core.state import StateView
from gitorch.errors import GitorchError


class CatalogError(GitorchError):
    """No answer could be had (no server reachable, or refused): the responder says
    SERVFAIL rather than that the name does not exist."""


class Catalog(Protocol):
    def passing(self, namespace: str, name: str) -> list[ServiceRegistration] | None:
        """The passing instances of ``name`` in ``namespace``; None: unknown name."""
        ...


class StateCatalog:
    """Reads the server's state store (``state()`` returns its current view)."""

    def __init__(self, state: Callable[[], StateView]) -> None:
        self._state = state

    def passing(self, namespace: str, name: str) -> list[ServiceRegistration] | None:
        svc = self._state().svc
        regs = svc.named(namespace, name)
        if not regs:
            folded = (namespace.lower(), name.lower())
            for ns, known in svc.by_name.keys():
                if (ns.lower(), known.lower()) == folded:
                    regs = svc.named(ns, known)
                    break
        if not regs:
            return None
        return [r for r in regs if svc.healthy(r)]


class HttpCatalog:
    """Asks the servers' HTTP API (the first that answers), remembering answers for
    ``ttl_s`` seconds."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        client: httpx.Client | None = None,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._addresses = [a if "://" in a else f"http://{a}" for a in addresses]
        self._http = client or httpx.Client(timeout=2.0)
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[float, Any]] = {}

    def passing(self, namespace: str, name: str) -> list[ServiceRegistration] | None:
        listing = self._get("/v1/services?namespace=*")
        folded = (namespace.lower(), name.lower())
        known = [
            (str(entry.get("Namespace", "")), str(s.get("ServiceName", "")))
            for entry in listing or []
            if isinstance(entry, dict)
            for s in entry.get("Services") or []
            if isinstance(s, dict)
            and (str(entry.get("Namespace", "")).lower(), str(s.get("ServiceName", "")).lower())
            == folded
        ]
        if not known:
            return None
        ns, svc = (urllib.parse.quote(v, safe="") for v in known[0])
        found = self._get(f"/v1/service/{svc}?namespace={ns}")
        try:
            return msgspec.convert(found or [], list[ServiceRegistration])
        except msgspec.ValidationError as exc:
            raise CatalogError(f"unexpected answer for service {known[0][1]!r}: {exc}") from None

    def _get(self, path: str) -> Any:
        now = self._clock()
        with self._lock:
            hit = self._memo.get(path)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        why = "no servers configured"
        for address in self._addresses:
            try:
                resp = self._http.get(address + path)
            except httpx.HTTPError as exc:
                why = f"{address}: {exc}"
                continue
            if resp.status_code != 200:
                why = f"{address}{path.split('?')[0]}: HTTP {resp.status_code}"
                continue
            body = resp.json()
            with self._lock:
                self._memo[path] = (now, body)
                if len(self._memo) > 4096:  # names asked once and never again
                    self._memo = {k: v for k, v in self._memo.items() if now - v[0] < self._ttl}
            return body
        raise CatalogError(why)
