"""Group commit: concurrent ``submit`` calls are coalesced into frames, one frame in
flight at a time, each frame one pysyncobj log entry. Errors of the Raft package."""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from gitorch.server.raft.files import encode_frame

MAX_ENTRY_BYTES: Final = 1 << 20  # one submit (and one frame); a 1,000-alloc plan is ~200 KB


class RaftError(Exception):
    """A Raft operation failed; the entry may or may not have been committed."""


class NotLeaderError(RaftError):
    """This server is not the leader; forward the write to ``leader`` (None: unknown)."""

    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not the Raft leader; leader is {leader or 'unknown (election)'}")
        self.leader = leader


class StorageFullError(RaftError):
    """This server has no disk space for the Raft log: writes are refused until there is
    (nothing was written; reads keep working)."""


class RaftTimeout(RaftError):
    """The entry was not applied in time; it may still commit later."""


@dataclass(frozen=True, slots=True)
class Failed:
    """What an FSM apply raised, carried back to the submitter."""

    error: Exception


@dataclass(eq=False, slots=True)
class _Waiter:
    entry: bytes
    deadline: float
    wake: threading.Event = field(default_factory=threading.Event)
    taken: bool = False  # in the frame being committed
    done: bool = False
    result: object = None


class GroupCommit:
    """``commit(frame, timeout)`` replicates one frame and returns one result per entry;
    ``check`` raises when this node cannot take writes now."""

    def __init__(
        self,
        addr: str,
        commit: Callable[[bytes, float], list[object]],
        check: Callable[[], None],
        fatal: Callable[[], RaftError | None],
    ) -> None:
        self._addr = addr
        self._commit, self._check, self._fatal = commit, check, fatal
        self._lock = threading.Lock()  # guards _queue
        self._queue: deque[_Waiter] = deque()

    def submit(self, entry: bytes, timeout: float) -> object:
        """Commit ``entry``; return what ``apply(entry)`` returned on this node, or raise
        what it raised. Only the leader accepts writes."""
        if not entry or len(entry) > MAX_ENTRY_BYTES:
            raise ValueError(f"a Raft entry must be 1..{MAX_ENTRY_BYTES} bytes, got {len(entry)}")
        self._check()
        me = _Waiter(entry, time.monotonic() + timeout)
        with self._lock:
            self._queue.append(me)
            front = self._queue[0] is me
        if not front and not me.wake.wait(timeout):
            with self._lock:
                if not me.taken and not me.done:  # never sent: withdraw
                    promoted = self._queue[0] is me
                    self._queue.remove(me)
                    if promoted and self._queue:
                        self._queue[0].wake.set()
                    raise RaftTimeout(f"entry not sent from {self._addr} within {timeout}s")
            if not me.done:
                raise RaftTimeout(f"entry not applied on {self._addr} in {timeout}s; may commit")
        if not me.done:  # at the front of the queue: commit a frame for everyone queued
            self._flush()
        if isinstance(me.result, Failed):
            raise me.result.error
        return me.result

    def _flush(self) -> None:
        batch: list[_Waiter] = []
        results: list[object] = []
        size = 0
        with self._lock:
            for w in self._queue:
                if batch and size + len(w.entry) > MAX_ENTRY_BYTES:
                    break
                w.taken, size = True, size + len(w.entry)
                batch.append(w)
        frame = encode_frame([w.entry for w in batch])
        timeout = max(0.05, max(w.deadline for w in batch) - time.monotonic())
        try:
            results = self._commit(frame, timeout)
        except RaftError as exc:
            results = [Failed(copy.copy(exc)) for _ in batch]
        finally:  # whatever happened, release the queue
            if len(results) != len(batch):
                err = self._fatal() or RaftError(f"Raft write failed on {self._addr}")
                results = [Failed(copy.copy(err)) for _ in batch]
            with self._lock:
                for w, result in zip(batch, results, strict=True):
                    self._queue.popleft()
                    w.result, w.done = result, True
                after = self._queue[0] if self._queue else None
            for w in batch[1:]:
                w.wake.set()
            if after is not None:
                after.wake.set()  # the next front commits the next frame
