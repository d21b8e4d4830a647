"""The drainer on a simulated cluster: make before break, max_parallel, deadline,
system jobs last, completion and cancel, as a user reads them from the state."""

from __future__ import annotations

from collections import Counter

from gitorch.core.commands import (
    PurgeNode,
    RegisterNode,
    UpdateNodeDrain,
    UpdateNodeEligibility,
    UpsertCheckResults,
)
from gitorch.core.model import Job, Task, TaskGroup, replace
from gitorch.core.model.drain import MigrateStrategy
from gitorch.core.model.service import CheckResult, Service, ServiceCheck
from gitorch.core.state import StateStore
from tests.unit.core.clustersim import SECOND, Sim, service

MIGRATE = MigrateStrategy(max_parallel=1, min_healthy_time=5 * SECOND, healthy_deadline=60 * SECOND)


def started(count: int = 3, **group: object) -> Sim:
    sim = Sim(["a", "b"])
    sim.apply(UpdateNodeEligibility(now=sim.now, node_id="node-b", eligibility="ineligible"))
    sim.register(service("web", count, **{"migrate": MIGRATE, **group}))
    sim.settle()
    assert {a.node_id for a in sim.running()} == {"node-a"}
    sim.apply(UpdateNodeEligibility(now=sim.now, node_id="node-b", eligibility="eligible"))
    return sim


def draining_ids(sim: Sim) -> list[str]:
    return [n.id for n in sim.store.draining_nodes()]


def on(sim: Sim, node_id: str) -> list[str]:
    return sorted(a.name for a in sim.running() if a.node_id == node_id)


def test_allocations_leave_one_at_a_time_after_their_replacement_is_healthy() -> None:
    sim = started(3)
    sim.drain("node-a")
    node = sim.store.nodes["node-a"]
    assert node.drain and node.scheduling_eligibility == "ineligible"
    assert node.drain_strategy is not None and node.last_drain is not None
    assert node.last_drain.status == "draining"
    assert draining_ids(sim) == ["node-a"]
    moved: list[int] = []
    for _ in range(40):
        wake = sim.drain_tick()
        sim.settle()
        assert len(sim.running()) >= 3  # never fewer copies than the count
        names = Counter(a.name for a in sim.running())
        assert max(names.values()) <= 2  # at most max_parallel names doubled
        assert sum(1 for n in names.values() if n == 2) <= 1
        moved.append(len(on(sim, "node-b")))
        if sim.store.nodes["node-a"].drain_strategy is None:
            break
        sim.now = max(sim.now + SECOND, wake)
    assert on(sim, "node-a") == []
    assert on(sim, "node-b") == ["web.web[0]", "web.web[1]", "web.web[2]"]
    node = sim.store.nodes["node-a"]
    assert not node.drain and node.drain_strategy is None
    assert node.scheduling_eligibility == "ineligible"
    assert node.last_drain is not None and node.last_drain.status == "complete"
    assert draining_ids(sim) == []
    assert moved == sorted(moved)  # one by one, never back


def test_an_original_stays_until_its_replacement_has_run_min_healthy_time() -> None:
    sim = started(1)
    sim.drain("node-a")
    sim.drain_tick()
    sim.settle()
    assert on(sim, "node-a") == ["web.web[0]"] and on(sim, "node-b") == ["web.web[0]"]
    sim.advance(4)
    sim.drain_tick()
    sim.settle()
    assert on(sim, "node-a") == ["web.web[0]"]  # 4 s < min_healthy_time
    sim.advance(2)
    sim.drain_tick()
    sim.settle()
    assert on(sim, "node-a") == [] and on(sim, "node-b") == ["web.web[0]"]
    stopped = [a for a in sim.store.allocs_for_node("node-a")]
    assert stopped[0].desired_description == "alloc is being migrated"


