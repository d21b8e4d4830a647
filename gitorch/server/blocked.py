"""Blocked evaluations: jobs that did not fit wait here until capacity changes.

When a node joins, comes back, becomes eligible, or allocations stop, the leader turns
the newest blocked evaluation of each job back to pending (older ones are canceled),
so the scheduler tries again. Work happens on its own thread: never inside an apply.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core.model import Evaluation, replace
from gitorch.core.state import ApplyResult
from gitorch.errors import NotLeaderError
from gitorch.server.fsm import Fsm

log = logging.getLogger(__name__)


def frees_capacity(cmd: c.Command) -> bool:
    match cmd:
        case c.RegisterNode():
            return True
        case c.UpdateNodeStatus():
            return cmd.status == "ready"
        case c.UpdateNodeEligibility():
            return cmd.eligibility == "eligible"
        case c.ApplyPlan():
            return bool(cmd.plan.stops)
        case c.UpdateAllocsFromClient():
            return any(u.client_status in ("complete", "failed", "lost") for u in cmd.updates)
        case c.DeregisterJob():
            return True
        case _:
            return False


class BlockedEvals:
    def __init__(self, fsm: Fsm, submit: Callable[[c.Command], ApplyResult]) -> None:
        self._fsm = fsm
        self._submit = submit
        self._kick = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blocked-evals", daemon=True)
        self._thread.start()

    def observe(self, cmd: c.Command) -> None:
        """Called by the leader after each apply."""
        if frees_capacity(cmd):
            self._kick.set()

    def kick(self) -> None:
        """Look again now (a new leader: capacity may have changed during the failover)."""
        self._kick.set()

    def _run(self) -> None:
        while True:
            self._kick.wait()
            time.sleep(0.02)  # coalesce a burst of changes into one unblock
            self._kick.clear()
            try:
                self.unblock()
            except NotLeaderError:
                log.debug("not the leader any more: unblocking left to the new one")
            except Exception:
                log.exception("unblocking evaluations failed")

    def unblock(self) -> None:
        state = self._fsm.snapshot()
        newest: dict[tuple[str, str], Evaluation] = {}
        changed: list[Evaluation] = []
        for ev in sorted(state.evals.values(), key=lambda e: e.create_index):
            if ev.status != "blocked":
                continue
            key = (ev.namespace, ev.job_id)
            if key in newest:
                changed.append(
                    replace(
                        newest[key],
                        status="canceled",
                        status_description="superseded by a newer blocked eval",
                    )
                )
            newest[key] = ev
        for ev in newest.values():
            changed.append(replace(ev, status="pending", status_description="capacity changed"))
        if changed:
            self._submit(c.UpsertEvals(now=time.time_ns(), evals=changed))
