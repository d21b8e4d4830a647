"""The state store's service tables: registrations with their indexes by service name
and by allocation, and the check results of each allocation.

``ServiceTables`` is a persistent value like the other tables (every change returns a
new one sharing the rest), so a snapshot of the store holds it by reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gitorch.core.model.base import replace
from gitorch.core.model.service import CheckResult, ServiceRegistration
from gitorch.core.pmap import PMap, pmap

NameKey = tuple[str, str]  # (namespace, service name)


class ServiceTables:
    """Registrations by ID, their IDs by (namespace, name) and by allocation, and each
    allocation's check results. Never changed in place."""

    __slots__ = ("by_alloc", "by_name", "checks", "services")

    def __init__(
        self,
        services: PMap[str, ServiceRegistration] | None = None,
        by_name: PMap[NameKey, frozenset[str]] | None = None,
        by_alloc: PMap[str, frozenset[str]] | None = None,
        checks: PMap[str, tuple[CheckResult, ...]] | None = None,
    ) -> None:
        self.services: PMap[str, ServiceRegistration] = services if services is not None else pmap()
        self.by_name: PMap[NameKey, frozenset[str]] = by_name if by_name is not None else pmap()
        self.by_alloc: PMap[str, frozenset[str]] = by_alloc if by_alloc is not None else pmap()
        self.checks: PMap[str, tuple[CheckResult, ...]] = checks if checks is not None else pmap()

    @classmethod
    def build(
        cls,
        services: Iterable[ServiceRegistration],
        checks: Iterable[tuple[str, list[CheckResult]]],
    ) -> ServiceTables:
        """Tables holding ``services`` and ``checks`` (alloc ID, results): for loading."""
        out = cls().upsert(list(services), 0, keep_indexes=True)
        return out.with_checks_many((a, tuple(r)) for a, r in checks)

    # -- reads ----------------------------------------------------------------------------

    def named(self, namespace: str, name: str) -> list[ServiceRegistration]:
        ids = self.by_name.get((namespace, name), frozenset())
        return sorted((self.services[i] for i in ids), key=lambda s: (s.create_index, s.id))

    def of_alloc(self, alloc_id: str) -> list[ServiceRegistration]:
        ids = self.by_alloc.get(alloc_id, frozenset())
        return sorted((self.services[i] for i in ids), key=lambda s: (s.create_index, s.id))

    def checks_of(self, alloc_id: str) -> tuple[CheckResult, ...]:
        return self.checks.get(alloc_id, ())

    def healthy(self, reg: ServiceRegistration) -> bool:
        """Every check of the registration's service (in its allocation) succeeds; a
        service without checks is healthy. Readiness checks do not count (on_update)."""
        return all(
            r.status == "success"
            for r in self.checks.get(reg.alloc_id, ())
            if r.service == reg.service_name and r.mode == "healthiness"
        )

    # -- changes --------------------------------------------------------------------------

    def upsert(
        self, regs: list[ServiceRegistration], idx: int, *, keep_indexes: bool = False
    ) -> ServiceTables:
        """Add or replace ``regs``; an unchanged registration keeps its indexes."""
        services, by_name, by_alloc = (
            self.services.mutate(),
            self.by_name.mutate(),
            self.by_alloc.mutate(),
        )
        for reg in regs:
            old = services.get(reg.id)
            if old is not None and old.same_spec(reg):
                continue
            if old is not None:
                _drop(by_name, (old.namespace, old.service_name), old.id)
                _drop(by_alloc, old.alloc_id, old.id)
            if not keep_indexes:
                created = idx if old is None else old.create_index
                reg = _indexed(reg, created, idx)
            services[reg.id] = reg
            key = (reg.namespace, reg.service_name)
            by_name[key] = by_name.get(key, frozenset()) | {reg.id}
            by_alloc[reg.alloc_id] = by_alloc.get(reg.alloc_id, frozenset()) | {reg.id}
        return ServiceTables(services.finish(), by_name.finish(), by_alloc.finish(), self.checks)

    def delete(self, ids: Iterable[str], alloc_ids: Iterable[str] = ()) -> ServiceTables:
        """Remove the registrations ``ids``, and every registration and check result of
        ``alloc_ids``."""
        alloc_ids = list(alloc_ids)
        doomed = set(ids)
        for alloc_id in alloc_ids:
            doomed |= self.by_alloc.get(alloc_id, frozenset())
        doomed &= set(self.services.keys())
        gone_checks = [a for a in alloc_ids if a in self.checks]
        if not doomed and not gone_checks:
            return self
        services, by_name, by_alloc = (
            self.services.mutate(),
            self.by_name.mutate(),
            self.by_alloc.mutate(),
        )
        for reg_id in doomed:
            old = services.pop(reg_id)
            _drop(by_name, (old.namespace, old.service_name), reg_id)
            _drop(by_alloc, old.alloc_id, reg_id)
        checks = self.checks
        if gone_checks:
            mut = checks.mutate()
            for alloc_id in gone_checks:
                del mut[alloc_id]
            checks = mut.finish()
        return ServiceTables(services.finish(), by_name.finish(), by_alloc.finish(), checks)

    def with_checks(self, alloc_id: str, results: tuple[CheckResult, ...]) -> ServiceTables:
        return self.with_checks_many([(alloc_id, results)])

    def with_checks_many(
        self, items: Iterable[tuple[str, tuple[CheckResult, ...]]]
    ) -> ServiceTables:
        mut = self.checks.mutate()
        for alloc_id, results in items:
            mut[alloc_id] = results
        return ServiceTables(self.services, self.by_name, self.by_alloc, mut.finish())


def _indexed(reg: ServiceRegistration, create: int, modify: int) -> ServiceRegistration:
    return replace(reg, create_index=create, modify_index=modify)


def _drop(index: Any, key: Any, item: str) -> None:
    """Remove ``item`` from the ID set under ``key`` of a mutating index."""
    ids = index.get(key, frozenset()) - {item}
    if ids:
        index[key] = ids
    elif key in index:
        del index[key]
