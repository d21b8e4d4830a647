"""The services hook: keeps each allocation's service registrations on the servers in
step with its running tasks, runs their checks, reports check results, and restarts a
task whose checks fail ``check_restart.limit`` times in a row.

The alloc runner's status reports drive it (``observe``). Each service goes to the
service provider its ``provider`` names (``nomad``: the servers; see
:mod:`gitorch.agent.hooks.servicesend`). Writes go through one sender thread, per
allocation and idempotent (the latest wanted registrations, or none), retried with
backoff while a provider cannot be reached. A check result
is written only when its status changes, so steady checks cost the servers nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from gitorch.agent import allocrunner as ar
from gitorch.agent.hooks import checkstate, probes
from gitorch.agent.hooks.checker import Checker
from gitorch.agent.hooks.registrations import CheckTarget, Wanted, checks, wanted
from gitorch.agent.hooks.servicesend import ProviderSender
from gitorch.core.model.base import replace
from gitorch.core.model.service import CheckMode, CheckResult
from gitorch.plugins.providers import ServiceProvider

log = logging.getLogger(__name__)
Restart = Callable[[str, str, str], None]  # (alloc ID, task, reason)
# (alloc ID, task, argv, timeout) -> (output, exit code): a script check in its task
ExecInTask = Callable[[str, str, Sequence[str], float], tuple[bytes, int]]


class _Check:
    """One running check of one allocation: its target, counters and latest result."""

    def __init__(self, target: CheckTarget, alloc_id: str) -> None:
        self.target = target
        self.alloc_id = alloc_id
        self.state = checkstate.initial(target.check)
        w = target.wanted
        mode: CheckMode = "readiness" if target.check.on_update == "ignore" else "healthiness"
        self.result = CheckResult(
            id=target.id,
            check=target.check.name,
            group=f"{w.registration.job_id}.{w.group}",
            task=w.task,
            service=w.service.name,
            mode=mode,
            status=self.state.status,
            timestamp=int(time.time()),
        )


class ServiceHook:
    def __init__(
        self,
        providers: Mapping[str, ServiceProvider],
        restart: Restart,
        *,
        workers: int = 16,
        retry_max_s: float = 15.0,
        clock: Callable[[], int] = time.time_ns,
        exec_in_task: ExecInTask | None = None,
    ) -> None:
        self._sender = ProviderSender(providers)
        self._restart = restart
        self._exec = exec_in_task
        self._clock = clock
        self._retry_max = retry_max_s
        self._lock = threading.Lock()
        self._pushed: dict[str, list[Wanted]] = {}  # alloc ID -> registered
        self._checks: dict[str, _Check] = {}  # check ID -> check
        self._started: dict[tuple[str, str], int] = {}  # (alloc, task) -> started at (ns)
        self._dirty_regs: dict[str, list[Wanted]] = {}
        self._dirty_checks: set[str] = set()
        self._cond = threading.Condition(self._lock)
        self._closed = False
        self._checker = Checker(workers)
        self._thread = threading.Thread(
            target=self._send_loop, name="gitorch-services", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop checking and sending; registrations stay (the tasks keep running)."""
        self._checker.close()
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # -- what the alloc runner reports -----------------------------------------------------

    def observe(self, state: ar.AllocRunnerState) -> None:
        """Bring registrations and checks in step with ``state``'s running tasks."""
        alloc = state.alloc
        live = alloc.desired_status == "run" and not state.stopping
        running = {n for n, t in state.tasks.items() if t.phase == "running"} if live else set()
        canary = bool(getattr(getattr(alloc, "deployment_status", None), "canary", False))
        regs = wanted(alloc, state.job, state.node, running, canary=canary)
        targets = {t.id: t for t in checks(alloc, state.node, regs)}
        with self._cond:
            for name in running:
                self._started[(alloc.id, name)] = state.tasks[name].state.started_at
            mine = {cid for cid, c in self._checks.items() if c.alloc_id == alloc.id}
            for cid in mine - targets.keys():
                self._checker.remove(cid)
                del self._checks[cid]
            for cid in targets.keys() - mine:
                self._checks[cid] = _Check(targets[cid], alloc.id)
                interval = targets[cid].check.interval / 1e9
                self._checker.add(cid, interval, partial(self._probe, cid))
            if mine != set(targets):
                self._dirty_checks.add(alloc.id)
            new = list(regs)
            if self._pushed.get(alloc.id, []) != new:
                self._pushed[alloc.id] = new
                self._dirty_regs[alloc.id] = new
                self._cond.notify()
            if not running:
                self._started = {k: v for k, v in self._started.items() if k[0] != alloc.id}

    def forget(self, alloc_id: str) -> None:
        """The allocation is gone from this client: nothing of it stays registered."""
        with self._cond:
            for cid in [c for c, k in self._checks.items() if k.alloc_id == alloc_id]:
                self._checker.remove(cid)
                del self._checks[cid]
            if self._pushed.pop(alloc_id, None):
                self._dirty_regs[alloc_id] = []
                self._cond.notify()

    def results(self, alloc_id: str) -> list[CheckResult]:
        with self._lock:
            return [c.result for c in self._checks.values() if c.alloc_id == alloc_id]

    # -- checks ----------------------------------------------------------------------------

    def _probe(self, cid: str) -> None:
        with self._lock:
            check = self._checks.get(cid)
        if check is None:
            return
        t = check.target
        exec_: probes.Exec | None = None
        if t.check.type == "script" and self._exec is not None:
            exec_ = partial(self._exec, check.alloc_id, t.check.task_name or t.wanted.task)
        outcome = probes.run(t.check, t.host, t.port, exec_)
        now = self._clock()
        restart_tasks: list[str] = []
        with self._cond:
            if self._checks.get(cid) is not check:
                return  # removed while probing
            before = check.state.status
            state = checkstate.observe(t.check, check.state, outcome.ok, warning=outcome.warning)
            policy = t.check.check_restart or t.wanted.service.check_restart
            started = self._task_start(check.alloc_id, t.wanted.task)
            state, due = checkstate.restart_due(policy, state, now=now, started_at=started)
            check.state = state
            if state.status != before or check.result.status_code != outcome.status_code:
                check.result = replace(
                    check.result,
                    status=state.status,
                    status_code=outcome.status_code,
                    output=outcome.output,
                    timestamp=now // 1_000_000_000,
                )
                self._dirty_checks.add(check.alloc_id)
                self._cond.notify()
            if due:
                restart_tasks = [t.wanted.task] if t.wanted.task else self._running(check.alloc_id)
                check.state = checkstate.initial(t.check)
        for task in restart_tasks:
            reason = f"healthcheck: check {t.check.name!r} unhealthy"
            log.info("alloc %s: restarting task %s: %s", check.alloc_id, task, reason)
            self._restart(check.alloc_id, task, reason)

    def _task_start(self, alloc_id: str, task: str) -> int:
        if task:
            return self._started.get((alloc_id, task), 0)
        starts = [v for k, v in self._started.items() if k[0] == alloc_id]
        return max(starts, default=0)

    def _running(self, alloc_id: str) -> list[str]:
        return [k[1] for k in self._started if k[0] == alloc_id]

    # -- sending ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        delay = 0.0
        while True:
            with self._cond:
                while not self._closed and not self._dirty_regs and not self._dirty_checks:
                    self._cond.wait()
                if self._closed:
                    return
                regs, self._dirty_regs = self._dirty_regs, {}
                dirty, self._dirty_checks = self._dirty_checks, set()
                results = {a: [c.result for c in self._checks.values() if c.alloc_id == a]
                           for a in dirty if a in self._pushed}  # fmt: skip
                now = {a: list(self._pushed.get(a, [])) for a in results}
            failed = self._sender.send(regs, results, now)
            if not failed.errors:
                delay = 0.0
                continue
            delay = min(self._retry_max, max(0.25, delay * 2))
            log.warning(
                "sending service registrations failed (retry in %.1fs): %s",
                delay,
                "; ".join(failed.errors),
            )
            with self._cond:
                self._dirty_regs = {**failed.regs, **self._dirty_regs}
                self._dirty_checks |= failed.checks
                self._cond.wait(delay)
