"""The GitOps diff: jobs as the commit says they should be, against jobs in state.

Pure: given what parsed cleanly at a commit, which files failed, and the registered
jobs, say per job whether to register, update, prune, hold or leave it. Rules:

- a job from a file that parsed is registered when new or stopped, updated when its
  spec changed, and left alone when the spec is the same;
- a job whose auto-sync is suspended is held: nothing the commit says about it applies;
- a job whose spec (and file) at this commit is one whose rollout failed and was rolled
  back is held (``degraded``) until a newer commit changes its file: rollback does not
  fight auto-sync;
- a job that came from Git (it records its file) and whose ID no file declares any
  more is pruned (stopped, not purged), unless its file failed to parse: a broken file
  keeps its job's last good version;
- jobs registered by hand (no source) are never pruned.

``depends_on`` holds are applied afterwards (:mod:`gitorch.core.dependson`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import msgspec

from gitorch.core.gitopshealth import failed_rollout
from gitorch.core.model import Job
from gitorch.core.state import StateView

Action = Literal["register", "update", "prune", "unchanged", "held"]
SUSPENDED = "auto-sync suspended"  # the detail of a job held because it is suspended


class DesiredJob(msgspec.Struct, frozen=True, kw_only=True):
    job: Job
    file: str


class Change(msgspec.Struct, frozen=True, kw_only=True):
    action: Action
    namespace: str
    job_id: str
    file: str
    job: Job | None = None
    version: int = 0
    detail: str = ""  # why a job is held
    reverted: str = ""  # the failed deployment whose spec this commit repeats


def diff(
    desired: list[DesiredJob],
    state: StateView,
    error_files: set[str],
    *,
    prune: bool = True,
    suspended: Collection[str] = (),
) -> list[Change]:
    changes: list[Change] = []
    wanted: set[tuple[str, str]] = set()
    for d in desired:
        key = (d.job.namespace, d.job.id)
        wanted.add(key)
        changes.append(_change(d, state.jobs.get(key), state, suspended))
    if prune:
        for key, job in sorted(state.jobs.items()):
            if key in wanted or job.source is None or job.stop:
                continue
            if job.source.file in error_files:
                continue
            if job.id in suspended:
                changes.append(_held(key, job.source.file, job, SUSPENDED))
                continue
            changes.append(
                Change(
                    action="prune",
                    namespace=key[0],
                    job_id=key[1],
                    file=job.source.file,
                    version=job.version + 1,
                )
            )
    return changes


def _change(d: DesiredJob, old: Job | None, state: StateView, suspended: Collection[str]) -> Change:
    key = (d.job.namespace, d.job.id)
    if d.job.id in suspended:
        return _held(key, d.file, old, SUSPENDED, d.job)
    if old is None or old.stop:
        action: Action = "register"
    elif old.spec_key() != d.job.spec_key():
        failed = failed_rollout(state, old, d.job)
        if failed is not None:
            change = _held(key, d.file, old, failed[1], d.job)
            return msgspec.structs.replace(change, reverted=failed[0].id)
        action = "update"
    else:
        action = "unchanged"
    version = 0 if old is None else old.version + (action != "unchanged")
    return Change(
        action=action, namespace=key[0], job_id=key[1], file=d.file, job=d.job, version=version
    )


def _held(
    key: tuple[str, str], file: str, old: Job | None, why: str, job: Job | None = None
) -> Change:
    return Change(
        action="held",
        namespace=key[0],
        job_id=key[1],
        file=file,
        job=job,
        version=old.version if old is not None else 0,
        detail=why,
    )


def changed(changes: list[Change]) -> list[Change]:
    """The changes a sync applies (``sync --dry-run`` counts these)."""
    return [ch for ch in changes if ch.action in ("register", "update", "prune")]
