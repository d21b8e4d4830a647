"""Node selection: Nomad's limit iterator over a candidate list shuffled once per eval.

Each placement walks on from a rotating cursor, skipping infeasible, full and
distinct-host-taken nodes, and scores only ``limit`` nodes that fit (``max(2,
ceil(log2 n))`` for service jobs, 2 for batch); the best score wins. Per-node state
(class key, feasibility per group, free resources, held ports and devices) is computed
the first time the walk reaches a node, so a placement costs O(limit), not O(nodes).
Ports and devices (:mod:`gitorch.core.scheduler.offers`) are checked only for groups
that ask for them; the device affinity score joins Nomad's mean of scorers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from itertools import chain

from gitorch.core.model import (
    AllocatedPort,
    Allocation,
    AllocMetric,
    Job,
    Node,
    TaskGroup,
)
from gitorch.core.scheduler.affinity import NodeAffinity, limit_for
from gitorch.core.scheduler.devices import DeviceOffer
from gitorch.core.scheduler.distinct import DistinctProperty
from gitorch.core.scheduler.feasible import (
    DISTINCT_HOSTS,
    Feasibility,
    distinct_hosts,
    in_datacenters,
)
from gitorch.core.scheduler.offers import NodeUse, Offers, held
from gitorch.core.scheduler.pools import ALL, in_pool
from gitorch.core.scheduler.properties import PropertyCounts
from gitorch.core.scheduler.rank import ask, exhausted
from gitorch.core.scheduler.spread import SpreadScore, spread_limit
from gitorch.core.state import StateView

# per node: [free cpu, free memory, free disk, 1 / offered cpu, 1 / offered memory]
NodeState = list[float]
_NORM = 1.0 / 18.0


_READY: dict[tuple[str, tuple[str, ...]], tuple[object, list[Node]]] = {}
"""The last candidate list per (node pool, datacenters), with the node table it was
read from: tables are immutable, so while no node changes (a C1M run's thousand
evaluations) each one copies a list instead of testing 5,000 nodes three times."""


def candidates(snap: StateView, job: Job) -> list[Node]:
    """Nomad's readyNodesInDCsAndPool: ready, eligible, not draining, in the job's node
    pool and one of its DCs. A new list each call (the selector shuffles it)."""
    key = (job.node_pool, tuple(job.datacenters))
    last = _READY.get(key)
    if last is not None and last[0] is snap.nodes:
        return list(last[1])
    found = _candidates(snap, job)
    if len(_READY) >= 64:  # many pools or DC sets: start over rather than grow
        _READY.clear()
    _READY[key] = (snap.nodes, found)
    return list(found)


def _candidates(snap: StateView, job: Job) -> list[Node]:
    ready = [
        n
        for n in snap.nodes.values()
        if n.status == "ready" and n.scheduling_eligibility == "eligible" and not n.drain
    ]
    if job.node_pool != ALL:
        pooled = in_pool(job.node_pool)
        ready = [n for n in ready if pooled(n)]
    if "*" in job.datacenters:
        return ready
    in_dc = in_datacenters(job.datacenters)
    return [n for n in ready if in_dc(n.datacenter)]


def shuffle(nodes: list[Node], rng: random.Random) -> None:
    """Fisher-Yates in place, drawing from ``rng`` only (deterministic per seed)."""
    draw = rng.random
    for i in range(len(nodes) - 1, 0, -1):
        j = int(draw() * (i + 1))
        nodes[i], nodes[j] = nodes[j], nodes[i]


class GroupSelect:
    """One task group's view of the walk: its feasibility verdicts and proposed allocs."""

    def __init__(self, sel: Selector, job: Job, group: TaskGroup) -> None:
        self.name = group.name
        self.feasibility = Feasibility(job, group)
        self.verdicts: list[str | None] = [None] * sel.n
        self.ask = ask(group.resources())
        self.count = group.count
        self.offers = Offers.of(group)
        self.affinity = NodeAffinity.of(job, group)
        self.spread = SpreadScore.of(job, group, sel.counter)
        self.limit = sel.limit if self.affinity is None else limit_for(group, sel.limit)
        if self.spread is not None:
            self.limit = spread_limit(group, self.limit)
        self.properties = DistinctProperty.of(job, group, sel.counter)
        self.affinities: list[float | None] = [None] * sel.n if self.affinity else []
        self.collisions = sel.group_nodes.setdefault(group.name, {})
        self.distinct: dict[str, int] | None = None
        if distinct_hosts(job.constraints):
            self.distinct = sel.job_nodes
        elif distinct_hosts(group.constraints):
            self.distinct = self.collisions


