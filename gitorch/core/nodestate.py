"""What a node's drain, or its going silent, does to the node and its allocations, as
the state store applies it (pure functions over the store's persistent maps).

- ``start_drain`` / ``cancel_drain``: ``POST /v1/node/:id/drain``. A drain makes the
  node ineligible; a cancel may make it eligible again (``MarkEligible``) and takes
  back the migration marks of allocations not yet stopped, so the reconciler settles
  each index to one copy again.
- ``drain_step``: the drainer's marks and stops; ``done`` clears the strategy, keeps
  the node ineligible and records ``LastDrain`` as complete (Nomad).
- ``mark_unknown``: a node that goes ``disconnected`` turns the live allocations of
  groups that tolerate it ``unknown`` (the others are lost by the reconciler). Only
  ``modify_index`` moves: the client is not told, so nothing restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gitorch.core.bucketmap import BucketMap
from gitorch.core.disconnects import tolerates
from gitorch.core.model import Allocation, Node, TaskGroup, replace
from gitorch.core.model.drain import DesiredTransition, DrainMetadata, DrainStrategy, rfc3339

Allocs = BucketMap[str, Allocation]


def start_drain(node: Node, strategy: DrainStrategy, meta: dict[str, str], now: int) -> Node:
    started = rfc3339(now)
    return replace(
        node,
        drain=True,
        drain_strategy=strategy,
        scheduling_eligibility="ineligible",
        last_drain=DrainMetadata(started_at=started, updated_at=started, meta=meta),
    )


def cancel_drain(node: Node, mark_eligible: bool, now: int) -> Node:
    last = node.last_drain
    if node.drain_strategy is not None and last is not None:
        last = replace(last, status="canceled", updated_at=rfc3339(now))
    return replace(
        node,
        drain=False,
        drain_strategy=None,
        last_drain=last,
        scheduling_eligibility="eligible" if mark_eligible else node.scheduling_eligibility,
    )


def finish_drain(node: Node, now: int) -> Node:
    last = node.last_drain or DrainMetadata()
    return replace(
        node,
        drain=False,
        drain_strategy=None,
        last_drain=replace(last, status="complete", updated_at=rfc3339(now)),
    )


def unmark(allocs: Allocs, ids: Iterable[str], idx: int) -> Allocs:
    """Take back the migration marks of ``ids`` that are still running."""
    mut = allocs.mutate()
    for alloc_id in ids:
        a = mut.get(alloc_id)
        if a is not None and a.desired_transition.migrate and not a.terminal():
            mut[alloc_id] = replace(a, desired_transition=DesiredTransition(), modify_index=idx)
    return mut.finish()


def drain_step(
    allocs: Allocs, migrate: list[str], stop: list[tuple[str, str]], idx: int, now: int
) -> Allocs:
    """Mark ``migrate`` for migration and stop ``stop`` (ID, description)."""
    mut = allocs.mutate()
    for alloc_id in migrate:
        a = mut.get(alloc_id)
        if a is not None and not a.terminal():
            marked = DesiredTransition(migrate=True)
            mut[alloc_id] = replace(a, desired_transition=marked, modify_index=idx)
    for alloc_id, why in stop:
        a = mut.get(alloc_id)
        if a is not None and a.desired_status == "run":
            mut[alloc_id] = replace(
                a,
                desired_status="stop",
                desired_description=why,
                modify_index=idx,
                alloc_modify_index=idx,
                modify_time=now,
            )
    return mut.finish()


def mark_unknown(
    allocs: Allocs,
    ids: Iterable[str],
    group_of: Callable[[Allocation], TaskGroup | None],
    idx: int,
    now: int,
) -> tuple[Allocs, bool]:
    """Turn the live allocations among ``ids`` whose group tolerates a disconnect
    ``unknown``; also whether anything changed."""
    mut = allocs.mutate()
    changed = False
    for alloc_id in ids:
        a = mut.get(alloc_id)
        if a is None or a.terminal() or not tolerates(group_of(a)):
            continue
        mut[alloc_id] = replace(
            a,
            client_status="unknown",
            client_description="node is disconnected",
            modify_index=idx,
            modify_time=now,
        )
        changed = True
    return mut.finish(), changed
