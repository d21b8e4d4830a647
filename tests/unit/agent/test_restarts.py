"""Nomad's restart tracker rules, table by table."""

from __future__ import annotations

import pytest

from gitorch.agent.restarts import (
    REASON_DELAY,
    REASON_NO_RESTARTS,
    REASON_UNRECOVERABLE,
    REASON_WITHIN_POLICY,
    RestartHistory,
    decide,
    go_duration,
)
from gitorch.core.model import MINUTE, SECOND, RestartPolicy

T0 = 1_000 * SECOND
POLICY = RestartPolicy(attempts=2, interval=30 * MINUTE, delay=15 * SECOND, mode="fail")


@pytest.mark.parametrize(
    ("job_type", "successful", "action"),
    [
        ("batch", True, "done"),
        ("sysbatch", True, "done"),
        ("batch", False, "restart"),
        ("service", True, "restart"),
        ("service", False, "restart"),
        ("system", True, "restart"),
    ],
)
def test_first_exit(job_type: str, successful: bool, action: str) -> None:
    d = decide(POLICY, job_type, RestartHistory(), now=T0, successful=successful)  # type: ignore[arg-type]
    assert d.action == action
    if action == "restart":
        assert d.delay == 15 * SECOND
        assert d.reason == REASON_WITHIN_POLICY
        assert d.history == RestartHistory(count=1, interval_start=T0)


def test_attempts_exhausted_fails_in_fail_mode() -> None:
    h = RestartHistory()
    actions = []
    for i in range(3):
        d = decide(POLICY, "service", h, now=T0 + i * SECOND)
        actions.append(d.action)
        h = d.history
    assert actions == ["restart", "restart", "fail"]
    assert d.reason == 'Exceeded allowed attempts 2 in interval 30m0s and mode is "fail"'


def test_delay_mode_waits_until_interval_ends_then_starts_over() -> None:
    policy = RestartPolicy(attempts=1, interval=MINUTE, delay=SECOND, mode="delay")
    d1 = decide(policy, "service", RestartHistory(), now=T0)
    d2 = decide(policy, "service", d1.history, now=T0 + 10 * SECOND)
    assert (d2.action, d2.reason, d2.delay) == ("restart", REASON_DELAY, 50 * SECOND)
    d3 = decide(policy, "service", d2.history, now=T0 + 61 * SECOND)
    assert (d3.action, d3.delay, d3.history.count) == ("restart", SECOND, 1)


def test_new_interval_resets_count() -> None:
    d1 = decide(POLICY, "batch", RestartHistory(count=2, interval_start=T0), now=T0 + 31 * MINUTE)
    assert d1.action == "restart"
    assert d1.history == RestartHistory(count=1, interval_start=T0 + 31 * MINUTE)


def test_no_attempts_and_unrecoverable_fail_at_once() -> None:
    zero = RestartPolicy(attempts=0)
    assert decide(zero, "service", RestartHistory(), now=T0).reason == REASON_NO_RESTARTS
    d = decide(POLICY, "service", RestartHistory(), now=T0, start_error=True, recoverable=False)
    assert (d.action, d.reason) == ("fail", REASON_UNRECOVERABLE)
    d = decide(POLICY, "batch", RestartHistory(), now=T0, start_error=True, successful=True)
    assert d.action == "restart"


def test_jitter_adds_up_to_a_quarter_of_the_delay() -> None:
    d = decide(POLICY, "service", RestartHistory(), now=T0, jitter=0.5)
    assert d.delay == 15 * SECOND + 15 * SECOND // 8


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (15 * SECOND, "15s"),
        (30 * MINUTE, "30m0s"),
        (1_500_000_000, "1.5s"),
        (24 * 60 * MINUTE, "24h0m0s"),
        (2_000_000, "2ms"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


def test_policy_precedence_task_then_group_then_job_type_default() -> None:
    from gitorch.agent.restarts import restart_policy
    from gitorch.core.model import BATCH_RESTART, Job, Task, TaskGroup

    own = RestartPolicy(attempts=7)
    plain = Task(name="t", driver="mock")
    group = TaskGroup(name="g", tasks=[plain], restart_policy=POLICY)
    job = Job(id="j", type="batch", task_groups=[group])
    assert restart_policy(job, "g", Task(name="t", driver="mock", restart_policy=own)) == own
    assert restart_policy(job, "g", plain) == POLICY
    bare = Job(id="j", type="batch", task_groups=[TaskGroup(name="g", tasks=[plain])])
    assert restart_policy(bare, "g", plain) == BATCH_RESTART
    service = Job(id="j", type="service", task_groups=[TaskGroup(name="g", tasks=[plain])])
    assert restart_policy(service, "g", plain) == RestartPolicy()
