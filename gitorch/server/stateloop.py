"""Leader-only loops that wake on state changes or at a deadline, never by polling.

A loop blocks on the state store (``Fsm.wait_index`` on the tables it watches) or
until the earliest deadline its last step asked for, whichever comes first; on waking
it runs one ``step`` over a fresh snapshot. With nothing to wait for it still wakes
every ``IDLE_WAIT_S`` to notice a stop. Subclasses (the deployment watcher, the
drainer) give the tables to watch and the step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core.state import ApplyResult, StateView
from gitorch.errors import NotLeaderError
from gitorch.server.fsm import Fsm

log = logging.getLogger(__name__)
IDLE_WAIT_S = 30.0  # the longest block with no deadline pending (a stop is seen by then)
RETRY_NS = 1_000_000_000  # after a failed step, try again in a second


class StateLoop:
    """Started when the server becomes leader, stopped when it stops leading."""

    name = "state-loop"

    def __init__(
        self,
        fsm: Fsm,
        submit: Callable[[c.Command], ApplyResult],
        new_id: Callable[[], str],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._fsm, self._submit, self._new_id, self._clock = fsm, submit, new_id, clock
        self._stop: threading.Event | None = None

    def start(self) -> None:
        self.stop()
        stop = self._stop = threading.Event()
        threading.Thread(target=self._run, args=(stop,), name=self.name, daemon=True).start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._stop = None

    def watched_tables(self) -> tuple[str, ...]:
        """The tables whose changes wake the loop (may depend on the last step)."""
        raise NotImplementedError

    def step(self, state: StateView, now: int) -> int:
        """One pass over ``state``; return the next wake time in ns (0: none)."""
        raise NotImplementedError

    def _run(self, stop: threading.Event) -> None:
        seen, wake = -1, 0
        while not stop.is_set():
            now = self._clock()
            timeout = IDLE_WAIT_S if not wake else max(0.0, (wake - now) / 1e9)
            index = self._fsm.wait_index(self.watched_tables(), seen, min(timeout, IDLE_WAIT_S))
            if stop.is_set():
                return
            if index == seen and (not wake or self._clock() < wake):
                continue  # an idle timeout with nothing due
            seen = index
            try:
                wake = self.step(self._fsm.snapshot(), self._clock())
            except NotLeaderError:
                return
            except Exception:  # one bad deployment or node never stops the loop
                log.exception("%s step failed", self.name)
                wake = self._clock() + RETRY_NS
