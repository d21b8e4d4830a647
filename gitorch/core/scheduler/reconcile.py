"""The reconciler: desired groups and counts against existing allocations, as a value.

Pure and node-agnostic: it decides which allocations to stop and which names (indices)
need a placement; the selector then finds nodes for them. Failed allocations follow
their group's reschedule policy: replaced when due, delayed (the caller schedules a
follow-up evaluation), or left failed once the attempts are spent.

A group with a rolling ``update`` strategy (service jobs) changes through its version's
deployment: destructive updates ``max_parallel`` at a time, each batch once the last is
healthy (``rollout.limit``); canaries first, beside the old version, until promoted.
Allocations whose spec did not change in a way that needs a restart move to the new
version in place.

Allocations the drainer marked for migration get a replacement elsewhere and stay until
the drainer stops them; allocations on a disconnected node whose group tolerates it stay
``unknown`` (see ``disconnect``), and a reconnected original and its replacement are
settled to one copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

import msgspec

from gitorch.core.model import Allocation, Deployment, Job, Node, TaskGroup, replace
from gitorch.core.model.deployment import DeploymentState, UpdateStrategy
from gitorch.core.model.plan import DeploymentStatusUpdate
from gitorch.core.scheduler import disconnect, rollout
from gitorch.core.scheduler.reschedule import reschedule_time

NOT_NEEDED = "alloc not needed due to job update"
LOST = "alloc is lost since its node is down"
JOB_STOPPED = "job stopped"
COUNT_REDUCED = "alloc not needed as count reduced"
RESCHEDULED = "alloc was rescheduled because it failed"
DOWN_STATUSES = frozenset({"down", "disconnected"})

Kind = Literal["ignore", "done", "live", "update", "failed", "lost", "unknown", "migrate"]
Reason = Literal["new", "lost", "reschedule", "update", "canary", "migrate"]
# which allocation keeps a contested index: finished work first, then healthy, then broken
# (a replacement holds the index of the unknown or migrating allocation it replaces)
_KEEP_ORDER: dict[str, int] = {
    "done": 0, "live": 1, "unknown": 2, "migrate": 2, "update": 3, "failed": 4, "lost": 5,
}  # fmt: skip


class Stop(msgspec.Struct, frozen=True, kw_only=True):
    """Stop ``alloc`` now; ``client_status`` is "lost" for allocations on down nodes."""

    alloc: Allocation
    description: str
    client_status: str = ""


class Place(msgspec.Struct, frozen=True, kw_only=True):
    """Place ``job.task_group[index]``; ``previous`` is stopped with ``stop_previous``
    only once the replacement has a node (destructive updates and reschedules)."""

    task_group: str
    index: int
    reason: Reason = "new"
    previous: Allocation | None = None
    stop_previous: str = ""
    reschedule_delay: int | None = None  # for reason "reschedule": the delay it waited


class Delayed(msgspec.Struct, frozen=True, kw_only=True):
    """A failed allocation whose replacement is due at ``at`` (ns), not yet."""

    alloc: Allocation
    at: int


class Reconciliation(msgspec.Struct, frozen=True, kw_only=True):
    stops: list[Stop] = []
    places: list[Place] = []
    ignore: list[Allocation] = []
    delayed: list[Delayed] = []  # failed, to be rescheduled later (also in ignore)
    exhausted: list[Allocation] = []  # failed, reschedule attempts spent (also in ignore)
    inplace: list[Allocation] = []  # moved to the job's version without a restart
    deployment: Deployment | None = None  # the current version's, if still active
    new_deployment: dict[str, DeploymentState] = {}  # groups of a deployment to create
    deployment_updates: list[DeploymentStatusUpdate] = []

    def is_noop(self) -> bool:
        return not self.stops and not self.places and not self.inplace


def node_down(nodes: Mapping[str, Node]) -> Callable[[str], bool]:
    """A predicate: is the node gone, down or disconnected (its allocations lost)?"""

    def down(node_id: str) -> bool:
        node = nodes.get(node_id)
        return node is None or node.status in DOWN_STATUSES

    return down


def reconcile(
    job: Job | None,
    allocs: Iterable[Allocation],
    nodes: Mapping[str, Node],
    versions: Mapping[int, Job] | None = None,
    *,
    now: int,
    deployments: Sequence[Deployment] = (),
) -> Reconciliation:
    """Compare ``job`` (None when purged) with its allocations; ``versions`` are the
    job's stored versions, used to tell a changed group from an unchanged one; ``now``
    (ns) decides which failed allocations are due for rescheduling; ``deployments`` are
    the job's (an active one of an older version is cancelled)."""
    down = node_down(nodes)
    stops: list[Stop] = []
    places: list[Place] = []
    ignore: list[Allocation] = []
    cancels = rollout.cancellations(job, deployments)
    if job is None or job.stop:
        for alloc in allocs:
            if alloc.terminal():
                ignore.append(alloc)
            elif down(alloc.node_id):
                stops.append(Stop(alloc=alloc, description=LOST, client_status="lost"))
            else:
                stops.append(Stop(alloc=alloc, description=JOB_STOPPED))
        return Reconciliation(stops=stops, ignore=ignore, deployment_updates=cancels)
    by_group: dict[str, list[Allocation]] = {tg.name: [] for tg in job.task_groups}
    for alloc in allocs:
        members = by_group.get(alloc.task_group)
        if members is not None:
            members.append(alloc)
        elif alloc.terminal():
            ignore.append(alloc)
        elif down(alloc.node_id):
            stops.append(Stop(alloc=alloc, description=LOST, client_status="lost"))
        else:
            stops.append(Stop(alloc=alloc, description=NOT_NEEDED))
    changed = spec_changed(job, versions or {})
    d = rollout.current(job, deployments)
    out = Reconciliation(stops=stops, places=places, ignore=ignore, deployment_updates=cancels)
    for group in job.task_groups:
        _group(job, group, by_group[group.name], down, changed, out, now, d, nodes=nodes)
    if d is not None and d.active():
        out = msgspec.structs.replace(out, deployment=d)
    elif d is None and not (out.places or out.inplace):  # nothing to deploy
        out = msgspec.structs.replace(out, new_deployment={})
    return out


