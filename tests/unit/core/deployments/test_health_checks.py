"""Deployment health with health_check = "checks": the allocation's check results must
pass (as each check's on_update says) for min_healthy_time, within the deadline."""

from __future__ import annotations

from gitorch.core.deployments.health import judge
from gitorch.core.model import Allocation, Task, TaskGroup
from gitorch.core.model.alloc import TaskState
from gitorch.core.model.deployment import UpdateStrategy
from gitorch.core.model.service import CheckResult, Service, ServiceCheck

S = 1_000_000_000
U = UpdateStrategy(min_healthy_time=10 * S, healthy_deadline=100 * S)


def group(*checks: ServiceCheck, on_update: str = "require_healthy") -> TaskGroup:
    svc = Service(name="web", checks=list(checks), on_update=on_update)
    return TaskGroup(name="g", tasks=[Task(name="t", driver="raw_exec")], services=[svc])


def alloc(started: int = 0) -> Allocation:
    return Allocation(
        id="a1",
        name="j.g[0]",
        task_group="g",
        client_status="running",
        create_time=0,
        task_states={"t": TaskState(state="running", started_at=started)},
    )


def result(check: str, status: str, at_s: int) -> CheckResult:
    return CheckResult(id=check, check=check, service="web", status=status, timestamp=at_s)  # type: ignore[arg-type]


def test_healthy_min_healthy_time_after_the_checks_turn_passing() -> None:
    g = group(ServiceCheck(name="alive"))
    results = [result("alive", "success", 20)]
    assert judge(alloc(), g, U, 25 * S, results).wake == 30 * S
    assert judge(alloc(), g, U, 30 * S, results).healthy is True


def test_pending_or_failing_or_missing_checks_wait_then_fail_at_the_deadline() -> None:
    g = group(ServiceCheck(name="alive"), ServiceCheck(name="ready"))
    for results in (
        [result("alive", "pending", 1), result("ready", "success", 1)],
        [result("alive", "failure", 1), result("ready", "success", 1)],
        [result("ready", "success", 1)],  # "alive" not reported yet
    ):
        assert judge(alloc(), g, U, 50 * S, results).wake == 100 * S
        assert judge(alloc(), g, U, 100 * S, results).healthy is False


def test_on_update_ignore_warnings_and_ignore() -> None:
    warn = [result("alive", "warning", 1)]
    assert judge(alloc(), group(ServiceCheck(name="alive")), U, 50 * S, warn).healthy is None
    g = group(ServiceCheck(name="alive", on_update="ignore_warnings"))
    assert judge(alloc(), g, U, 50 * S, warn).healthy is True
    g = group(ServiceCheck(name="alive"), on_update="ignore_warnings")  # the service's
    assert judge(alloc(), g, U, 50 * S, warn).healthy is True
    failing = [result("alive", "failure", 1)]
    g = group(ServiceCheck(name="alive", on_update="ignore"))
    assert judge(alloc(), g, U, 50 * S, failing).healthy is True


def test_task_states_alone_without_results_or_with_task_states_health() -> None:
    g = group(ServiceCheck(name="alive"))
    assert judge(alloc(), g, U, 50 * S, None).healthy is True  # the drainer's view
    states = UpdateStrategy(health_check="task_states", min_healthy_time=10 * S)
    assert judge(alloc(), g, states, 50 * S, [result("alive", "failure", 1)]).healthy is True
