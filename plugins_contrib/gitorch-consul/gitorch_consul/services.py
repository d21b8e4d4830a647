"""``provider = "consul"``: an allocation's services in the local Consul agent.

Each instance is registered with ``/v1/agent/service/register`` under gitorch's
registration ID, with ``Meta.gitorch_alloc_id`` (so the agent can find what it
registered for an allocation, even after a restart) and one TTL check per jobspec
``check``: the gitorch client runs the check and this provider sets the TTL check's
status from each result (``/v1/agent/check/{pass,warn,fail}/:id``, the output as the
note). Statuses are sent again every ``TTL / 3`` so a live check never expires; if the
gitorch agent dies, Consul marks its checks critical after the TTL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from gitorch.core.model.service import CheckResult
from gitorch.plugins.providers import (
    ProviderContext,
    ProviderError,
    ProviderService,
    ServiceProvider,
)

from gitorch_consul.api import ConsulApi, check_config

log = logging.getLogger(__name__)
ALLOC_META = "gitorch_alloc_id"
CHECK_TTL_S = 60
STATUS = {"success": "passing", "warning": "warning", "failure": "critical"}


def _initial(status: str) -> str:
    return "passing" if status == "passing" else "critical"


def consul_checks(s: ProviderService) -> list[dict[str, Any]]:
    """The TTL checks standing for the service's checks (Consul's field names)."""
    return [
        {
            "CheckID": cid,
            "Name": check.name or f"service: {s.service.name} check",
            "TTL": f"{CHECK_TTL_S}s",
            "Status": _initial(check.initial_status),
        }
        for check, cid in zip(s.service.checks, s.check_ids, strict=True)
    ]


class ConsulServiceProvider(ServiceProvider):
    name = "consul"
    config_block = "consul"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        super().__init__(config, context)
        self.api = ConsulApi(config)
        self._lock = threading.Lock()
        self._status: dict[str, tuple[str, str]] = {}  # check ID -> (status, note)
        self._checks: dict[str, set[str]] = {}  # alloc ID -> its check IDs
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        return check_config(config)

    def upsert(self, services: Sequence[ProviderService]) -> None:
        by_alloc: dict[str, list[ProviderService]] = {}
        for s in services:
            by_alloc.setdefault(s.registration.alloc_id, []).append(s)
        for alloc_id, items in by_alloc.items():
            keep = {s.registration.id for s in items}
            for s in items:
                reg = s.registration
                meta = {**_meta(s), ALLOC_META: alloc_id}
                self.api.register(
                    service_id=reg.id,
                    name=reg.service_name,
                    address=reg.address,
                    port=reg.port,
                    tags=list(reg.tags),
                    meta=meta,
                    checks=consul_checks(s),
                )
            for stale in set(self.api.services_where(ALLOC_META, alloc_id)) - keep:
                self.api.deregister(stale)
            with self._lock:
                self._checks[alloc_id] = {c for s in items for c in s.check_ids}
        self._start_refresh()

    def delete(self, alloc_ids: Sequence[str]) -> None:
        for alloc_id in alloc_ids:
            for service_id in self.api.services_where(ALLOC_META, alloc_id):
                self.api.deregister(service_id)
        with self._lock:
            for alloc_id in alloc_ids:
                for cid in self._checks.pop(alloc_id, set()):
                    self._status.pop(cid, None)

    def update_checks(self, alloc_id: str, results: Sequence[CheckResult]) -> None:
        for r in results:
            status = STATUS.get(r.status)
            if status is None:
                continue  # pending: the check keeps its initial status
            self.api.check_status(r.id, status, r.output[:512])
            with self._lock:
                self._status[r.id] = (status, r.output[:512])

    def _start_refresh(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._refresh_loop, name="gitorch-consul-ttl", daemon=True
            )
            self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(CHECK_TTL_S / 3):
            with self._lock:
                current = dict(self._status)
            for cid, (status, note) in current.items():
                try:
                    self.api.check_status(cid, status, note)
                except ProviderError as exc:
                    log.warning("consul: refreshing check %s: %s", cid, exc)

    def close(self) -> None:
        self._stop.set()


def _meta(s: ProviderService) -> dict[str, str]:
    """The service's ``meta`` that Consul accepts (keys of letters, digits, '-' and '_',
    at most 128 characters); any other key is left out with a warning."""
    out: dict[str, str] = {}
    for k, v in s.service.meta.items():
        if k and len(k) <= 128 and k.replace("-", "").replace("_", "").isalnum():
            out[k] = v
        else:
            log.warning("consul: service %s: meta key %r is not one Consul accepts; left out",
                        s.service.name, k[:40])  # fmt: skip
    return out
