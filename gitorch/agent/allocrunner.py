"""The alloc runner: a pure state machine for one allocation on this client.

``handle(state, event, *, now) -> (state, instructions)``. Events are what happened
(the server changed the allocation, a driver started or lost a task, a timer fired);
instructions are what the IO shell (``taskrunner``) must do next (start or stop a task,
arm a timer, report status to the servers). It computes Nomad's per-task ``TaskState``
with its events and the allocation's client status. No IO, no clock, no randomness:
``now`` and restart jitter come in with the call and the events.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec

from gitorch.agent import lifecycle, taskenv
from gitorch.agent.restarts import (
    Decision,
    RestartHistory,
    decide,
    go_duration,
    restart_policy,
)
from gitorch.core.commands import AllocClientUpdate
from gitorch.core.model import (
    Allocation,
    ClientStatus,
    Job,
    Node,
    Task,
    TaskEvent,
    TaskState,
)
from gitorch.core.task import ExitResult, TaskConfig, TaskHandle

_Frozen = msgspec.Struct
S = TypeVar("S", bound=msgspec.Struct)
MAX_EVENTS = 10  # Nomad keeps a task's last ten events
Phase = Literal["new", "starting", "running", "waiting", "killing", "dead"]


class TaskRun(_Frozen, frozen=True, kw_only=True):
    """One task's runner state. ``phase``: new, starting (StartTask in flight), running,
    waiting (restart timer armed), killing (StopTask in flight), dead."""

    state: TaskState = TaskState()
    phase: Phase = "new"
    history: RestartHistory = RestartHistory()
    handle: TaskHandle | None = None
    timer_at: int = 0
    kill_after_start: bool = False
    restart_requested: bool = False  # killing to restart (check_restart), not to stop
    restart_failure: bool = True  # that restart counts against the restart policy
    kill_fails: bool = False  # killing to fail the task (a template could not be handled)


class AllocRunnerState(_Frozen, frozen=True, kw_only=True):
    """Everything the alloc runner knows; persisted by ``localstate``. ``alloc_root``
    is the host path ``<data_dir>/alloc/<alloc_id>``; ``isolation`` maps a driver name
    to its filesystem isolation ("none", "chroot", "image"); ``host_env`` is the agent's
    environment, filtered, which tasks inherit as in Nomad."""

    alloc: Allocation
    job: Job
    node: Node
    alloc_root: str
    isolation: dict[str, str] = {}
    host_env: dict[str, str] = {}
    tasks: dict[str, TaskRun] = {}
    stopping: bool = False
    reported: AllocClientUpdate | None = None

    def task(self, name: str) -> Task:
        group = self.job.group(self.alloc.task_group)
        for task in group.tasks if group else []:
            if task.name == name:
                return task
        raise KeyError(f"alloc {self.alloc.id}: job {self.job.id} has no task {name!r}")


# -- events ---------------------------------------------------------------------------


class AllocUpdated(_Frozen, frozen=True, kw_only=True):
    alloc: Allocation
    job: Job


class TaskStarted(_Frozen, frozen=True, kw_only=True):
    task: str
    handle: TaskHandle


class TaskStartFailed(_Frozen, frozen=True, kw_only=True):
    task: str
    error: str
    recoverable: bool = False
    jitter: float = 0.0
    kind: str = "Driver Failure"  # the task event's type


class TaskExited(_Frozen, frozen=True, kw_only=True):
    task: str
    result: ExitResult
    jitter: float = 0.0


class TimerFired(_Frozen, frozen=True, kw_only=True):
    task: str


class TaskKilled(_Frozen, frozen=True, kw_only=True):
    """A StopTask finished: ``result`` is how the task ended, when the driver knows."""

    task: str
    error: str = ""
    result: ExitResult | None = None


class TaskRecoverFailed(_Frozen, frozen=True, kw_only=True):
    """A persisted task handle could not be re-attached after an agent restart."""

    task: str
    error: str


class RestartTask(_Frozen, frozen=True, kw_only=True):
    """Restart a running task (its checks failed ``check_restart.limit`` times): kill
    it, then let the restart policy decide, as for a failure. With ``failure=False`` (a
    template re-rendered) it restarts at once and the restart policy does not count it,
    as Nomad's ``SetRestartTriggered(false)``."""

    task: str
    reason: str
    jitter: float = 0.0
    failure: bool = True


