"""``key``, ``keyOrDefault``, ``ls``, ``service`` and ``services`` from Consul.

A reader serves one render of one task: it remembers each answer and the
``X-Consul-Index`` it came with, so ``wait_change`` can hold blocking queries
(``?index=&wait=``) on exactly what the template read. A key that does not exist is
``None`` (the template waits, as consul-template's ``key`` does); ``ls`` of a missing
prefix is an empty list, as consul-template's.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Mapping
from typing import Any

from gitorch.plugins.providers import (
    ProviderContext,
    TaskIdentity,
    TemplateReader,
    TemplateSource,
)
from gitorch.templating.source import KeyPair, ServiceInstance, ServiceSummary

from gitorch_consul.api import MAX_WAIT_S, ConsulApi, check_config

Query = Callable[[int | None, str | None], tuple[int, Any]]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def instance(entry: Mapping[str, Any]) -> ServiceInstance:
    """One ``/v1/health/service`` entry as consul-template's service element."""
    node = entry.get("Node") or {}
    svc = entry.get("Service") or {}
    return ServiceInstance(
        ID=str(svc.get("ID", "")),
        ServiceName=str(svc.get("Service", "")),
        Address=str(svc.get("Address") or node.get("Address", "")),
        Port=int(svc.get("Port") or 0),
        NodeID=str(node.get("ID") or node.get("Node", "")),
        Datacenter=str(node.get("Datacenter", "")),
        Tags=[str(t) for t in svc.get("Tags") or []],
        Meta={str(k): str(v) for k, v in (svc.get("Meta") or {}).items()},
    )


class ConsulReader(TemplateReader):
    def __init__(self, api: ConsulApi) -> None:
        self._api = api
        self._memo: dict[str, tuple[int, Any, Query]] = {}

    def fresh(self) -> ConsulReader:
        return ConsulReader(self._api)

    def _read(self, key: str, query: Query) -> Any:
        if key not in self._memo:
            index, data = query(None, None)
            self._memo[key] = (index, data, query)
        return self._memo[key][1]

    def key(self, path: str) -> str | None:
        path = path.lstrip("/")
        found = self._read("kv:" + path, lambda i, w: self._api.kv(path, index=i, wait=w))
        if not isinstance(found, dict):
            return None
        return _text(found.get("Value"))

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        found = self._read(
            "ls:" + base, lambda i, w: self._api.kv(base, recurse=True, index=i, wait=w)
        )
        out = []
        for item in found if isinstance(found, list) else []:
            rest = str(item.get("Key", ""))[len(base) :]
            if rest and "/" not in rest:
                out.append(KeyPair(Key=rest, Value=_text(item.get("Value"))))
        return sorted(out, key=lambda p: p.Key)

    def services(self, name: str) -> list[ServiceInstance] | None:
        found = self._read("health:" + name, lambda i, w: self._api.health(name, index=i, wait=w))
        if not isinstance(found, list):
            return []
        return [instance(e) for e in found if isinstance(e, dict)]

    def service_list(self) -> list[ServiceSummary] | None:
        found = self._read("catalog", lambda i, w: self._api.catalog(index=i, wait=w))
        if not isinstance(found, dict):
            return []
        return [
            ServiceSummary(Name=str(name), Tags=sorted(str(t) for t in tags or []))
            for name, tags in sorted(found.items())
        ]

    def wait_change(self, timeout_s: float) -> bool:
        """One blocking query per answer given; True as soon as one index moves."""
        if not self._memo:
            return False
        wait = f"{max(1, min(int(timeout_s), MAX_WAIT_S))}s"
        pool = concurrent.futures.ThreadPoolExecutor(len(self._memo))
        try:
            asked = {
                pool.submit(query, index, wait): index for index, _, query in self._memo.values()
            }
            for future in concurrent.futures.as_completed(asked, timeout=timeout_s + 30):
                new_index, _ = future.result()
                if new_index != asked[future]:
                    return True
            return False
        finally:  # the other queries end on their own within ``wait``
            pool.shutdown(wait=False, cancel_futures=True)


class ConsulTemplateSource(TemplateSource):
    name = "consul"
    config_block = "consul"

    def __init__(self, config: Mapping[str, Any], context: ProviderContext) -> None:
        super().__init__(config, context)
        self.api = ConsulApi(config)

    @classmethod
    def validate_plugin_config(cls, config: Mapping[str, Any]) -> list[str]:
        return check_config(config)

    def reader(self, task: TaskIdentity) -> TemplateReader:
        return ConsulReader(self.api)
