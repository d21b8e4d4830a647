"""The eval broker: ready evaluations, highest priority first, one in flight per job.

Leader-only and in memory, as in Nomad: a new leader rebuilds it from the pending
evaluations in state. A second evaluation for a job waits until the first is acked,
so two workers never schedule the same job at once. An evaluation whose ``wait_until``
is still ahead (a delayed reschedule's follow-up) is held in a delay heap, counting for
nothing, and is enqueued as any other once its time comes (checked in ``dequeue``,
which workers call in a loop).
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable

from gitorch.core.model import Evaluation

JobKey = tuple[str, str]


class EvalBroker:
    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._enabled = False
        self._ready: list[tuple[int, int, str]] = []  # (-priority, create_index, eval id)
        self._evals: dict[str, Evaluation] = {}
        self._inflight: dict[JobKey, str] = {}
        self._unacked: set[str] = set()  # dequeued by a worker, not acked yet
        # Per job, the evaluations waiting behind the one in flight, by ID in arrival
        # order (a dict: a flood of 10,000 for one job costs O(1) each, not a scan).
        self._waiting: dict[JobKey, dict[str, Evaluation]] = {}
        self._delayed: list[tuple[int, int, Evaluation]] = []  # (wait_until, seq, eval)
        self._delayed_ids: set[str] = set()
        self._seq = 0

    def set_enabled(self, enabled: bool) -> None:
        with self._cond:
            self._enabled = enabled
            if not enabled:
                self._ready.clear()
                self._evals.clear()
                self._inflight.clear()
                self._unacked.clear()
                self._waiting.clear()
                self._delayed.clear()
                self._delayed_ids.clear()
            self._cond.notify_all()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def enqueue(self, ev: Evaluation) -> None:
        with self._cond:
            if not self._enabled or ev.id in self._evals or ev.id in self._delayed_ids:
                return
            if ev.wait_until > self._clock():
                self._seq += 1
                self._delayed_ids.add(ev.id)
                heapq.heappush(self._delayed, (ev.wait_until, self._seq, ev))
                self._cond.notify_all()  # a waiting dequeue may need to wake sooner
                return
            self._enqueue(ev)

    def _enqueue(self, ev: Evaluation) -> None:
        key = (ev.namespace, ev.job_id)
        if key in self._inflight:
            if self._inflight[key] != ev.id:
                self._waiting.setdefault(key, {}).setdefault(ev.id, ev)
            return
        self._push(ev)

    def _push(self, ev: Evaluation) -> None:
        self._seq += 1
        self._evals[ev.id] = ev
        self._inflight[(ev.namespace, ev.job_id)] = ev.id
        heapq.heappush(self._ready, (-ev.priority, self._seq, ev.id))
        self._cond.notify()

    def _promote(self) -> float | None:
        """Enqueue the delayed evaluations that are due; seconds until the next, if any."""
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, ev = heapq.heappop(self._delayed)
            self._delayed_ids.discard(ev.id)
            self._enqueue(ev)
        return (self._delayed[0][0] - now) / 1e9 if self._delayed else None

    def dequeue(self, timeout: float) -> Evaluation | None:
        """The next ready evaluation, or None after ``timeout`` seconds. A disabled
        broker (a follower's) blocks for the timeout too, so an idle worker loop sleeps
        instead of spinning, and wakes at once when leadership enables the broker."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                next_due = None
                if self._enabled:
                    next_due = self._promote()
                    while self._ready:
                        _, _, eval_id = heapq.heappop(self._ready)
                        ev = self._evals.get(eval_id)
                        if ev is not None:
                            self._unacked.add(eval_id)
                            return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left if next_due is None else min(left, next_due))

    def ack(self, ev: Evaluation) -> list[Evaluation]:
        """The evaluation is done: let the job's next waiting evaluation go. Return the
        waiting ones coalesced into it (the caller records them as canceled, as Nomad)."""
        with self._cond:
            if ev.id not in self._unacked:
                # Not dequeued since the broker was last enabled: a worker finishing an
                # evaluation from before a leadership change, which the new term has
                # enqueued again from state. Acking would drop the new copy.
                return []
            self._unacked.discard(ev.id)
            self._evals.pop(ev.id, None)
            key = (ev.namespace, ev.job_id)
            if self._inflight.get(key) == ev.id:
                del self._inflight[key]
            waiting = list(self._waiting.pop(key, {}).values())
            if waiting:
                # Coalesce: the newest evaluation sees the latest state anyway.
                self._push(waiting[-1])
            return waiting[:-1]

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "TotalReady": len(self._ready),
                "TotalUnacked": len(self._inflight) - len(self._ready),
                "TotalWaiting": sum(len(w) for w in self._waiting.values()),
                "TotalDelayed": len(self._delayed),
            }
