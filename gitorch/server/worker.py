"""Scheduler workers: take an evaluation, schedule it on a snapshot, hand the plan on.

The scheduler itself is a pure function (``gitorch.core.scheduler.schedule``); this is
the IO around it: the clock, fresh IDs, a seed, retries when the plan applier
rejected part of a plan because the cluster moved on.
"""

from __future__ import annotations

import logging
import random
import threading
import time

from gitorch.core.commands import UpsertEvals
from gitorch.core.model import Evaluation, replace
from gitorch.core.scheduler import schedule
from gitorch.errors import NotLeaderError
from gitorch.server.broker import EvalBroker
from gitorch.server.fsm import Fsm
from gitorch.server.ids import new_id
from gitorch.server.log import ReplicatedLog
from gitorch.server.planner import PlanApplier

log = logging.getLogger(__name__)
MAX_PLAN_ATTEMPTS = 5


class Worker:
    def __init__(
        self, name: str, fsm: Fsm, log_: ReplicatedLog, broker: EvalBroker, planner: PlanApplier
    ) -> None:
        self._fsm = fsm
        self._log = log_
        self._broker = broker
        self._planner = planner
        self._name = name
        self._stop = threading.Event()
        self.started = 0  # unix nanoseconds
        self.workload = "WaitingToDequeue"  # or Scheduling (Nomad's workload status)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def name(self) -> str:
        return self._name

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def start(self) -> None:
        self.started = time.time_ns()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._one()
            except Exception:  # nothing stops a worker: it would stop scheduling for good
                log.exception("scheduler worker %s: unexpected error; going on", self._name)
                self._stop.wait(0.1)

    def _one(self) -> None:
        ev = self._broker.dequeue(timeout=0.5)
        if ev is None:
            return
        self.workload = "Scheduling"
        try:
            self.process(ev)
        except NotLeaderError:  # demoted: the new leader's broker has this evaluation
            log.info("evaluation %s left to the new leader", ev.id)
        except Exception as exc:  # one bad evaluation never stops the worker
            log.exception("evaluation %s for job %s failed", ev.id, ev.job_id)
            self._fail(ev, f"scheduler error: {exc}")
        finally:
            self.workload = "WaitingToDequeue"
            self._cancel(self._broker.ack(ev))

    def process(self, ev: Evaluation) -> None:
        for _attempt in range(MAX_PLAN_ATTEMPTS):
            snap = self._fsm.snapshot()
            plan = schedule(
                snap, ev, now=time.time_ns(), seed=random.getrandbits(63), new_id=new_id
            )
            _result, rejected = self._planner.apply(plan)
            if not rejected:
                return
        self._fail(ev, f"plan rejected {MAX_PLAN_ATTEMPTS} times: the cluster kept changing")

    def _cancel(self, coalesced: list[Evaluation]) -> None:
        """Record evaluations the broker folded into a newer one as canceled (Nomad's
        behaviour), so none stays pending in state."""
        if not coalesced:
            return
        why = "canceled: coalesced into a newer evaluation of the job"
        canceled = [replace(e, status="canceled", status_description=why) for e in coalesced]
        try:
            self._log.submit(UpsertEvals(now=time.time_ns(), evals=canceled))
        except Exception:
            log.exception("could not record %d coalesced evaluations", len(canceled))

    def _fail(self, ev: Evaluation, why: str) -> None:
        failed = replace(ev, status="failed", status_description=why)
        try:
            self._log.submit(UpsertEvals(now=time.time_ns(), evals=[failed]))
        except Exception:
            log.exception("could not record failure of evaluation %s", ev.id)
