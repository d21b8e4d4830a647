"""Runs checks on their intervals: one scheduler thread that sleeps until the next check
is due (an idle agent does no work between checks) and a small pool that runs the
probes, so a slow check does not delay the others. A check is never run twice at once.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

Job = Callable[[], None]


class Checker:
    """``add(key, interval_s, fn)`` runs ``fn`` now and then every ``interval_s``
    seconds until ``remove(key)``."""

    def __init__(self, workers: int = 16) -> None:
        self._heap: list[tuple[float, int, str]] = []
        self._jobs: dict[str, tuple[float, Job, int]] = {}  # key -> (interval, fn, generation)
        self._seq = 0
        self._cond = threading.Condition()
        self._closed = False
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gitorch-check")
        self._thread = threading.Thread(target=self._run, name="gitorch-checker", daemon=True)
        self._thread.start()

    def add(self, key: str, interval_s: float, fn: Job, *, delay_s: float = 0.0) -> None:
        with self._cond:
            self._seq += 1
            self._jobs[key] = (max(interval_s, 0.01), fn, self._seq)
            heapq.heappush(self._heap, (time.monotonic() + delay_s, self._seq, key))
            self._cond.notify()

    def remove(self, key: str) -> None:
        with self._cond:
            self._jobs.pop(key, None)  # its heap entry is skipped when it comes due

    def keys(self) -> set[str]:
        with self._cond:
            return set(self._jobs)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if self._heap and self._heap[0][0] <= time.monotonic():
                        break
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._closed:
                    return
                due, gen, key = heapq.heappop(self._heap)
                job = self._jobs.get(key)
                if job is None or job[2] != gen:
                    continue  # removed, or replaced by a newer add
            self._pool.submit(self._once, key, due, job)

    def _once(self, key: str, due: float, job: tuple[float, Job, int]) -> None:
        interval, fn, gen = job
        try:
            fn()
        except Exception:
            log.exception("check %s failed to run", key)
        with self._cond:
            if self._closed or self._jobs.get(key) is not job:
                return
            heapq.heappush(self._heap, (max(due + interval, time.monotonic()), gen, key))
            self._cond.notify()
