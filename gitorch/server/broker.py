"""The eval broker: ready evaluations, highest priority first, one in flight per job.

Leader-only and in memory, as in Nomad: a new leader rebuilds it from the pending
evaluations in state. A second evaluation for a job waits until the first is acked,
so two workers never schedule the same job at once.
"""

from __future__ import annotations

import heapq
import threading

from gitorch.core.model import Evaluation

JobKey = tuple[str, str]


class EvalBroker:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._enabled = False
        self._ready: list[tuple[int, int, str]] = []  # (-priority, create_index, eval id)
        self._evals: dict[str, Evaluation] = {}
        self._inflight: dict[JobKey, str] = {}
        self._waiting: dict[JobKey, list[Evaluation]] = {}
        self._seq = 0

    def set_enabled(self, enabled: bool) -> None:
        with self._cond:
            self._enabled = enabled
            if not enabled:
                self._ready.clear()
                self._evals.clear()
                self._inflight.clear()
                self._waiting.clear()
            self._cond.notify_all()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def enqueue(self, ev: Evaluation) -> None:
        with self._cond:
            if not self._enabled or ev.id in self._evals:
                return
            key = (ev.namespace, ev.job_id)
            if key in self._inflight:
                waiting = self._waiting.setdefault(key, [])
                if all(w.id != ev.id for w in waiting):
                    waiting.append(ev)
                return
            self._push(ev)

    def _push(self, ev: Evaluation) -> None:
        self._seq += 1
        self._evals[ev.id] = ev
        self._inflight[(ev.namespace, ev.job_id)] = ev.id
        heapq.heappush(self._ready, (-ev.priority, self._seq, ev.id))
        self._cond.notify()

    def dequeue(self, timeout: float) -> Evaluation | None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._ready) or not self._enabled, timeout):
                return None
            if not self._ready:
                return None
            _, _, eval_id = heapq.heappop(self._ready)
            return self._evals[eval_id]

    def ack(self, ev: Evaluation) -> None:
        """The evaluation is done: let the job's next waiting evaluation go."""
        with self._cond:
            self._evals.pop(ev.id, None)
            key = (ev.namespace, ev.job_id)
            if self._inflight.get(key) == ev.id:
                del self._inflight[key]
            waiting = self._waiting.pop(key, [])
            if waiting:
                # Coalesce: the newest evaluation sees the latest state anyway.
                self._push(waiting[-1])

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "TotalReady": len(self._ready),
                "TotalUnacked": len(self._inflight) - len(self._ready),
                "TotalWaiting": sum(len(w) for w in self._waiting.values()),
            }
