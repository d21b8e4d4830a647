"""Dispatching parameterized jobs on the leader (Nomad's ``Job.Dispatch`` RPC).

The request is checked against the job's ``parameterized`` block
(:func:`gitorch.core.dispatch.check`), then the child job and its evaluation go through
the log as one ``RegisterJob``. Dispatches are taken one at a time, so a repeated
idempotency token always finds the child the first request created.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core import dispatch
from gitorch.core.model import Evaluation, Job
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import BadRequestError, NotFoundError
from gitorch.server.backend import JobDispatchResponse


class Dispatcher:
    def __init__(
        self,
        state: Callable[[], StateView],
        submit: Callable[[c.Command], ApplyResult],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._submit = submit
        self._clock = clock
        self._lock = threading.Lock()

    def dispatch(
        self,
        namespace: str,
        job_id: str,
        payload: bytes,
        meta: dict[str, str],
        *,
        token: str = "",
        id_prefix: str = "",
    ) -> JobDispatchResponse:
        with self._lock:
            state = self._state()
            job = state.job(namespace, job_id)
            if job is None:
                raise NotFoundError(f"parameterized job {job_id!r} not found")
            try:
                dispatch.check(job, payload, meta, id_prefix)
            except dispatch.DispatchError as exc:
                raise BadRequestError(str(exc)) from None
            prior = dispatch.find_by_token(state.children(namespace, job_id), token)
            if prior is not None:  # Nomad: the same token answers with the first dispatch
                return JobDispatchResponse(
                    dispatched_job_id=prior.id,
                    job_create_index=prior.create_index,
                    index=prior.modify_index,
                )
            now = self._clock()
            child = dispatch.derive_child(
                job, payload, meta, now=now, suffix=uuid.uuid4().hex, token=token,
                id_prefix=id_prefix,
            )  # fmt: skip
            ev = None if child.is_parent() else _eval(child)  # a periodic child waits its time
            result = self._submit(c.RegisterJob(now=now, job=child, eval=ev))
            if result.error:
                raise BadRequestError(result.error)
            stored = self._state().job(namespace, child.id)
            return JobDispatchResponse(
                dispatched_job_id=child.id,
                eval_id=ev.id if ev is not None else "",
                eval_create_index=result.index if ev is not None else 0,
                job_create_index=stored.create_index if stored is not None else result.index,
                index=result.index,
            )


def _eval(job: Job) -> Evaluation:
    return Evaluation(
        id=str(uuid.uuid4()),
        namespace=job.namespace,
        priority=job.priority,
        type=job.type,
        triggered_by="job-register",
        job_id=job.id,
    )
