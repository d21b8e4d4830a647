"""The service and batch scheduler: reconcile, then find nodes, then say it as a Plan."""

from __future__ import annotations

from collections.abc import Callable

from gitorch.core.model import (
    AllocMetric,
    AllocStop,
    Deployment,
    Evaluation,
    Job,
    Placement,
    Plan,
    replace,
)
from gitorch.core.model.deployment import DESC_RUNNING, DESC_RUNNING_CANARIES
from gitorch.core.scheduler.reconcile import Place, Reconciliation, reconcile
from gitorch.core.scheduler.select import GroupSelect, Selector
from gitorch.core.state import StateView

BLOCKED_DESCRIPTION = "created to place remaining allocations"
FOLLOW_UP_DESCRIPTION = "created for delayed rescheduling"


def schedule_generic(
    snap: StateView,
    ev: Evaluation,
    job: Job | None,
    *,
    now: int,
    seed: int,
    new_id: Callable[[], str],
) -> Plan:
    """One evaluation of a service or batch job (``job`` None when it was purged)."""
    namespace = job.namespace if job is not None else ev.namespace
    allocs = snap.allocs_for_job(namespace, ev.job_id)
    versions = {j.version: j for j in snap.versions.get((namespace, ev.job_id), ())}
    deployments = snap.deployments_for_job(namespace, ev.job_id)
    rec = reconcile(job, allocs, snap.nodes, versions, now=now, deployments=deployments)
    stops = [
        AllocStop(id=s.alloc.id, description=s.description, client_status=s.client_status)
        for s in rec.stops
    ]
    placements: list[Placement] = []
    failed: dict[str, AllocMetric] = {}
    queued = {tg.name: 0 for tg in job.task_groups} if job is not None else {}
    if rec.places and job is not None:
        stopping = {s.alloc.id for s in rec.stops}
        sel = Selector(snap, job, allocs, seed=seed, stopping=stopping)
        placer = _Placer(sel, job, rec.places, new_id)
        placer.run()
        placements, failed = placer.placements, placer.failed
        stops += placer.stops
        queued.update(placer.queued)
    eval_update, new_evals = eval_outcome(ev, failed, queued, new_id)
    eval_update = replace(eval_update, status_description=_exhausted(rec))
    new_evals += _follow_up(snap, ev, rec, now, new_id)
    return Plan(
        eval_id=ev.id,
        namespace=namespace,
        job_id=ev.job_id,
        job_version=job.version if job is not None else 0,
        priority=job.priority if job is not None else ev.priority,
        placements=placements,
        stops=stops,
        eval_update=eval_update,
        new_evals=new_evals,
        deployment=_deployment(job, rec, now, new_id),
        deployment_updates=rec.deployment_updates,
        inplace=[a.id for a in rec.inplace],
    )


def _deployment(
    job: Job | None, rec: Reconciliation, now: int, new_id: Callable[[], str]
) -> Deployment | None:
    """The deployment the plan's placements join: the version's active one, or a new one
    when the reconciler asked for it (Nomad creates it in the plan, too)."""
    if rec.deployment is not None or job is None or not rec.new_deployment:
        return rec.deployment
    return Deployment(
        id=new_id(),
        namespace=job.namespace,
        job_id=job.id,
        job_version=job.version,
        job_modify_index=job.job_modify_index,
        job_spec_modify_index=job.job_modify_index,
        job_create_index=job.create_index,
        task_groups=rec.new_deployment,
        status_description=_running_description(rec),
        eval_priority=job.priority,
        create_time=now,
        modify_time=now,
    )


def _running_description(rec: Reconciliation) -> str:
    manual = any(s.desired_canaries and not s.auto_promote for s in rec.new_deployment.values())
    return DESC_RUNNING_CANARIES if manual else DESC_RUNNING


