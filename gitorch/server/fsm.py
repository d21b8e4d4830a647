"""The replicated state machine: log entries in, state store out, waiters woken.

``Fsm.apply_entry`` is what the Raft log calls on every replica, in log order. It
decodes the entry with the codec, hands it to ``StateStore.apply`` (the one FSM entry
point), wakes blocking queries, and tells the leader's listeners about evaluations
that became ready.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from gitorch import codec
from gitorch.core.commands import Command
from gitorch.core.model import Evaluation
from gitorch.core.state import ApplyResult, Snapshot, StateStore, StateView
from gitorch.server.indexwatch import IndexWatch

log = logging.getLogger(__name__)

EvalListener = Callable[[list[Evaluation]], None]


class Fsm:
    def __init__(self) -> None:
        self.store = StateStore()
        self._cond = threading.Condition()
        self.watch = IndexWatch()  # blocking queries (gitorch.server.indexwatch)
        self._listeners: list[Callable[[Command, ApplyResult], None]] = []

    @property
    def state(self) -> StateView:
        return self.store

    def listen(self, fn: Callable[[Command, ApplyResult], None]) -> None:
        """Call ``fn(command, result)`` after every applied command (on the applying thread)."""
        self._listeners.append(fn)

    def apply_entry(self, entry: bytes) -> ApplyResult:
        return self.apply(codec.decode_command(entry))

    def apply(self, cmd: Command) -> ApplyResult:
        with self._cond:
            result = self.store.apply(cmd)
            idx = self.store.index
            moved = [t for t, i in self.store.table_index.items() if i == idx]
        self.watch.changed(moved)
        for fn in self._listeners:
            try:
                fn(cmd, result)
            except Exception:  # a listener must never stall the log
                log.exception("state listener failed on %s", type(cmd).__name__)
        return result

    def snapshot(self) -> Snapshot:
        """A consistent copy of the tables, taken between two applies."""
        with self._cond:
            return self.store.snapshot()

    def wait_index(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        """Nomad's blocking query: wait until one of ``tables`` moves past ``index``."""

        self.watch.wait_sync(tables, lambda: self.table_max(tables) > index, timeout)
        return max(self.table_max(tables), 1)

    async def wait_index_async(self, tables: tuple[str, ...], index: int, timeout: float) -> int:
        """:meth:`wait_index` on an event loop, holding no thread."""
        await self.watch.wait(tables, lambda: self.table_max(tables) > index, timeout)
        return max(self.table_max(tables), 1)

    async def wait_node_allocs(self, node_id: str, index: int, timeout: float) -> int:
        """Wait until the allocations of one node change past ``index`` (a client's
        watch: another node's placements do not wake it); the node's index."""

        def ready() -> bool:
            return self.store.node_allocs_index(node_id) > index

        await self.watch.wait(("allocs",), ready, timeout)
        return self.store.node_allocs_index(node_id)

    def table_max(self, tables: tuple[str, ...]) -> int:
        current = self.store.table_index
        return max((current.get(t, 0) for t in tables), default=0)

    def snapshot_bytes(self) -> bytes:
        """The state for Raft log compaction. The Raft adapter calls this in a forked
        child of its own thread, the only writer: no lock is taken (one held by another
        thread at fork time would never be released in the child)."""
        return codec.encode_state(self.store.dump())

    def restore_bytes(self, data: bytes) -> None:
        store = StateStore.load(codec.decode_state(data))
        with self._cond:
            self.store = store
        self.watch.changed_all()
