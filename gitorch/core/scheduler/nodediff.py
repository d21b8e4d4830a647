"""The per-node diff of a system or sysbatch job (Nomad's reconcile_node), as a value.

A system job wants one allocation of each group on every *targeted* node: ready, eligible,
not draining, in the job's node pool and one of its datacenters. Constraints are not
checked here; the system scheduler filters each placement through them, as Nomad does.
The diff keeps:

* an allocation on a down or vanished node: stopped and marked lost;
* one on a draining node, or on a ready node outside the job's datacenters or pool: stopped;
* one on a ready node that is only marked ineligible: left running (Nomad ignores it;
  ineligibility only stops new placements);
* one whose group spec changed since it was placed: replaced on the same node;
* a second live allocation of the same group on one node: stopped.

A targeted node without a live allocation of a group gets one; for a sysbatch job not
when a finished (terminal) allocation of the group at an unchanged spec is already on
the node: sysbatch work runs once per node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import msgspec

from gitorch.core.model import Allocation, Job, Node
from gitorch.core.scheduler.feasible import in_datacenters
from gitorch.core.scheduler.pools import ALL, in_pool
from gitorch.core.scheduler.reconcile import LOST, NOT_NEEDED, Stop, node_down, spec_changed

DRAINING = "alloc is being migrated: its node is draining"
NOT_TARGETED = "alloc not needed as node is no longer targeted by the job"
DUPLICATE = "alloc not needed: another allocation of its group runs on the node"


class NodePlace(msgspec.Struct, frozen=True, kw_only=True):
    """Place one allocation of ``task_group`` on ``node_id``; ``previous`` is the
    allocation it replaces there (stopped once this one fits, for an update) or the
    terminal one it follows."""

    node_id: str
    task_group: str
    previous: Allocation | None = None
    update: bool = False


class NodeDiff(msgspec.Struct, frozen=True, kw_only=True):
    stops: list[Stop] = []
    places: list[NodePlace] = []
    ignore: list[Allocation] = []


def targeted(nodes: Iterable[Node], datacenters: Iterable[str], pool: str = ALL) -> list[Node]:
    """The nodes a system job wants to run on (before constraints), in ID order."""
    in_dc = in_datacenters(datacenters)
    pooled = in_pool(pool)
    ready = [
        n
        for n in nodes
        if n.status == "ready"
        and n.scheduling_eligibility == "eligible"
        and not n.drain
        and in_dc(n.datacenter)
        and pooled(n)
    ]
    return sorted(ready, key=lambda n: n.id)


def diff_nodes(
    job: Job,
    allocs: Iterable[Allocation],
    nodes: Mapping[str, Node],
    versions: Mapping[int, Job],
) -> NodeDiff:
    """What to stop, keep and place so each targeted node runs each group once."""
    down = node_down(nodes)
    changed = spec_changed(job, versions)
    dc = in_datacenters(job.datacenters)
    pooled = in_pool(job.node_pool)

    def in_dc(node: Node) -> bool:
        return dc(node.datacenter) and pooled(node)

    groups = {tg.name for tg in job.task_groups}
    stops: list[Stop] = []
    places: list[NodePlace] = []
    ignore: list[Allocation] = []
    live: set[tuple[str, str]] = set()
    finished: dict[tuple[str, str], Allocation] = {}
    for alloc in sorted(allocs, key=lambda a: a.create_index):
        key = (alloc.node_id, alloc.task_group)
        if alloc.terminal():
            ignore.append(alloc)
            finished[key] = alloc  # the newest wins (sorted by creation)
            continue
        if down(alloc.node_id):
            stops.append(Stop(alloc=alloc, description=LOST, client_status="lost"))
            continue
        why = _why_stop(alloc, nodes[alloc.node_id], groups, in_dc, key in live)
        if why:
            stops.append(Stop(alloc=alloc, description=why))
            continue
        live.add(key)
        if changed(alloc):
            places.append(_at(key, alloc, update=True))
        else:
            ignore.append(alloc)
    for node in targeted(nodes.values(), job.datacenters, job.node_pool):
        for tg in job.task_groups:
            key = (node.id, tg.name)
            if key in live:
                continue
            prev = finished.get(key)
            if job.type == "sysbatch" and prev is not None and not changed(prev):
                continue
            places.append(_at(key, prev))
    return NodeDiff(stops=stops, places=places, ignore=ignore)


def _why_stop(
    alloc: Allocation, node: Node, groups: set[str], in_dc: Callable[[Node], bool], dup: bool
) -> str:
    """Why a live allocation on an up node must stop ("" when it may stay)."""
    if alloc.task_group not in groups:
        return NOT_NEEDED
    if node.drain:
        return DRAINING
    if node.status == "ready" and not in_dc(node):
        return NOT_TARGETED
    return DUPLICATE if dup else ""


def _at(key: tuple[str, str], previous: Allocation | None, update: bool = False) -> NodePlace:
    return NodePlace(node_id=key[0], task_group=key[1], previous=previous, update=update)