class TaskNote(_Frozen, frozen=True, kw_only=True):
    """Something happened to a running task that its events must show (a template
    re-rendered and the task was signalled, a change script ran)."""

    task: str
    type: str
    display: str
    task_signal: str = ""


class KillTask(_Frozen, frozen=True, kw_only=True):
    """Kill a task and fail it (Nomad's ``Kill`` with ``SetFailsTask``): a template
    could not be re-rendered, its signal not sent or its change script failed."""

    task: str
    reason: str


Event = (
    AllocUpdated
    | TaskStarted
    | TaskStartFailed
    | TaskExited
    | TimerFired
    | TaskKilled
    | TaskRecoverFailed
    | RestartTask
    | TaskNote
    | KillTask
)


# -- instructions ---------------------------------------------------------------------


class StartTask(_Frozen, frozen=True, kw_only=True):
    config: TaskConfig


class StopTask(_Frozen, frozen=True, kw_only=True):
    task: str
    signal: str
    timeout: int  # nanoseconds


class DestroyTask(_Frozen, frozen=True, kw_only=True):
    task: str


class SetTimer(_Frozen, frozen=True, kw_only=True):
    task: str
    at: int  # unix nanoseconds


class ReportStatus(_Frozen, frozen=True, kw_only=True):
    update: AllocClientUpdate


class RecoverTask(_Frozen, frozen=True, kw_only=True):
    task: str
    handle: TaskHandle
    config: TaskConfig | None = None
    """The task's config as at its start, for a running task (its templates are watched
    again); None for one being killed."""


Instruction = StartTask | StopTask | DestroyTask | SetTimer | ReportStatus | RecoverTask


# -- entry points ---------------------------------------------------------------------


def handle(
    state: AllocRunnerState, event: Event, *, now: int
) -> tuple[AllocRunnerState, list[Instruction]]:
    """Apply one event; return the new state and what the IO shell must do."""
    step = _Step(state, now)
    match event:
        case AllocUpdated():
            step.alloc_updated(event.alloc, event.job)
        case TaskStarted():
            step.started(event.task, event.handle)
        case TaskStartFailed():
            step.start_failed(event)
        case TaskExited():
            step.exited(event)
        case TimerFired():
            step.timer(event.task)
        case TaskKilled():
            step.killed(event)
        case TaskRecoverFailed():
            step.recover_failed(event.task, event.error)
        case RestartTask():
            step.restart_requested(event)
        case TaskNote():
            step.note(event)
        case KillTask():
            step.kill_failing(event)
    return step.finish()


def restore(state: AllocRunnerState, *, now: int) -> tuple[AllocRunnerState, list[Instruction]]:
    """Instructions that resume a runner loaded from disk after an agent restart:
    re-attach running tasks, re-arm restart timers, redo starts that were in flight."""
    step = _Step(state, now)
    for name, run in state.tasks.items():
        if run.phase in ("running", "killing") and run.handle is not None:
            config = _config(state, name) if run.phase == "running" else None
            step.out.append(RecoverTask(task=name, handle=run.handle, config=config))
            if run.phase == "killing":
                step.stop(name)
        elif run.phase == "waiting":
            step.out.append(SetTimer(task=name, at=run.timer_at))
        elif run.phase in ("starting", "running", "killing"):
            if step.halting(name):
                step.dead(name, failed=False, event=_killed(now))
            else:
                step.start(name)
    step.state = _set(step.state, reported=None)
    return step.finish()


def client_status(tasks: dict[str, TaskState]) -> tuple[ClientStatus, str]:
    """Nomad's alloc client status from its task states."""
    states = tasks.values()
    if any(t.state == "dead" and t.failed for t in states):
        return "failed", "Failed tasks"
    if any(t.state == "running" for t in states):
        return "running", "Tasks are running"
    if any(t.state == "pending" for t in states) or not tasks:
        return "pending", "No tasks have started"
    return "complete", "All tasks have completed"


def _ev(type_: str, now: int, display: str = "", **fields: Any) -> TaskEvent:
    return TaskEvent(type=type_, time=now, display_message=display, **fields)


def _terminated(res: ExitResult, now: int) -> TaskEvent:
    display = f"Exit Code: {res.exit_code}" + (f", Signal: {res.signal}" if res.signal else "")
    if res.oom_killed:
        display += ", OOM Killed"
    codes = {"exit_code": res.exit_code, "signal": res.signal, "message": res.err or ""}
    return _ev("Terminated", now, display, **codes)


