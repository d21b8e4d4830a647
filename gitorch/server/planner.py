"""The plan applier: the leader's single writer of plans, with optimistic concurrency.

Workers schedule from snapshots in parallel; here each plan is re-checked against the
latest state (``planapply.check``) and only what still fits is committed, as one log
entry. What no longer fits goes back to the worker, which schedules again.
"""

from __future__ import annotations

import threading
import time

from gitorch.core import planapply
from gitorch.core.commands import ApplyPlan
from gitorch.core.model import Placement, Plan, replace
from gitorch.core.state import ApplyResult
from gitorch.server.fsm import Fsm
from gitorch.server.log import ReplicatedLog


class PlanApplier:
    def __init__(self, fsm: Fsm, log: ReplicatedLog) -> None:
        self._fsm = fsm
        self._log = log
        self._lock = threading.Lock()

    def apply(self, plan: Plan) -> tuple[ApplyResult | None, list[Placement]]:
        """Commit what fits; return the apply result and the rejected placements."""
        with self._lock:
            accepted, rejected = planapply.check(self._fsm.snapshot(), plan)
            if rejected:
                # Keep the evaluation open: the worker retries the rest.
                accepted = replace(accepted, eval_update=None, new_evals=[])
                if accepted.is_noop():
                    return None, rejected
            return self._log.submit(ApplyPlan(now=time.time_ns(), plan=accepted)), rejected