class Selector:
    """The per-evaluation walk over the shuffled candidates, shared by all groups."""

    def __init__(
        self,
        snap: StateView,
        job: Job,
        allocs: Iterable[Allocation],
        *,
        seed: int,
        stopping: set[str],
    ) -> None:
        self.snap = snap
        self.nodes = candidates(snap, job)
        self.datacenters = job.datacenters
        self.rng = random.Random(seed)
        shuffle(self.nodes, self.rng)
        self.n = n = len(self.nodes)
        batch = job.type in ("batch", "sysbatch")
        self.limit = 2 if batch or n < 2 else max(2, math.ceil(math.log2(n)))
        self.cursor = 0
        self.score = 0.0  # the winning score of the last select()
        # the operator's scheduler algorithm: binpack fills nodes, spread empties them
        self.spread_fit = snap.operator.config().algorithm() == "spread"
        self.state: list[NodeState | None] = [None] * n
        self.ids: list[str] = [""] * n
        self.use: list[NodeUse | None] = [None] * n
        self.stopping = stopping
        self.positions: dict[str, int] | None = None
        self.job_nodes: dict[str, int] = {}
        self.group_nodes: dict[str, dict[str, int]] = {}
        self.properties: dict[tuple[str, str | None], PropertyCounts] = {}
        for alloc in allocs:
            if alloc.id not in stopping and not alloc.terminal():
                self._count(alloc.task_group, alloc.node_id, 1)

    def group(self, job: Job, group: TaskGroup) -> GroupSelect:
        return GroupSelect(self, job, group)

    def counter(self, target: str, group: str | None) -> PropertyCounts:
        """The evaluation's counts of allocations per value of ``target``, for the job
        (``group`` None) or one group; kept current by every placement and release."""
        key = (target, group)
        counts = self.properties.get(key)
        if counts is None:
            per_node = self.job_nodes if group is None else self.group_nodes.get(group, {})
            counts = PropertyCounts(target, group).seed(per_node, self.snap.nodes)
            self.properties[key] = counts
        return counts

    def _count(self, group: str, node_id: str, delta: int) -> None:
        if self.properties:
            node = self.snap.nodes.get(node_id)
            for counts in self.properties.values():
                if counts.group is None or counts.group == group:
                    counts.add(node, delta)
        for table in (self.job_nodes, self.group_nodes.setdefault(group, {})):
            total = table.get(node_id, 0) + delta
            if total > 0:
                table[node_id] = total
            else:
                table.pop(node_id, None)

    def _load(self, i: int) -> NodeState:
        node = self.nodes[i]
        total, reserved = node.node_resources, node.reserved_resources
        cpu = total.cpu.cpu_shares - reserved.cpu.cpu_shares
        mem = total.memory.memory_mb - reserved.memory.memory_mb
        disk = total.disk.disk_mb - reserved.disk.disk_mb
        self.ids[i] = node_id = node.id
        inv_cpu = 1.0 / cpu if cpu > 0 else 0.0
        inv_mem = 1.0 / mem if mem > 0 else 0.0
        use_cpu, use_mem, use_disk = self.snap.node_used(node_id, self.stopping)
        return [cpu - use_cpu, mem - use_mem, disk - use_disk, inv_cpu, inv_mem]

    def _use(self, i: int) -> NodeUse:
        use = self.use[i]
        if use is None:
            use = self.use[i] = held(self.snap, self.nodes[i], self.stopping)
        return use

    def select(self, g: GroupSelect, penalty: str = "") -> int:
        """The position of the best of ``limit`` fitting nodes from the cursor, or -1."""
        n = self.n
        nodes, state, verdicts, ids = self.nodes, self.state, g.verdicts, self.ids
        reason = g.feasibility.reason
        ac, am, ad = g.ask
        hits_on, distinct, count, norm = g.collisions.get, g.distinct, max(g.count, 1), _NORM
        limit, start = g.limit, self.cursor
        affinity, affinities = g.affinity, g.affinities
        spread, properties = g.spread, g.properties
        best, best_score, found, i = -1, -10.0, 0, start
        offers, uses, aff, spread_fit = g.offers, self.use, 0.0, self.spread_fit
        scored = offers is not None and offers.scored
        why_not = offers.reason if offers is not None else None
        rescore = scored or bool(penalty) or affinity is not None or spread is not None
        for i in chain(range(start, n), range(start)):
            why = verdicts[i]
            if why is None:
                why = verdicts[i] = reason(nodes[i])
            if why:
                continue
            st = state[i]
            if st is None:
                st = state[i] = self._load(i)
            fc = st[0] - ac
            fm = st[1] - am
            if fc < 0 or fm < 0 or st[2] < ad:
                continue
            node_id = ids[i]
            if distinct is not None and node_id in distinct:
                continue
            if properties is not None and properties.reason(nodes[i]):
                continue
            if why_not is not None:
                if why_not(nodes[i], uses[i] or self._use(i)):
                    continue
                if scored:
                    aff = offers.score  # type: ignore[union-attr]
            # Nomad's binpack (or spread) on the free fractions after the ask, by 18
            if spread_fit:
                score = 10.0 ** (fc * st[3]) + 10.0 ** (fm * st[4]) - 2.0
            else:
                score = 20.0 - (10.0 ** (fc * st[3]) + 10.0 ** (fm * st[4]))
            if score < 0.0 or score > 18.0:
                score = 0.0 if score < 0.0 else 18.0
            score *= norm
            hits = hits_on(node_id)
            if hits or rescore:
                scorers = 1
                if scored:
                    score += aff
                    scorers += 1
                if hits:
                    score -= (hits + 1) / count
                    scorers += 1
                if penalty == node_id:
                    score -= 1.0
                    scorers += 1
                if affinity is not None:
                    near = affinities[i]
                    if near is None:
                        near = affinities[i] = affinity.score(nodes[i])
                    if near:
                        score += near
                        scorers += 1
                if spread is not None:
                    boost = spread.score(nodes[i])
                    if boost:
                        score += boost
                        scorers += 1
                score /= scorers
            if score > best_score:
                best, best_score = i, score
            found += 1
            if found == limit:
                break
        self.cursor = i + 1 if i + 1 < n else 0
        self.score = best_score
        return best

    def place(self, g: GroupSelect, i: int) -> Node:
        """Account for a placement of ``g`` on the node at position ``i`` (then
        :meth:`claim` its ports and devices when it asks for any)."""
        st = self.state[i]
        assert st is not None
        st[0] -= g.ask[0]
        st[1] -= g.ask[1]
        st[2] -= g.ask[2]
        node = self.nodes[i]
        self._count(g.name, node.id, 1)
        return node

    def claim(self, g: GroupSelect, i: int) -> tuple[list[AllocatedPort], DeviceOffer]:
        """Assign ``g``'s ports and devices on the node at position ``i``."""
        if g.offers is None:
            return [], {}
        return g.offers.claim(self.nodes[i], self._use(i), self.rng)

    def release(self, alloc: Allocation, sign: int = 1) -> bool:
        """Free what a live allocation holds (it is being replaced); ``sign=-1`` undoes
        it when the replacement finds no node. False when it held nothing."""
        if sign > 0 and (alloc.id in self.stopping or alloc.terminal()):
            return False
        if sign > 0:
            self.stopping.add(alloc.id)
        else:
            self.stopping.discard(alloc.id)
        self._count(alloc.task_group, alloc.node_id, -sign)
        if self.positions is None:
            self.positions = {node.id: i for i, node in enumerate(self.nodes)}
        pos = self.positions.get(alloc.node_id)
        st = self.state[pos] if pos is not None else None
        if st is not None:
            res = alloc.resources
            st[0] += sign * res.cpu
            st[1] += sign * res.memory_mb
            st[2] += sign * res.disk_mb
        use = self.use[pos] if pos is not None else None
        if use is not None and (alloc.allocated_ports or alloc.allocated_devices):
            change = use.remove if sign > 0 else use.add
            change(alloc.allocated_ports, alloc.allocated_devices)
        return True

    def explain(self, g: GroupSelect) -> AllocMetric:
        """Why ``g`` fits nowhere: every candidate's reason, as Nomad's AllocMetric."""
        constraint: dict[str, int] = {}
        class_filtered: dict[str, int] = {}
        dimension: dict[str, int] = {}
        class_exhausted: dict[str, int] = {}
        available: dict[str, int] = {dc: 0 for dc in self.datacenters if "*" not in dc}
        filtered = exhausted_count = 0
        for i, node in enumerate(self.nodes):
            available[node.datacenter] = available.get(node.datacenter, 0) + 1
            why = g.verdicts[i]
            if why is None:
                why = g.verdicts[i] = g.feasibility.reason(node)
            if not why and g.distinct is not None and node.id in g.distinct:
                why = DISTINCT_HOSTS
            if not why and g.properties is not None:
                why = g.properties.reason(node)
            if why:
                filtered += 1
                constraint[why] = constraint.get(why, 0) + 1
                if node.node_class:
                    class_filtered[node.node_class] = class_filtered.get(node.node_class, 0) + 1
                continue
            st = self.state[i]
            if st is None:
                st = self.state[i] = self._load(i)
            dim = exhausted(st[:3], g.ask)
            if not dim and g.offers is not None:
                dim = g.offers.reason(node, self._use(i))
            if dim:
                exhausted_count += 1
                dimension[dim] = dimension.get(dim, 0) + 1
                if node.node_class:
                    class_exhausted[node.node_class] = class_exhausted.get(node.node_class, 0) + 1
        return AllocMetric(
            nodes_evaluated=self.n,
            nodes_filtered=filtered,
            nodes_in_pool=self.n,
            nodes_available=available,
            class_filtered=class_filtered,
            constraint_filtered=constraint,
            nodes_exhausted=exhausted_count,
            class_exhausted=class_exhausted,
            dimension_exhausted=dimension,
        )
