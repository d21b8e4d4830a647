"""The GitOps diff: jobs as the commit says they should be, against jobs in state.

Pure: given what parsed cleanly at a commit, which files failed, and the registered
jobs, say per job whether to register, update, prune or leave it. Rules:

- a job from a file that parsed is registered when new or stopped, updated when its
  spec changed, and left alone when the spec is the same;
- a job that came from Git (it records its file) and whose ID no file declares any
  more is pruned (stopped, not purged), unless its file failed to parse: a broken file
  keeps its job's last good version;
- jobs registered by hand (no source) are never pruned.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from gitorch.core.model import Job
from gitorch.core.state import StateView

Action = Literal["register", "update", "prune", "unchanged"]


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


def diff(
    desired: list[DesiredJob], state: StateView, error_files: set[str], *, prune: bool = True
) -> list[Change]:
    changes: list[Change] = []
    wanted: set[tuple[str, str]] = set()
    for d in desired:
        key = (d.job.namespace, d.job.id)
        wanted.add(key)
        old = state.jobs.get(key)
        if old is None or old.stop:
            action: Action = "register"
        elif old.spec_key() != d.job.spec_key():
            action = "update"
        else:
            action = "unchanged"
        version = 0 if old is None else old.version + (action != "unchanged")
        changes.append(
            Change(
                action=action,
                namespace=key[0],
                job_id=key[1],
                file=d.file,
                job=d.job,
                version=version,
            )
        )
    if prune:
        for key, job in sorted(state.jobs.items()):
            if key in wanted or job.source is None or job.stop:
                continue
            if job.source.file in error_files:
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
