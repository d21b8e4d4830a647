"""The agent's template data source: services and variables read through the servers'
HTTP API (``/v1/service/:name``, ``/v1/services``, ``/v1/var/:path``, ``/v1/vars``).

A query no server can answer (none reachable, or a route the servers do not have yet)
is ``None``: the template waits, as Nomad's does. This is the built-in ``nomad``
template source (:mod:`gitorch.agent.nomadproviders`); keys, the Consul-style catalog
and secrets come from provider plugins (:mod:`gitorch.agent.providersource`), and
without one they are an error that says what to install.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from gitorch.agent.providersource import OtherSources
from gitorch.plugins.providers import SecretsLease, TaskIdentity
from gitorch.templating.source import (
    KeyPair,
    ServiceInstance,
    ServiceSummary,
    VariableMeta,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Read:
    """One query a render made, and the index the servers answered it at: what a
    template watch blocks on (``?index=``) to learn that the answer may have changed."""

    path: str
    params: tuple[tuple[str, str], ...]
    index: int


def _field(item: Mapping[str, Any], *names: str, default: Any = "") -> Any:
    for name in names:
        if name in item:
            return item[name]
    return default


def response_index(resp: httpx.Response) -> int:
    """The response's ``X-Nomad-Index`` (0 when it has none or a malformed one)."""
    text = resp.headers.get("X-Nomad-Index", "")
    return int(text) if text.isdigit() else 0


class ServerTemplateSource:
    """A :class:`~gitorch.templating.source.DataSource` over the servers' HTTP API.
    Each instance remembers its answers: make one per render (see :meth:`fresh`)."""

    def __init__(
        self,
        addresses: Sequence[str],
        *,
        namespace: str = "default",
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        token: str = "",
        others: OtherSources | None = None,
    ) -> None:
        self._addresses = [a if "://" in a else f"http://{a}" for a in addresses]
        self._namespace = namespace
        self._token = token  # the task's workload identity, when it has one
        self._others = others or OtherSources()
        self._http = client or httpx.Client(timeout=timeout)
        self._memo: dict[str, Any] = {}
        self._reads: dict[str, Read] = {}

    @property
    def addresses(self) -> list[str]:
        return list(self._addresses)

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def token(self) -> str:
        return self._token

    def reads(self) -> list[Read]:
        """The queries this source made (one per distinct query), with their indexes."""
        return list(self._reads.values())

    def fresh(self) -> ServerTemplateSource:
        """A source sharing this one's connections, with nothing remembered."""
        return ServerTemplateSource(
            self._addresses,
            namespace=self._namespace,
            client=self._http,
            token=self._token,
            others=self._others.fresh(),
        )

    def for_task(
        self,
        namespace: str,
        token: str,
        *,
        task: TaskIdentity | None = None,
        lease: SecretsLease | None = None,
    ) -> ServerTemplateSource:
        """A source reading as one task: its namespace and its workload identity (and,
        for the provider plugins' functions, who it is and its secrets lease)."""
        who = task or TaskIdentity(namespace, "", "", "", "", token)
        return ServerTemplateSource(
            self._addresses,
            namespace=namespace,
            client=self._http,
            token=token,
            others=self._others.for_task(who, lease),
        )

    def with_others(self, others: OtherSources) -> ServerTemplateSource:
        """This source with the provider plugins' functions answered by ``others``."""
        return ServerTemplateSource(
            self._addresses,
            namespace=self._namespace,
            client=self._http,
            token=self._token,
            others=others,
        )

    @property
    def others(self) -> OtherSources:
        return self._others

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any | None:
        key = path + "?" + urllib.parse.urlencode(dict(params or {}))
        if key in self._memo:
            return self._memo[key]
        query = {"namespace": self._namespace, **(params or {})}
        found: Any | None = None
        index = 0
        for addr in self._addresses:
            try:
                headers = {"X-Nomad-Token": self._token} if self._token else None
                resp = self._http.get(addr + path, params=query, headers=headers)
            except httpx.HTTPError as exc:
                log.debug("template source: GET %s%s: %s", addr, path, exc)
                continue
            index = response_index(resp)
            if resp.status_code == 200:
                found = resp.json()
                break
            if resp.status_code < 500:
                break  # 404: not there (or a route these servers do not have)
        self._memo[key] = found
        self._reads[key] = Read(path, tuple(sorted((params or {}).items())), index)
        return found

    def services(self, name: str) -> list[ServiceInstance] | None:
        found = self._get("/v1/service/" + urllib.parse.quote(name, safe=""))
        if not isinstance(found, list):
            return None
        return [
            ServiceInstance(
                ID=str(_field(item, "ID", "Id")),
                ServiceName=str(_field(item, "ServiceName", default=name)),
                Address=str(_field(item, "Address")),
                Port=int(_field(item, "Port", default=0)),
                Namespace=str(_field(item, "Namespace", default="default")),
                NodeID=str(_field(item, "NodeID", "NodeId")),
                Datacenter=str(_field(item, "Datacenter")),
                JobID=str(_field(item, "JobID", "JobId")),
                AllocID=str(_field(item, "AllocID", "AllocId")),
                Tags=[str(t) for t in _field(item, "Tags", default=None) or []],
            )
            for item in found
            if isinstance(item, dict)
        ]

    def service_list(self) -> list[ServiceSummary] | None:
        found = self._get("/v1/services")
        if not isinstance(found, list):
            return None
        out: list[ServiceSummary] = []
        for ns in found:
            for stub in ns.get("Services") or [] if isinstance(ns, dict) else []:
                tags = [str(t) for t in stub.get("Tags") or []]
                namespace = str(ns.get("Namespace", "default"))
                out.append(
                    ServiceSummary(
                        Name=str(stub.get("ServiceName", "")), Tags=tags, Namespace=namespace
                    )
                )
        return sorted(out, key=lambda s: s.Name)

    def variable(self, path: str) -> Mapping[str, str] | None:
        found = self._get("/v1/var/" + urllib.parse.quote(path.strip("/"), safe="/"))
        if not isinstance(found, dict):
            return None
        items = found.get("Items")
        return {str(k): str(v) for k, v in items.items()} if isinstance(items, dict) else None

    def variable_list(self, prefix: str) -> list[VariableMeta] | None:
        found = self._get("/v1/vars", {"prefix": prefix})
        if not isinstance(found, list):
            return None
        return [
            VariableMeta(
                Path=str(item.get("Path", "")),
                Namespace=str(item.get("Namespace", "default")),
                CreateIndex=int(item.get("CreateIndex", 0)),
                ModifyIndex=int(item.get("ModifyIndex", 0)),
            )
            for item in found
            if isinstance(item, dict)
        ]

    def key(self, path: str) -> str | None:
        return self._others.key(path)

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        return self._others.key_list(prefix)

    def catalog_services(self, name: str) -> list[ServiceInstance] | None:
        return self._others.catalog_services(name)

    def catalog_service_list(self) -> list[ServiceSummary] | None:
        return self._others.catalog_service_list()

    def secret(self, path: str) -> Mapping[str, Any] | None:
        return self._others.secret(path)

    def secret_list(self, path: str) -> list[str] | None:
        return self._others.secret_list(path)
