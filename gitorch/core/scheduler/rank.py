"""Resource fit and Nomad's scores: binpack (or spread), job anti-affinity, reschedule penalty.

A node offers ``node_resources - reserved_resources``; live allocations (not terminal,
not stopped by the plan at hand) and the plan's own placements use it up.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from gitorch.core.model import Node, Resources
from gitorch.core.state import StateView

BINPACK_MAX = 18.0
DIMENSIONS = ("cpu", "memory", "disk")

Vector = list[int]  # [cpu MHz, memory MB, disk MB]


def capacity(node: Node) -> Vector:
    """What the node offers to allocations: its resources minus its reservation."""
    total, reserved = node.node_resources, node.reserved_resources
    return [
        total.cpu.cpu_shares - reserved.cpu.cpu_shares,
        total.memory.memory_mb - reserved.memory.memory_mb,
        total.disk.disk_mb - reserved.disk.disk_mb,
    ]


def ask(resources: Resources) -> Vector:
    return [resources.cpu, resources.memory_mb, resources.disk_mb]


def free(snap: StateView, node: Node, stopping: Collection[str] = ()) -> Vector:
    """What is left on ``node`` in ``snap`` once ``stopping`` allocations are gone
    (O(1) in the node's allocations: the state store keeps per-node usage)."""
    cap = capacity(node)
    use = snap.node_used(node.id, stopping)
    return [cap[0] - use[0], cap[1] - use[1], cap[2] - use[2]]


def exhausted(available: Sequence[float], want: Sequence[float]) -> str:
    """The first dimension (Nomad's order: cpu, memory, disk) that does not fit, or ""."""
    for name, have, need in zip(DIMENSIONS, available, want, strict=True):
        if have < need:
            return name
    return ""


def binpack(cap_cpu: int, cap_mem: int, free_cpu: int, free_mem: int) -> float:
    """Nomad's ScoreFitBinPack, normalised to 0..1; ``free_*`` are AFTER adding the ask."""
    cpu = free_cpu / cap_cpu if cap_cpu > 0 else 0.0
    mem = free_mem / cap_mem if cap_mem > 0 else 0.0
    score = 20.0 - (math.pow(10.0, cpu) + math.pow(10.0, mem))
    return min(max(score, 0.0), BINPACK_MAX) / BINPACK_MAX


def spread_fit(cap_cpu: int, cap_mem: int, free_cpu: int, free_mem: int) -> float:
    """Nomad's ScoreFitSpread (the ``spread`` scheduler algorithm), normalised to 0..1:
    the more a node has left after the ask, the better it scores."""
    cpu = free_cpu / cap_cpu if cap_cpu > 0 else 0.0
    mem = free_mem / cap_mem if cap_mem > 0 else 0.0
    score = math.pow(10.0, cpu) + math.pow(10.0, mem) - 2.0
    return min(max(score, 0.0), BINPACK_MAX) / BINPACK_MAX


def anti_affinity(collisions: int, desired: int) -> float:
    """Nomad's job anti-affinity penalty for a node already holding ``collisions``."""
    return -(collisions + 1) / max(desired, 1)


def final_score(binpack_score: float, collisions: int, desired: int, penalised: bool) -> float:
    """Nomad's normalised score: the mean of the scorers that had something to say."""
    total, scorers = binpack_score, 1
    if collisions:
        total += anti_affinity(collisions, desired)
        scorers += 1
    if penalised:
        total -= 1.0
        scorers += 1
    return total / scorers
