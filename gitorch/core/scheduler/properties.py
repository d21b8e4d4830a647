"""Counts of a job's live allocations per value of one node property (Nomad's propertySet).

``spread`` and ``distinct_property`` both ask: how many allocations of this job (or of
one of its groups) sit on nodes whose ``${node.datacenter}`` / ``${attr.x}`` /
``${meta.x}`` has a given value? The selector keeps one :class:`PropertyCounts` per
(target, scope), seeded from the allocations that stay and moved on each placement and
release during the evaluation, so proposed placements count as Nomad's do.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitorch.core.model import Node
from gitorch.core.scheduler.feasible import resolve_target


class PropertyCounts:
    """Live allocations per property value, for the whole job (``group`` None) or a group."""

    def __init__(self, target: str, group: str | None) -> None:
        self.target = target
        self.group = group
        self.counts: dict[str, int] = {}

    def value(self, node: Node) -> str | None:
        """The node's value of the property, or None when the node lacks it."""
        value, found = resolve_target(self.target, node)
        return value if found else None

    def add(self, node: Node | None, delta: int) -> None:
        """Count (``delta`` 1) or uncount (-1) one allocation on ``node``."""
        if node is None:
            return
        value = self.value(node)
        if value is None:
            return
        total = self.counts.get(value, 0) + delta
        if total > 0:
            self.counts[value] = total
        else:
            self.counts.pop(value, None)

    def seed(self, per_node: Mapping[str, int], nodes: Mapping[str, Node]) -> PropertyCounts:
        """Count the allocations of ``per_node`` (node ID -> live allocations)."""
        for node_id, n in per_node.items():
            self.add(nodes.get(node_id), n)
        return self

    def used(self, node: Node) -> tuple[str | None, int]:
        """The node's value and how many allocations already use it."""
        value = self.value(node)
        return value, (self.counts.get(value, 0) if value is not None else 0)
