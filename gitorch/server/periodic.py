"""The periodic dispatcher: the leader launches periodic jobs' children when they fall due.

Leader-only and in memory, as Nomad's ``PeriodicDispatch``: on gaining leadership it
tracks every active periodic job; it stops (and forgets) on losing it. One thread
sleeps on a condition until the earliest due time (a heap of (due, job)), or until a job
changes; an idle server costs nothing here, whatever the number of periodic jobs.

A launch is one replicated command (``LaunchPeriodic``) that registers the child
``<id>/periodic-<unix>`` with its evaluation and records the launch in state, so:

* a new leader resumes from the recorded launch: a due time that passed while no
  leader was launching is launched once (Nomad's catch-up on leadership), never again;
* the state refuses a scheduled launch of a due time at or before the recorded one, so
  two leaders (or a leader that has not applied its predecessor's last entries yet)
  cannot launch the same due time twice.

``prohibit_overlap`` skips a due time while an earlier child still runs (Nomad's
RunningChildren: a child with a live evaluation or allocation).
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
import uuid
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core import periodic
from gitorch.core.model import Evaluation, Job
from gitorch.core.model.launch import PERIODIC_SUFFIX
from gitorch.core.state import ApplyResult, StateView

log = logging.getLogger(__name__)
JobKey = tuple[str, str]
MAX_SLEEP_S = 3600.0  # re-read the clock at least hourly (a wall-clock step is noticed)


class PeriodicDispatcher:
    def __init__(
        self,
        state: Callable[[], StateView],
        submit: Callable[[c.Command], ApplyResult],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._state = state
        self._submit = submit
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[int, int, JobKey]] = []  # (due, seq, job); stale entries skipped
        self._due: dict[JobKey, int] = {}  # the live due time of each tracked job
        self._tracked: dict[JobKey, Job] = {}
        self._seq = 0
        self._running = False
        self._thread: threading.Thread | None = None
        self.launched = 0  # launches applied since start (for tests and benchmarks)
        self.wakeups = 0  # times the loop woke (an idle dispatcher wakes hourly at most)

    # -- leadership ---------------------------------------------------------------------

    def start(self) -> None:
        """Track every active periodic job, catching up a launch missed while no leader
        was launching; then run the launch loop."""
        with self._cond:
            if self._running:
                return
            self._running = True
        state = self._state()
        now = self._clock()
        missed: list[tuple[Job, int]] = []
        for job in list(state.jobs.values()):
            if not job.is_periodic_active() or job.periodic is None:
                continue
            record = state.launches.last(job.namespace, job.id)
            last = record.launch if record is not None else job.submit_time
            due = periodic.next_launch(job.periodic, last)
            if due is not None and due <= now:
                missed.append((job, due))
            self._track(job, now)
        self._thread = threading.Thread(
            target=self._run, args=(missed,), name="periodic", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._heap.clear()
            self._due.clear()
            self._tracked.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- changes ------------------------------------------------------------------------

    def job_changed(self, namespace: str, job_id: str) -> None:
        """A job was registered, stopped or purged: track, re-time or forget it."""
        if not self._running:
            return
        job = self._state().job(namespace, job_id)
        key = (namespace, job_id)
        if job is None or not job.is_periodic_active():
            with self._cond:
                if self._tracked.pop(key, None) is not None:
                    self._due.pop(key, None)
                    self._cond.notify_all()
            return
        old = self._tracked.get(key)
        if old is not None and old.periodic == job.periodic:
            with self._cond:
                self._tracked[key] = job  # same schedule: keep its due time
            return
        self._track(job, self._clock())

    def _track(self, job: Job, now: int) -> None:
        assert job.periodic is not None
        due = periodic.next_launch(job.periodic, now)
        key = (job.namespace, job.id)
        with self._cond:
            if not self._running:
                return
            self._tracked[key] = job
            if due is None:
                self._due.pop(key, None)
                return
            self._due[key] = due
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, key))
            self._cond.notify_all()

    def next_launch(self, namespace: str, job_id: str) -> int | None:
        """When the tracked job launches next (None: not tracked, or never again)."""
        with self._cond:
            return self._due.get((namespace, job_id))

    # -- the loop -----------------------------------------------------------------------

    def _run(self, missed: list[tuple[Job, int]]) -> None:
        for job, due in missed:  # Nomad: one launch, now, for a job that missed its time
            log.info("periodic job %s missed its launch at %d: launching now", job.id, due)
            try:
                self._launch(job, launch=self._clock(), due=due)
            except Exception:
                log.exception("periodic job %s: catching up the launch for %d failed", job.id, due)
        while True:
            with self._cond:
                while self._running:
                    self._drop_stale()
                    wait = MAX_SLEEP_S
                    if self._heap:
                        wait = min(wait, (self._heap[0][0] - self._clock()) / 1e9)
                        if wait <= 0:
                            break
                    self._cond.wait(wait)
                    self.wakeups += 1
                if not self._running:
                    return
                due, _, key = heapq.heappop(self._heap)
                job = self._tracked[key]
                assert job.periodic is not None
                following = periodic.next_launch(job.periodic, due)  # Nomad: Next(launch)
                if following is None:
                    self._due.pop(key, None)
                else:
                    self._due[key] = following
                    self._seq += 1
                    heapq.heappush(self._heap, (following, self._seq, key))
            try:
                self._dispatch(job, due)
            except Exception:  # one job's failure must not stop the others' launches
                log.exception("periodic job %s: launch for %d failed", job.id, due)

    def _drop_stale(self) -> None:
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)

    def _dispatch(self, job: Job, due: int) -> None:
        assert job.periodic is not None
        if job.periodic.prohibit_overlap and running_children(self._state(), job):
            log.info("periodic job %s: skipping the launch for %d, a child still runs", job.id, due)
            return
        self._launch(job, launch=due, due=due)

    # -- launching ----------------------------------------------------------------------

    def force(self, job: Job) -> tuple[Job, Evaluation | None, ApplyResult]:
        """Launch ``job`` now, whatever its schedule (``periodic/force``)."""
        return self._launch(job, launch=self._clock(), due=0, forced=True)

    def _launch(
        self, job: Job, *, launch: int, due: int, forced: bool = False
    ) -> tuple[Job, Evaluation | None, ApplyResult]:
        child = periodic.derive_child(job, launch)
        ev = None
        if not child.is_parent():  # a parameterized child is dispatched, not evaluated
            ev = Evaluation(
                id=str(uuid.uuid4()),
                namespace=child.namespace,
                priority=child.priority,
                type=child.type,
                triggered_by="periodic-job",
                job_id=child.id,
            )
        cmd = c.LaunchPeriodic(
            now=self._clock(), job=child, eval=ev, launch=launch, due=due, forced=forced
        )
        result = self._submit(cmd)
        if result.error:
            log.info("periodic job %s: launch not applied: %s", job.id, result.error)
        else:
            self.launched += 1
            log.info("periodic job %s: launched %s", job.id, child.id)
        return child, ev, result


def running_children(state: StateView, job: Job) -> bool:
    """Nomad's RunningChildren: a periodic child with a live evaluation or allocation."""
    for child in state.children(job.namespace, job.id):
        if PERIODIC_SUFFIX not in child.id:
            continue
        if any(not e.terminal() for e in state.evals_for_job(child.namespace, child.id)):
            return True
        if any(not a.terminal() for a in state.allocs_for_job(child.namespace, child.id)):
            return True
    return False
