"""Heartbeat timers: Nomad's rate-scaled TTL with stagger, expiry only for silent nodes."""

from __future__ import annotations

import random

from gitorch.server.heartbeat import Heartbeats, scaled_ttl


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timers(clock: Clock, ttl: float = 10.0, grace: float = 10.0) -> Heartbeats:
    return Heartbeats(ttl, grace, lambda _n: None, clock, rng=random.Random(7))


def test_ttl_is_the_minimum_for_a_small_cluster_and_scales_with_nodes() -> None:
    assert scaled_ttl(10.0, 50.0, 3) == 10.0
    assert scaled_ttl(10.0, 50.0, 10_000) == 200.0  # 10,000 nodes at 50 beats/s


def test_ten_thousand_nodes_beat_at_most_max_per_second_on_average() -> None:
    clock = Clock()
    hb = timers(clock)
    ttls = [hb.reset(f"node-{i}") for i in range(10_000)]
    # Each node beats once per TTL it was given; the sum of rates is the server's load.
    rate = sum(1 / t for t in ttls[-1000:]) * 10  # the last thousand see the full count
    assert rate <= 50.0
    # Staggered: the TTLs spread over [base, 2 * base), not all the same.
    last = ttls[-1000:]
    assert min(last) >= 180.0 and max(last) < 400.0  # base 9,000/50 .. 10,000/50
    assert max(last) - min(last) > 100.0


def test_a_silent_node_expires_after_its_ttl_and_grace_a_beating_one_never() -> None:
    clock = Clock()
    hb = timers(clock, ttl=10.0, grace=5.0)
    ttl_quiet = hb.reset("quiet")
    hb.reset("busy")
    for _ in range(40):  # "busy" beats every 5 s for 200 s
        clock.now += 5.0
        hb.reset("busy")
        if clock.now - 1000.0 < ttl_quiet + 5.0:
            assert hb.expired() == []
    assert hb.expired() == ["quiet"]
    assert hb.expired() == []  # reported once
    assert hb.timed() == 1


def test_a_forgotten_node_never_expires() -> None:
    clock = Clock()
    hb = timers(clock)
    hb.reset("gone")
    hb.forget("gone")
    clock.now += 1000.0
    assert hb.expired() == []


def test_a_new_leader_gives_every_node_a_failover_grace() -> None:
    clock = Clock()
    hb = timers(clock, ttl=10.0, grace=10.0)
    hb.begin(["a", "b"])
    clock.now += 29.0  # past TTL + grace (at most 20 + 10), within the failover TTL added
    assert hb.expired() == []
    clock.now += 11.0  # TTL (10..20) + grace (10) + failover (10) is 40 at most
    assert sorted(hb.expired()) == ["a", "b"]
