"""`job plan`: what registering a job would do, computed on a private fork of state."""

from __future__ import annotations

import time

from gitorch.core import commands as c
from gitorch.core.jobdiff import JobDiff, job_diff
from gitorch.core.model import Evaluation, Job, Plan
from gitorch.core.scheduler import schedule
from gitorch.core.state import StateView
from gitorch.server.backend import JobPlanResponse, PlanAnnotations, TGUpdates


def plan_job(state: StateView, job: Job, *, diff: bool) -> JobPlanResponse:
    fork = state.fork()
    old = state.job(job.namespace, job.id)
    ev = Evaluation(
        id="plan",
        namespace=job.namespace,
        priority=job.priority,
        type=job.type,
        triggered_by="job-register",
        job_id=job.id,
    )
    fork.apply(c.RegisterJob(now=time.time_ns(), job=job, eval=ev))
    counter = iter(range(1_000_000))
    plan = schedule(
        fork.snapshot(),
        fork.evals["plan"],
        now=time.time_ns(),
        seed=0,
        new_id=lambda: f"plan-{next(counter)}",
    )
    return JobPlanResponse(
        annotations=PlanAnnotations(desired_tg_updates=_tg_updates(job, plan, state)),
        failed_tg_allocs=plan.eval_update.failed_tg_allocs if plan.eval_update else {},
        job_modify_index=old.job_modify_index if old else 0,
        diff=job_diff(None if old is None or old.stop else old, job)
        if diff
        else JobDiff(type="None", id=job.id),
    )


def _tg_updates(job: Job, plan: Plan, state: StateView) -> dict[str, TGUpdates]:
    place: dict[str, int] = {}
    stop: dict[str, int] = {}
    for p in plan.placements:
        place[p.task_group] = place.get(p.task_group, 0) + 1
    for s in plan.stops:
        alloc = state.allocs.get(s.id)
        if alloc is not None:
            stop[alloc.task_group] = stop.get(alloc.task_group, 0) + 1
    live: dict[str, int] = {}
    for alloc in state.allocs_for_job(job.namespace, job.id):
        if not alloc.terminal():
            live[alloc.task_group] = live.get(alloc.task_group, 0) + 1
    out: dict[str, TGUpdates] = {}
    for tg in job.task_groups:
        placed, stopped = place.get(tg.name, 0), stop.get(tg.name, 0)
        destructive = min(placed, stopped)
        out[tg.name] = TGUpdates(
            place=placed - destructive,
            stop=stopped - destructive,
            destructive_update=destructive,
            ignore=max(live.get(tg.name, 0) - stopped, 0),
        )
    return out
