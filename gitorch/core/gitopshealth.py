"""How a Git-managed job is doing, from replicated state alone (pure).

- ``job_health``: ``missing`` (not registered, or stopped), ``progressing`` (its
  version's deployment is running or paused; without a deployment, allocations still
  starting), ``degraded`` (its deployment failed; without one, a failed allocation and
  fewer running than wanted) or ``healthy``.
- ``failed_rollout``: whether a job spec from Git is one whose rollout already failed
  and was rolled back (auto-revert, or a revert by hand): the GitOps diff then holds it
  instead of applying it again, until a newer commit changes the job's file.
"""

from __future__ import annotations

from gitorch.core.model import Job
from gitorch.core.model.deployment import Deployment
from gitorch.core.model.gitops import Health
from gitorch.core.state import StateView


def job_health(state: StateView, job: Job | None) -> tuple[Health, Deployment | None]:
    """The job's health and the deployment of its current version (None: no deployment)."""
    if job is None or job.stop:
        return "missing", None
    deployment = next(
        (
            d
            for d in state.deployments_for_job(job.namespace, job.id)
            if d.job_version == job.version
        ),
        None,
    )
    if deployment is not None and deployment.status != "cancelled":
        if deployment.active():
            return "progressing", deployment
        return ("degraded" if deployment.status == "failed" else "healthy"), deployment
    live = [a for a in state.allocs_for_job(job.namespace, job.id) if a.desired_status == "run"]
    if job.type in ("batch", "sysbatch"):
        if any(a.client_status == "failed" for a in live):
            return "degraded", deployment
        done = all(a.client_status in ("running", "complete") for a in live)
        return ("healthy" if done else "progressing"), deployment
    running = sum(a.client_status == "running" for a in live)
    wanted = sum(tg.count for tg in job.task_groups)
    if job.type in ("system", "sysbatch") and live:
        wanted = len(live)
    if running >= wanted:
        return "healthy", deployment
    if any(a.client_status in ("failed", "lost") for a in live):
        return "degraded", deployment
    return "progressing", deployment


def failed_rollout(state: StateView, current: Job, wanted: Job) -> tuple[Deployment, str] | None:
    """The failed deployment of an earlier version whose spec (and file) ``wanted``
    repeats, when the job has since moved to another version; with a text for status:
    ``degraded at C (reverted to version N from commit B)``. None when ``wanted`` is new."""
    key = wanted.spec_key()
    blob = wanted.source.blob if wanted.source is not None else ""
    for d in state.deployments_for_job(current.namespace, current.id):
        if d.status != "failed" or d.job_version >= current.version:
            continue
        failed = state.job_version(current.namespace, current.id, d.job_version)
        if failed is None or failed.spec_key() != key:
            continue
        if failed.source is not None and blob and failed.source.blob != blob:
            continue  # the file changed since: a new attempt
        bad = failed.source.commit[:12] if failed.source is not None else "?"
        good = f" from commit {current.source.commit[:12]}" if current.source is not None else ""
        running = current.spec_key()
        earlier = [
            j.version
            for j in state.versions.get((current.namespace, current.id), ())
            if j.version < d.job_version and j.spec_key() == running
        ]
        version = max(earlier, default=current.version)
        text = f"degraded at {bad} (reverted to version {version}{good})"
        return d, text
    return None
