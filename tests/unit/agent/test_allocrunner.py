"""The alloc runner state machine, driven with plain events and a fixed clock."""

from __future__ import annotations

import pytest

from gitorch.agent import allocrunner as ar
from gitorch.core.model import (
    SECOND,
    Allocation,
    Job,
    Node,
    RestartPolicy,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.task import ExitResult, TaskHandle

T0 = 1_700_000_000 * SECOND
FAST = RestartPolicy(attempts=2, interval=60 * SECOND, delay=SECOND, mode="fail")


def make_job(job_type: str = "batch", tasks: list[Task] | None = None) -> Job:
    tasks = tasks or [
        Task(name="main", driver="mock", kill_signal="SIGTERM", kill_timeout=3 * SECOND)
    ]
    group = TaskGroup(name="g", tasks=tasks, restart_policy=FAST)
    return Job(id="j", type=job_type, task_groups=[group])  # type: ignore[arg-type]


ALLOC = Allocation(id="a1b2c3d4-0000", name="j.g[0]", job_id="j", task_group="g", node_id="n1")


def handle_of(task: str) -> TaskHandle:
    return TaskHandle(driver="mock", alloc_id=ALLOC.id, task_name=task, pid=42)


class Runner:
    """Feeds events and keeps the latest state and instructions."""

    def __init__(self, job: Job) -> None:
        self.state = ar.AllocRunnerState(
            alloc=ALLOC, job=job, node=Node(id="n1"), alloc_root="/data/alloc/a1"
        )
        self.now = T0
        self.out: list[ar.Instruction] = []

    def send(self, event: ar.Event, after: int = 0) -> list[ar.Instruction]:
        self.now += after
        self.state, self.out = ar.handle(self.state, event, now=self.now)
        return self.out

    def kinds(self) -> list[str]:
        return [type(i).__name__ for i in self.out]

    def status(self) -> str:
        reports = [i for i in self.out if isinstance(i, ar.ReportStatus)]
        return reports[-1].update.client_status if reports else "(none)"

    def events(self, task: str = "main") -> list[str]:
        return [e.type for e in self.state.tasks[task].state.events]

    def start_all(self) -> None:
        self.send(ar.AllocUpdated(alloc=ALLOC, job=self.state.job))
        for name in list(self.state.tasks):
            self.send(ar.TaskStarted(task=name, handle=handle_of(name)), after=SECOND)


def test_new_alloc_starts_tasks_with_interpolated_config() -> None:
    task = Task(name="main", driver="mock", config={"cmd": "${NOMAD_ALLOC_ID}"}, env={"A": "1"})
    r = Runner(make_job(tasks=[task]))
    out = r.send(ar.AllocUpdated(alloc=ALLOC, job=r.state.job))
    assert r.kinds() == ["StartTask", "ReportStatus"]
    start = out[0]
    assert isinstance(start, ar.StartTask)
    assert start.config.config == {"cmd": ALLOC.id}
    assert start.config.env["A"] == "1"
    assert start.config.task_dir == "/data/alloc/a1/main"
    assert start.config.log_dir == "/data/alloc/a1/alloc/logs"
    assert start.config.env["NOMAD_TASK_DIR"] == "/data/alloc/a1/main/local"
    assert r.status() == "pending"
    assert r.events() == ["Received", "Task Setup"]


def test_started_then_batch_exit_zero_completes() -> None:
    r = Runner(make_job("batch"))
    r.start_all()
    assert r.status() == "running"
    ts = r.state.tasks["main"].state
    assert (ts.state, ts.started_at) == ("running", T0 + SECOND)
    r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=0)), after=SECOND)
    assert r.kinds() == ["DestroyTask", "ReportStatus"]
    assert r.status() == "complete"
    ts = r.state.tasks["main"].state
    assert (ts.state, ts.failed, ts.finished_at) == ("dead", False, T0 + 2 * SECOND)
    assert r.events() == ["Received", "Task Setup", "Started", "Terminated"]


@pytest.mark.parametrize(
    ("job_type", "result", "expect"),
    [
        ("batch", ExitResult(exit_code=1), "restart"),
        ("batch", ExitResult(exit_code=137, signal=9), "restart"),
        ("batch", ExitResult(exit_code=0), "done"),
        ("service", ExitResult(exit_code=0), "restart"),
    ],
)
def test_exit_table(job_type: str, result: ExitResult, expect: str) -> None:
    r = Runner(make_job(job_type))
    r.start_all()
    r.send(ar.TaskExited(task="main", result=result))
    restarting = any(isinstance(i, ar.SetTimer) for i in r.out)
    assert restarting == (expect == "restart")


def test_failure_restarts_after_timer_then_fails_when_attempts_exhausted() -> None:
    r = Runner(make_job("batch"))
    r.start_all()
    for attempt in (1, 2):
        r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=1)), after=SECOND)
        assert r.kinds() == ["DestroyTask", "SetTimer", "ReportStatus"]
        timer = r.out[1]
        assert isinstance(timer, ar.SetTimer) and timer.at == r.now + SECOND
        ts = r.state.tasks["main"].state
        assert (ts.state, ts.restarts, ts.last_restart) == ("pending", attempt, r.now)
        assert r.status() == "pending"
        assert r.events()[-2:] == ["Terminated", "Restarting"]
        r.send(ar.TimerFired(task="main"), after=SECOND)
        assert r.kinds() == ["StartTask"]
        r.send(ar.TaskStarted(task="main", handle=handle_of("main")))
        assert r.status() == "running"
    r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=1)), after=SECOND)
    assert r.kinds() == ["DestroyTask", "ReportStatus"]
    assert r.status() == "failed"
    ts = r.state.tasks["main"].state
    assert (ts.state, ts.failed, ts.restarts) == ("dead", True, 2)
    last = ts.events[-1]
    assert (last.type, last.fails_task) == ("Not Restarting", True)
    assert "Exceeded allowed attempts 2 in interval 1m0s" in last.display_message


