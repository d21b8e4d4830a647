"""What a task group asks of a node beyond cpu, memory and disk (host ports and devices),
and what a node's allocations already hold of them.

Groups that ask for neither have no :class:`Offers` (``Offers.of`` returns None), so the
selector's walk pays one ``is None`` test per node for them. For the others, a
:class:`NodeUse` is built for a node from its live allocations (less those the plan
stops) the first time the walk needs it, and is then kept current by the selector as
the plan places and replaces allocations; the plan applier builds one per node from
the latest state to re-check a plan.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Iterable

from gitorch.core.model import AllocatedDevice, AllocatedPort, Node, TaskGroup
from gitorch.core.scheduler.devices import DeviceAsks, DeviceKey, DeviceOffer, device_keys
from gitorch.core.scheduler.network import PortAsk
from gitorch.core.state import StateView


class NodeUse:
    """Host ports and device instances held on one node, with the node's dynamic port
    range (``lo``..``hi``, both included)."""

    __slots__ = ("devices", "hi", "lo", "ports")

    def __init__(self, node: Node) -> None:
        res = node.node_resources
        self.lo, self.hi = max(res.min_dynamic_port, 1), min(res.max_dynamic_port, 65535)
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


def held(snap: StateView, node: Node, stopping: Container[str] = ()) -> NodeUse:
    """What the node's live allocations hold, except the ``stopping`` ones."""
    use = NodeUse(node)
    allocs = snap.allocs
    for alloc_id in snap.by_node.get(node.id, ()):
        alloc = allocs[alloc_id]
        if alloc_id in stopping or alloc.terminal():
            continue
        if alloc.allocated_ports or alloc.allocated_devices:
            use.add(alloc.allocated_ports, alloc.allocated_devices)
    return use


class Offers:
    """A group's port and device asks, checked and assigned per node.

    ``reason(node, use)`` says why the node cannot take one more allocation of the
    group ("" when it can); after a "" it leaves the device affinity score (Nomad's
    matched weight over total weight, -1..1) in ``score``. It is bound at creation to
    the cheapest check the group needs.
    """

    def __init__(self, ports: PortAsk | None, devices: DeviceAsks | None) -> None:
        self.ports, self.devices = ports, devices
        self.scored = devices is not None and devices.weight > 0
        """Whether the device affinity score counts as one of Nomad's scorers."""
        self.score = 0.0
        self.reason: Callable[[Node, NodeUse], str] = self._both
        if devices is None and ports is not None:
            self.reason = ports.reason

    @staticmethod
    def of(group: TaskGroup) -> Offers | None:
        ports, devices = PortAsk.of(group), DeviceAsks.of(group)
        return Offers(ports, devices) if ports is not None or devices is not None else None

    def _both(self, node: Node, use: NodeUse) -> str:
        if self.ports is not None:
            why = self.ports.reason(node, use)
            if why:
                return why
        if self.devices is not None:
            why, self.score, _ = self.devices.offer(node, use.devices)
            return why
        return ""

    def claim(
        self, node: Node, use: NodeUse, rng: random.Random
    ) -> tuple[list[AllocatedPort], DeviceOffer]:
        """Assign ports and devices for one placement on ``node`` (which ``reason``
        accepted) and count them as used."""
        ports = self.ports.assign(node, use, rng) if self.ports is not None else []
        devices: DeviceOffer = {}
        if self.devices is not None:
            _, _, devices = self.devices.offer(node, use.devices)
        use.add(ports, devices)
        return ports, devices
