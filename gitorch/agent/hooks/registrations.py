"""Pure: the service registrations and checks an allocation wants, given which of its
tasks run, for every service provider (each says which: ``provider``). Group services
are registered while any task of the allocation runs (or, with ``task`` set, while that
task runs); task services while their task runs.

Addresses follow ``address_mode``: ``auto`` and ``host`` advertise the host address and
the allocated host port; ``alloc`` the allocation's address (the host's, under host
networking) and the port's ``to`` (the host port when unset); ``address`` overrides the
address in ``auto`` mode; a numeric ``port`` is advertised as is.
"""

from __future__ import annotations

from typing import NamedTuple

from gitorch.core.model import Allocation, Job, Node
from gitorch.core.model.service import (
    Service,
    ServiceCheck,
    ServiceRegistration,
    check_id,
    registration_id,
)

IP_ATTRIBUTE = "unique.network.ip-address"


class Wanted(NamedTuple):
    """One registration with the service it came from and the task it belongs to
    (the task to restart for ``check_restart``; empty: every task of the allocation)."""

    registration: ServiceRegistration
    service: Service
    task: str
    group: str

    @property
    def provider(self) -> str:
        return self.service.provider

    @property
    def check_ids(self) -> tuple[str, ...]:
        reg = self.registration
        return tuple(
            check_id(reg.alloc_id, self.group, self.task, self.service.name, c.name)
            for c in self.service.checks
        )


class CheckTarget(NamedTuple):
    """One check to run: its ID, where to probe, and what it belongs to."""

    id: str
    check: ServiceCheck
    host: str
    port: int
    wanted: Wanted


def wanted(
    alloc: Allocation, job: Job, node: Node, running: set[str], *, canary: bool = False
) -> list[Wanted]:
    """The registrations of ``alloc`` whose tasks run (of every provider)."""
    group = job.group(alloc.task_group)
    if group is None or not running:
        return []
    scopes: list[tuple[str, str, list[Service]]] = [("", f"group-{group.name}", group.services)]
    scopes += [(t.name, t.name, t.services) for t in group.tasks]
    out: list[Wanted] = []
    for task, scope, services in scopes:
        for svc in services:
            owner = task or svc.task_name
            if owner and owner not in running:
                continue
            address, port = resolve(alloc, node, svc.port_label, svc.address_mode)
            if svc.address and svc.address_mode == "auto":
                address = svc.address
            tags = [*svc.tags, *(svc.canary_tags if canary else [])]
            reg = ServiceRegistration(
                id=registration_id(alloc.id, scope, svc.name, svc.port_label),
                service_name=svc.name,
                namespace=alloc.namespace,
                node_id=node.id,
                datacenter=node.datacenter,
                job_id=alloc.job_id,
                alloc_id=alloc.id,
                tags=tags,
                address=address,
                port=port,
            )
            out.append(Wanted(reg, svc, owner, group.name))
    return out


def checks(alloc: Allocation, node: Node, regs: list[Wanted]) -> list[CheckTarget]:
    """Every check of the wanted registrations, with the address and port to probe."""
    out: list[CheckTarget] = []
    for w in regs:
        for check, cid in zip(w.service.checks, w.check_ids, strict=True):
            label = check.port_label or w.service.port_label
            mode = check.address_mode or "host"
            host, port = resolve(alloc, node, label, mode)
            out.append(CheckTarget(cid, check, host, port, w))
    return out


def resolve(alloc: Allocation, node: Node, label: str, mode: str) -> tuple[str, int]:
    """The (address, port) to advertise for port ``label`` under ``mode``."""
    host = node.attributes.get(IP_ATTRIBUTE, "") or "127.0.0.1"
    if not label:
        return host, 0
    if label.isdigit():
        return host, int(label)
    for p in alloc.allocated_ports:
        if p.label == label:
            address = p.host_ip or host
            if mode == "alloc":
                return address, p.to if p.to > 0 else p.value
            return address, p.value
    return host, 0
