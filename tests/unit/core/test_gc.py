"""Garbage collection in the state store: what ``collectable`` picks, what the FSM
deletes (and keeps), and indexes that match what a reload from a snapshot builds."""

from __future__ import annotations

from gitorch.core import commands as c
from gitorch.core.gc import collectable
from gitorch.core.model import Evaluation, Job, Node, Placement, Plan, TaskGroup
from gitorch.core.state import StateStore

NOW = 1_700_000_000 * 1_000_000_000
HOUR = 3600 * 1_000_000_000


def cluster() -> StateStore:
    """Jobs "old" (stopped, its two allocations finished) and "live" (running)."""
    store = StateStore()
    store.apply(c.RegisterNode(now=NOW, node=Node(id="n1", name="n1")))
    for job_id in ("old", "live"):
        job = Job(id=job_id, name=job_id, task_groups=[TaskGroup(name="g", count=2)])
        store.apply(
            c.RegisterJob(now=NOW, job=job, eval=Evaluation(id=f"e-{job_id}", job_id=job_id))
        )
        plan = Plan(
            eval_id=f"e-{job_id}",
            job_id=job_id,
            placements=[
                Placement(id=f"{job_id}-{i}", task_group="g", index=i, node_id="n1")
                for i in range(2)
            ],
            eval_update=Evaluation(id=f"e-{job_id}", job_id=job_id, status="complete"),
        )
        store.apply(c.ApplyPlan(now=NOW, plan=plan))
    store.apply(c.DeregisterJob(now=NOW, namespace="default", job_id="old"))
    done = [c.AllocClientUpdate(id=f"old-{i}", client_status="complete") for i in range(2)]
    store.apply(c.UpdateAllocsFromClient(now=NOW, updates=done))
    return store


def test_collectable_picks_a_stopped_jobs_finished_work_only() -> None:
    store = cluster()
    assert collectable(store, NOW + 2 * HOUR, HOUR) == (["old-0", "old-1"], ["e-old"])
    assert collectable(store, NOW + 2 * HOUR, 3 * HOUR) == ([], [])  # too recent


def test_the_fsm_deletes_only_what_is_still_finished_and_indexes_match_a_reload() -> None:
    store = cluster()
    store.apply(
        c.GarbageCollect(now=NOW, alloc_ids=["old-0", "old-1", "live-0"], eval_ids=["e-old"])
    )
    assert set(store.allocs) == {"live-0", "live-1"}  # live-0 is running: kept
    assert set(store.evals) == {"e-live"}
    assert store.allocs_for_job("default", "old") == []
    assert {a.id for a in store.allocs_for_node("n1")} == {"live-0", "live-1"}
    reloaded = StateStore.load(store.dump())
    assert dict(reloaded.by_job) == dict(store.by_job)
    assert dict(reloaded.by_node) == dict(store.by_node)
    assert dict(reloaded.evals_by_job) == dict(store.evals_by_job)
    assert dict(reloaded.used_by_node) == dict(store.used_by_node)
