"""Task lifecycle ordering in the pure alloc runner (Nomad's task hook coordinator)."""

from __future__ import annotations

from gitorch.agent import allocrunner as ar
from gitorch.core.model import (
    SECOND,
    Allocation,
    Job,
    Node,
    RestartPolicy,
    Task,
    TaskGroup,
    TaskLifecycle,
    replace,
)
from gitorch.core.task import ExitResult, TaskHandle

T0 = 1_700_000_000 * SECOND
FAST = RestartPolicy(attempts=1, interval=60 * SECOND, delay=SECOND, mode="fail")
ALLOC = Allocation(id="a1b2c3d4-0000", name="j.g[0]", job_id="j", task_group="g", node_id="n1")
OK = ExitResult(exit_code=0)


def task(name: str, hook: str = "", *, sidecar: bool = False, leader: bool = False) -> Task:
    lc = TaskLifecycle(hook=hook, sidecar=sidecar) if hook else None  # type: ignore[arg-type]
    return Task(name=name, driver="mock", lifecycle=lc, leader=leader)


class Runner:
    def __init__(self, job_type: str, *tasks: Task) -> None:
        group = TaskGroup(name="g", tasks=list(tasks), restart_policy=FAST)
        job = Job(id="j", type=job_type, task_groups=[group])  # type: ignore[arg-type]
        self.state = ar.AllocRunnerState(
            alloc=ALLOC, job=job, node=Node(id="n1"), alloc_root="/data/alloc/a1"
        )
        self.now = T0
        self.out: list[ar.Instruction] = []

    def send(self, event: ar.Event) -> list[ar.Instruction]:
        self.now += SECOND
        self.state, self.out = ar.handle(self.state, event, now=self.now)
        return self.out

    def place(self) -> None:
        self.send(ar.AllocUpdated(alloc=ALLOC, job=self.state.job))

    def started(self) -> list[str]:
        return [i.config.task_name for i in self.out if isinstance(i, ar.StartTask)]

    def stopped(self) -> list[str]:
        return [i.task for i in self.out if isinstance(i, ar.StopTask)]

    def up(self, name: str) -> None:
        handle = TaskHandle(driver="mock", alloc_id=ALLOC.id, task_name=name, pid=7)
        self.send(ar.TaskStarted(task=name, handle=handle))

    def exit(self, name: str, code: int = 0) -> None:
        self.send(ar.TaskExited(task=name, result=ExitResult(exit_code=code)))

    def status(self) -> str:
        reports = [i for i in self.out if isinstance(i, ar.ReportStatus)]
        return reports[-1].update.client_status if reports else "(none)"

    def phase(self, name: str) -> str:
        return self.state.tasks[name].phase

    def events(self, name: str) -> list[str]:
        return [e.type for e in self.state.tasks[name].state.events]


def test_main_waits_for_prestart_to_complete() -> None:
    r = Runner("service", task("init", "prestart"), task("main"))
    r.place()
    assert r.started() == ["init"]
    r.up("init")
    assert r.started() == []
    assert r.phase("main") == "new"
    r.exit("init")  # a service job's prestart task is not restarted after exit 0
    assert r.started() == ["main"]
    assert not any(isinstance(i, ar.SetTimer) for i in r.out)
    r.up("main")
    assert r.status() == "running"


def test_failed_prestart_restarts_then_fails_the_alloc_without_running_main() -> None:
    r = Runner("batch", task("init", "prestart"), task("main"), task("cleanup", "poststop"))
    r.place()
    r.up("init")
    r.exit("init", 1)
    assert any(isinstance(i, ar.SetTimer) for i in r.out)  # restart policy: one attempt
    assert r.phase("main") == "new"
    r.send(ar.TimerFired(task="init"))
    assert r.started() == ["init"]
    r.up("init")
    r.exit("init", 1)
    assert r.state.tasks["init"].state.failed
    assert r.phase("main") == "dead"
    assert r.state.tasks["main"].state.started_at == 0
    assert r.started() == ["cleanup"]  # poststop still runs after a failure
    r.up("cleanup")
    r.exit("cleanup")
    assert r.status() == "failed"


