"""Blocking queries without a thread each (Nomad's memdb watch sets, by table).

A blocking query (``?index=N&wait=D``) waits until what it reads passes ``N``. Each
waiter registers on the tables it reads, with a ``ready`` test (say, "the node's
allocation index is past N"). After every apply the FSM reports the tables that
moved; only the waiters on those tables are tested, and only the ready ones are woken
(an asyncio future resolved on its loop, or a thread's event). So an apply costs one
test per waiter of the tables it touched, not a wake-up of every waiting thread, and
thousands of HTTP watches cost no threads at all.

No wake-up is lost: a waiter registers first and tests ``ready`` second, and the FSM
changes the state first and reports second.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable


class _Waiter:
    __slots__ = ("fire", "ready", "tables")

    def __init__(
        self, tables: tuple[str, ...], ready: Callable[[], bool], fire: Callable[[], None]
    ) -> None:
        self.tables = tables
        self.ready = ready
        self.fire = fire


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class IndexWatch:
    """Who waits on which tables (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, set[_Waiter]] = {}

    def changed(self, tables: Iterable[str]) -> None:
        """``tables`` moved: wake their waiters that are ready now."""
        fired: list[_Waiter] = []
        with self._lock:
            seen: set[_Waiter] = set()
            for table in tables:
                for w in self._waiting.get(table, ()):
                    if w not in seen:
                        seen.add(w)
                        if w.ready():
                            fired.append(w)
            for w in fired:
                self._drop(w)
        for w in fired:
            w.fire()

    def changed_all(self) -> None:
        """Every table moved (a restore)."""
        with self._lock:
            tables = list(self._waiting)
        self.changed(tables)

    def waiting(self) -> int:
        """How many waiters are registered (for stats and tests)."""
        with self._lock:
            return len(set().union(*self._waiting.values())) if self._waiting else 0

    def _add(self, w: _Waiter) -> None:
        with self._lock:
            for table in w.tables:
                self._waiting.setdefault(table, set()).add(w)

    def _drop(self, w: _Waiter) -> None:  # with the lock held
        for table in w.tables:
            group = self._waiting.get(table)
            if group is not None:
                group.discard(w)
                if not group:
                    del self._waiting[table]

    def _remove(self, w: _Waiter) -> None:
        with self._lock:
            self._drop(w)

    async def wait(
        self, tables: tuple[str, ...], ready: Callable[[], bool], timeout: float
    ) -> None:
        """Return once ``ready()`` (tested when one of ``tables`` moves) or at ``timeout``."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def fire() -> None:
            try:
                loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:  # the loop has closed: nobody waits any more
                pass

        w = _Waiter(tables, ready, fire)
        self._add(w)
        try:
            if ready():
                return
            try:
                await asyncio.wait_for(fut, max(timeout, 0.0))
            except TimeoutError:
                pass
        finally:
            self._remove(w)

    def wait_sync(self, tables: tuple[str, ...], ready: Callable[[], bool], timeout: float) -> None:
        """:meth:`wait` for a thread."""
        event = threading.Event()
        w = _Waiter(tables, ready, event.set)
        self._add(w)
        try:
            if not ready():
                event.wait(max(timeout, 0.0))
        finally:
            self._remove(w)
