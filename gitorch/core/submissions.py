"""The state store's ``job_submission`` table: each kept version's source as submitted.

Rules (Nomad's, see :class:`~gitorch.core.model.submission.JobSubmission`):

* a register that carries a submission stores it under the version the job got, with
  the job's namespace, ID and modify index stamped on it (a register that changes
  nothing replaces the submission of the current version: the text shown is the last
  one sent);
* only the versions the store keeps have submissions: when a version is dropped from
  the job's history, its submission goes with it;
* purging the job drops them all.

A persistent value like the other tables: every change returns a new one.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitorch.core.model.base import replace
from gitorch.core.model.job import Job
from gitorch.core.model.submission import JobSubmission
from gitorch.core.pmap import PMap, pmap

JobKey = tuple[str, str]


class SubmissionTables:
    """Submissions by job, then by version. Never changed in place."""

    __slots__ = ("by_job",)

    def __init__(self, by_job: PMap[JobKey, PMap[int, JobSubmission]] | None = None) -> None:
        self.by_job: PMap[JobKey, PMap[int, JobSubmission]] = (
            by_job if by_job is not None else pmap()
        )

    @classmethod
    def build(cls, subs: Iterable[JobSubmission]) -> SubmissionTables:
        grouped: dict[JobKey, dict[int, JobSubmission]] = {}
        for s in subs:
            grouped.setdefault((s.namespace, s.job_id), {})[s.version] = s
        return cls(PMap((k, PMap(v)) for k, v in grouped.items()))

    def dump(self) -> list[JobSubmission]:
        return [s for versions in self.by_job.values() for s in versions.values()]

    def get(self, namespace: str, job_id: str, version: int) -> JobSubmission | None:
        return self.by_job.get((namespace, job_id), pmap()).get(version)

    def versions(self, namespace: str, job_id: str) -> list[int]:
        return sorted(self.by_job.get((namespace, job_id), pmap()))

    def add(self, job: Job, sub: JobSubmission | None, history: Iterable[Job]) -> SubmissionTables:
        """After ``job`` was stored (its kept versions now ``history``): ``sub`` recorded
        under its version, and the submissions of versions no longer kept dropped."""
        key = (job.namespace, job.id)
        mine = self.by_job.get(key)
        if sub is None and mine is None:
            return self
        versions: PMap[int, JobSubmission] = mine if mine is not None else pmap()
        if sub is not None:
            stamped = replace(
                sub,
                namespace=job.namespace,
                job_id=job.id,
                version=job.version,
                job_modify_index=job.job_modify_index,
            )
            versions = versions.set(job.version, stamped)
        keep = {j.version for j in history}
        stale = [v for v in versions if v not in keep]
        if stale:
            edit = versions.mutate()
            for v in stale:
                del edit[v]
            versions = edit.finish()
        if versions is mine:
            return self
        if not versions:
            return SubmissionTables(self.by_job.delete(key)) if mine is not None else self
        return SubmissionTables(self.by_job.set(key, versions))

    def purged(self, namespace: str, job_id: str) -> SubmissionTables:
        key = (namespace, job_id)
        return SubmissionTables(self.by_job.delete(key)) if key in self.by_job else self
