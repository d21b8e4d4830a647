"""The plan applier's check: optimistic concurrency against the latest state.

Schedulers plan on snapshots that may be stale by the time their plan reaches the
leader. ``check`` re-verifies every node a plan places on against the newest snapshot,
node by node as Nomad does: a node that is gone, not ready, ineligible or would be
over capacity (live allocations, minus those the plan stops, plus all of the plan's
placements on it) has all of its placements rejected. So has a node where two live
allocations would hold the same host port or device instance, or where a placement
names a device instance the node does not have healthy. Stops are always accepted.

When anything is rejected, the accepted plan carries no ``eval_update`` and no
``new_evals``: the evaluation is not finished, and the worker re-runs ``schedule`` on a
newer snapshot to place the rest (Nomad's refresh-and-retry). A job with
``all_at_once`` set has every placement rejected when any one is.
"""

from __future__ import annotations

from gitorch.core.model import Node, Placement, Plan, replace
from gitorch.core.scheduler.devices import device_keys, healthy_keys
from gitorch.core.scheduler.offers import held
from gitorch.core.scheduler.rank import Vector, ask, exhausted, free
from gitorch.core.state import StateView


def check(snap: StateView, plan: Plan) -> tuple[Plan, list[Placement]]:
    """Return (the plan with only the placements that still fit, the rejected ones)."""
    if not plan.placements:
        return plan, []
    job = snap.job_version(plan.namespace, plan.job_id, plan.job_version)
    asks: dict[str, Vector] = {}
    if job is not None:
        asks = {tg.name: ask(tg.resources()) for tg in job.task_groups}
    by_node: dict[str, list[Placement]] = {}
    for p in plan.placements:
        by_node.setdefault(p.node_id, []).append(p)
    stopping = {s.id for s in plan.stops}
    bad: set[str] = set()
    for node_id, placements in by_node.items():
        if not _fits(snap, node_id, placements, asks, stopping):
            bad.add(node_id)
    if not bad:
        return plan, []
    if job is not None and job.all_at_once:
        empty = replace(plan, placements=[], stops=[], eval_update=None, new_evals=[])
        return empty, list(plan.placements)
    accepted = [p for p in plan.placements if p.node_id not in bad]
    rejected = [p for p in plan.placements if p.node_id in bad]
    return replace(plan, placements=accepted, eval_update=None, new_evals=[]), rejected


def _fits(
    snap: StateView,
    node_id: str,
    placements: list[Placement],
    asks: dict[str, Vector],
    stopping: set[str],
) -> bool:
    node = snap.nodes.get(node_id)
    if node is None or not node.schedulable():
        return False
    need = [0, 0, 0]
    for p in placements:
        want = asks.get(p.task_group)
        if want is None:  # the job version or its group is gone
            return False
        need = [need[0] + want[0], need[1] + want[1], need[2] + want[2]]
    if exhausted(free(snap, node, stopping), need):
        return False
    return _ports_and_devices_free(snap, node, placements, stopping)


def _ports_and_devices_free(
    snap: StateView, node: Node, placements: list[Placement], stopping: set[str]
) -> bool:
    if not any(p.ports or p.devices for p in placements):
        return True
    use = held(snap, node, stopping)
    healthy = healthy_keys(node) if any(p.devices for p in placements) else set()
    for p in placements:
        for port in p.ports:
            if port.value in use.ports:
                return False
            use.ports.add(port.value)
        for key in device_keys(p.devices):
            if key in use.devices or key not in healthy:
                return False
            use.devices.add(key)
    return True
