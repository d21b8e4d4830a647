"""The event stream's source: a bounded in-memory ring of frames, fed by the FSM.

``EventBroker.on_apply`` is an ``Fsm`` listener: after every applied command it derives
the command's events (``gitorch.server.eventsource``), appends
them as one frame (Nomad's ``{"Index": N, "Events": [...]}``); each event's JSON is
made once, when the first reader wants it. Readers wait on the
asyncio loop they run on, woken by the applying thread through
``call_soon_threadsafe``: no thread and no polling per subscriber, so an idle stream
costs nothing but its open socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from gitorch.codec import to_json
from gitorch.core import commands as c
from gitorch.core.state import ApplyResult, StateView
from gitorch.server.eventsource import Event, derive

StateViewGetter = Callable[[], StateView]
ApplyListener = Callable[[c.Command, ApplyResult], None]

DEFAULT_RING = 4096  # frames (one per applied command that made events)
# ... and at most this many events in all: one plan of 1,000 placements is a frame of
# 1,000 events, so a ring bounded by frames only held a whole C1M run's million events
# (about 500 MiB on the leader). The newest frame is always kept, however large.
DEFAULT_RING_EVENTS = 65_536
HEARTBEAT_S = 30.0  # Nomad sends ``{}`` when nothing happened for this long


@dataclass(frozen=True)
class Encoded:
    """One event, its JSON encoded at most once, when a reader first wants it (most
    applies have no reader: a registration storm should not pay for JSON nobody reads)."""

    topic: str
    key: str
    namespace: str
    event: Event
    filter_keys: tuple[str, ...] = ()

    @cached_property
    def json(self) -> bytes:
        e = self.event
        return to_json(
            {
                "Topic": e.topic,
                "Type": e.type,
                "Key": e.key,
                "Namespace": e.namespace,
                "FilterKeys": list(e.filter_keys) or None,
                "Index": e.index,
                "Payload": e.payload,
            }
        )


@dataclass(frozen=True)
class Frame:
    index: int
    events: tuple[Encoded, ...]


def encode(event: Event) -> Encoded:
    return Encoded(event.topic, event.key, event.namespace, event, event.filter_keys)


class EventBroker:
    """The ring of recent frames and the readers waiting for the next one."""

    def __init__(self, size: int = DEFAULT_RING, max_events: int = DEFAULT_RING_EVENTS) -> None:
        self._frames: deque[Frame] = deque()
        self._size, self._max_events = size, max_events
        self._held = 0  # events in the ring
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self.heartbeat_s = HEARTBEAT_S
        self.published = 0  # events, for the metrics

    def apply_listener(self, view: StateViewGetter) -> ApplyListener:
        """An ``Fsm.listen`` callback that reads the state through ``view``."""

        def on_apply(cmd: c.Command, result: ApplyResult) -> None:
            if result.error:
                return
            events = derive(cmd, view(), result.index)
            if events:
                self.publish(Frame(result.index, tuple(encode(e) for e in events)))

        return on_apply

    def publish(self, frame: Frame) -> None:
        with self._lock:
            self._frames.append(frame)
            self._held += len(frame.events)
            while len(self._frames) > 1 and (
                len(self._frames) > self._size or self._held > self._max_events
            ):
                self._held -= len(self._frames.popleft().events)
            self.published += len(frame.events)
            waiters = list(self._waiters)
        for loop, ready in waiters:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # that reader's loop has closed
                with self._lock:
                    self._waiters.discard((loop, ready))

    def since(self, index: int) -> list[Frame]:
        """Frames after ``index`` still in the ring, oldest first."""
        with self._lock:
            if not self._frames or self._frames[-1].index <= index:
                return []
            return [f for f in self._frames if f.index > index]

    def latest(self) -> int:
        with self._lock:
            return self._frames[-1].index if self._frames else 0

    async def wait(self, after: int, timeout: float) -> list[Frame]:
        """Frames after ``after``, waiting up to ``timeout`` seconds for one."""
        ready = asyncio.Event()
        waiter = (asyncio.get_running_loop(), ready)
        with self._lock:
            self._waiters.add(waiter)
        try:
            frames = self.since(after)
            if frames:
                return frames
            try:
                await asyncio.wait_for(ready.wait(), timeout)
            except TimeoutError:
                return []
            return self.since(after)
        finally:
            with self._lock:
                self._waiters.discard(waiter)