def test_sidecar_runs_beside_main_restarts_and_does_not_keep_a_batch_alloc_alive() -> None:
    r = Runner("batch", task("proxy", "prestart", sidecar=True), task("main"))
    r.place()
    assert r.started() == ["proxy"]
    r.up("proxy")
    assert r.started() == ["main"]  # a sidecar only has to be running
    r.up("main")
    r.exit("proxy", 0)  # a sidecar is restarted even after exit 0, in a batch job too
    assert any(isinstance(i, ar.SetTimer) for i in r.out)
    r.send(ar.TimerFired(task="proxy"))
    r.up("proxy")
    r.exit("main", 0)
    assert r.stopped() == ["proxy"]
    assert r.events("proxy")[-2:] == ["Main Tasks Dead", "Killing"]
    assert r.status() == "running"
    r.send(ar.TaskKilled(task="proxy"))
    assert r.status() == "complete"
    assert not r.state.tasks["proxy"].state.failed


def test_poststart_starts_once_main_is_running() -> None:
    r = Runner("service", task("main"), task("announce", "poststart"))
    r.place()
    assert r.started() == ["main"]
    r.up("main")
    assert r.started() == ["announce"]
    r.up("announce")
    r.exit("announce")
    assert r.phase("announce") == "dead"
    assert r.status() == "running"


def test_poststop_runs_after_main_and_holds_completion() -> None:
    r = Runner("batch", task("main"), task("cleanup", "poststop"))
    r.place()
    assert r.started() == ["main"]
    r.up("main")
    assert r.phase("cleanup") == "new"
    r.exit("main")
    assert r.started() == ["cleanup"]
    r.up("cleanup")
    assert r.status() == "running"
    r.exit("cleanup")
    assert r.status() == "complete"


def test_desired_stop_kills_main_then_sidecar_then_runs_poststop() -> None:
    r = Runner(
        "service", task("proxy", "prestart", sidecar=True), task("main"), task("bye", "poststop")
    )
    r.place()
    r.up("proxy")
    r.up("main")
    r.send(ar.AllocUpdated(alloc=replace(ALLOC, desired_status="stop"), job=r.state.job))
    assert r.stopped() == ["main"]
    r.send(ar.TaskKilled(task="main"))
    assert r.stopped() == ["proxy"]
    assert r.started() == []
    r.send(ar.TaskKilled(task="proxy"))
    assert r.started() == ["bye"]
    r.up("bye")  # a poststop task is not killed by the stop it follows
    assert r.stopped() == []
    r.exit("bye")
    assert r.status() == "complete"


def test_stop_before_anything_ran_skips_poststop() -> None:
    r = Runner("service", task("main"), task("bye", "poststop"))
    r.send(ar.AllocUpdated(alloc=replace(ALLOC, desired_status="stop"), job=r.state.job))
    assert r.started() == []
    assert r.status() == "complete"


def test_leader_exit_stops_others_and_poststop_follows() -> None:
    r = Runner(
        "service",
        task("lead", leader=True),
        task("helper"),
        task("proxy", "prestart", sidecar=True),
        task("bye", "poststop"),
    )
    r.place()
    r.up("proxy")
    r.up("lead")
    r.up("helper")
    r.exit("lead")  # a service leader is restarted after exit 0 like any service task
    assert r.stopped() == []
    r.send(ar.TimerFired(task="lead"))
    r.up("lead")
    r.exit("lead", 1)
    assert r.state.tasks["lead"].state.failed
    assert r.stopped() == ["helper"]
    r.send(ar.TaskKilled(task="helper"))
    assert r.stopped() == ["proxy"]
    r.send(ar.TaskKilled(task="proxy"))
    assert r.started() == ["bye"]


def test_batch_leader_completion_stops_sidecar() -> None:
    r = Runner("batch", task("lead", leader=True), task("helper"), task("bye", "poststop"))
    r.place()
    r.up("lead")
    r.up("helper")
    r.exit("lead")
    assert r.events("helper")[-2:] == ["Leader Task Dead", "Killing"]
    r.send(ar.TaskKilled(task="helper"))
    assert r.started() == ["bye"]
    r.up("bye")
    r.exit("bye")
    assert r.status() == "complete"


def test_restore_starts_tasks_whose_gate_opened() -> None:
    r = Runner("batch", task("init", "prestart"), task("main"))
    r.place()
    r.up("init")
    r.exit("init")
    assert r.started() == ["main"]
    # the agent died before StartTask ran: restore starts it again
    state, out = ar.restore(r.state, now=r.now)
    assert [i.config.task_name for i in out if isinstance(i, ar.StartTask)] == ["main"]
