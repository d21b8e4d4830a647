"""The reconciler on plain values: what to stop, what to place, what to leave alone."""

from __future__ import annotations

from gitorch.core.model import Allocation, Job, Node, Resources, Task, TaskGroup, replace
from gitorch.core.scheduler.reconcile import (
    COUNT_REDUCED,
    JOB_STOPPED,
    LOST,
    NOT_NEEDED,
    RESCHEDULED,
    Reconciliation,
    reconcile,
)

NODES = {
    "up": Node(id="up", status="ready"),
    "down": Node(id="down", status="down"),
    "gone-ish": Node(id="gone-ish", status="disconnected"),
}


def job(count: int = 3, kind: str = "service", version: int = 0, cpu: int = 100) -> Job:
    task = Task(name="t", driver="exec", resources=Resources(cpu=cpu))
    return Job(
        id="j",
        type=kind,  # type: ignore[arg-type]
        version=version,
        task_groups=[TaskGroup(name="web", count=count, tasks=[task])],
    )


def alloc(index: int, node: str = "up", group: str = "web", **kw: object) -> Allocation:
    base = Allocation(
        id=f"a{index}-{node}-{kw.get('client_status', 'running')}",
        name=f"j.{group}[{index}]",
        job_id="j",
        node_id=node,
        task_group=group,
        client_status="running",
        create_index=index,
    )
    return replace(base, **kw)


LATER = 3600 * 1_000_000_000  # failed allocations (modify_time 0) are due by then


def run(
    j: Job | None, *allocs: Allocation, versions: dict[int, Job] | None = None, now: int = LATER
) -> Reconciliation:
    return reconcile(j, allocs, NODES, versions, now=now)


def placed(rec: Reconciliation) -> list[tuple[int, str]]:
    return [(p.index, p.reason) for p in rec.places]


def stopped(rec: Reconciliation) -> list[tuple[str, str, str]]:
    return [(s.alloc.id, s.description, s.client_status) for s in rec.stops]


def test_a_new_job_places_every_index() -> None:
    rec = run(job(3))
    assert placed(rec) == [(0, "new"), (1, "new"), (2, "new")]
    assert rec.stops == [] and all(p.previous is None for p in rec.places)


def test_a_satisfied_job_is_a_noop() -> None:
    rec = run(job(2), alloc(0), alloc(1))
    assert rec.is_noop() and len(rec.ignore) == 2


def test_scaling_up_fills_the_lowest_free_indices() -> None:
    rec = run(job(4), alloc(1), alloc(3))
    assert placed(rec) == [(0, "new"), (2, "new")]


def test_scaling_down_stops_the_highest_indices() -> None:
    rec = run(job(2), alloc(0), alloc(1), alloc(2), alloc(3))
    assert stopped(rec) == [
        ("a3-up-running", COUNT_REDUCED, ""),
        ("a2-up-running", COUNT_REDUCED, ""),
    ]
    assert rec.places == []


def test_duplicate_indices_keep_one() -> None:
    twin = replace(alloc(0), id="twin", create_index=9)
    rec = run(job(1), alloc(0), twin)
    assert stopped(rec) == [("twin", COUNT_REDUCED, "")]


def test_a_stopped_or_purged_job_stops_everything_live() -> None:
    live, lost = alloc(0), alloc(1, node="down")
    dead = alloc(2, client_status="failed")
    for j in (replace(job(3), stop=True), None):
        rec = run(j, live, lost, dead)
        assert stopped(rec) == [
            (live.id, JOB_STOPPED, ""),
            (lost.id, LOST, "lost"),
        ]
        assert rec.places == [] and rec.ignore == [dead]


def test_allocations_on_down_or_missing_nodes_are_lost_and_replaced() -> None:
    lost, gone, disc = alloc(0, node="down"), alloc(1, node="nowhere"), alloc(2, node="gone-ish")
    rec = run(job(3), lost, gone, disc)
    assert stopped(rec) == [(a.id, LOST, "lost") for a in (lost, gone, disc)]
    assert placed(rec) == [(0, "lost"), (1, "lost"), (2, "lost")]
    assert [p.previous for p in rec.places] == [lost, gone, disc]
    assert all(p.stop_previous == "" for p in rec.places)  # already stopped above


def test_service_failures_are_rescheduled_and_the_failed_alloc_stopped_once_placed() -> None:
    failed = alloc(0, client_status="failed")
    rec = run(job(1), failed)
    assert placed(rec) == [(0, "reschedule")]
    assert rec.places[0].previous == failed and rec.places[0].stop_previous == RESCHEDULED
    assert rec.stops == []


def test_service_completions_are_replaced_by_new_allocations() -> None:
    done = alloc(0, client_status="complete")
    rec = run(job(1), done)
    assert placed(rec) == [(0, "new")] and rec.places[0].previous is None
    assert rec.ignore == [done]


def test_batch_completions_are_never_replaced_but_failures_are() -> None:
    done = alloc(0, client_status="complete")
    stopped_done = alloc(1, client_status="complete", desired_status="stop")
    failed = alloc(2, client_status="failed")
    rec = run(job(3, kind="batch"), done, stopped_done, failed)
    assert placed(rec) == [(2, "reschedule")]
    assert rec.stops == []


def test_batch_stopped_but_unfinished_work_is_placed_again() -> None:
    halted = alloc(0, client_status="running", desired_status="stop")
    rec = run(job(1, kind="batch"), halted)
    assert placed(rec) == [(0, "new")]


def test_scaling_a_batch_job_down_leaves_finished_work_alone() -> None:
    rec = run(job(1, kind="batch"), alloc(0, client_status="complete"), alloc(1))
    assert stopped(rec) == [("a1-up-running", COUNT_REDUCED, "")]


def test_a_changed_group_is_a_destructive_update() -> None:
    old, new = job(2, version=0), job(2, version=1, cpu=500)
    a0, a1 = alloc(0, job_version=0), alloc(1, job_version=1)
    rec = run(new, a0, a1, versions={0: old, 1: new})
    assert placed(rec) == [(0, "update")]
    assert rec.places[0].previous == a0 and rec.places[0].stop_previous == NOT_NEEDED
    assert rec.ignore == [a1]


def test_a_new_version_with_the_same_group_changes_nothing() -> None:
    old = replace(job(2), meta={}, version=0)
    new = replace(job(5), version=1)  # only the count changed
    rec = run(new, alloc(0), alloc(1), versions={0: old, 1: new})
    assert placed(rec) == [(2, "new"), (3, "new"), (4, "new")]


def test_an_unknown_old_version_counts_as_changed() -> None:
    rec = run(job(1, version=7), alloc(0, job_version=2), versions={})
    assert placed(rec) == [(0, "update")]


def test_allocations_of_removed_groups_are_stopped() -> None:
    orphan, orphan_lost = alloc(0, group="db"), alloc(1, group="db", node="down")
    rec = run(job(0), orphan, orphan_lost)
    assert stopped(rec) == [(orphan.id, NOT_NEEDED, ""), (orphan_lost.id, LOST, "lost")]


def test_lost_allocations_beyond_the_count_are_not_replaced() -> None:
    rec = run(job(1), alloc(0), alloc(1, node="down"))
    assert stopped(rec) == [("a1-down-running", LOST, "lost")]
    assert rec.places == []


def test_a_live_replacement_wins_over_the_failed_original() -> None:
    failed = alloc(0, client_status="failed", create_index=1)
    replacement = replace(alloc(0), id="new", create_index=5)
    rec = run(job(1), failed, replacement)
    assert rec.places == [] and stopped(rec) == [(failed.id, COUNT_REDUCED, "")]
