"""What a node's allocations hold beyond cpu, memory and disk: host ports and devices.

A :class:`NodeUse` is built for a node from its live allocations (less those a plan
stops) the first time a group that asks for ports or devices looks at the node, and is
then kept current by the selector as the plan places and replaces allocations.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

from gitorch.core.model import AllocatedDevice, AllocatedPort, Node
from gitorch.core.scheduler.devices import DeviceKey, device_keys
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
