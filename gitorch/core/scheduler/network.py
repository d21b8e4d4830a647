"""Port asks against the ports a node's allocations hold (Nomad's network index).

A node's used ports are the host ports of its live allocations plus those of the plan
being built. A static port already used makes the node exhausted for the group
(``network: reserved port collision <label>=<port>``, Nomad's words); dynamic ports
are drawn from the node's ``[min_dynamic_port, max_dynamic_port]`` with the
evaluation's seeded random generator: a few random tries, then a pick among the free
ports, as Nomad does. ``to = -1`` maps the task port to the host port.
"""

from __future__ import annotations

import random
from collections.abc import Container
from typing import TYPE_CHECKING

from gitorch.core.model import AllocatedPort, Node, TaskGroup

if TYPE_CHECKING:  # offers -> devices -> feasible -> network: import for types only
    from gitorch.core.scheduler.offers import NodeUse

IP_ATTRIBUTE = "unique.network.ip-address"
LOOPBACK = "127.0.0.1"
DYNAMIC_FAILED = "network: dynamic port selection failed"
RANDOM_TRIES = 20
DEFAULT_NETWORK = ("", "default")


def host_ip(node: Node) -> str:
    """The address allocated ports are bound on: the node's fingerprinted IP."""
    return node.attributes.get(IP_ATTRIBUTE) or LOOPBACK


def missing_host_networks(group: TaskGroup) -> list[str]:
    """Nomad's HostNetworkChecker reasons: gitorch nodes have only the default network."""
    return [
        f'missing host network "{port.host_network}" for port "{port.label}"'
        for net in group.networks
        for port in [*net.reserved_ports, *net.dynamic_ports]
        if port.host_network not in DEFAULT_NETWORK
    ]


class PortAsk:
    """The ports one allocation of a group needs."""

    def __init__(self, group: TaskGroup) -> None:
        nets = group.networks
        self.static = [(p.label, p.value, p.to) for n in nets for p in n.reserved_ports]
        self.dynamic = [(p.label, p.to) for n in nets for p in n.dynamic_ports]
        self.static_values = frozenset(value for _, value, _ in self.static)
        self.checks: list[tuple[str, int]] = []  # (reason, port): a port already used
        seen: set[int] = set()
        for label, value, _ in self.static:
            collision = f"network: reserved port collision {label}={value}"
            self.checks.append((collision, -1 if value in seen else value))
            seen.add(value)

    @staticmethod
    def of(group: TaskGroup) -> PortAsk | None:
        wanted = any(n.reserved_ports or n.dynamic_ports for n in group.networks)
        return PortAsk(group) if wanted else None

    def reason(self, node: Node, use: NodeUse) -> str:
        """Why the ports do not fit on ``node`` (a DimensionExhausted key), or ""."""
        used = use.ports
        for why, value in self.checks:
            if value in used or value < 0:  # -1: asked twice by the group itself
                return why
        need = len(self.dynamic)
        if need:
            room = use.hi - use.lo + 1
            if room - len(used) - len(self.static_values) >= need:
                return ""  # enough even if every used port were in the range
            lo, hi = use.lo, use.hi
            taken = sum(1 for port in used | self.static_values if lo <= port <= hi)
            if room - taken < need:
                return DYNAMIC_FAILED
        return ""

    def assign(self, node: Node, use: NodeUse, rng: random.Random) -> list[AllocatedPort]:
        """The ports of one placement; call only when :meth:`reason` is ""."""
        ip = host_ip(node)
        out = [
            AllocatedPort(label=label, value=value, to=value if to == -1 else to, host_ip=ip)
            for label, value, to in self.static
        ]
        picked: set[int] = set(self.static_values)
        for label, to in self.dynamic:
            port = _pick(use.lo, use.hi, use.ports, picked, rng)
            picked.add(port)
            to = port if to == -1 else to
            out.append(AllocatedPort(label=label, value=port, to=to, host_ip=ip))
        return out


def _pick(lo: int, hi: int, used: Container[int], picked: set[int], rng: random.Random) -> int:
    span = hi - lo + 1
    draw = rng.random
    for _ in range(RANDOM_TRIES):
        port = lo + int(draw() * span)
        if port not in used and port not in picked:
            return port
    free = [p for p in range(lo, hi + 1) if p not in used and p not in picked]
    if not free:  # reason() said there was room: the caller broke the contract
        raise ValueError(f"no free port in {lo}-{hi}")
    return free[int(draw() * len(free))]
