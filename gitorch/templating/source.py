"""The data-source protocol behind the consul-template functions, and the records it
returns (fields named as consul-template's Go structs, so ``.Address`` and ``.Port``
work in templates).

A method returns ``None`` when it has nothing (yet) for the query: the variable does
not exist, the catalog could not be read. The functions then report
:class:`~gitorch.templating.errors.WaitingFor`, and Nomad's behaviour is to block the
task until it appears. An empty list is an answer: nothing is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ServiceInstance:
    """One registration of a service (``nomadService`` / ``service`` elements)."""

    ID: str
    ServiceName: str
    Address: str
    Port: int
    Namespace: str = "default"
    NodeID: str = ""
    Datacenter: str = ""
    JobID: str = ""
    AllocID: str = ""
    Tags: list[str] = field(default_factory=list)
    Meta: dict[str, str] = field(default_factory=dict)

    @property
    def Name(self) -> str:  # noqa: N802 - consul-template's field name
        return self.ServiceName


@dataclass(frozen=True)
class ServiceSummary:
    """One service name with the union of its tags (``nomadServices`` / ``services``)."""

    Name: str
    Tags: list[str] = field(default_factory=list)
    Namespace: str = "default"


@dataclass(frozen=True)
class VariableMeta:
    """A variable's metadata, without its items (``nomadVarList``)."""

    Path: str
    Namespace: str = "default"
    CreateIndex: int = 0
    ModifyIndex: int = 0


@dataclass(frozen=True)
class KeyPair:
    """One key under a prefix (``ls``)."""

    Key: str
    Value: str


class DataSource(Protocol):
    """What the consul-template functions read. The agent implements it over the
    servers' HTTP API; provider plugins implement it for Consul and Vault."""

    def services(self, name: str) -> list[ServiceInstance] | None:
        """The instances of service ``name`` (healthy ones)."""
        ...

    def service_list(self) -> list[ServiceSummary] | None:
        """Every service name, with tags."""
        ...

    def variable(self, path: str) -> Mapping[str, str] | None:
        """The items of the variable at ``path``; ``None`` if it does not exist."""
        ...

    def variable_list(self, prefix: str) -> list[VariableMeta] | None:
        """The variables under ``prefix``."""
        ...

    def key(self, path: str) -> str | None:
        """The value of key ``path``; ``None`` if it does not exist."""
        ...

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        """The keys directly under ``prefix``."""
        ...

    def catalog_services(self, name: str) -> list[ServiceInstance] | None:
        """The passing instances of ``name`` in the Consul-style catalog (``service``)."""
        ...

    def catalog_service_list(self) -> list[ServiceSummary] | None:
        """Every service of the Consul-style catalog, with tags (``services``)."""
        ...

    def secret(self, path: str) -> Mapping[str, Any] | None:
        """The secret at ``path`` (its ``Data``); ``None`` if it does not exist."""
        ...

    def secret_list(self, path: str) -> list[str] | None:
        """The names under secret path ``path`` (``secrets``)."""
        ...


class EmptySource:
    """A data source that has nothing: every lookup waits. The default for a template
    rendered without a connection."""

    def services(self, name: str) -> list[ServiceInstance] | None:
        return None

    def service_list(self) -> list[ServiceSummary] | None:
        return None

    def variable(self, path: str) -> Mapping[str, str] | None:
        return None

    def variable_list(self, prefix: str) -> list[VariableMeta] | None:
        return None

    def key(self, path: str) -> str | None:
        return None

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        return None

    def catalog_services(self, name: str) -> list[ServiceInstance] | None:
        return None

    def catalog_service_list(self) -> list[ServiceSummary] | None:
        return None

    def secret(self, path: str) -> Mapping[str, Any] | None:
        return None

    def secret_list(self, path: str) -> list[str] | None:
        return None


@dataclass
class MemorySource:
    """The in-memory twin of a data source, for tests, benchmarks and ``gitorch``
    commands that render offline. An absent entry is ``None`` (waiting). The
    Consul-style ``catalog`` is ``service_map`` unless given on its own."""

    service_map: dict[str, list[ServiceInstance]] | None = None
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    catalog: dict[str, list[ServiceInstance]] | None = None

    def services(self, name: str) -> list[ServiceInstance] | None:
        if self.service_map is None:
            return None
        return list(self.service_map.get(name, []))

    def service_list(self) -> list[ServiceSummary] | None:
        if self.service_map is None:
            return None
        return [
            ServiceSummary(Name=name, Tags=sorted({t for s in found for t in s.Tags}))
            for name, found in sorted(self.service_map.items())
            if found
        ]

    def variable(self, path: str) -> Mapping[str, str] | None:
        return self.variables.get(path)

    def variable_list(self, prefix: str) -> list[VariableMeta] | None:
        return [VariableMeta(Path=p) for p in sorted(self.variables) if p.startswith(prefix)]

    def key(self, path: str) -> str | None:
        return self.keys.get(path)

    def key_list(self, prefix: str) -> list[KeyPair] | None:
        base = prefix.rstrip("/") + "/" if prefix else ""
        return [
            KeyPair(Key=k[len(base) :], Value=v)
            for k, v in sorted(self.keys.items())
            if k.startswith(base) and "/" not in k[len(base) :]
        ]

    def catalog_services(self, name: str) -> list[ServiceInstance] | None:
        found = self.catalog if self.catalog is not None else self.service_map
        return None if found is None else list(found.get(name, []))

    def catalog_service_list(self) -> list[ServiceSummary] | None:
        if self.catalog is None:
            return self.service_list()
        return [
            ServiceSummary(Name=name, Tags=sorted({t for s in found for t in s.Tags}))
            for name, found in sorted(self.catalog.items())
            if found
        ]

    def secret(self, path: str) -> Mapping[str, Any] | None:
        return self.secrets.get(path)

    def secret_list(self, path: str) -> list[str] | None:
        base = path.rstrip("/") + "/"
        names = {p[len(base) :].split("/", 1)[0] for p in self.secrets if p.startswith(base)}
        return sorted(names) if names else None
