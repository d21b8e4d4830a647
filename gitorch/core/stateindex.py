"""The state store's derived indexes: built in one pass by a reload, kept in step by
``StateStore`` on every change (secondary ID sets, and per-node usage)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Protocol, TypeVar

from gitorch.core.idset import NO_IDS, IdSet
from gitorch.core.model import Allocation, Plan
from gitorch.core.pmap import PMap

K = TypeVar("K", bound=Hashable)
Usage = tuple[int, int, int]  # (cpu, memory MB, disk MB) of a node's live allocations
NOTHING: Usage = (0, 0, 0)


class Sums(Protocol):
    """A dict, or a persistent map's mutation, of per-node usage."""

    def get(self, key: str, default: Usage, /) -> Usage: ...
    def __setitem__(self, key: str, value: Usage, /) -> None: ...


def index(pairs: Iterable[tuple[K, str]]) -> PMap[K, IdSet]:
    """A secondary index (key -> the IDs under it) built in one pass."""
    groups: dict[K, dict[str, None]] = {}
    for key, item_id in pairs:
        groups.setdefault(key, {})[item_id] = None
    return PMap((key, IdSet(ids)) for key, ids in groups.items())


def with_ids(ids: IdSet | None, more: Iterable[str]) -> IdSet:
    """``ids`` (none: empty) with ``more`` added."""
    return (NO_IDS if ids is None else ids).with_ids(more)


def drop_from(idx: Any, key: Any, items: Iterable[str]) -> None:
    """Remove ``items`` from the set at ``key`` of a mutating index (the key too, once
    empty, as a reload would build it)."""
    ids = idx.get(key)
    if ids is None:
        return
    rest = ids.without(items)
    if rest is ids:
        return
    if rest:
        idx[key] = rest
    else:
        del idx[key]


def add_usage(used: Sums, alloc: Allocation | None, sign: int) -> None:
    """Count ``alloc`` (sign 1) or take it back (sign -1) in its node's usage, if live."""
    if alloc is None or alloc.terminal():
        return
    cpu, mem, disk = used.get(alloc.node_id, NOTHING)
    res = alloc.resources
    used[alloc.node_id] = (
        cpu + sign * res.cpu,
        mem + sign * res.memory_mb,
        disk + sign * res.disk_mb,
    )


def usage(allocs: Iterable[Allocation]) -> PMap[str, Usage]:
    """Per node, what its live allocations hold, built in one pass."""
    sums: dict[str, Usage] = {}
    for a in allocs:
        add_usage(sums, a, 1)
    return PMap(sums)


def plan_touches(plan: Plan) -> set[str]:
    """Every allocation ID applying ``plan`` may change."""
    ids = {s.id for s in plan.stops}
    ids.update(plan.inplace)
    ids.update(p.id for p in plan.placements)
    ids.update(p.previous_allocation for p in plan.placements if p.previous_allocation)
    return ids
