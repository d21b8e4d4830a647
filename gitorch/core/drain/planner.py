"""What the drainer does next, for every draining node at once (pure).

Make before break: a service allocation on a draining node is first *marked* for
migration (``DesiredTransition.Migrate``); the scheduler places its replacement on
another node; once the replacement is healthy by the group's ``migrate`` block
(task states running for ``min_healthy_time``, within ``healthy_deadline``, and with
``health_check = "checks"`` its service checks passing too), the original is stopped.
At most ``max_parallel`` allocations of a group are between mark and stop at any time,
counted over every draining node. Batch allocations are left to finish (Nomad's rule)
until the deadline. System allocations go last, once
nothing else is left on the node, unless ``IgnoreSystemJobs``. At the deadline
(``Deadline`` -1: at once) whatever is left is stopped. A node with nothing left to
move has finished draining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from gitorch.core.deployments.health import judge
from gitorch.core.model import Allocation, Job, Node, TaskGroup
from gitorch.core.model.deployment import UpdateStrategy
from gitorch.core.model.drain import MigrateStrategy
from gitorch.core.model.service import CheckResult

JobKey = tuple[str, str]
MIGRATED = "alloc is being migrated"  # Nomad's allocMigrating
DEADLINE = "alloc stopped: the node's drain deadline was reached"
SYSTEM = "alloc stopped: its node is draining"
GONE = "alloc stopped: its node is draining and its job or group no longer exists"
SYSTEM_TYPES = frozenset({"system", "sysbatch"})
DEFAULT_MIGRATE = MigrateStrategy()


class NodeStep(msgspec.Struct, frozen=True, kw_only=True):
    """One node's changes: allocations to mark for migration, allocations to stop (ID,
    why), whether its drain is done, and the jobs to evaluate afterwards."""

    node_id: str
    migrate: list[str] = []
    stop: list[tuple[str, str]] = []
    done: bool = False
    jobs: list[JobKey] = []

    def is_noop(self) -> bool:
        return not self.migrate and not self.stop and not self.done


class DrainView(msgspec.Struct, frozen=True, kw_only=True):
    """What ``step`` reads: the draining nodes, each node's allocations, the jobs, and
    for each marked original its newest replacement (the live allocation whose
    ``previous_allocation`` names it), with each replacement's check results."""

    nodes: Sequence[Node]
    allocs: Mapping[str, Sequence[Allocation]]
    jobs: Mapping[JobKey, Job]
    replacements: Mapping[str, Allocation]
    checks: Mapping[str, Sequence[CheckResult]] = {}


class DrainStep(msgspec.Struct, frozen=True, kw_only=True):
    """The changes (nodes with nothing to do are left out), and when to look again even
    if nothing changes (ns; 0: only on a change)."""

    nodes: list[NodeStep] = []
    wake: int = 0


def migrate_strategy(group: TaskGroup) -> MigrateStrategy:
    return group.migrate or DEFAULT_MIGRATE


def _health(m: MigrateStrategy) -> UpdateStrategy:
    return UpdateStrategy(
        max_parallel=m.max_parallel,
        health_check=m.health_check,
        min_healthy_time=m.min_healthy_time,
        healthy_deadline=m.healthy_deadline,
    )


def step(view: DrainView, now: int) -> DrainStep:
    """The drainer's next move at ``now`` (ns)."""
    wakes: list[int] = []
    in_flight: dict[tuple[str, str, str], int] = {}
    settled: dict[str, bool] = {}  # marked original -> replacement healthy now
    for node in view.nodes:
        for alloc in view.allocs.get(node.id, ()):
            if alloc.terminal() or not alloc.desired_transition.migrate:
                continue
            group = _group(view.jobs, alloc)
            new = view.replacements.get(alloc.id)
            healthy = False
            if group is not None and new is not None:
                results = view.checks.get(new.id, ())
                verdict = judge(new, group, _health(migrate_strategy(group)), now, results)
                healthy = verdict.healthy is True
                if verdict.wake:
                    wakes.append(verdict.wake)
            settled[alloc.id] = healthy
            if not healthy:
                key = (alloc.namespace, alloc.job_id, alloc.task_group)
                in_flight[key] = in_flight.get(key, 0) + 1
    out: list[NodeStep] = []
    for node in view.nodes:
        s = _node(node, view, now, in_flight, settled, wakes)
        if not s.is_noop():
            out.append(s)
    future = [w for w in wakes if w > now]
    return DrainStep(nodes=out, wake=min(future, default=0))


def _group(jobs: Mapping[JobKey, Job], alloc: Allocation) -> TaskGroup | None:
    job = jobs.get((alloc.namespace, alloc.job_id))
    if job is None or job.stop:
        return None
    return job.group(alloc.task_group)


def _node(
    node: Node,
    view: DrainView,
    now: int,
    in_flight: dict[tuple[str, str, str], int],
    settled: Mapping[str, bool],
    wakes: list[int],
) -> NodeStep:
    strategy = node.drain_strategy
    assert strategy is not None  # the view holds draining nodes only
    forced = strategy.deadline < 0 or 0 < strategy.force_deadline_ns <= now
    if strategy.force_deadline_ns > now and strategy.deadline >= 0:
        wakes.append(strategy.force_deadline_ns)
    live = [a for a in view.allocs.get(node.id, ()) if not a.terminal()]
    migrate: list[str] = []
    stop: list[tuple[str, str]] = []
    jobs: set[JobKey] = set()
    left = 0  # non-system allocations still on the node after this step
    system: list[Allocation] = []
    for alloc in live:
        job = view.jobs.get((alloc.namespace, alloc.job_id))
        if job is not None and job.type in SYSTEM_TYPES:
            system.append(alloc)
            continue
        group = _group(view.jobs, alloc)
        key = (alloc.namespace, alloc.job_id)
        if forced:
            stop.append((alloc.id, DEADLINE))
            jobs.add(key)
        elif group is None:
            stop.append((alloc.id, GONE))
        elif alloc.desired_transition.migrate:
            if settled.get(alloc.id):
                stop.append((alloc.id, MIGRATED))
            else:
                left += 1
        elif job is not None and job.type == "batch":
            left += 1  # batch work finishes where it is, or meets the deadline
        else:
            flight = (alloc.namespace, alloc.job_id, alloc.task_group)
            if in_flight.get(flight, 0) < max(1, migrate_strategy(group).max_parallel):
                in_flight[flight] = in_flight.get(flight, 0) + 1
                migrate.append(alloc.id)
                jobs.add(key)
            left += 1
    if not strategy.ignore_system_jobs and (forced or left == 0):
        stop += [(a.id, DEADLINE if forced else SYSTEM) for a in system]
    done = left == 0 and not migrate
    return NodeStep(node_id=node.id, migrate=migrate, stop=stop, done=done, jobs=sorted(jobs))