def test_the_deadline_stops_what_is_left() -> None:
    sim = started(3)
    sim.drain("node-a", deadline=10 * SECOND)
    sim.drain_tick()
    sim.settle()
    sim.advance(11)
    sim.drain_tick()
    sim.settle()
    sim.drain_tick()
    assert on(sim, "node-a") == []
    assert len(on(sim, "node-b")) == 3  # replaced elsewhere
    assert sim.store.nodes["node-a"].drain_strategy is None


def test_system_jobs_leave_last_and_stay_when_ignored() -> None:
    for ignore in (False, True):
        sim = started(1)
        task = Task(name="agent", driver="raw_exec")
        sim.register(Job(id="sys", type="system", task_groups=[TaskGroup(name="s", tasks=[task])]))
        sim.settle()
        sim.drain("node-a", ignore_system=ignore)
        sim.drain_tick()
        sim.settle()
        assert on(sim, "node-a") == ["web.web[0]"]
        assert [a.node_id for a in sim.running("sys")].count("node-a") == 1  # not yet
        sim.advance(6)
        sim.drain_tick()
        sim.settle()
        sim.drain_tick()
        on_a = [a.node_id for a in sim.running("sys")].count("node-a")
        assert on_a == (1 if ignore else 0)
        assert sim.store.nodes["node-a"].drain_strategy is None


def test_cancel_leaves_one_copy_and_marks_eligible() -> None:
    sim = started(1)
    sim.drain("node-a")
    sim.drain_tick()
    sim.settle()
    assert len(sim.running()) == 2
    sim.apply(UpdateNodeDrain(now=sim.now, node_id="node-a", mark_eligible=True,
                              evals=sim.node_evals("node-a")))  # fmt: skip
    sim.settle()
    assert len(sim.running()) == 1
    node = sim.store.nodes["node-a"]
    assert node.scheduling_eligibility == "eligible" and node.drain_strategy is None
    assert node.last_drain is not None and node.last_drain.status == "canceled"
    assert draining_ids(sim) == []


def test_registration_keeps_the_operators_drain() -> None:
    sim = started(1)
    sim.drain("node-a")
    again = replace(sim.store.nodes["node-a"], drain=False, drain_strategy=None)
    sim.apply(RegisterNode(now=sim.now, node=again))
    assert sim.store.nodes["node-a"].drain_strategy is not None
    assert draining_ids(sim) == ["node-a"]


def test_the_draining_nodes_survive_a_restore_and_leave_with_a_purge() -> None:
    sim = started(1)
    sim.drain("node-b")
    sim.drain("node-a")
    assert draining_ids(sim) == ["node-a", "node-b"]
    assert [n.id for n in StateStore.load(sim.store.dump()).draining_nodes()] == [
        "node-a",
        "node-b",
    ]
    sim.apply(PurgeNode(now=sim.now, node_id="node-b"))
    assert draining_ids(sim) == ["node-a"]


def test_with_health_check_checks_an_original_waits_for_its_replacements_checks() -> None:
    checks = replace(MIGRATE, health_check="checks")
    svc = Service(name="web", checks=[ServiceCheck(name="alive", type="http", path="/")])
    sim = started(1, migrate=checks, services=[svc])
    sim.drain("node-a")
    sim.drain_tick()
    sim.settle()
    (new,) = [a for a in sim.running() if a.node_id == "node-b"]
    sim.advance(10)  # running past min_healthy_time, but its check has not passed
    sim.drain_tick()
    sim.settle()
    assert on(sim, "node-a") == ["web.web[0]"]
    passing = CheckResult(
        id="c1", check="alive", group="web", service="web", status="success",
        timestamp=sim.now // SECOND,
    )  # fmt: skip
    sim.apply(UpsertCheckResults(now=sim.now, alloc_id=new.id, results=[passing]))
    sim.advance(4)
    sim.drain_tick()
    sim.settle()
    assert on(sim, "node-a") == ["web.web[0]"]  # passing for 4 s < min_healthy_time
    sim.advance(2)
    sim.drain_tick()
    sim.settle()
    assert on(sim, "node-a") == [] and on(sim, "node-b") == ["web.web[0]"]
