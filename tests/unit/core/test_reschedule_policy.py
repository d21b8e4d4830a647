"""The reschedule policy: delays, attempts, follow-up evaluations, the carried tracker."""

from __future__ import annotations

from gitorch.core.commands import AllocClientUpdate, UpdateAllocsFromClient
from gitorch.core.model import (
    SECOND,
    Allocation,
    Evaluation,
    RescheduleEvent,
    ReschedulePolicy,
    RescheduleTracker,
    replace,
)
from gitorch.core.model.alloc import extend_tracker
from gitorch.core.model.job import BATCH_RESCHEDULE, SERVICE_RESCHEDULE, default_reschedule
from gitorch.core.scheduler.reconcile import RESCHEDULED, reconcile
from gitorch.core.scheduler.reschedule import eligible, next_delay
from tests.unit.core.test_reconcile import NODES, alloc, job
from tests.unit.core.test_scheduler import Cluster, make_job, make_node

HOUR = 3600 * SECOND


def tracked(*delays: int, at: int = 0, **kw: object) -> Allocation:
    events = [
        RescheduleEvent(reschedule_time=at + i, prev_alloc_id=f"p{i}", delay=d)
        for i, d in enumerate(delays)
    ]
    return alloc(
        0, client_status="failed", reschedule_tracker=RescheduleTracker(events=events), **kw
    )


def test_defaults_by_job_type() -> None:
    assert default_reschedule("service") == SERVICE_RESCHEDULE
    assert SERVICE_RESCHEDULE.unlimited and SERVICE_RESCHEDULE.delay == 30 * SECOND
    assert SERVICE_RESCHEDULE.delay_function == "exponential"
    assert SERVICE_RESCHEDULE.max_delay == HOUR
    assert default_reschedule("batch") == BATCH_RESCHEDULE
    assert (BATCH_RESCHEDULE.attempts, BATCH_RESCHEDULE.delay) == (1, 5 * SECOND)
    assert not BATCH_RESCHEDULE.unlimited and BATCH_RESCHEDULE.interval == 24 * HOUR


def test_delay_functions() -> None:
    const = ReschedulePolicy(delay=5 * SECOND, delay_function="constant")
    assert next_delay(tracked(5 * SECOND, 5 * SECOND), const) == 5 * SECOND
    exp = ReschedulePolicy(delay=10, delay_function="exponential", max_delay=100)
    assert next_delay(tracked(), exp) == 10
    assert next_delay(tracked(10, 20), exp) == 40
    assert next_delay(tracked(80, modify_time=80), exp) == 100  # capped
    # ran longer than the ceiling since the last reschedule: the series starts again
    assert next_delay(tracked(80, modify_time=500), exp) == 10
    fib = ReschedulePolicy(delay=10, delay_function="fibonacci", max_delay=1000)
    assert next_delay(tracked(10), fib) == 10
    assert next_delay(tracked(10, 10, 20), fib) == 30


def test_attempts_count_within_the_interval_only() -> None:
    policy = ReschedulePolicy(attempts=2, interval=HOUR, unlimited=False)
    assert eligible(tracked(1), policy)
    assert not eligible(tracked(1, 1), policy)
    # two reschedules, but the first more than an hour before this failure
    late = tracked(1, 1, at=0, modify_time=HOUR + 0)
    assert eligible(replace(late, modify_time=HOUR), policy)
    assert not eligible(tracked(), ReschedulePolicy(attempts=0, unlimited=False))
    assert eligible(tracked(*[1] * 50), ReschedulePolicy(unlimited=True))


def test_the_tracker_keeps_what_the_policy_needs() -> None:
    ev = RescheduleEvent(reschedule_time=9, prev_alloc_id="x")
    long = RescheduleTracker(events=[ev] * 9)
    assert len(extend_tracker(long, ev, ReschedulePolicy()).events) == 5
    limited = ReschedulePolicy(attempts=3, unlimited=False)
    assert len(extend_tracker(long, ev, limited).events) == 3
    assert extend_tracker(None, ev, limited).events == [ev]


