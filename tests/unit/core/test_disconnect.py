"""Disconnected clients on a simulated cluster: unknown instead of lost, replacements
only with ``replace``, lost after ``lost_after``, one copy per name on reconnect by
the ``reconcile`` rule, survivors never restarted; and Hypothesis properties over
random disconnect / reconnect / failure timelines."""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitorch.core.model.drain import DisconnectStrategy
from gitorch.core.scheduler.disconnect import KEPT_ORIGINAL, KEPT_REPLACEMENT
from tests.unit.core.clustersim import SECOND, Sim, service

LOST_AFTER = 60 * SECOND


def cluster(count: int = 2, **disconnect: object) -> Sim:
    sim = Sim(["a", "b", "c"])
    d = DisconnectStrategy(lost_after=LOST_AFTER, **disconnect)  # type: ignore[arg-type]
    sim.register(service("web", count, disconnect=d))
    sim.settle()
    return sim


def busiest(sim: Sim) -> str:
    counts = Counter(a.node_id for a in sim.running())
    return counts.most_common(1)[0][0]


def test_a_silent_node_goes_disconnected_and_its_allocations_unknown() -> None:
    sim = cluster(2, replace=False)
    gone = busiest(sim)
    before = {a.id for a in sim.running() if a.node_id == gone}
    sim.lose(gone)
    sim.settle()
    assert sim.store.nodes[gone].status == "disconnected"
    mine = [a for a in sim.store.allocs_for_node(gone) if a.id in before]
    assert {a.client_status for a in mine} == {"unknown"}
    assert {a.desired_status for a in mine} == {"run"}
    assert len(sim.live()) == 2  # no replacement without replace = true


def test_without_a_disconnect_block_allocations_are_lost() -> None:
    sim = Sim(["a", "b"])
    sim.register(service("web", 2))
    sim.settle()
    gone = busiest(sim)
    sim.lose(gone)
    sim.settle()
    assert sim.store.nodes[gone].status == "down"
    assert {a.client_status for a in sim.store.allocs_for_node(gone)} == {"lost"}


def test_replacements_then_lost_after_the_window() -> None:
    sim = cluster(2, replace=True)
    gone = busiest(sim)
    originals = {a.id for a in sim.running() if a.node_id == gone}
    sim.lose(gone)
    sim.settle()
    replacements = [a for a in sim.running() if a.previous_allocation in originals]
    assert len(replacements) == len(originals)
    sim.advance(59)
    sim.settle()
    assert {sim.store.allocs[i].client_status for i in originals} == {"unknown"}
    sim.advance(2)
    sim.settle()  # the follow-up evaluation made at disconnect is now due
    assert {sim.store.allocs[i].client_status for i in originals} == {"lost"}
    sim.reconnect(gone)
    sim.settle()
    assert all(sim.store.allocs[i].terminal() for i in originals)
    assert len(sim.running()) == 2


def test_reconnect_keeps_the_original_and_does_not_restart_it() -> None:
    sim = cluster(2, replace=True, reconcile="keep_original")
    gone = busiest(sim)
    originals = {a.id: sim.started[a.id] for a in sim.running() if a.node_id == gone}
    sim.lose(gone)
    sim.settle()
    sim.advance(30)
    sim.reconnect(gone)
    sim.settle()
    running = {a.id for a in sim.running()}
    assert set(originals) <= running and len(running) == 2
    assert all(sim.started[i] == t for i, t in originals.items())  # same process
    assert all(sim.store.allocs[i].client_status == "running" for i in originals)
    losers = [a for a in sim.store.allocs.values() if a.previous_allocation in originals]
    assert {a.desired_description for a in losers} == {KEPT_ORIGINAL}


def test_reconnect_keep_replacement_stops_the_original() -> None:
    sim = cluster(1, replace=True, reconcile="keep_replacement")
    gone = busiest(sim)
    (original,) = [a.id for a in sim.running()]
    sim.lose(gone)
    sim.settle()
    sim.advance(10)
    sim.reconnect(gone)
    sim.settle()
    (kept,) = sim.running()
    assert kept.id != original and kept.previous_allocation == original
    assert sim.store.allocs[original].desired_description == KEPT_REPLACEMENT


def test_longest_running_keeps_the_copy_that_ran_longer() -> None:
    sim = cluster(1, replace=True, reconcile="longest_running")
    gone = busiest(sim)
    (original,) = [a.id for a in sim.running()]
    sim.lose(gone)
    sim.settle()
    sim.reconnect(gone)
    sim.settle()
    assert [a.id for a in sim.running()] == [original]


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("lose"), st.sampled_from("abc")),
        st.tuples(st.just("reconnect"), st.sampled_from("abc")),
        st.tuples(st.just("advance"), st.integers(1, 90)),
        st.tuples(st.just("fail"), st.integers(0, 5)),
    ),
    max_size=14,
)
PROPS = settings(
    max_examples=int(os.environ.get("GITORCH_PROPERTY_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPS
@given(
    actions=ACTIONS,
    replace=st.booleans(),
    rule=st.sampled_from(["best_score", "keep_original", "keep_replacement", "longest_running"]),
    count=st.integers(1, 4),
)
def test_timelines_settle_to_one_copy_per_name(
    actions: list[tuple[str, object]], replace: bool, rule: str, count: int
) -> None:
    sim = cluster(count, replace=replace, reconcile=rule)
    for action, arg in actions:
        if action == "lose" and f"node-{arg}" not in sim.cut_off:
            sim.lose(f"node-{arg}")
        elif action == "reconnect" and f"node-{arg}" in sim.cut_off:
            node_id = f"node-{arg}"
            before = {a.name: a.id for a in sim.running()}  # reachable copies
            before_on_node = {
                a.name: a.id
                for a in sim.store.allocs_for_node(node_id)
                if a.client_status == "unknown" and a.desired_status == "run"
            }
            sim.reconnect(node_id)
            sim.settle()
            after = sim.running()
            for a in after:  # never a survivor restarted: no fresh copy of a running name
                if a.name in before or a.name in before_on_node:
                    assert a.id in (before.get(a.name), before_on_node.get(a.name)), a.name
        elif action == "advance":
            sim.advance(float(arg))  # type: ignore[arg-type]
        elif action == "fail":
            running = sim.running()
            if running:
                sim.fail(running[int(arg) % len(running)].id)  # type: ignore[call-overload]
        sim.settle()
        _invariants(sim)


def _invariants(sim: Sim) -> None:
    ready = {n.id for n in sim.store.nodes.values() if n.status == "ready"}
    names = Counter(a.name for a in sim.running() if a.node_id in ready)
    assert all(n == 1 for n in names.values()), names  # one running copy per name
    for a in sim.store.allocs.values():
        if a.client_status != "unknown" or a.terminal():
            continue
        node = sim.store.nodes[a.node_id]
        assert node.status == "disconnected", (a.name, node.status)  # none stuck on ready
        assert sim.now < node.status_updated_at * SECOND + LOST_AFTER  # nor past its window