def _killed(now: int) -> TaskEvent:
    return _ev("Killed", now, "Task successfully killed")


def _set(value: S, **changes: Any) -> S:
    return msgspec.structs.replace(value, **changes)


class _Step:
    """One transition under construction (mutable scratch, never escapes ``handle``)."""

    def __init__(self, state: AllocRunnerState, now: int) -> None:
        self.state = state
        self.now = now
        self.out: list[Instruction] = []

    # -- small helpers -----------------------------------------------------------------

    def run(self, name: str) -> TaskRun | None:
        return self.state.tasks.get(name)

    def put(self, name: str, run: TaskRun, *events: TaskEvent, **ts: object) -> None:
        """Store ``run`` with ``events`` appended (last ten kept) and ``ts`` applied."""
        kept = [*run.state.events, *events][-MAX_EVENTS:]
        ts_state = _set(run.state, events=kept, **ts)
        tasks = {**self.state.tasks, name: _set(run, state=ts_state)}
        self.state = _set(self.state, tasks=tasks)

    def start(self, name: str) -> None:
        run = self.state.tasks[name]
        self.put(name, _set(run, phase="starting", handle=None, kill_after_start=False))
        self.out.append(StartTask(config=_config(self.state, name)))

    def stop(self, name: str) -> None:
        task = self.state.task(name)
        self.out.append(StopTask(task=name, signal=task.kill_signal, timeout=task.kill_timeout))

    def begin_kill(self, name: str, *events: TaskEvent) -> None:
        timeout = self.state.task(name).kill_timeout
        display = f"Sent interrupt. Waiting {go_duration(timeout)} before force killing"
        killing = _ev("Killing", self.now, display)
        self.put(name, _set(self.state.tasks[name], phase="killing"), *events, killing)
        self.stop(name)

    def dead(self, name: str, *, failed: bool, event: TaskEvent) -> None:
        run = self.state.tasks[name]
        failed = failed or run.state.failed
        dead = _set(run, phase="dead", handle=None)
        self.put(name, dead, event, state="dead", failed=failed, finished_at=self.now)

    # -- transitions -------------------------------------------------------------------

    def alloc_updated(self, alloc: Allocation, job: Job) -> None:
        self.state = _set(self.state, alloc=alloc, job=job)
        if not self.state.tasks:
            if alloc.client_terminal():
                return
            group = job.group(alloc.task_group)
            tasks = {t.name: TaskRun() for t in (group.tasks if group else [])}
            self.state = _set(self.state, tasks=tasks)
            received = _ev("Received", self.now, "Task received by client")
            setup = _ev("Task Setup", self.now, "Building Task Directory")
            for name in tasks:
                self.put(name, tasks[name], received, setup)
        if alloc.desired_status != "run" and not self.state.stopping:
            self.state = _set(self.state, stopping=True)
            self.kill_all(reason_type="", source="")

    def roles(self) -> dict[str, lifecycle.Role]:
        return {name: lifecycle.role(self.state.task(name)) for name in self.state.tasks}

    def phases(self) -> dict[str, str]:
        return {name: run.phase for name, run in self.state.tasks.items()}

    def halting(self, name: str) -> bool:
        """The allocation is stopping and ``name`` must not (re)start: every task but a
        poststop one, which runs after the others even when the allocation stops."""
        return self.state.stopping and lifecycle.role(self.state.task(name)) != "poststop"

    def kill_all(self, *, reason_type: str, source: str) -> None:
        """Kill the live tasks, except poststop tasks (they run after the others) and,
        while a main task lives, the sidecars (they are stopped after the main tasks)."""
        roles = self.roles()
        spare_sidecars = lifecycle.main_live(roles, self.phases())
        for name, run in self.state.tasks.items():
            if name == source or run.phase == "dead" or roles[name] == "poststop":
                continue
            if spare_sidecars and lifecycle.sidecar(roles[name]):
                continue
            why = _ev(reason_type, self.now, _reason_text(reason_type, source))
            events = [why] if reason_type else []
            if run.phase == "running":
                self.begin_kill(name, *events)
            elif run.phase == "starting":
                self.put(name, _set(run, kill_after_start=True), *events)
            elif run.phase != "killing":
                self.put(name, run, *events)
                self.dead(name, failed=False, event=_killed(self.now))

    def started(self, name: str, handle: TaskHandle) -> None:
        run = self.run(name)
        if run is None or run.phase != "starting":
            return
        started = _ev("Started", self.now, "Task started by client")
        running = _set(run, phase="running", handle=handle)
        self.put(name, running, started, state="running", started_at=self.now)
        roles = self.roles()
        spared = lifecycle.sidecar(roles[name]) and lifecycle.main_live(roles, self.phases())
        if run.kill_after_start or (self.halting(name) and not spared):
            self.begin_kill(name)

    def start_failed(self, event: TaskStartFailed) -> None:
        run = self.run(event.task)
        if run is None or run.phase != "starting":
            return
        fails = not event.recoverable
        failure = _ev(event.kind, self.now, event.error, message=event.error, fails_task=fails)
        self.put(event.task, run, failure)
        if run.kill_after_start or self.halting(event.task):
            self.dead(event.task, failed=False, event=_killed(self.now))
            return
        self.after_exit(event.task, event.jitter, start_error=True, recoverable=event.recoverable)

    def exited(self, event: TaskExited) -> None:
        run = self.run(event.task)
        if run is None or run.phase not in ("running", "killing"):
            return
        res = event.result
        self.put(event.task, _set(run, handle=None), _terminated(res, self.now))
        self.out.append(DestroyTask(task=event.task))
        if run.restart_requested and not self.halting(event.task):
            self.put(event.task, _set(self.state.tasks[event.task], restart_requested=False))
            self.after_exit(event.task, event.jitter, successful=False, failure=run.restart_failure)
            return
        if run.kill_fails:
            self.failed_by_kill(event.task)
            return
        if run.phase == "killing" or self.halting(event.task):
            self.dead(event.task, failed=False, event=_killed(self.now))
            return
        self.after_exit(event.task, event.jitter, successful=res.successful)

    def after_exit(
        self, name: str, jitter: float, *, failure: bool = True, **outcome: bool
    ) -> None:
        """Ask the restart tracker, then restart later, fail, or finish the task; a
        restart that is no ``failure`` (a template changed) is at once and not counted."""
        run = self.state.tasks[name]
        policy = restart_policy(self.state.job, self.state.alloc.task_group, self.state.task(name))
        job_type = lifecycle.success_job_type(self.state.job.type, self.state.task(name))
        if failure:
            d = decide(policy, job_type, run.history, now=self.now, jitter=jitter, **outcome)
        else:
            d = Decision(action="restart", reason="", history=run.history)
        run = _set(run, history=d.history)
        if d.action == "restart":
            at = self.now + d.delay
            display = f"Task restarting in {go_duration(d.delay)}"
            ev = _ev("Restarting", self.now, display, restart_reason=d.reason)
            waiting = _set(run, phase="waiting", timer_at=at)
            restarts = run.state.restarts + 1
            self.put(name, waiting, ev, state="pending", restarts=restarts, last_restart=self.now)
            self.out.append(SetTimer(task=name, at=at))
        elif d.action == "fail":
            self.put(name, run)
            failed = _ev("Not Restarting", self.now, d.reason, fails_task=True)
            self.dead(name, failed=True, event=failed)
            self.kill_all(reason_type="Sibling Task Failed", source=name)
        else:
            self.put(name, _set(run, phase="dead"), state="dead", finished_at=self.now)
            self.finished(name)

    def finished(self, name: str) -> None:
        if self.state.task(name).leader:
            self.kill_all(reason_type="Leader Task Dead", source=name)

    def timer(self, name: str) -> None:
        run = self.run(name)
        if run is None or run.phase != "waiting":
            return
        if self.halting(name):
            self.dead(name, failed=False, event=_killed(self.now))
            return
        self.start(name)

    def killed(self, event: TaskKilled) -> None:
        name, error = event.task, event.error
        run = self.run(name)
        if run is None or run.phase != "killing":
            return
        if event.result is not None:
            self.put(name, run, _terminated(event.result, self.now))
        if run.restart_requested and not self.halting(name):
            self.put(name, _set(self.state.tasks[name], restart_requested=False, handle=None))
            self.out.append(DestroyTask(task=name))
            self.after_exit(name, 0.5, successful=False, failure=run.restart_failure)
            return
        if run.kill_fails:
            self.out.append(DestroyTask(task=name))
            self.failed_by_kill(name)
            return
        msg = f"failed to kill task: {error}" if error else "Task successfully killed"
        self.dead(name, failed=False, event=_ev("Killed", self.now, msg, message=error))
        self.out.append(DestroyTask(task=name))

    def restart_requested(self, event: RestartTask) -> None:
        run = self.run(event.task)
        if run is None or run.phase != "running" or self.halting(event.task):
            return
        signaled = _ev("Restart Signaled", self.now, event.reason, restart_reason=event.reason)
        again = _set(run, restart_requested=True, restart_failure=event.failure)
        self.put(event.task, again, signaled)
        self.begin_kill(event.task)

    def note(self, event: TaskNote) -> None:
        run = self.run(event.task)
        if run is not None and run.phase != "dead":
            ev = _ev(event.type, self.now, event.display, task_signal=event.task_signal)
            self.put(event.task, run, ev)

    def kill_failing(self, event: KillTask) -> None:
        run = self.run(event.task)
        if run is None or run.phase in ("dead", "killing", "starting"):
            return
        if self.halting(event.task):
            return
        if run.phase != "running":  # waiting to restart
            self.put(event.task, run, _ev("Killing", self.now, event.reason, fails_task=True))
            self.failed_by_kill(event.task)
            return
        killing = _ev("Killing", self.now, event.reason, fails_task=True)
        again = _set(run, phase="killing", kill_fails=True, restart_requested=False)
        self.put(event.task, again, killing)
        self.stop(event.task)

    def failed_by_kill(self, name: str) -> None:
        """The task was killed to fail it: dead and failed; its siblings are killed."""
        self.put(name, _set(self.state.tasks[name], kill_fails=False, handle=None))
        self.dead(name, failed=True, event=_killed(self.now))
        self.kill_all(reason_type="Sibling Task Failed", source=name)

    def recover_failed(self, name: str, error: str) -> None:
        run = self.run(name)
        if run is None or run.phase not in ("running", "killing"):
            return
        msg = f"failed to re-attach to task after agent restart: {error}"
        self.put(name, _set(run, handle=None), _ev("Driver Failure", self.now, msg, message=msg))
        if run.phase == "killing" or self.halting(name):
            self.dead(name, failed=False, event=_killed(self.now))
        else:
            self.start(name)

    # -- lifecycle ---------------------------------------------------------------------

    def advance(self) -> None:
        """Stop the sidecars once the main tasks are dead, then start every waiting task
        whose lifecycle gate is open (only poststop tasks start once stopping)."""
        if not self.state.tasks:
            return
        roles = self.roles()
        if lifecycle.mains_dead(roles, self.phases()) and self.sidecars_to_kill(roles):
            reason = "" if self.state.stopping else lifecycle.MAIN_DEAD
            self.kill_all(reason_type=reason, source="")
        states = {name: run.state for name, run in self.state.tasks.items()}
        running = self.state.alloc.desired_status == "run" and not self.state.stopping
        if not running:
            for name in lifecycle.skipped(roles, self.phases(), states):
                self.dead(name, failed=False, event=_killed(self.now))
        for name in lifecycle.startable(roles, self.phases(), states):
            if running or roles[name] == "poststop":
                self.start(name)

    def sidecars_to_kill(self, roles: dict[str, lifecycle.Role]) -> bool:
        """Some task other than a poststop one lives and is not yet being killed."""
        return any(
            roles[name] != "poststop"
            and run.phase not in ("dead", "killing")
            and not run.kill_after_start
            for name, run in self.state.tasks.items()
        )

    # -- status ------------------------------------------------------------------------

    def finish(self) -> tuple[AllocRunnerState, list[Instruction]]:
        self.advance()
        states = {name: run.state for name, run in self.state.tasks.items()}
        if not states:
            return self.state, self.out
        status, description = client_status(states)
        update = AllocClientUpdate(
            id=self.state.alloc.id,
            client_status=status,
            client_description=description,
            task_states=states,
        )
        if update != self.state.reported:
            self.state = _set(self.state, reported=update)
            self.out.append(ReportStatus(update=update))
        return self.state, self.out


def _config(state: AllocRunnerState, name: str) -> TaskConfig:
    task = state.task(name)
    root, isolation = state.alloc_root, state.isolation
    return taskenv.task_config(
        state.alloc, state.job, task, state.node, root, isolation, state.host_env
    )


def _reason_text(reason_type: str, source: str) -> str:
    if reason_type == "Sibling Task Failed":
        return f"Task's sibling {source!r} failed"
    if reason_type == "Leader Task Dead":
        return "Leader Task in Group dead"
    if reason_type == lifecycle.MAIN_DEAD:
        return lifecycle.MAIN_DEAD_TEXT
    return reason_type
