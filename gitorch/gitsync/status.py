"""What ``/v1/gitops/status`` and ``/v1/gitops/history`` show, from replicated state
alone (any server can answer, with ``?stale`` from its own copy)."""

from __future__ import annotations

from gitorch.core.gitopshealth import failed_rollout, job_health
from gitorch.core.model import GitopsJob, GitopsStatus, SyncStatus
from gitorch.core.model.gitops import HistoryChange, HistoryEntry, HistoryItem, HistoryRollout
from gitorch.core.state import StateView


def gitops_status(state: StateView) -> GitopsStatus:
    """Per Git-managed job: the commit it runs, sync status, health and deployment."""
    sync = state.gitsync
    failed = {e.file for e in sync.errors}
    suspended = set(sync.suspended)
    jobs: list[GitopsJob] = []
    for file, job_id in sorted(sync.files.items()):
        job = state.job(sync.job_namespaces.get(job_id, "default"), job_id)
        health, deployment = job_health(state, job)
        detail = sync.held.get(job_id, "")
        reverted = state.deployments.get(sync.reverted.get(job_id, ""))
        if reverted is None and job is not None and job_id not in sync.held:
            # reverted since the last sync: the next sync holds it; say so now
            left = state.job_version(job.namespace, job_id, sync.job_versions.get(job_id, -1))
            found = failed_rollout(state, job, left) if left is not None else None
            if found is not None:
                reverted, detail = found
        status: SyncStatus
        if job_id in suspended:
            status = "suspended"
        elif file in failed:
            status = "error"
        elif job_id in sync.held or reverted is not None:
            status = "held"
        elif job is None or job.stop or job.version != sync.job_versions.get(job_id, -1):
            status = "out-of-sync"
        else:
            status = "synced"
        if reverted is not None and job_id not in suspended:
            health, deployment = "degraded", reverted
        commit = job.source.commit if job is not None and job.source is not None else ""
        jobs.append(
            GitopsJob(
                id=job_id,
                file=file,
                commit=commit,
                status=status,
                health=health,
                version=job.version if job is not None else 0,
                deployment_id=deployment.id if deployment is not None else "",
                deployment_status=deployment.status if deployment is not None else "",
                suspended=job_id in suspended,
                detail=detail,
            )
        )
    return GitopsStatus(
        repo=sync.repo,
        branch=sync.branch,
        commit=sync.commit,
        synced_at=sync.synced_at,
        jobs=jobs,
        errors=sync.errors,
        fetch_error=sync.fetch_error,
        errors_omitted=sync.errors_omitted,
        pinned_revision=sync.pinned,
        warnings=sync.warnings,
        warnings_omitted=sync.warnings_omitted,
        commit_subject=sync.commit_subject,
        commit_author=sync.commit_author,
        commit_time=sync.commit_time,
    )


def gitops_history(state: StateView) -> list[HistoryItem]:
    """The last syncs that did something, newest first; each changed job with the
    deployment of the version it produced and that deployment's status now."""
    sync = state.gitsync
    return [_item(state, sync.job_namespaces, e) for e in reversed(sync.history)]


def _item(state: StateView, namespaces: dict[str, str], e: HistoryEntry) -> HistoryItem:
    return HistoryItem(
        commit=e.commit,
        time=e.time,
        revision=e.revision,
        result=e.result,
        errors=e.errors,
        changes=[_rollout(state, namespaces.get(ch.job_id, "default"), ch) for ch in e.changes],
    )


def _rollout(state: StateView, namespace: str, ch: HistoryChange) -> HistoryRollout:
    deployment = next(
        (
            d
            for d in state.deployments_for_job(namespace, ch.job_id)
            if d.job_version == ch.version and ch.action in ("register", "update")
        ),
        None,
    )
    return HistoryRollout(
        job_id=ch.job_id,
        action=ch.action,
        version=ch.version,
        detail=ch.detail,
        deployment_id=deployment.id if deployment is not None else "",
        deployment_status=deployment.status if deployment is not None else "",
    )
