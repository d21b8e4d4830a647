"""Properties of rolling updates through the real state store, scheduler and watcher
state machine (``rollout_sim``), in simulated time."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rollout_sim import SECOND, Sim, service

from gitorch.core.model import UpdateStrategy

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def strategy(max_parallel: int, auto_revert: bool = False) -> UpdateStrategy:
    return UpdateStrategy(
        max_parallel=max_parallel,
        min_healthy_time=2 * SECOND,
        healthy_deadline=20 * SECOND,
        auto_revert=auto_revert,
    )


def settle(sim: Sim, rounds: int = 200) -> None:
    for _ in range(rounds):
        sim.round()
        if sim.settled():
            return
    raise AssertionError("the deployment did not settle")


@FAST
@given(count=st.integers(1, 8), data=st.data())
def test_a_rolling_update_keeps_count_minus_max_parallel_running(
    count: int, data: st.DataObject
) -> None:
    max_parallel = data.draw(st.integers(1, count))
    sim = Sim(nodes=3)
    sim.register(service(count, "sleep", strategy(max_parallel)))
    settle(sim)
    lowest: list[int] = []
    sim.register(service(count, "sleep 2", strategy(max_parallel)))
    for _ in range(200):
        sim.round(lambda s: lowest.append(len(s.running())))
        if sim.settled():
            break
    assert min(lowest) >= count - max_parallel
    live = [sim.store.allocs[i] for i in sim.running()]
    assert len(live) == count and {a.job_version for a in live} == {1}
    assert sim.store.job("default", "web").stable  # type: ignore[union-attr]


@FAST
@given(
    count=st.integers(1, 5),
    updates=st.lists(st.booleans(), min_size=1, max_size=4),
    data=st.data(),
)
def test_a_failed_deployment_with_auto_revert_ends_on_the_last_stable_version(
    count: int, updates: list[bool], data: st.DataObject
) -> None:
    max_parallel = data.draw(st.integers(1, count))
    sim = Sim(nodes=3)
    sim.register(service(count, "sleep 0", strategy(max_parallel, auto_revert=True)))
    settle(sim)
    last_good = "sleep 0"
    for i, good in enumerate(updates, start=1):
        command = f"sleep {i}" if good else "/bin/false"
        sim.register(service(count, command, strategy(max_parallel, auto_revert=True)))
        settle(sim)
        if good:
            last_good = command
        job = sim.store.job("default", "web")
        assert job is not None
        assert job.task_groups[0].tasks[0].config["command"] == last_good
        settle(sim)  # the revert's own deployment
        live = [sim.store.allocs[a] for a in sim.running()]
        assert len(live) == count
        assert {a.job_version for a in live} == {sim.store.job("default", "web").version}  # type: ignore[union-attr]
