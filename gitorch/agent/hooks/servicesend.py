"""Hands the services hook's changes to the service providers (:mod:`gitorch.plugins.
providers`): each wanted registration goes to the provider its ``service`` names, an
allocation's removal to every provider that holds some of it, and each check result to
the provider of the service it checks.

One provider's failure does not hold back another's: :meth:`ProviderSender.send`
returns what failed, to be retried. A provider that fails with anything but a
``GitorchError`` or ``OSError`` (a bug in a plugin) is logged with its name and that
update dropped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from gitorch.agent.hooks.registrations import Wanted
from gitorch.core.model.service import CheckResult
from gitorch.errors import GitorchError
from gitorch.plugins.providers import ProviderService, ServiceProvider

log = logging.getLogger(__name__)


def provided(w: Wanted) -> ProviderService:
    return ProviderService(w.registration, w.service, w.task, w.group, w.check_ids)


@dataclass
class Failed:
    """What to send again: registrations (by allocation) and check results (allocations)."""

    regs: dict[str, list[Wanted]] = field(default_factory=dict)
    checks: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class ProviderSender:
    """Sends to the providers; remembers which providers hold which allocations."""

    def __init__(self, providers: Mapping[str, ServiceProvider]) -> None:
        self._providers = dict(providers)
        self._owners: dict[str, set[str]] = {}  # alloc ID -> providers holding some of it
        self._lock = threading.Lock()
        self._warned: set[str] = set()

    def send(
        self,
        regs: dict[str, list[Wanted]],
        results: dict[str, list[CheckResult]],
        wanted_now: Mapping[str, list[Wanted]],
    ) -> Failed:
        """``regs``: the allocations whose wanted registrations changed (empty: none);
        ``results``: allocations' latest check results; ``wanted_now``: what each of
        those allocations has registered now (which provider each check belongs to)."""
        self._warn_missing(regs)
        failed = Failed()
        for name in sorted(self._providers):
            try:
                self._send(name, regs, results, wanted_now)
            except (GitorchError, OSError) as exc:
                failed.regs.update(regs)
                failed.checks |= set(results)
                failed.errors.append(f"service provider {name}: {exc}")
            except Exception:
                log.exception("service provider %s failed; this update is dropped", name)
        return failed

    def _warn_missing(self, regs: dict[str, list[Wanted]]) -> None:
        names = {w.provider for items in regs.values() for w in items} - set(self._providers)
        for name in names - self._warned:
            self._warned.add(name)
            log.error(
                "service provider %s is not installed on this agent (pip install gitorch-%s): "
                "services of that provider are not registered",
                name,
                name,
            )

    def _send(
        self,
        name: str,
        regs: dict[str, list[Wanted]],
        results: dict[str, list[CheckResult]],
        wanted_now: Mapping[str, list[Wanted]],
    ) -> None:
        provider = self._providers[name]
        mine = {a: [w for w in items if w.provider == name] for a, items in regs.items()}
        with self._lock:
            owned = {a for a in regs if name in self._owners.get(a, set())}
        gone = [a for a, items in mine.items() if not items and a in owned]
        upserts = [provided(w) for items in mine.values() for w in items]
        if gone:
            provider.delete(gone)
        if upserts:
            provider.upsert(upserts)
        with self._lock:
            for a, items in mine.items():
                holders = self._owners.setdefault(a, set())
                if items:
                    holders.add(name)
                else:
                    holders.discard(name)
                if not holders:
                    del self._owners[a]
        for alloc_id, found in results.items():
            ids = {c for w in wanted_now.get(alloc_id, []) if w.provider == name
                   for c in w.check_ids}  # fmt: skip
            own = [r for r in found if r.id in ids]
            if own and alloc_id not in gone:
                provider.update_checks(alloc_id, own)
