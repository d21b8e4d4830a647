"""Disconnected clients: what the reconciler does with allocations on a node that went
silent, and with two copies of one allocation once that node is back.

A group with a ``disconnect`` block (or the older ``max_client_disconnect``) keeps its
allocations on a node that misses its heartbeat: the node goes ``disconnected``, the
allocations ``unknown``, and (with ``replace = true``) a replacement is placed beside
each, its ``previous_allocation`` naming the original. ``lost_after`` after the node
went silent, what is still unknown is lost. When the node beats again, each original
and its replacement are a *reconnect pair*: exactly one survives, chosen by the
group's ``reconcile`` rule; the survivor is left as it is (no restart).

Pure: the caller brings the nodes and the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from gitorch.core.disconnects import policy
from gitorch.core.model import Allocation, Node, TaskGroup
from gitorch.core.model.drain import DisconnectStrategy

SECOND = 1_000_000_000
__all__ = ["keeps_original", "lost_at", "policy", "reconnect_losers", "unknown_until"]
KEPT_ORIGINAL = "alloc not needed as the original allocation reconnected"
KEPT_REPLACEMENT = "alloc not needed as its replacement was kept on reconnect"


def lost_at(node: Node, p: DisconnectStrategy) -> int:
    """When (ns) allocations on the disconnected ``node`` become lost."""
    return node.status_updated_at * SECOND + p.lost_after


def unknown_until(
    alloc: Allocation, group: TaskGroup, nodes: Mapping[str, Node], now: int
) -> int | None:
    """For a live allocation on a disconnected node whose group tolerates it: the time
    its window closes (it is ``unknown`` until then). None otherwise (lost or fine)."""
    node = nodes.get(alloc.node_id)
    p = policy(group)
    if node is None or node.status != "disconnected" or p is None or p.lost_after <= 0:
        return None
    if alloc.desired_status != "run" or alloc.client_terminal():
        return None
    at = lost_at(node, p)
    return at if now < at else None


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """The loser of one reconnect pair, and why it is stopped."""

    loser: Allocation
    description: str


def reconnect_losers(
    group: TaskGroup, allocs: Iterable[Allocation], nodes: Mapping[str, Node]
) -> list[Verdict]:
    """For each original back on a ready node beside its replacement: the copy that goes.
    Only live copies (desired run, not finished) on ready nodes take part."""
    p = policy(group)
    if p is None:
        return []
    live = {
        a.id: a
        for a in allocs
        if a.desired_status == "run"
        and not a.client_terminal()
        and (n := nodes.get(a.node_id)) is not None
        and n.status == "ready"
    }
    out: list[Verdict] = []
    for replacement in sorted(live.values(), key=lambda a: (a.create_index, a.id)):
        original = live.get(replacement.previous_allocation)
        if original is None or original.name != replacement.name:
            continue
        if keeps_original(p, original, replacement, nodes):
            out.append(Verdict(loser=replacement, description=KEPT_ORIGINAL))
        else:
            out.append(Verdict(loser=original, description=KEPT_REPLACEMENT))
    return out


def keeps_original(
    p: DisconnectStrategy,
    original: Allocation,
    replacement: Allocation,
    nodes: Mapping[str, Node],
) -> bool:
    """The group's ``reconcile`` rule for one pair.

    ``keep_original`` / ``keep_replacement`` say it. ``longest_running``: the copy whose
    tasks have run without a break the longest (earliest last start; one not started
    yet loses). ``best_score``: gitorch keeps no placement scores, so the copy on the
    better node wins: a node that is ready, eligible and not draining beats one that is
    not; between equals, the original, whose node the scheduler chose first."""
    if p.reconcile == "keep_original":
        return True
    if p.reconcile == "keep_replacement":
        return False
    if p.reconcile == "longest_running":
        return _running_since(original) <= _running_since(replacement)
    return _node_rank(original, nodes) <= _node_rank(replacement, nodes)


def _running_since(alloc: Allocation) -> float:
    starts = [max(s.started_at, s.last_restart) for s in alloc.task_states.values()]
    if alloc.client_status not in ("running", "unknown") or not starts or min(starts) <= 0:
        return float("inf")
    return float(max(starts))


def _node_rank(alloc: Allocation, nodes: Mapping[str, Node]) -> int:
    node = nodes.get(alloc.node_id)
    if node is None or node.status != "ready":
        return 2
    return 1 if node.drain_strategy is not None or not node.schedulable() else 0
