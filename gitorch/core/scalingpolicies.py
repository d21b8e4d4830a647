"""The scaling policies of registered jobs (Nomad's ``scaling_policy`` table), read from
the current version of each job: one horizontal policy per group with a ``scaling``
block, its ID stable per target (:func:`~gitorch.core.model.scaling.policy_id`).

As in Nomad, a stopped job keeps its policies and purging it removes them. A policy's
create index is its job's, its modify index the job's latest modify index.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitorch.core.model.base import replace
from gitorch.core.model.job import Job
from gitorch.core.model.scaling import (
    ScalingPolicy,
    ScalingPolicyListStub,
    policy_id,
    target,
)
from gitorch.core.state import StateView


def job_policies(job: Job) -> list[ScalingPolicy]:
    """The job's policies, with IDs, targets, indexes and ``Min`` filled in."""
    out: list[ScalingPolicy] = []
    for tg in job.task_groups:
        p = tg.scaling
        if p is None:
            continue
        out.append(
            replace(
                p,
                id=policy_id(job.namespace, job.id, tg.name),
                target=target(job.namespace, job.id, tg.name),
                min=p.min if p.min is not None else tg.count,
                create_index=job.create_index,
                modify_index=job.job_modify_index,
            )
        )
    return out


def list_policies(
    state: StateView, namespace: str, *, job_id: str = "", kind: str = "", prefix: str = ""
) -> list[ScalingPolicy]:
    """Policies in ``namespace`` (``*``: every namespace), of one job, of a type, with an
    ID prefix, as ``/v1/scaling/policies`` lists them: by namespace, job and group."""
    jobs: Iterable[Job] = state.jobs.values()
    found = [
        p
        for job in jobs
        if (namespace == "*" or job.namespace == namespace) and (not job_id or job.id == job_id)
        for p in job_policies(job)
        if (not kind or p.type == kind) and p.id.startswith(prefix)
    ]
    return sorted(found, key=lambda p: (p.target["Namespace"], p.target["Job"], p.target["Group"]))


def find_policy(state: StateView, policy: str) -> ScalingPolicy | None:
    for job in state.jobs.values():
        for p in job_policies(job):
            if p.id == policy:
                return p
    return None


def stub(p: ScalingPolicy) -> ScalingPolicyListStub:
    return ScalingPolicyListStub(
        id=p.id,
        enabled=p.enabled,
        type=p.type,
        target=p.target,
        create_index=p.create_index,
        modify_index=p.modify_index,
    )
