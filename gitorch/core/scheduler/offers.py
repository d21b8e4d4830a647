"""What a task group asks of a node beyond cpu, memory and disk: ports and devices.

Groups that ask for neither have no :class:`Offers` (``Offers.of`` returns None), so the
selector's walk pays one ``is None`` test per node for them. For the others, each node's
:class:`NodeUse` (ports and device instances held by its live allocations, less those
the plan stops, plus the plan's own placements) is built the first time the walk needs
it and kept current as placements are made and replaced allocations released.
"""

from __future__ import annotations

import random
from collections.abc import Container, Iterable

from gitorch.core.model import AllocatedDevice, AllocatedPort, Node, TaskGroup
from gitorch.core.scheduler.devices import DeviceAsks, DeviceKey, DeviceOffer, device_keys
from gitorch.core.scheduler.network import PortAsk
from gitorch.core.state import StateView


class NodeUse:
    """Ports and device instances held on one node."""

    __slots__ = ("devices", "ports")

    def __init__(self) -> None:
        self.ports: set[int] = set()
        self.devices: set[DeviceKey] = set()

    def add(
        self, ports: Iterable[AllocatedPort], devices: dict[str, list[AllocatedDevice]]
    ) -> None:
        self.ports.update(p.value for p in ports)
        self.devices.update(device_keys(devices))

    def remove(
        self, ports: Iterable[AllocatedPort], devices: dict[str, list[AllocatedDevice]]
    ) -> None:
        self.ports.difference_update(p.value for p in ports)
        self.devices.difference_update(device_keys(devices))


def held(snap: StateView, node_id: str, stopping: Container[str] = ()) -> NodeUse:
    """What the node's live allocations hold, except the ``stopping`` ones."""
    use = NodeUse()
    allocs = snap.allocs
    for alloc_id in snap.by_node.get(node_id, ()):
        alloc = allocs[alloc_id]
        if alloc_id in stopping or alloc.terminal():
            continue
        if alloc.allocated_ports or alloc.allocated_devices:
            use.add(alloc.allocated_ports, alloc.allocated_devices)
    return use


class Offers:
    """A group's port and device asks, checked and assigned per node."""

    def __init__(self, ports: PortAsk | None, devices: DeviceAsks | None) -> None:
        self.ports, self.devices = ports, devices
        self.scored = devices is not None and devices.weight > 0
        """Whether the device affinity score counts as one of Nomad's scorers."""

    @staticmethod
    def of(group: TaskGroup) -> Offers | None:
        ports, devices = PortAsk.of(group), DeviceAsks.of(group)
        return Offers(ports, devices) if ports is not None or devices is not None else None

    def fit(self, node: Node, use: NodeUse) -> tuple[str, float]:
        """(why the node cannot take one more allocation of the group, or ""; the
        device affinity score when it can)."""
        if self.ports is not None:
            why = self.ports.reason(node, use.ports)
            if why:
                return why, 0.0
        if self.devices is not None:
            why, score, _ = self.devices.offer(node, use.devices)
            return why, score
        return "", 0.0

    def claim(
        self, node: Node, use: NodeUse, rng: random.Random
    ) -> tuple[list[AllocatedPort], DeviceOffer]:
        """Assign ports and devices for one placement on ``node`` (which :meth:`fit`
        accepted) and count them as used."""
        ports = self.ports.assign(node, use.ports, rng) if self.ports is not None else []
        devices: DeviceOffer = {}
        if self.devices is not None:
            _, _, devices = self.devices.offer(node, use.devices)
        use.add(ports, devices)
        return ports, devices
