"""The event ring is bounded by frames and by events: a reader replaying from index 0
gets what is left, newest whole, and memory stays bounded however large a frame."""

from __future__ import annotations

from gitorch.server.events import EventBroker, Frame, encode
from gitorch.server.eventsource import Event


def frame(index: int, n: int) -> Frame:
    events = (
        Event("Allocation", "AllocationUpdated", f"a{index}-{i}", "default", index, {})
        for i in range(n)
    )
    return Frame(index, tuple(encode(e) for e in events))


def test_ring_drops_oldest_frames_past_its_event_budget() -> None:
    ring = EventBroker(size=100, max_events=5)
    for index in range(1, 5):
        ring.publish(frame(index, 2))
    assert [f.index for f in ring.since(0)] == [3, 4]  # 4 events held; 6 would pass 5
    assert ring.published == 8  # the metric counts all that were published


def test_ring_keeps_the_newest_frame_even_past_the_budget() -> None:
    ring = EventBroker(size=100, max_events=5)
    ring.publish(frame(1, 1))
    ring.publish(frame(2, 8))
    assert [(f.index, len(f.events)) for f in ring.since(0)] == [(2, 8)]
    ring.publish(frame(3, 1))
    assert [f.index for f in ring.since(0)] == [3]


def test_ring_still_bounded_by_frames() -> None:
    ring = EventBroker(size=3, max_events=1000)
    for index in range(1, 8):
        ring.publish(frame(index, 1))
    assert [f.index for f in ring.since(0)] == [5, 6, 7]
    assert ring.latest() == 7
