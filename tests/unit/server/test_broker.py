"""The eval broker's delay heap: evaluations with a future ``wait_until`` wait for it."""

from __future__ import annotations

import time

from gitorch.core import commands as c
from gitorch.core.model import Evaluation
from gitorch.server.broker import EvalBroker
from gitorch.server.fsm import Fsm
from gitorch.server.log import LocalLog
from gitorch.server.server import Server


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


def test_a_delayed_evaluation_is_ready_only_at_its_time() -> None:
    clock = Clock()
    broker = EvalBroker(clock=clock)
    broker.set_enabled(True)
    later = Evaluation(id="later", job_id="j", wait_until=5_000)
    broker.enqueue(later)
    broker.enqueue(later)  # twice: held once
    assert broker.stats()["TotalDelayed"] == 1 and broker.stats()["TotalReady"] == 0
    other = Evaluation(id="other", job_id="k")
    broker.enqueue(other)  # a delayed evaluation does not hold up the others
    assert broker.dequeue(timeout=0.01) == other
    assert broker.dequeue(timeout=0.01) is None
    clock.now = 5_000
    assert broker.dequeue(timeout=0.01) == later
    assert broker.stats()["TotalDelayed"] == 0


def test_a_due_evaluation_still_waits_for_its_job_in_flight() -> None:
    clock = Clock()
    broker = EvalBroker(clock=clock)
    broker.set_enabled(True)
    broker.enqueue(Evaluation(id="later", job_id="j", wait_until=2_000))
    first = Evaluation(id="first", job_id="j")
    broker.enqueue(first)
    assert broker.dequeue(timeout=0.01) == first
    clock.now = 2_000
    assert broker.dequeue(timeout=0.01) is None  # the job is in flight
    broker.ack(first)
    got = broker.dequeue(timeout=0.01)
    assert got is not None and got.id == "later"


def test_a_waiting_dequeue_wakes_when_the_delay_ends() -> None:
    broker = EvalBroker()
    broker.set_enabled(True)
    due = time.time_ns() + 200_000_000
    broker.enqueue(Evaluation(id="soon", job_id="j", wait_until=due))
    start = time.monotonic()
    got = broker.dequeue(timeout=2)
    assert got is not None and got.id == "soon"
    assert 0.15 < time.monotonic() - start < 1.5


def test_disabling_drops_delayed_evaluations() -> None:
    clock = Clock()
    broker = EvalBroker(clock=clock)
    broker.set_enabled(True)
    broker.enqueue(Evaluation(id="later", job_id="j", wait_until=5_000))
    broker.set_enabled(False)
    broker.set_enabled(True)
    clock.now = 10_000
    assert broker.dequeue(timeout=0.01) is None


def test_a_new_leader_holds_pending_follow_ups_until_their_time() -> None:
    fsm = Fsm()
    server = Server(fsm, LocalLog(fsm), num_workers=0)
    server.start()
    try:
        later = time.time_ns() + 3600 * 1_000_000_000
        follow = Evaluation(id="f", job_id="j", triggered_by="failed-follow-up", wait_until=later)
        server.log.submit(c.UpsertEvals(now=1, evals=[follow]))  # written by the old leader
        server.set_leader(True)
        stats = server.broker.stats()
        assert (stats["TotalDelayed"], stats["TotalReady"]) == (1, 0)
    finally:
        server.stop()


def test_waiting_evaluations_are_coalesced_and_returned_for_canceling() -> None:
    from gitorch.core.model import Evaluation
    from gitorch.server.broker import EvalBroker

    broker = EvalBroker()
    broker.set_enabled(True)
    first, second, third = (Evaluation(id=f"e{i}", job_id="web") for i in range(3))
    for ev in (first, second, third):
        broker.enqueue(ev)
    assert broker.dequeue(timeout=1) == first
    assert broker.ack(first) == [second]  # folded into the newest waiting one
    assert broker.dequeue(timeout=1) == third
    assert broker.ack(third) == []


def test_a_flood_of_evaluations_for_one_job_coalesces_into_one() -> None:
    broker = EvalBroker()
    broker.set_enabled(True)
    first = Evaluation(id="e0", job_id="flood")
    broker.enqueue(first)
    assert broker.dequeue(timeout=0.01) == first
    for i in range(1, 10_001):
        broker.enqueue(Evaluation(id=f"e{i}", job_id="flood"))
    broker.enqueue(Evaluation(id="e5", job_id="flood"))  # a repeat is held once
    assert broker.stats()["TotalWaiting"] == 10_000
    canceled = broker.ack(first)
    assert len(canceled) == 9_999  # recorded as canceled by the worker
    newest = broker.dequeue(timeout=0.01)
    assert newest is not None and newest.id == "e10000"
    assert broker.dequeue(timeout=0.01) is None
    assert broker.stats()["TotalWaiting"] == 0


def test_a_follower_dequeue_sleeps_for_its_timeout_instead_of_spinning() -> None:
    broker = EvalBroker()  # disabled, as on a follower
    start = time.monotonic()
    assert broker.dequeue(timeout=0.2) is None
    assert time.monotonic() - start >= 0.19


def test_a_worker_finishing_an_evaluation_from_before_a_leadership_change_does_not_drop_it() -> None:
    """Demoted and re-elected: the broker is rebuilt from state, so an evaluation a worker
    still holds from the old term is enqueued again. That worker's late ack must not
    remove the new copy (it left a ready entry with no evaluation: a KeyError that killed
    every worker)."""
    broker = EvalBroker()
    broker.set_enabled(True)
    ev = Evaluation(id="held", job_id="j")
    broker.enqueue(ev)
    assert broker.dequeue(timeout=0.01) == ev  # a worker of the old term holds it
    broker.set_enabled(False)
    broker.set_enabled(True)
    broker.enqueue(ev)  # the new term's broker, from the pending evaluations in state
    assert broker.ack(ev) == []  # the old worker finishes late
    again = broker.dequeue(timeout=0.01)
    assert again is not None and again.id == "held"
    assert broker.ack(again) == []
    assert broker.dequeue(timeout=0.01) is None
