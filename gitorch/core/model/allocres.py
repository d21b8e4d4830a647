"""Nomad's AllocatedResources: what one allocation holds on its node, per task (CPU,
memory, devices) and shared by its group (disk, ports, networks), as the allocation
list shows it with ``?resources=true``.

gitorch stores an allocation's group total (``Allocation.resources``) and its ports and
devices; the per-task figures come from its job's group at the allocation's version.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from gitorch.core.model.alloc import AllocatedDevice, AllocatedPort, Allocation
from gitorch.core.model.base import Model, replace
from gitorch.core.model.job import NetworkResource, Port, TaskGroup
from gitorch.core.naming import nomad_name


def _wire_name(field: str) -> str:
    """Nomad spells these structs' ``Cpu`` and ``DeviceIDs`` so (``CPU`` elsewhere, and
    the stored ``AllocatedDevice`` says ``DeviceIds``)."""
    return {"cpu": "Cpu", "device_ids": "DeviceIDs"}.get(field) or nomad_name(field)


class AllocatedCpuResources(Model, frozen=True, kw_only=True):
    cpu_shares: int = 0


class AllocatedMemoryResources(Model, frozen=True, kw_only=True):
    memory_mb: int = 0
    memory_max_mb: int = 0


class AllocatedDeviceResource(Model, frozen=True, kw_only=True, rename=_wire_name):
    vendor: str
    type: str
    name: str
    device_ids: list[str] = []


class AllocatedTaskResources(Model, frozen=True, kw_only=True, rename=_wire_name):
    cpu: AllocatedCpuResources = AllocatedCpuResources()
    memory: AllocatedMemoryResources = AllocatedMemoryResources()
    networks: list[NetworkResource] = []
    devices: list[AllocatedDeviceResource] = []


class AllocatedSharedResources(Model, frozen=True, kw_only=True):
    disk_mb: int = 0
    networks: list[NetworkResource] = []
    ports: list[AllocatedPort] = []


class AllocatedResources(Model, frozen=True, kw_only=True):
    tasks: dict[str, AllocatedTaskResources] = {}
    shared: AllocatedSharedResources = AllocatedSharedResources()


def task_resources(group: TaskGroup | None) -> dict[str, AllocatedTaskResources]:
    """Each task's CPU and memory as its group asks them (none without a group): the
    same for every allocation of that group version, so a list builds it once."""
    return {
        t.name: AllocatedTaskResources(
            cpu=AllocatedCpuResources(cpu_shares=t.resources.cpu),
            memory=AllocatedMemoryResources(
                memory_mb=t.resources.memory_mb, memory_max_mb=t.resources.memory_max_mb
            ),
        )
        for t in (group.tasks if group is not None else [])
    }


def allocated_resources(
    alloc: Allocation,
    group: TaskGroup | None,
    tasks: dict[str, AllocatedTaskResources] | None = None,
) -> AllocatedResources:
    """``alloc``'s AllocatedResources; ``group`` is its task group at the allocation's
    job version (None when that job is gone: no per-task figures then), ``tasks`` its
    ``task_resources`` when the caller has them. Shared disk is what the allocation
    holds on its node (ephemeral disk plus the tasks' own disk)."""
    held = task_resources(group) if tasks is None else tasks
    if alloc.allocated_devices:
        held = {
            name: replace(t, devices=[_device(d) for d in alloc.allocated_devices[name]])
            if alloc.allocated_devices.get(name)
            else t
            for name, t in held.items()
        }
    networks = [_with_ports(n, alloc.allocated_ports) for n in group.networks] if group else []
    return AllocatedResources(
        tasks=held,
        shared=AllocatedSharedResources(
            disk_mb=alloc.resources.disk_mb, networks=networks, ports=list(alloc.allocated_ports)
        ),
    )


def _device(device: AllocatedDevice) -> AllocatedDeviceResource:
    return AllocatedDeviceResource(
        vendor=device.vendor, type=device.type, name=device.name, device_ids=device.device_ids
    )


def _with_ports(network: NetworkResource, ports: Iterable[AllocatedPort]) -> NetworkResource:
    """The group's network with each dynamic port's value as the scheduler gave it."""
    given = {p.label: p.value for p in ports}

    def port(p: Port) -> Port:
        return msgspec.structs.replace(p, value=given[p.label]) if p.label in given else p

    return replace(network, dynamic_ports=[port(p) for p in network.dynamic_ports])
