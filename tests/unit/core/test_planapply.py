"""planapply.check: the leader re-checks a plan against the newest state, node by node."""

from __future__ import annotations

from gitorch.core import planapply
from gitorch.core.commands import (
    ApplyPlan,
    RegisterJob,
    RegisterNode,
    UpdateNodeEligibility,
    UpdateNodeStatus,
)
from gitorch.core.model import (
    AllocStop,
    DriverInfo,
    Evaluation,
    Job,
    Node,
    NodeCpu,
    NodeMemory,
    NodeResources,
    Placement,
    Plan,
    Resources,
    Task,
    TaskGroup,
    replace,
)
from gitorch.core.state import StateStore

EV = Evaluation(id="ev", job_id="j", status="complete")


def store_with(*nodes: str, all_at_once: bool = False) -> StateStore:
    store = StateStore()
    for node_id in nodes:
        node = Node(
            id=node_id,
            status="ready",
            node_resources=NodeResources(
                cpu=NodeCpu(cpu_shares=1000), memory=NodeMemory(memory_mb=1000)
            ),
            drivers={"exec": DriverInfo(detected=True, healthy=True)},
        )
        store.apply(RegisterNode(now=1, node=node))
    task = Task(name="t", driver="exec", resources=Resources(cpu=400, memory_mb=100))
    job = Job(id="j", all_at_once=all_at_once, task_groups=[TaskGroup(name="g", tasks=[task])])
    store.apply(RegisterJob(now=1, job=job))
    return store


def placement(pid: str, node: str, index: int = 0) -> Placement:
    return Placement(id=pid, task_group="g", index=index, node_id=node)


def plan(*placements: Placement, stops: list[AllocStop] | None = None) -> Plan:
    return Plan(
        eval_id="ev",
        job_id="j",
        placements=list(placements),
        stops=stops or [],
        eval_update=EV,
        new_evals=[replace(EV, id="blocked", status="blocked")],
    )


def test_a_plan_that_still_fits_is_accepted_whole() -> None:
    store = store_with("a", "b")
    p = plan(placement("1", "a"), placement("2", "a", 1), placement("3", "b", 2))
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert accepted == p and rejected == []


def test_placements_on_gone_down_or_ineligible_nodes_are_rejected() -> None:
    store = store_with("a", "down", "inel")
    store.apply(UpdateNodeStatus(now=2, node_id="down", status="down"))
    store.apply(UpdateNodeEligibility(now=2, node_id="inel", eligibility="ineligible"))
    p = plan(
        placement("1", "a"),
        placement("2", "down", 1),
        placement("3", "inel", 2),
        placement("4", "ghost", 3),
    )
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert [x.id for x in accepted.placements] == ["1"]
    assert [x.id for x in rejected] == ["2", "3", "4"]
    assert accepted.eval_update is None and accepted.new_evals == []  # the worker retries


def test_a_node_filled_concurrently_rejects_all_of_its_placements() -> None:
    store = store_with("a", "b")
    # another plan landed first and took 800 MHz on a
    store.apply(ApplyPlan(now=2, plan=plan(placement("x", "a"), placement("y", "a", 1))))
    p = plan(placement("1", "a", 2), placement("2", "b", 3), placement("3", "b", 4))
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert [x.id for x in accepted.placements] == ["2", "3"]
    assert [x.id for x in rejected] == ["1"]


def test_over_capacity_within_the_plan_itself_is_rejected() -> None:
    store = store_with("a")
    p = plan(placement("1", "a"), placement("2", "a", 1), placement("3", "a", 2))
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert accepted.placements == [] and len(rejected) == 3


def test_allocations_the_plan_stops_free_their_room_and_stops_are_always_kept() -> None:
    store = store_with("a")
    store.apply(ApplyPlan(now=2, plan=plan(placement("x", "a"), placement("y", "a", 1))))
    stop = [AllocStop(id="x", description="alloc not needed due to job update")]
    p = plan(placement("1", "a"), stops=stop)
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert accepted == p and rejected == []
    crowded = plan(placement("1", "a"), placement("2", "a", 1), stops=stop)
    accepted, rejected = planapply.check(store.snapshot(), crowded)
    assert accepted.stops == stop and accepted.placements == [] and len(rejected) == 2


def test_all_at_once_rejects_everything_when_anything_fails() -> None:
    store = store_with("a", "b", all_at_once=True)
    store.apply(UpdateNodeStatus(now=2, node_id="b", status="down"))
    stop = [AllocStop(id="x", description="job stopped")]
    p = plan(placement("1", "a"), placement("2", "b", 1), stops=stop)
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert accepted.placements == [] and accepted.stops == [] and len(rejected) == 2


def test_a_plan_for_an_unknown_job_version_places_nothing() -> None:
    store = store_with("a")
    p = replace(plan(placement("1", "a")), job_version=9)
    accepted, rejected = planapply.check(store.snapshot(), p)
    assert accepted.placements == [] and len(rejected) == 1


def test_a_stop_only_plan_passes_untouched() -> None:
    store = store_with("a")
    p = plan(stops=[AllocStop(id="x", description="job stopped")])
    assert planapply.check(store.snapshot(), p) == (p, [])
