"""Which events one applied Raft command makes: Nomad's event topics and types, each
event carrying the object as the state holds it after the command.

``derive(cmd, state, index)`` reads only the command and the state just after it was
applied, so every server derives the same events from the same log. Secrets never
leave: a node's secret is blanked, ACL and variable commands make no events.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gitorch.core import commands as c
from gitorch.core.model import Evaluation, replace
from gitorch.core.state import StateView

# Nomad's topics, in the order a frame lists them, then gitorch's own: GitOps (a sync
# recorded, a fetch failure, a job's auto-sync suspended or resumed)
TOPICS = ("Job", "Allocation", "Evaluation", "Deployment", "Node", "Service", "GitOps")


@dataclass(frozen=True)
class Event:
    """One event: ``payload`` is ``{"Job": job}`` and the like (encoded by the caller)."""

    topic: str
    type: str
    key: str
    namespace: str
    index: int
    payload: dict[str, Any]
    filter_keys: tuple[str, ...] = ()  # other keys a topic filter may name (the job ID)


def derive(cmd: c.Command, state: StateView, index: int) -> list[Event]:
    """The events of ``cmd``, applied at ``index``, read from the state after it."""
    return list(_events(cmd, state, index))


def _events(cmd: c.Command, state: StateView, index: int) -> Iterator[Event]:
    match cmd:
        case c.RegisterJob() | c.LaunchPeriodic():
            yield from _job(state, index, cmd.job.namespace, cmd.job.id, "JobRegistered")
        case c.DeregisterJob():
            yield from _job(state, index, cmd.namespace, cmd.job_id, "JobDeregistered")
        case c.SetJobStable():
            yield from _job(state, index, cmd.namespace, cmd.job_id, "JobRegistered")
        case c.RegisterNode():
            yield from _node(state, index, cmd.node.id, "NodeRegistration")
        case c.UpdateNodeStatus():
            yield from _node(state, index, cmd.node_id, "NodeStreamEvent")
        case c.UpdateNodeEligibility():
            yield from _node(state, index, cmd.node_id, "NodeEligibility")
        case c.UpdateNodeDrain():
            yield from _node(state, index, cmd.node_id, "NodeDrain")
        case c.ApplyDrainStep():
            yield from _node(state, index, cmd.node_id, "NodeDrain")
            stopped = [alloc_id for alloc_id, _ in cmd.stop]
            yield from _allocs(
                state, index, [*cmd.migrate, *stopped], "AllocationUpdateDesiredStatus"
            )
        case c.ApplyPlan():
            plan = cmd.plan
            ids = [p.id for p in plan.placements] + [s.id for s in plan.stops] + plan.inplace
            yield from _allocs(state, index, ids, "PlanResult")
            deployments = [u.deployment_id for u in plan.deployment_updates]
            if plan.deployment is not None:
                deployments.insert(0, plan.deployment.id)
            yield from _deployments(state, index, deployments, "PlanResult")
            evals = [plan.eval_update] if plan.eval_update is not None else []
            yield from _evals(state, index, [*evals, *plan.new_evals])
        case c.StopAllocation():
            yield from _allocs(state, index, [cmd.alloc_id], "AllocationUpdateDesiredStatus")
        case c.UpdateAllocsFromClient():
            yield from _allocs(state, index, [u.id for u in cmd.updates], "AllocationUpdated")
        case c.UpdateDeployment():
            kind = (
                "DeploymentPromotion"
                if cmd.promote
                else "DeploymentAllocHealth"
                if cmd.health and not cmd.status
                else "DeploymentStatusUpdate"
            )
            yield from _deployments(state, index, [cmd.deployment_id], kind)
            if cmd.revert is not None:
                ns, job_id = cmd.revert.namespace, cmd.revert.id
                yield from _job(state, index, ns, job_id, "JobRegistered")
        case c.UpsertServices():
            for svc in cmd.services:
                payload = {"Service": state.svc.services.get(svc.id, svc)}
                yield Event(
                    "Service",
                    "ServiceRegistration",
                    svc.service_name,
                    svc.namespace,
                    index,
                    payload,
                )
        case c.DeleteServices():
            for svc_id in cmd.ids:
                yield Event(
                    "Service",
                    "ServiceDeregistration",
                    svc_id,
                    "",
                    index,
                    {"Service": {"ID": svc_id}},
                )
        case c.RecordGitSync():
            yield _gitops(state, index, "GitOpsSynced")
        case c.RecordGitFetchError():
            yield _gitops(state, index, "GitOpsFetchError")
        case c.SetGitopsSuspend():
            yield _gitops(state, index, "GitOpsSuspended" if cmd.suspended else "GitOpsResumed")
        case _:
            pass
    yield from _evals(state, index, _carried_evals(cmd))


def _gitops(state: StateView, index: int, kind: str) -> Event:
    """A small summary of the GitOps record (the whole of it: GET /v1/gitops/status)."""
    sync = state.gitsync
    payload = {
        "GitOps": {
            "Commit": sync.commit,
            "Branch": sync.branch,
            "SyncedAt": sync.synced_at,
            "FetchError": sync.fetch_error,
            "Errors": len(sync.errors) + sync.errors_omitted,
            "Suspended": sync.suspended,
        }
    }
    return Event("GitOps", kind, sync.commit, "", index, payload)


def _carried_evals(cmd: c.Command) -> list[Evaluation]:
    """The evaluations a command creates beside its main change (``eval``/``evals``)."""
    if isinstance(cmd, c.ApplyPlan):
        return []  # listed with the plan's results
    one = getattr(cmd, "eval", None)
    many: list[Evaluation] = list(getattr(cmd, "evals", None) or [])
    return ([one] if isinstance(one, Evaluation) else []) + many


def _job(state: StateView, index: int, namespace: str, job_id: str, kind: str) -> Iterator[Event]:
    job = state.job(namespace, job_id)
    payload: dict[str, Any] = {
        "Job": job if job is not None else {"ID": job_id, "Namespace": namespace}
    }
    yield Event("Job", kind, job_id, namespace, index, payload)


def _node(state: StateView, index: int, node_id: str, kind: str) -> Iterator[Event]:
    node = state.nodes.get(node_id)
    if node is None:
        return
    if node.secret_id:
        node = replace(node, secret_id="")
    yield Event("Node", kind, node_id, "", index, {"Node": node})


def _allocs(state: StateView, index: int, ids: Iterable[str], kind: str) -> Iterator[Event]:
    for alloc_id in dict.fromkeys(ids):
        alloc = state.allocs.get(alloc_id)
        if alloc is not None:
            job, dep = alloc.job_id, alloc.deployment_id  # no generator: a plan has 1,000
            keys = (job, dep) if job and dep else (job,) if job else (dep,) if dep else ()
            payload = {"Allocation": alloc}
            yield Event("Allocation", kind, alloc_id, alloc.namespace, index, payload, keys)


def _deployments(state: StateView, index: int, ids: Iterable[str], kind: str) -> Iterator[Event]:
    for dep_id in dict.fromkeys(ids):
        dep = state.deployments.get(dep_id)
        if dep is not None:
            payload = {"Deployment": dep}
            yield Event("Deployment", kind, dep_id, dep.namespace, index, payload, (dep.job_id,))


def _evals(state: StateView, index: int, evals: Iterable[Evaluation]) -> Iterator[Event]:
    seen: set[str] = set()
    for ev in evals:
        if ev.id in seen:
            continue
        seen.add(ev.id)
        stored = state.evals.get(ev.id, ev)
        yield Event(
            "Evaluation",
            "EvaluationUpdated",
            ev.id,
            stored.namespace,
            index,
            {"Evaluation": stored},
            tuple(k for k in (stored.job_id, stored.deployment_id) if k),
        )
