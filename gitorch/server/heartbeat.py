"""Node heartbeats: leader-only TTL timers; a node that goes silent is marked down.

Timers live in memory, as in Nomad, and heartbeats never touch Raft: only a change of
status (down, or ready again) is written. The TTL a node is given follows Nomad's rule,
``max(min_ttl, nodes / max_per_second)`` plus a random stagger of up to that much
again, so ten thousand clients beat at no more than ``max_per_second`` on average and
not in step. A node is declared down ``grace`` after its TTL runs out. A new leader
gives every ready node a fresh TTL plus a failover grace (one more TTL) first.

Deadlines sit in a heap, so the expiry thread wakes when the earliest one is due (or
four times a second at most), whatever the node count.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
MAX_WAIT_S = 0.25


def scaled_ttl(min_ttl_s: float, max_per_second: float, nodes: int) -> float:
    """Nomad's rate-scaled interval: the TTL that keeps ``nodes`` clients' heartbeats at
    ``max_per_second`` on average, never below ``min_ttl_s``."""
    if max_per_second <= 0:
        return min_ttl_s
    return max(min_ttl_s, nodes / max_per_second)


class Heartbeats:
    def __init__(
        self,
        ttl_s: float,
        grace_s: float,
        on_expire: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        *,
        max_per_second: float = 50.0,
        rng: random.Random | None = None,
    ) -> None:
        self.ttl_s = ttl_s  # the minimum TTL (Nomad's min_heartbeat_ttl)
        self.grace_s = grace_s
        self.max_per_second = max_per_second
        self._on_expire = on_expire
        self._clock = clock
        self._rng = rng or random.Random()
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current_ttl(self) -> float:
        """The TTL before stagger for the number of nodes being timed now."""
        return scaled_ttl(self.ttl_s, self.max_per_second, len(self._deadlines))

    def reset(self, node_id: str, extra_s: float = 0.0) -> float:
        """Record a heartbeat; return the TTL (seconds) the client should beat within."""
        with self._lock:
            base = scaled_ttl(self.ttl_s, self.max_per_second, len(self._deadlines) + 1)
            ttl = base + self._rng.uniform(0, base)
            deadline = self._clock() + ttl + self.grace_s + extra_s
            self._deadlines[node_id] = deadline
            heapq.heappush(self._heap, (deadline, node_id))
        return ttl

    def forget(self, node_id: str) -> None:
        with self._lock:
            self._deadlines.pop(node_id, None)  # its heap entries are skipped when due

    def timed(self) -> int:
        """How many nodes are being timed."""
        return len(self._deadlines)

    def begin(self, node_ids: list[str]) -> None:
        """Time every known node, each with a failover grace (one more TTL)."""
        failover = scaled_ttl(self.ttl_s, self.max_per_second, len(node_ids))
        for node_id in node_ids:
            self.reset(node_id, extra_s=failover)

    def start(self, node_ids: list[str]) -> None:
        """Begin timing (on becoming leader), with a failover grace for every known node."""
        self.begin(node_ids)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            self._deadlines.clear()
            self._heap.clear()

    def expired(self) -> list[str]:
        """Take the nodes whose deadline has passed (they are no longer timed)."""
        now = self._clock()
        out: list[str] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                deadline, node_id = heapq.heappop(self._heap)
                if self._deadlines.get(node_id) == deadline:  # not renewed since
                    del self._deadlines[node_id]
                    out.append(node_id)
        return out

    def _next_wait(self) -> float:
        with self._lock:
            if not self._heap:
                return MAX_WAIT_S
            return min(MAX_WAIT_S, max(self._heap[0][0] - self._clock(), 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self._next_wait()):
            for node_id in self.expired():
                try:
                    self._on_expire(node_id)
                except Exception:
                    log.exception("marking node %s down failed; will retry", node_id)
                    self.reset(node_id)