def test_reconcile_delays_places_or_leaves_failed_allocs() -> None:
    policy = ReschedulePolicy(delay=10 * SECOND, delay_function="constant")
    j = replace(job(1), task_groups=[replace(job(1).task_groups[0], reschedule_policy=policy)])
    failed = alloc(0, client_status="failed", modify_time=100 * SECOND)
    early = reconcile(j, [failed], NODES, now=105 * SECOND)
    assert early.places == [] and early.stops == [] and early.ignore == [failed]
    assert [(d.alloc.id, d.at) for d in early.delayed] == [(failed.id, 110 * SECOND)]
    due = reconcile(j, [failed], NODES, now=110 * SECOND)
    (place,) = due.places
    assert (place.reason, place.previous, place.stop_previous) == (
        "reschedule",
        failed,
        RESCHEDULED,
    )
    assert place.reschedule_delay == 10 * SECOND and due.delayed == []
    spent = replace(policy, attempts=1, interval=HOUR, unlimited=False)
    j2 = replace(j, task_groups=[replace(j.task_groups[0], reschedule_policy=spent)])
    again = tracked(10 * SECOND, at=50 * SECOND, modify_time=100 * SECOND)
    out = reconcile(j2, [again], NODES, now=200 * SECOND)
    assert out.places == [] and out.exhausted == [again] and out.ignore == [again]


def test_a_failed_alloc_of_an_older_spec_is_replaced_at_once() -> None:
    j = job(1, version=1, cpu=200)
    old = alloc(0, client_status="failed", job_version=0, modify_time=100)
    out = reconcile(j, [old], NODES, {0: job(1), 1: j}, now=101)
    assert [(p.reason, p.reschedule_delay) for p in out.places] == [("update", None)]


def fail(c: Cluster, alloc_id: str) -> None:
    update = AllocClientUpdate(id=alloc_id, client_status="failed")
    c.store.apply(UpdateAllocsFromClient(now=c.tick(), updates=[update]))


def test_schedule_follows_up_then_reschedules_with_the_tracker() -> None:
    policy = ReschedulePolicy(delay=SECOND, delay_function="constant", attempts=1,
                              interval=HOUR, unlimited=False)  # fmt: skip
    job_ = make_job(count=1)
    job_ = replace(job_, task_groups=[replace(job_.task_groups[0], reschedule_policy=policy)])
    c = Cluster(make_node("a"), make_node("b"))
    (orig,) = c.run(c.register(job_)).placements
    fail(c, orig.id)
    failed_at = c.now
    ev = Evaluation(id="fail-ev", job_id="web", triggered_by="alloc-failure")
    plan = c.run(ev)
    assert plan.placements == [] and plan.stops == []
    (follow,) = plan.new_evals
    assert (follow.status, follow.triggered_by) == ("pending", "failed-follow-up")
    assert follow.wait_until == failed_at + SECOND and follow.previous_eval == "fail-ev"
    # the same evaluation again finds that follow-up and makes no other
    assert c.plan(ev).new_evals == []
    c.now = follow.wait_until
    plan = c.run(follow)
    (again,) = plan.placements
    assert again.previous_allocation == orig.id and again.reschedule_delay == SECOND
    new = c.store.allocs[again.id]
    assert new.reschedule_tracker is not None
    (event,) = new.reschedule_tracker.events
    assert (event.prev_alloc_id, event.prev_node_id, event.delay) == (
        orig.id, orig.node_id, SECOND)  # fmt: skip
    # the replacement fails too: one attempt per hour is spent, it stays failed
    fail(c, again.id)
    plan = c.run(Evaluation(id="fail-2", job_id="web", triggered_by="alloc-failure"))
    assert plan.placements == [] and plan.new_evals == []
    assert plan.eval_update is not None
    assert "reschedule attempts exhausted: web.g[0]" in plan.eval_update.status_description
    assert c.store.allocs[again.id].client_status == "failed"