def test_desired_stop_kills_with_kill_signal_and_completes() -> None:
    r = Runner(make_job("service"))
    r.start_all()
    stop = replace(ALLOC, desired_status="stop")
    r.send(ar.AllocUpdated(alloc=stop, job=r.state.job))
    assert r.out[0] == ar.StopTask(task="main", signal="SIGTERM", timeout=3 * SECOND)
    assert r.events()[-1] == "Killing"
    assert r.status() == "running"
    r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=143, signal=15)))
    assert r.status() == "complete"
    assert r.events()[-2:] == ["Terminated", "Killed"]
    # the stop's own confirmation arriving later changes nothing
    r.send(ar.TaskKilled(task="main"))
    assert r.out == []


def test_stop_before_start_completes_and_kills_after_start() -> None:
    r = Runner(make_job("service"))
    r.send(ar.AllocUpdated(alloc=ALLOC, job=r.state.job))
    r.send(ar.AllocUpdated(alloc=replace(ALLOC, desired_status="stop"), job=r.state.job))
    r.send(ar.TaskStarted(task="main", handle=handle_of("main")))
    assert r.kinds() == ["StopTask", "ReportStatus"]
    assert r.events()[-2:] == ["Started", "Killing"]
    r.send(ar.TaskKilled(task="main"))
    assert r.kinds() == ["DestroyTask", "ReportStatus"]
    assert r.status() == "complete"
    assert r.events()[-1] == "Killed"


def test_kill_confirmation_with_result_records_terminated_then_killed() -> None:
    r = Runner(make_job("service"))
    r.start_all()
    r.send(ar.AllocUpdated(alloc=replace(ALLOC, desired_status="stop"), job=r.state.job))
    r.send(ar.TaskKilled(task="main", result=ExitResult(exit_code=130, signal=2)))
    assert r.events()[-3:] == ["Killing", "Terminated", "Killed"]
    assert r.state.tasks["main"].state.events[-2].signal == 2
    assert r.status() == "complete"
    assert r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=130))) == []


def test_stop_during_restart_wait_completes_without_driver_calls() -> None:
    r = Runner(make_job("batch"))
    r.start_all()
    r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=2)))
    r.send(ar.AllocUpdated(alloc=replace(ALLOC, desired_status="stop"), job=r.state.job))
    assert r.kinds() == ["ReportStatus"]
    assert r.status() == "complete"
    assert r.send(ar.TimerFired(task="main")) == []


def test_start_failure_unrecoverable_fails_and_kills_sibling() -> None:
    tasks = [Task(name="a", driver="mock"), Task(name="b", driver="mock")]
    r = Runner(make_job("service", tasks))
    r.send(ar.AllocUpdated(alloc=ALLOC, job=r.state.job))
    r.send(ar.TaskStarted(task="b", handle=handle_of("b")))
    r.send(ar.TaskStartFailed(task="a", error="no such binary"))
    assert r.status() == "failed"
    assert r.events("a")[-2:] == ["Driver Failure", "Not Restarting"]
    assert r.events("b")[-2:] == ["Sibling Task Failed", "Killing"]
    assert any(isinstance(i, ar.StopTask) and i.task == "b" for i in r.out)


def test_leader_exit_kills_followers() -> None:
    tasks = [Task(name="lead", driver="mock", leader=True), Task(name="side", driver="mock")]
    r = Runner(make_job("batch", tasks))
    r.start_all()
    r.send(ar.TaskExited(task="lead", result=ExitResult()))
    assert r.events("side")[-2:] == ["Leader Task Dead", "Killing"]
    r.send(ar.TaskKilled(task="side"))
    assert r.status() == "complete"


def test_restore_reattaches_running_tasks_and_rearms_timers() -> None:
    tasks = [Task(name="a", driver="mock"), Task(name="b", driver="mock")]
    r = Runner(make_job("service", tasks))
    r.start_all()
    r.send(ar.TaskExited(task="b", result=ExitResult(exit_code=1)))
    state, out = ar.restore(r.state, now=r.now)
    recover = out[0]
    assert isinstance(recover, ar.RecoverTask)
    assert (recover.task, recover.handle) == ("a", handle_of("a"))
    assert recover.config is not None and recover.config.task_name == "a"  # re-watched
    assert isinstance(out[1], ar.SetTimer) and out[1].task == "b"
    assert isinstance(out[-1], ar.ReportStatus)
    state, out = ar.handle(state, ar.TaskRecoverFailed(task="a", error="gone"), now=r.now)
    assert isinstance(out[0], ar.StartTask)
    assert state.tasks["a"].state.events[-1].type == "Driver Failure"


def test_client_status_rules() -> None:
    r = Runner(make_job("batch"))
    assert ar.client_status({}) == ("pending", "No tasks have started")
    r.start_all()
    assert ar.client_status({"x": r.state.tasks["main"].state})[0] == "running"


def test_events_are_capped_at_ten() -> None:
    r = Runner(make_job("service"))
    r.start_all()
    for _ in range(8):
        r.send(ar.TaskExited(task="main", result=ExitResult(exit_code=0)), after=61 * SECOND)
        r.send(ar.TimerFired(task="main"))
        r.send(ar.TaskStarted(task="main", handle=handle_of("main")))
    assert len(r.state.tasks["main"].state.events) == 10
    assert r.state.tasks["main"].state.restarts == 8