def spec_changed(job: Job, versions: Mapping[int, Job]) -> Callable[[Allocation], bool]:
    """Does an allocation run a different spec of its group than ``job`` has now?"""
    memo: dict[tuple[int, str], bool] = {}

    def spec(j: Job, group: TaskGroup) -> tuple[object, ...]:
        # what a restart is needed for (Nomad's tasksUpdated): not the count, the
        # group's update strategy, nor the job's or group's meta
        return (j.constraints, replace(group, count=0, update=None, meta={}))

    def changed(alloc: Allocation) -> bool:
        if alloc.job_version == job.version:
            return False
        if alloc.client_status == "complete":  # finished work reruns after any change since
            return _changed_since(alloc, job, versions, spec)
        key = (alloc.job_version, alloc.task_group)
        hit = memo.get(key)
        if hit is None:
            old = versions.get(alloc.job_version)
            old_group = old.group(alloc.task_group) if old else None
            new_group = job.group(alloc.task_group)
            hit = memo[key] = (
                old is None
                or old_group is None
                or new_group is None
                or spec(old, old_group) != spec(job, new_group)
            )
        return hit

    return changed


def _changed_since(
    alloc: Allocation,
    job: Job,
    versions: Mapping[int, Job],
    spec: Callable[[Job, TaskGroup], tuple[object, ...]],
) -> bool:
    """Did the group's spec change in any version after the allocation's? (A batch job
    whose file goes back to earlier content runs again, as Nomad's does.)"""
    first = versions.get(alloc.job_version)
    first_group = first.group(alloc.task_group) if first else None
    if first is None or first_group is None:
        return True
    base = spec(first, first_group)
    for v in range(alloc.job_version + 1, job.version + 1):
        later = job if v == job.version else versions.get(v)
        group = later.group(alloc.task_group) if later else None
        if later is None or group is None or spec(later, group) != base:
            return True
    return False


def classify(
    alloc: Allocation,
    batch: bool,
    down: Callable[[str], bool],
    changed: Callable[[Allocation], bool],
) -> Kind:
    """Nomad's shouldFilter and taint split, for one allocation of a running job."""
    status = alloc.client_status
    if alloc.desired_status != "run":  # evicted batch work reruns, stopped finished work not
        stopped = alloc.desired_status == "stop"
        finished = batch and stopped and status == "complete" and not changed(alloc)
        return "done" if finished else "ignore"
    if status == "complete":
        return "done" if batch and not changed(alloc) else "ignore"
    if status == "lost":
        return "ignore"
    if status == "failed":  # a failed allocation of an older spec is replaced at once
        return "update" if changed(alloc) else "failed"
    if down(alloc.node_id):
        return "lost"
    if alloc.desired_transition.migrate:  # the drainer asked for a replacement elsewhere
        return "migrate"
    return "update" if changed(alloc) else "live"


