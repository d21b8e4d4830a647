"""Node heartbeats: leader-only TTL timers; a node that goes silent is marked down.

Timers live in memory, as in Nomad. A new leader gives every ready node a fresh
TTL plus the failover grace before it can be declared down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Heartbeats:
    def __init__(
        self,
        ttl_s: float,
        grace_s: float,
        on_expire: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.grace_s = grace_s
        self._on_expire = on_expire
        self._clock = clock
        self._deadlines: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def reset(self, node_id: str, extra_s: float = 0.0) -> float:
        """Record a heartbeat; return the TTL (seconds) the client should beat within."""
        with self._lock:
            self._deadlines[node_id] = self._clock() + self.ttl_s + self.grace_s + extra_s
        return self.ttl_s

    def forget(self, node_id: str) -> None:
        with self._lock:
            self._deadlines.pop(node_id, None)

    def start(self, node_ids: list[str]) -> None:
        """Begin timing (on becoming leader), with a failover grace for every known node."""
        for node_id in node_ids:
            self.reset(node_id, extra_s=self.ttl_s)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            self._deadlines.clear()

    def _run(self) -> None:
        while not self._stop.wait(min(0.25, self.ttl_s / 4)):
            now = self._clock()
            with self._lock:
                expired = [n for n, d in self._deadlines.items() if d <= now]
                for node_id in expired:
                    del self._deadlines[node_id]
            for node_id in expired:
                try:
                    self._on_expire(node_id)
                except Exception:
                    log.exception("marking node %s down failed; will retry", node_id)
                    self.reset(node_id)
