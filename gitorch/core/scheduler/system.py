"""The system and sysbatch schedulers: one allocation per targeted node per group.

The per-node diff (:mod:`gitorch.core.scheduler.nodediff`) says which nodes need an
allocation; this module checks each such node as Nomad's system stack does: a node the
group's constraints or drivers filter out is skipped without a failure (the job does not
target it), and its outdated allocation, if any, is stopped; a node that lacks cpu,
memory, disk, a port or a device is a placement failure, reported in the evaluation's
``FailedTGAllocs`` with the exhausted dimension and left to a blocked evaluation.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gitorch.core.model import AllocMetric, AllocStop, Evaluation, Job, Node, Placement, Plan
from gitorch.core.scheduler.feasible import Feasibility
from gitorch.core.scheduler.generic import eval_outcome
from gitorch.core.scheduler.nodediff import NodeDiff, NodePlace, diff_nodes, targeted
from gitorch.core.scheduler.offers import NodeUse, Offers, held
from gitorch.core.scheduler.rank import ask, exhausted, free
from gitorch.core.scheduler.reconcile import NOT_NEEDED
from gitorch.core.state import StateView

INFEASIBLE = "alloc not needed as node no longer meets the job's constraints"


def schedule_system(
    snap: StateView, ev: Evaluation, job: Job, *, seed: int, new_id: Callable[[], str]
) -> Plan:
    """One evaluation of a running system or sysbatch job."""
    allocs = snap.allocs_for_job(job.namespace, job.id)
    versions = {j.version: j for j in snap.job_versions(job.namespace, job.id)}
    diff = diff_nodes(job, allocs, snap.nodes, versions)
    placer = _NodePlacer(snap, job, diff, random.Random(seed), new_id)
    for place in diff.places:
        placer.place(place)
    failed = {name: m.metric() for name, m in placer.failures.items()}
    queued = {tg.name: 0 for tg in job.task_groups}
    queued.update({name: m.failures for name, m in placer.failures.items()})
    eval_update, new_evals = eval_outcome(ev, failed, queued, new_id)
    return Plan(
        eval_id=ev.id,
        namespace=job.namespace,
        job_id=job.id,
        job_version=job.version,
        priority=job.priority,
        placements=placer.placements,
        stops=placer.stops,
        eval_update=eval_update,
        new_evals=new_evals,
    )


class _Failures:
    """One group's placement failures across nodes, summed into Nomad's AllocMetric."""

    def __init__(self, nodes: list[Node]) -> None:
        self.evaluated = len(nodes)
        self.available: dict[str, int] = {}
        for node in nodes:
            self.available[node.datacenter] = self.available.get(node.datacenter, 0) + 1
        self.filtered: dict[str, int] = {}
        self.dimensions: dict[str, int] = {}
        self.failures = 0

    def metric(self) -> AllocMetric:
        return AllocMetric(
            nodes_evaluated=self.evaluated,
            nodes_filtered=sum(self.filtered.values()),
            nodes_in_pool=self.evaluated,
            nodes_available=self.available,
            constraint_filtered=self.filtered,
            nodes_exhausted=self.failures,
            dimension_exhausted=self.dimensions,
            coalesced_failures=max(self.failures - 1, 0),
        )


class _NodePlacer:
    """Checks and claims one node per placement; keeps what the plan uses per node."""

    def __init__(
        self,
        snap: StateView,
        job: Job,
        diff: NodeDiff,
        rng: random.Random,
        new_id: Callable[[], str],
    ) -> None:
        self.snap, self.job, self.rng, self.new_id = snap, job, rng, new_id
        self.groups = {tg.name: tg for tg in job.task_groups}
        self.feasible = {tg.name: Feasibility(job, tg) for tg in job.task_groups}
        self.offers = {tg.name: Offers.of(tg) for tg in job.task_groups}
        self.stopping = {s.alloc.id for s in diff.stops}
        self.stopping.update(p.previous.id for p in diff.places if p.update and p.previous)
        self.stops = [
            AllocStop(id=s.alloc.id, description=s.description, client_status=s.client_status)
            for s in diff.stops
        ]
        self.placements: list[Placement] = []
        self.free: dict[str, list[int]] = {}
        self.use: dict[str, NodeUse] = {}
        self.targets = targeted(snap.nodes.values(), job.datacenters, job.node_pool)
        self.failures: dict[str, _Failures] = {}
        self.filtered: dict[str, dict[str, int]] = {}

    def place(self, place: NodePlace) -> None:
        node = self.snap.nodes[place.node_id]
        name = place.task_group
        prev = place.previous
        why = self.feasible[name].reason(node)
        if why:  # the job does not target this node: no failure, nothing left behind
            if place.update and prev is not None:
                self.stops.append(AllocStop(id=prev.id, description=INFEASIBLE))
            return
        want = ask(self.groups[name].resources())
        have = self.free.get(node.id)
        if have is None:
            have = self.free[node.id] = free(self.snap, node, self.stopping)
        dim = exhausted(have, want)
        offers = self.offers[name]
        use: NodeUse | None = None
        if not dim and offers is not None:
            use = self._use(node)
            dim = offers.reason(node, use)
        if dim:
            self._fail(name, dim)
            return
        for i, amount in enumerate(want):
            have[i] -= amount
        ports, devices = (
            ([], {}) if offers is None or use is None else offers.claim(node, use, self.rng)
        )
        self.placements.append(
            Placement(
                id=self.new_id(),
                task_group=name,
                index=0,
                node_id=node.id,
                previous_allocation=prev.id if prev is not None else "",
                ports=ports,
                devices=devices,
            )
        )
        if place.update and prev is not None:
            self.stops.append(AllocStop(id=prev.id, description=NOT_NEEDED))

    def _use(self, node: Node) -> NodeUse:
        use = self.use.get(node.id)
        if use is None:
            use = self.use[node.id] = held(self.snap, node, self.stopping)
        return use

    def _fail(self, group: str, dimension: str) -> None:
        f = self.failures.get(group)
        if f is None:
            f = self.failures[group] = _Failures(self.targets)
            self._count_filtered(group, f)
        f.failures += 1
        f.dimensions[dimension] = f.dimensions.get(dimension, 0) + 1

    def _count_filtered(self, group: str, f: _Failures) -> None:
        for node in self.targets:
            why = self.feasible[group].reason(node)
            if why:
                f.filtered[why] = f.filtered.get(why, 0) + 1
