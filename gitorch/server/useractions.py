"""What an operator asks of a server beside registering jobs: stop one allocation
(Nomad's ``Alloc.Stop``), evaluate a job again (``Job.Evaluate``), collect garbage,
declare or delete a namespace. Each fixes its time and IDs here, before its command
enters the Raft log."""

from __future__ import annotations

import time
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core import nsstate
from gitorch.core.gc import collectable
from gitorch.core.model import Evaluation, Job
from gitorch.core.model.namespace import Namespace
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.ids import new_id

GC_BATCH = 5000  # IDs of each kind per Raft entry (well under its 1 MiB limit)


class UserActions:
    def __init__(
        self,
        state: Callable[[], StateView],
        submit: Callable[[c.Command], ApplyResult],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._submit = submit
        self._clock = clock

    def upsert_namespace(self, ns: Namespace) -> int:
        """Declare or change a namespace; the index that did."""
        result = self._submit(c.UpsertNamespaces(now=self._clock(), namespaces=[ns]))
        if result.error:
            raise BadRequestError(result.error)
        return result.index

    def delete_namespace(self, name: str) -> int:
        """Delete a namespace nothing lives in any more; the index that did."""
        result = self._submit(c.DeleteNamespaces(now=self._clock(), names=[name]))
        if result.error.startswith(nsstate.NOT_FOUND):
            raise NotFoundError(result.error)
        if result.error:
            raise BadRequestError(result.error)
        return result.index

    def _eval(self, job: Job, trigger: str) -> Evaluation:
        return Evaluation(
            id=new_id(),
            namespace=job.namespace,
            priority=job.priority,
            type=job.type,
            triggered_by=trigger,
            job_id=job.id,
        )

    def stop_alloc(self, alloc_id: str) -> tuple[int, str]:
        """Stop the allocation; its job's scheduler places a replacement. Returns the
        index and the evaluation's ID."""
        state = self._state()
        alloc = state.allocs.get(alloc_id)
        if alloc is None:
            raise NotFoundError("alloc not found")
        job = state.job(alloc.namespace, alloc.job_id)
        evals = [self._eval(job, "alloc-stop")] if job is not None else []
        cmd = c.StopAllocation(now=self._clock(), alloc_id=alloc.id, evals=evals)
        result = self._submit(cmd)
        if result.error:
            raise NotFoundError(result.error)
        return result.index, evals[0].id if evals else ""

    def evaluate_job(self, namespace: str, job_id: str) -> tuple[int, str, int]:
        """A new evaluation of the job as it stands: (index, eval ID, job modify index)."""
        job = self._state().job(namespace, job_id)
        if job is None:
            raise NotFoundError("job not found")
        if job.is_parent():
            raise BadRequestError("can't evaluate a periodic or parameterized job")
        ev = self._eval(job, "job-register")
        result = self._submit(c.UpsertEvals(now=self._clock(), evals=[ev]))
        return result.index, ev.id, job.job_modify_index

    def collect_garbage(self, threshold: int = 0) -> tuple[int, int, int]:
        """Purge the finished allocations and evaluations of stopped jobs last changed at
        least ``threshold`` nanoseconds ago (0: all of them, as Nomad's forced GC).
        Returns (index, allocations purged, evaluations purged)."""
        now = self._clock()
        alloc_ids, eval_ids = collectable(self._state(), now, threshold)
        if not alloc_ids and not eval_ids:
            return self._state().index, 0, 0
        index = 0
        for i in range(0, max(len(alloc_ids), len(eval_ids)), GC_BATCH):  # bounded entries
            cmd = c.GarbageCollect(
                now=now,
                alloc_ids=alloc_ids[i : i + GC_BATCH],
                eval_ids=eval_ids[i : i + GC_BATCH],
            )
            index = self._submit(cmd).index
        return index, len(alloc_ids), len(eval_ids)
