"""The agent's own counters, for ``/v1/metrics``: totals since the agent started.

Counters are bumped where things happen (an FSM listener for applied commands and
plans, the HTTP layer for requests); gauges are read from the state and the server's
parts when a client asks (``gitorch.api.routes_metrics``), so nothing runs in the
background.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core.state import ApplyResult

Labels = tuple[tuple[str, str], ...]


class Counters:
    """Monotonic counters by (name, labels), safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], int] = {}

    def inc(self, name: str, labels: dict[str, str] | None = None, n: int = 1) -> None:
        key = (name, tuple(sorted((labels or {}).items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + n

    def items(self) -> list[tuple[str, Labels, int]]:
        with self._lock:
            return sorted((name, labels, v) for (name, labels), v in self._values.items())

    def get(self, name: str, labels: dict[str, str] | None = None) -> int:
        key = (name, tuple(sorted((labels or {}).items())))
        with self._lock:
            return self._values.get(key, 0)


class Metrics:
    """The counters of one agent."""

    def __init__(self) -> None:
        self.counters = Counters()

    def apply_listener(self) -> Callable[[c.Command, ApplyResult], None]:
        """An ``Fsm.listen`` callback counting applied commands and plans."""

        def on_apply(cmd: c.Command, result: ApplyResult) -> None:
            self.counters.inc("nomad.nomad.fsm.apply", {"type": type(cmd).__name__})
            if isinstance(cmd, c.ApplyPlan) and not result.error:
                self.counters.inc("nomad.nomad.plan.apply")
            if result.error:
                self.counters.inc("nomad.nomad.fsm.refused", {"type": type(cmd).__name__})

        return on_apply
