"""The state store's launch tables: the last launch of each periodic job (Nomad's
``periodic_launch`` table) and each parent job's children (periodic and dispatched).

``LaunchTables`` is a persistent value like the other tables: every change returns a
new one sharing the rest, so a snapshot of the store holds it by reference.

Rules, as Nomad's FSM applies them:

* registering a periodic job that has no launch record records the registration time,
  so a new leader can tell whether a launch fell due while no leader was launching;
* a periodic launch records its launch time; a scheduled one whose due time is not
  after the recorded launch is refused (the same due time is never launched twice,
  whichever leader, or how stale a leader, asks);
* purging a job forgets its launch record.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitorch.core.model import Job
from gitorch.core.model.launch import PeriodicLaunch
from gitorch.core.pmap import PMap, pmap, without

JobKey = tuple[str, str]


class LaunchTables:
    """Launch records by job, and child job IDs by parent. Never changed in place."""

    __slots__ = ("children", "launches")

    def __init__(
        self,
        launches: PMap[JobKey, PeriodicLaunch] | None = None,
        children: PMap[JobKey, frozenset[str]] | None = None,
    ) -> None:
        self.launches: PMap[JobKey, PeriodicLaunch] = launches if launches is not None else pmap()
        self.children: PMap[JobKey, frozenset[str]] = children if children is not None else pmap()

    @classmethod
    def build(cls, jobs: Iterable[Job], launches: Iterable[PeriodicLaunch]) -> LaunchTables:
        """Tables for a loaded snapshot: the records as saved, children from the jobs."""
        groups: dict[JobKey, set[str]] = {}
        for job in jobs:
            if job.parent_id:
                groups.setdefault((job.namespace, job.parent_id), set()).add(job.id)
        return cls(
            PMap(((r.namespace, r.id), r) for r in launches),
            PMap((k, frozenset(v)) for k, v in groups.items()),
        )

    # -- reads ------------------------------------------------------------------------

    def last(self, namespace: str, job_id: str) -> PeriodicLaunch | None:
        return self.launches.get((namespace, job_id))

    def child_ids(self, namespace: str, job_id: str) -> frozenset[str]:
        return self.children.get((namespace, job_id), frozenset())

    # -- changes ----------------------------------------------------------------------

    def registered(self, job: Job, idx: int, now: int) -> LaunchTables:
        """After ``job`` is stored: index it under its parent; record a new periodic
        job's registration time as its first launch."""
        out = self
        if job.parent_id:
            key = (job.namespace, job.parent_id)
            ids = out.children.get(key, frozenset())
            if job.id not in ids:
                out = LaunchTables(out.launches, out.children.set(key, ids | {job.id}))
        key = (job.namespace, job.id)
        if job.is_periodic_active() and key not in out.launches:
            record = PeriodicLaunch(
                id=job.id, namespace=job.namespace, launch=now, create_index=idx, modify_index=idx
            )
            out = LaunchTables(out.launches.set(key, record), out.children)
        return out

    def refuses(self, namespace: str, parent_id: str, due: int) -> str:
        """Why a scheduled launch of ``due`` is refused ("" when it may go ahead)."""
        last = self.launches.get((namespace, parent_id))
        if last is not None and due <= last.launch:
            return f"periodic job {parent_id!r} already launched for {due} (last {last.launch})"
        return ""

    def launched(self, namespace: str, parent_id: str, launch: int, idx: int) -> LaunchTables:
        """Record ``launch`` as the parent's last launch (never moving it back)."""
        key = (namespace, parent_id)
        old = self.launches.get(key)
        if old is not None and old.launch >= launch:
            return self
        record = PeriodicLaunch(
            id=parent_id,
            namespace=namespace,
            launch=launch,
            create_index=old.create_index if old is not None else idx,
            modify_index=idx,
        )
        return LaunchTables(self.launches.set(key, record), self.children)

    def purged(self, job: Job) -> LaunchTables:
        """``job`` left the store: forget its record and its place under its parent."""
        key = (job.namespace, job.id)
        launches, children = without(self.launches, key), self.children
        if job.parent_id:
            pkey = (job.namespace, job.parent_id)
            ids = children.get(pkey, frozenset()) - {job.id}
            children = children.set(pkey, ids) if ids else without(children, pkey)
        if launches is self.launches and children is self.children:
            return self
        return LaunchTables(launches, children)
