"""What a task group asks of a node beyond cpu, memory and disk: ports and devices.

Groups that ask for neither have no :class:`Offers` (``Offers.of`` returns None), so the
selector's walk pays one ``is None`` test per node for them. For the others, the walk
checks each node against its :class:`~gitorch.core.scheduler.usage.NodeUse`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gitorch.core.model import AllocatedPort, Node, TaskGroup
from gitorch.core.scheduler.devices import DeviceAsks, DeviceOffer
from gitorch.core.scheduler.network import PortAsk
from gitorch.core.scheduler.usage import NodeUse


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
