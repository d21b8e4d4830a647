"""The leader's deployment watcher loop: a thin IO shell around the pure state machine
``gitorch.core.deployments.watcher.step``.

It blocks on the state store (a change to allocations, deployments or check results) or
on the next timer the state machine asked for (an allocation's ``min_healthy_time`` or
healthy deadline, a group's progress deadline), whichever comes first, and never polls.
Health is judged here, on the leader, from the task states and check results clients
report: one clock for every deadline, no client change, and a new leader picks up where
the old one left off from replicated state alone.
"""

from __future__ import annotations

import logging

from gitorch.core import commands as c
from gitorch.core.deployments.watcher import step
from gitorch.core.model import Deployment, Evaluation, replace
from gitorch.core.model.deployment import DESC_FAILED_BY_USER, DESC_PAUSED, DESC_RUNNING
from gitorch.core.state import StateView
from gitorch.errors import BadRequestError, ConflictError, NotFoundError
from gitorch.server.stateloop import StateLoop

log = logging.getLogger(__name__)
TABLES = ("allocs", "deployments", "jobs", "checks")


class DeploymentWatcher(StateLoop):
    """Started when the server becomes leader, stopped when it stops leading."""

    name = "deployment-watcher"

    def watched_tables(self) -> tuple[str, ...]:
        return TABLES

    def step(self, state: StateView, now: int) -> int:
        return self.tick(state, now)

    def tick(self, state: StateView, now: int) -> int:
        """Look at every active deployment once; return the earliest wake time (0: none)."""
        wakes: list[int] = []
        for d in list(state.deployments.values()):
            if not d.active():
                continue
            job = state.job_version(d.namespace, d.job_id, d.job_version)
            allocs = state.allocs_for_job(d.namespace, d.job_id)
            versions = state.versions.get((d.namespace, d.job_id), ())
            out = step(d, job, allocs, versions, now, state.svc.checks_of)
            if out.wake:
                wakes.append(out.wake)
            if not out.changes():
                continue
            cmd = c.UpdateDeployment(
                now=now,
                deployment_id=d.id,
                health=[c.AllocHealth(id=i, healthy=h, timestamp=t) for i, h, t in out.health],
                promote=out.promote,
                status=out.status,
                status_description=out.description,
                revert=out.revert,
                evals=[self.evaluation(d, state)] if out.evaluate else [],
            )
            self._submit(cmd)
        return min(wakes, default=0)

    def evaluation(self, d: Deployment, state: StateView) -> Evaluation:
        job = state.job(d.namespace, d.job_id)
        return Evaluation(
            id=self._new_id(),
            namespace=d.namespace,
            priority=d.eval_priority,
            type=job.type if job is not None else "service",
            triggered_by="deployment-watcher",
            job_id=d.job_id,
            deployment_id=d.id,
        )

    # -- what users ask of deployments (the HTTP API's promote, fail, pause, revert) ---

    def _active(self, deployment_id: str) -> tuple[StateView, Deployment]:
        state = self._fsm.state
        d = state.deployments.get(deployment_id)
        if d is None:
            raise NotFoundError(f"deployment {deployment_id} not found")
        if not d.active():
            raise BadRequestError(
                f"deployment {d.id} is {d.status}: only a running or paused deployment "
                "can be promoted, failed or paused"
            )
        return state, d

    def promote(self, deployment_id: str, groups: list[str], all_groups: bool) -> int:
        """Promote the canaries of ``groups`` (or of every group with ``all_groups``)."""
        state, d = self._active(deployment_id)
        waiting = [g for g, s in d.task_groups.items() if s.desired_canaries and not s.promoted]
        if not waiting:
            raise BadRequestError(f"deployment {d.id} has no canaries to promote")
        chosen = waiting if all_groups or not groups else groups
        unknown = [g for g in chosen if g not in waiting]
        if unknown:
            raise BadRequestError(
                f"group(s) {', '.join(unknown)} of deployment {d.id} have no canaries "
                f"waiting for promotion; waiting: {', '.join(waiting)}"
            )
        unhealthy = [
            g for g in chosen if _healthy_canaries(state, d, g) < d.task_groups[g].desired_canaries
        ]
        if unhealthy:
            raise BadRequestError(
                f"group(s) {', '.join(unhealthy)} of deployment {d.id} have canaries that "
                "are not healthy yet: promote once they are (see /v1/deployment/"
                f"allocations/{d.id})"
            )
        cmd = c.UpdateDeployment(
            now=self._clock(),
            deployment_id=d.id,
            promote=sorted(chosen),
            evals=[self.evaluation(d, state)],
        )
        return self._submit(cmd).index

    def fail(self, deployment_id: str) -> int:
        """Mark the deployment failed (and revert if a group has ``auto_revert``)."""
        state, d = self._active(deployment_id)
        why, revert = DESC_FAILED_BY_USER, None
        if any(s.auto_revert for s in d.task_groups.values()):
            stable = [
                j
                for j in state.versions.get((d.namespace, d.job_id), ())
                if j.stable and j.version < d.job_version
            ]
            revert = max(stable, key=lambda j: j.version, default=None)
            if revert is not None:
                why += f" - rolling back to job version {revert.version}"
        cmd = c.UpdateDeployment(
            now=self._clock(),
            deployment_id=d.id,
            status="failed",
            status_description=why,
            revert=revert,
            evals=[self.evaluation(d, state)],
        )
        return self._submit(cmd).index

    def pause(self, deployment_id: str, pause: bool) -> int:
        state, d = self._active(deployment_id)
        status = "paused" if pause else "running"
        why = DESC_PAUSED if pause else DESC_RUNNING
        cmd = c.UpdateDeployment(
            now=self._clock(),
            deployment_id=d.id,
            status=status,
            status_description=why,
            evals=[] if pause else [self.evaluation(d, state)],
        )
        return self._submit(cmd).index

    def revert_job(self, namespace: str, job_id: str, version: int, prior: int | None) -> int:
        """Register ``version``'s spec again as a new version (``/v1/job/:id/revert``)."""
        state = self._fsm.state
        job = state.job(namespace, job_id)
        if job is None:
            raise NotFoundError(f"job {job_id!r} not found in namespace {namespace!r}")
        if prior is not None and prior != job.version:
            raise ConflictError(f"current job has version {job.version}; enforcing version {prior}")
        if version == job.version:
            raise BadRequestError(f"can't revert to the current version {version}")
        old = state.job_version(namespace, job_id, version)
        if old is None:
            kept = ", ".join(str(j.version) for j in state.job_versions(namespace, job_id))
            raise NotFoundError(f"job {job_id!r} has no version {version}; kept: {kept}")
        ev = Evaluation(
            id=self._new_id(),
            namespace=namespace,
            priority=old.priority,
            type=old.type,
            triggered_by="job-register",
            job_id=job_id,
        )
        cmd = c.RegisterJob(now=self._clock(), job=replace(old, stable=False), eval=ev)
        return self._submit(cmd).index

    def set_stable(self, namespace: str, job_id: str, version: int, stable: bool) -> int:
        state = self._fsm.state
        if state.job_version(namespace, job_id, version) is None:
            raise NotFoundError(f"job {job_id!r} has no version {version}")
        cmd = c.SetJobStable(
            now=self._clock(), namespace=namespace, job_id=job_id, version=version, stable=stable
        )
        return self._submit(cmd).index


def _healthy_canaries(state: StateView, d: Deployment, group: str) -> int:
    ids = d.task_groups[group].placed_canaries
    return sum(
        1
        for i in ids
        if (a := state.allocs.get(i)) is not None
        and a.deployment_status is not None
        and a.deployment_status.is_healthy()
    )