class _Placer:
    """Finds nodes for an evaluation's placements, destructive updates first as Nomad
    does: each frees its old allocation's resources before its replacement is placed,
    and takes them back when no node fits. An update that fits nowhere is tried again
    in another round, once later updates have freed what they held (a static port, say),
    until a round places nothing; then its group fails. A group whose new placement
    fits nowhere fails at once, the rest of it coalesced into that failure (Nomad)."""

    def __init__(
        self, sel: Selector, job: Job, places: list[Place], new_id: Callable[[], str]
    ) -> None:
        self.sel, self.job, self.new_id = sel, job, new_id
        self.places = sorted(places, key=lambda p: p.reason != "update")
        self.groups = {tg.name: tg for tg in job.task_groups}
        self.selects: dict[str, GroupSelect] = {}
        self.left = dict.fromkeys(self.groups, 0)
        for place in places:
            self.left[place.task_group] += 1
        self.placements: list[Placement] = []
        self.stops: list[AllocStop] = []
        self.failed: dict[str, AllocMetric] = {}
        self.queued: dict[str, int] = {}

    def run(self) -> None:
        pending = self.places
        while pending:
            deferred, placed = self._round(pending)
            pending = deferred
            if not placed:  # nothing was freed: another round would fail the same way
                break
        for place in pending:
            if place.task_group not in self.failed:
                self.fail(place)

    def _round(self, places: list[Place]) -> tuple[list[Place], int]:
        """Try ``places`` in order; return those to retry and how many were placed.
        A group whose update finds no node is stalled for the rest of the round: its
        remaining placements wait for the next round without a walk of every node."""
        deferred: list[Place] = []
        stalled: set[str] = set()
        placed = 0
        for place in places:
            name = place.task_group
            if name in self.failed:  # coalesced (Nomad)
                continue
            if name in stalled:
                deferred.append(place)
            elif self.attempt(place):
                placed += 1
            elif place.reason == "update":
                stalled.add(name)
                deferred.append(place)
            else:
                self.fail(place)
        return deferred, placed

    def _group(self, name: str) -> GroupSelect:
        g = self.selects.get(name)
        if g is None:
            g = self.selects[name] = self.sel.group(self.job, self.groups[name])
        return g

    def attempt(self, place: Place) -> bool:
        """Place ``place`` if any node fits; False (nothing changed) when none does."""
        sel, name = self.sel, place.task_group
        g = self._group(name)
        prev = place.previous
        released = prev is not None and bool(place.stop_previous) and sel.release(prev)
        penalty = prev.node_id if prev is not None and place.reason == "reschedule" else ""
        i = sel.select(g, penalty)
        if i < 0:
            if released and prev is not None:
                sel.release(prev, -1)
            return False
        self.left[name] -= 1
        node = sel.place(g, i)
        ports, devices = sel.claim(g, i) if g.offers is not None else ([], {})
        self.placements.append(
            Placement(
                id=self.new_id(),
                task_group=name,
                index=place.index,
                node_id=node.id,
                previous_allocation=prev.id if prev is not None else "",
                reschedule_delay=place.reschedule_delay,
                ports=ports,
                devices=devices,
                canary=place.reason == "canary",
            )
        )
        if prev is not None and place.stop_previous:
            self.stops.append(AllocStop(id=prev.id, description=place.stop_previous))
        return True

    def fail(self, place: Place) -> None:
        name = place.task_group
        metric = self.sel.explain(self._group(name))
        self.failed[name] = replace(metric, coalesced_failures=self.left[name] - 1)
        self.queued[name] = self.left[name]


def eval_outcome(
    ev: Evaluation,
    failed: dict[str, AllocMetric],
    queued: dict[str, int],
    new_id: Callable[[], str],
) -> tuple[Evaluation, list[Evaluation]]:
    """The evaluation's outcome, and a blocked eval when something is left unplaced."""
    done = replace(
        ev,
        status="complete",
        status_description="",
        failed_tg_allocs=failed,
        queued_allocations=queued,
    )
    if not failed:
        return done, []
    if ev.status == "blocked":  # a blocked eval that still cannot place: re-block it
        return replace(done, status="blocked"), []
    blocked = Evaluation(
        id=new_id(),
        namespace=ev.namespace,
        priority=ev.priority,
        type=ev.type,
        triggered_by="queued-allocs",
        job_id=ev.job_id,
        job_modify_index=ev.job_modify_index,
        status="blocked",
        status_description=BLOCKED_DESCRIPTION,
        previous_eval=ev.id,
    )
    return replace(done, blocked_eval=blocked.id), [blocked]


def _exhausted(rec: Reconciliation) -> str:
    """Why failed allocations were left failed, for the evaluation's status description."""
    if not rec.exhausted:
        return ""
    names = ", ".join(sorted(a.name for a in rec.exhausted))
    return f"not rescheduled, reschedule attempts exhausted: {names}"


def _follow_up(
    snap: StateView,
    ev: Evaluation,
    rec: Reconciliation,
    now: int,
    new_id: Callable[[], str],
) -> list[Evaluation]:
    """One pending evaluation that waits until the earliest delayed reschedule is due,
    unless another follow-up of the job, still waiting, comes no later (idempotent:
    scheduling the same evaluation again finds the follow-up it made the first time).
    One already due is not trusted: the broker may have coalesced it away."""
    if not rec.delayed:
        return []
    at = min(d.at for d in rec.delayed)
    for other in snap.evals_for_job(ev.namespace, ev.job_id):
        if (
            other.id != ev.id
            and other.status == "pending"
            and other.triggered_by == "failed-follow-up"
            and now < other.wait_until <= at
        ):
            return []
    follow = Evaluation(
        id=new_id(),
        namespace=ev.namespace,
        priority=ev.priority,
        type=ev.type,
        triggered_by="failed-follow-up",
        job_id=ev.job_id,
        job_modify_index=ev.job_modify_index,
        status="pending",
        status_description=FOLLOW_UP_DESCRIPTION,
        previous_eval=ev.id,
        wait_until=at,
    )
    return [follow]


def unsupported(ev: Evaluation, job: Job | None, why: str) -> Plan:
    """A plan that changes nothing and fails the evaluation with ``why``."""
    return Plan(
        eval_id=ev.id,
        namespace=job.namespace if job is not None else ev.namespace,
        job_id=ev.job_id,
        job_version=job.version if job is not None else 0,
        priority=ev.priority,
        eval_update=replace(ev, status="failed", status_description=why),
    )
