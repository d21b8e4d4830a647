"""The service and batch scheduler: reconcile, then find nodes, then say it as a Plan."""

from __future__ import annotations

from collections.abc import Callable

from gitorch.core.model import (
    AllocMetric,
    AllocStop,
    Evaluation,
    Job,
    Placement,
    Plan,
    replace,
)
from gitorch.core.scheduler.reconcile import reconcile
from gitorch.core.scheduler.select import GroupSelect, Selector
from gitorch.core.state import StateView

BLOCKED_DESCRIPTION = "created to place remaining allocations"


def schedule_generic(
    snap: StateView,
    ev: Evaluation,
    job: Job | None,
    *,
    seed: int,
    new_id: Callable[[], str],
) -> Plan:
    """One evaluation of a service or batch job (``job`` None when it was purged)."""
    namespace = job.namespace if job is not None else ev.namespace
    allocs = snap.allocs_for_job(namespace, ev.job_id)
    versions = {j.version: j for j in snap.versions.get((namespace, ev.job_id), ())}
    rec = reconcile(job, allocs, snap.nodes, versions)
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
        groups = {tg.name: tg for tg in job.task_groups}
        selects: dict[str, GroupSelect] = {}
        left = {name: 0 for name in groups}
        for place in rec.places:
            left[place.task_group] += 1
        # destructive updates first, as Nomad does: each frees its old allocation's
        # resources before its replacement is placed, and takes them back on failure
        for place in sorted(rec.places, key=lambda p: p.reason != "update"):
            name = place.task_group
            if name in failed:  # the rest of a group that did not fit: coalesced (Nomad)
                continue
            g = selects.get(name)
            if g is None:
                g = selects[name] = sel.group(job, groups[name])
            prev = place.previous
            released = prev is not None and bool(place.stop_previous) and sel.release(prev)
            penalty = prev.node_id if prev is not None and place.reason == "reschedule" else ""
            i = sel.select(g, penalty)
            if i < 0:
                if released and prev is not None:
                    sel.release(prev, -1)
                failed[name] = replace(sel.explain(g), coalesced_failures=left[name] - 1)
                queued[name] = left[name]
                continue
            left[name] -= 1
            node = sel.place(g, i)
            ports, devices = sel.claim(g, i)
            placements.append(
                Placement(
                    id=new_id(),
                    task_group=name,
                    index=place.index,
                    node_id=node.id,
                    previous_allocation=prev.id if prev is not None else "",
                    ports=ports,
                    devices=devices,
                )
            )
            if prev is not None and place.stop_previous:
                stops.append(AllocStop(id=prev.id, description=place.stop_previous))
    eval_update, new_evals = _evals(ev, failed, queued, new_id)
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
    )


def _evals(
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