def _group(
    job: Job,
    group: TaskGroup,
    allocs: Sequence[Allocation],
    down: Callable[[str], bool],
    changed: Callable[[Allocation], bool],
    out: Reconciliation,
    now: int,
    d: Deployment | None = None,
    *,
    nodes: Mapping[str, Node] | None = None,
) -> None:
    stops, places, ignore = out.stops, out.places, out.ignore
    nodes = nodes or {}
    losers = {v.loser.id: v for v in disconnect.reconnect_losers(group, allocs, nodes)}
    tolerant = disconnect.policy(group)
    batch = job.type in ("batch", "sysbatch")
    u = rollout.strategy(job, group)
    occupants: list[tuple[int, Allocation, Kind]] = []
    canaries: list[Allocation] = []
    for alloc in allocs:
        if u is not None and rollout.is_canary_of(d, alloc):  # beside the old version
            ignore.append(alloc)
            if not alloc.terminal():
                canaries.append(alloc)
            continue
        if alloc.id in losers:  # a reconnect pair: this copy goes, the other stays as it is
            stops.append(Stop(alloc=alloc, description=losers[alloc.id].description))
            continue
        until = disconnect.unknown_until(alloc, group, nodes, now)
        if until is not None:  # kept through the disconnect; lost if still away at ``until``
            out.delayed.append(Delayed(alloc=alloc, at=until))
        kind: Kind = "unknown" if until is not None else classify(alloc, batch, down, changed)
        if kind == "ignore":
            ignore.append(alloc)
        else:
            occupants.append((alloc.index(), alloc, kind))
    occupants.sort(key=lambda o: (o[0], _KEEP_ORDER[o[2]], o[1].create_index))
    keep: list[tuple[int, Allocation, Kind]] = []
    extra: list[tuple[int, Allocation, Kind]] = []
    for occ in occupants:
        (extra if keep and keep[-1][0] == occ[0] else keep).append(occ)
    excess = len(keep) - group.count
    if excess > 0:  # scale down: stop the highest indices (finished batch work stays)
        dropped: set[int] = set()
        for pos in range(len(keep) - 1, -1, -1):
            if len(dropped) == excess:
                break
            if keep[pos][2] != "done":
                dropped.add(pos)
                extra.append(keep[pos])
        keep = [occ for pos, occ in enumerate(keep) if pos not in dropped]
    held = {occ[0] for occ in keep}
    for index, alloc, kind in extra:
        if kind in ("unknown", "migrate") and index in held:
            ignore.append(alloc)  # its replacement holds the index
        elif kind == "done":
            ignore.append(alloc)
        elif kind == "lost":
            stops.append(Stop(alloc=alloc, description=LOST, client_status="lost"))
        elif kind == "update":  # a promoted canary took its index
            stops.append(Stop(alloc=alloc, description=NOT_NEEDED))
        else:
            stops.append(Stop(alloc=alloc, description=COUNT_REDUCED))
    name = group.name
    updates = [(index, alloc) for index, alloc, kind in keep if kind == "update"]
    allowed = _rollout(job, group, u, d, allocs, canaries, updates, out, now)
    for index, alloc, kind in keep:
        if kind in ("done", "live"):
            ignore.append(alloc)
            if kind == "live" and alloc.job_version != job.version and not alloc.terminal():
                out.inplace.append(alloc)
        elif kind == "migrate":
            ignore.append(alloc)  # the drainer stops it once the replacement is healthy
            places.append(Place(task_group=name, index=index, reason="migrate", previous=alloc))
        elif kind == "unknown":
            ignore.append(alloc)
            if tolerant is not None and tolerant.replace:
                places.append(Place(task_group=name, index=index, reason="lost", previous=alloc))
        elif kind == "update" and alloc.id not in allowed:
            ignore.append(alloc)  # waits for its turn in the deployment
        elif kind == "update":
            places.append(_replace(name, index, "update", alloc, NOT_NEEDED))
        elif kind == "failed":
            due = reschedule_time(alloc, job.reschedule_policy(group))
            if due is None:
                ignore.append(alloc)
                out.exhausted.append(alloc)
            elif due[0] > now:
                ignore.append(alloc)
                out.delayed.append(Delayed(alloc=alloc, at=due[0]))
            else:
                places.append(_replace(name, index, "reschedule", alloc, RESCHEDULED, due[1]))
        else:
            stops.append(Stop(alloc=alloc, description=LOST, client_status="lost"))
            places.append(_replace(name, index, "lost", alloc, ""))
    taken = {occ[0] for occ in keep}
    missing, index = group.count - len(keep), 0
    while missing > 0:
        if index not in taken:
            places.append(Place(task_group=name, index=index))
            missing -= 1
        index += 1


def _rollout(
    job: Job,
    group: TaskGroup,
    u: UpdateStrategy | None,
    d: Deployment | None,
    allocs: Sequence[Allocation],
    canaries: list[Allocation],
    updates: list[tuple[int, Allocation]],
    out: Reconciliation,
    now: int,
) -> set[str]:
    """The IDs of the destructive updates that may start now; canaries to place go to
    ``out.places``, and a new deployment's group state to ``out.new_deployment``."""
    if u is None:
        return {alloc.id for _, alloc in updates}
    wants_canaries = u.canary > 0 and bool(updates or canaries)
    if d is None:
        out.new_deployment[group.name] = rollout.group_state(u, group, wants_canaries, now)
    allowed: set[str] = set()
    if wants_canaries and not rollout.promoted(d, group.name):
        if d is None or d.status == "running":
            taken = {c.index() for c in canaries}
            want = min(u.canary, group.count) - len(canaries)
            free = [i for i, _ in updates if i not in taken]
            for index in free[: max(0, want)]:
                out.places.append(Place(task_group=group.name, index=index, reason="canary"))
        return allowed
    budget = rollout.limit(u, d, allocs)
    for _, alloc in sorted(updates, key=lambda ua: ua[0])[:budget]:
        allowed.add(alloc.id)
    return allowed


def _replace(
    group: str, index: int, reason: Reason, prev: Allocation, stop: str, delay: int | None = None
) -> Place:
    return Place(
        task_group=group,
        index=index,
        reason=reason,
        previous=prev,
        stop_previous=stop,
        reschedule_delay=delay,
    )
