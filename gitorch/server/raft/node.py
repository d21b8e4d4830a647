"""Raft consensus for gitorch servers: the only module that imports pysyncobj (0.3.17).

One SyncObj subclass, ONE ``@replicated`` method taking bytes. A log entry is a frame
of FSM entries: concurrent ``submit`` calls are coalesced (group commit), so one frame
is in flight at a time. FSM, snapshot and restore are callbacks.

Findings (pysyncobj 0.3.17 source, and runs on a 2-core VM, one process per node):

* Dumps: pysyncobj forks only for its own pickle serializer; a custom ``serializer``
  runs inline on the Raft thread, then pysyncobj renames ``<fullDumpFile>.tmp``. In
  memory mode (no ``fullDumpFile``) it pickles and gzips on the Raft thread: a ~50 MB
  state stalled writes 2-7 s. Our serializer forks a child that calls ``snapshot()`` and
  writes a versioned msgpack envelope (no pickle), then raises so pysyncobj skips its
  rename; ``serializeChecker`` reaps the child. Worst write during a 50 MB dump: 8-40
  ms (the fork). So ``snapshot()`` runs in a forked child: read only, take no lock
  another thread may hold, start no thread; copy-on-write may double memory meanwhile.
  ``restore()`` runs on the Raft thread.
* "truncating already-applied log entries" (CRITICAL, followers) comes from eager sends
  (``appendEntriesUseBatch=False``) at any entry size: a stale ack moves the leader's
  nextIndex back, the leader re-sends entries the follower holds, and the follower drops
  everything after prevLogIdx before appending the re-send. Harmless only if the re-send
  covers what was dropped; it is capped at ``appendEntriesBatchSizeBytes``, so that is
  set far above what can be in flight (one frame). We saw 1 line per 25-250 frames
  under 8 writers and never a follower log ending below its applied index (checked after
  every message). An entry above that size would take pysyncobj's chunked path, whose
  last-chunk test ignores the pickle overhead: frames stay under ``MAX_ENTRY_BYTES``.
* Cost per byte: every message is pickled (protocol 2) and zlib-compressed (level 3) on
  the Raft thread, per follower: a 200 KB msgpack plan takes ~2 ms to compress, random
  bytes far more. A 200 KB commit takes ~8 ms; a 200-byte one ~0.4 ms.
* No ``maxCommandsPerSecond`` in 0.3.17. A lone node commits on the tick after logging
  and the tick sleeps 50 ms: we wake it. The journal is mmap-ed, never fsync-ed: writes
  survive a process crash, not a power loss. Wire messages are pickles: we bind
  ``self_addr`` (not 0.0.0.0); set ``password`` off loopback.
"""

from __future__ import annotations

import copy
import logging
import os
import queue
import signal
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON, SERIALIZER_STATE
from pysyncobj.node import TCPNode
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.syncobj import SyncObjException

__all__ = ["MAX_ENTRY_BYTES", "NotLeaderError", "RaftError", "RaftNode", "RaftTimeout"]

logger = logging.getLogger(__name__)

MAX_ENTRY_BYTES: Final = 1 << 20  # one submit (and one frame); a 1,000-alloc plan is ~200 KB
_BATCH_BYTES: Final = 4 << 20  # appendEntriesBatchSizeBytes: far above one frame in flight
_COMPACT_ENTRIES: Final = 20_000
_COMPACT_BYTES: Final = 256 << 20  # also dump after this many applied bytes
_COMPACT_SECONDS: Final = 600
_CHILD_TIMEOUT: Final = 300.0
_FRAME_TAG: Final = b"\x01"
_DUMP_MAGIC: Final = b"GTRDUMP\n"
_DUMP_VERSION: Final = 1
_FRAME = msgspec.msgpack.Decoder(list[bytes])


class RaftError(Exception):
    """A Raft operation failed; the entry may or may not have been committed."""


class NotLeaderError(RaftError):
    """This server is not the leader; forward the write to ``leader`` (None: unknown)."""

    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not the Raft leader; leader is {leader or 'unknown (election)'}")
        self.leader = leader


class RaftTimeout(RaftError):
    """The entry was not applied in time; it may still commit later."""


class _Dump(msgspec.Struct, array_like=True):
    """The full-dump file after ``_DUMP_MAGIC``; ``state`` is ``snapshot()``'s bytes."""

    version: int
    last: tuple[bytes, int, int]  # last applied (command, index, term), and the one
    prev: tuple[bytes, int, int]  # before: pysyncobj needs both back
    cluster: list[str]
    state_crc32: int
    state: bytes


@dataclass(frozen=True, slots=True)
class _Failed:
    error: Exception


@dataclass(eq=False, slots=True)
class _Waiter:
    entry: bytes
    deadline: float
    wake: threading.Event = field(default_factory=threading.Event)
    taken: bool = False  # in the frame being committed
    done: bool = False
    result: object = None


class _DumpStarted(Exception):  # tells pysyncobj not to rename a file we never wrote
    pass


_FAIL_NAMES: Final = {v: k for k, v in vars(FAIL_REASON).items() if isinstance(v, int)}
_LEADER_GONE: Final = {
    FAIL_REASON.MISSING_LEADER,
    FAIL_REASON.NOT_LEADER,
    FAIL_REASON.LEADER_CHANGED,
    FAIL_REASON.DISCARDED,
}


class _Replica(SyncObj):  # type: ignore[misc]
    def __init__(self, node: RaftNode, self_addr: str, others: list[str], conf: Any) -> None:
        self._gitorch_node = node
        node._obj = self  # before the tick thread starts
        super().__init__(self_addr, others, conf)

    @replicated  # type: ignore[untyped-decorator]
    def apply_frame(self, frame: bytes) -> list[object]:
        return self._gitorch_node._apply_frame(frame)


class RaftNode:
    """One Raft member. ``apply`` is the FSM: deterministic, called on every replica in
    log order on the Raft thread. ``snapshot`` runs in a forked child (see above)."""

    def __init__(
        self,
        self_addr: str,
        peers: Sequence[str],
        data_dir: Path,
        apply: Callable[[bytes], object],
        snapshot: Callable[[], bytes],
        restore: Callable[[bytes], None],
        on_leader_change: Callable[[bool], None] | None = None,
        *,
        password: str | None = None,
    ) -> None:
        self._addr = self_addr
        self._apply, self._snapshot, self._restore = apply, snapshot, restore
        self._fatal: RaftError | None = None
        self._closed = False
        self._lock = threading.Lock()  # guards _queue and _waiting
        self._queue: deque[_Waiter] = deque()
        self._waiting = 0  # frames being committed from this node
        self._wake_fds: tuple[int, int] | None = None
        self._events: queue.Queue[bool | None] = queue.Queue()
        self._watcher: threading.Thread | None = None
        self._dump_pid, self._dump_started = 0, 0.0
        self._dumps_done = self._dumps_failed = 0
        self._bytes_since_dump = 0
        data_dir.mkdir(parents=True, exist_ok=True)
        self._dump_path = data_dir / "raft.dump"
        self._dump_tmp = data_dir / "raft.dump.writing"
        self._dump_err = data_dir / "raft.dump.err"
        conf = SyncObjConf(
            appendEntriesUseBatch=False,  # the default makes each write wait ~100 ms
            appendEntriesBatchSizeBytes=_BATCH_BYTES,
            sendBufferSize=1 << 20,
            recvBufferSize=1 << 20,
            logCompactionBatchSize=1 << 20,
            logCompactionMinEntries=_COMPACT_ENTRIES,
            logCompactionMinTime=_COMPACT_SECONDS,
            journalFile=str(data_dir / "raft.journal"),
            fullDumpFile=str(self._dump_path),
            serializer=self._serialize,
            deserializer=self._deserialize,
            serializeChecker=self._dump_status,
            dynamicMembershipChange=True,
            commandsWaitLeader=False,
            leaderFallbackTimeout=3.0,
            bindAddress=self_addr,
            maxBindRetries=3,
            bindRetryTime=0.5,
            onStateChanged=self._on_state_changed,
            password=password,
        )
        others = [p for p in dict.fromkeys(peers) if p != self_addr]
        self._obj: _Replica
        _Replica(self, self_addr, others, conf)
        try:
            self._obj.waitBinded()
        except SyncObjException:
            self._obj.destroy_synchronous()
            raise RaftError(f"cannot bind the Raft address {self_addr}") from None
        self._obj.addOnTickCallback(self._on_tick)
        if on_leader_change is not None:
            self._watcher = threading.Thread(
                target=self._watch_leadership, args=(on_leader_change,), daemon=True
            )
            self._watcher.start()

    # -- public API ------------------------------------------------------------------

    def submit(self, entry: bytes, timeout: float = 5.0) -> object:
        """Commit ``entry``; return what ``apply(entry)`` returned on this node, or raise
        what it raised. Only the leader accepts writes."""
        if not entry or len(entry) > MAX_ENTRY_BYTES:
            raise ValueError(f"a Raft entry must be 1..{MAX_ENTRY_BYTES} bytes, got {len(entry)}")
        self._check_writable()
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
        if isinstance(me.result, _Failed):
            raise me.result.error
        return me.result

    def barrier(self, timeout: float = 5.0) -> None:
        """Commit an empty frame: afterwards every earlier entry is applied here."""
        self._commit(_FRAME_TAG + msgspec.msgpack.encode([]), timeout)

    def is_leader(self) -> bool:
        return bool(self._obj._isLeader())

    def leader(self) -> str | None:
        node = self._obj._getLeader()
        return None if node is None else str(node.id)

    def peers(self) -> list[str]:
        return sorted({self._addr, *(str(n.id) for n in self._obj.otherNodes)})

    def applied_index(self) -> int:
        return int(self._obj.raftLastApplied)

    def wait_ready(self, timeout: float) -> bool:
        """True once a leader is known and this node has applied all the leader committed
        (on the leader: a barrier went through)."""
        deadline = time.monotonic() + timeout
        while not self._closed and self._fatal is None and time.monotonic() < deadline:
            if self.is_leader():
                try:
                    self.barrier(timeout=max(0.01, min(deadline - time.monotonic(), 1.0)))
                    return True
                except RaftError:
                    pass
            elif self.leader() is not None:
                try:
                    status = self._obj.getStatus()
                except RuntimeError:  # a dict changed size while pysyncobj read it
                    status = {}
                commit = status.get("leader_commit_idx")
                if commit is not None and status.get("last_applied", -1) >= commit:
                    return True
            time.sleep(0.01)
        return False

    def compact(self, timeout: float = 30.0) -> bool:
        """Write a full dump now and trim the log; False if it failed or took too long."""
        done, failed = self._dumps_done, self._dumps_failed
        self._obj.forceLogCompaction()
        deadline = time.monotonic() + timeout
        while (self._dumps_done, self._dumps_failed) == (done, failed):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return self._dumps_done > done

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._events.put(None)
        if self._watcher is not None:
            self._watcher.join(timeout=10.0)
        self._obj.destroy_synchronous()
        for fd in self._wake_fds or ():
            os.close(fd)
        if self._dump_pid > 0:  # a dump replaces its file atomically: drop this one
            os.kill(self._dump_pid, signal.SIGKILL)
            os.waitpid(self._dump_pid, 0)

    # -- writes ------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            raise RaftError(f"Raft node {self._addr} is closed")
        if not self.is_leader():
            raise NotLeaderError(self.leader())

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
        frame = _FRAME_TAG + msgspec.msgpack.encode([w.entry for w in batch])
        timeout = max(0.05, max(w.deadline for w in batch) - time.monotonic())
        try:
            results = self._commit(frame, timeout)
        except RaftError as exc:
            results = [_Failed(copy.copy(exc)) for _ in batch]
        finally:  # whatever happened, release the queue
            if len(results) != len(batch):
                err = self._fatal or RaftError(f"Raft write failed on {self._addr}")
                results = [_Failed(copy.copy(err)) for _ in batch]
            with self._lock:
                for w, result in zip(batch, results, strict=True):
                    self._queue.popleft()
                    w.result, w.done = result, True
                after = self._queue[0] if self._queue else None
            for w in batch[1:]:
                w.wake.set()
            if after is not None:
                after.wake.set()  # the next front commits the next frame

    def _commit(self, frame: bytes, timeout: float) -> list[object]:
        self._check_writable()
        with self._lock:
            self._waiting += 1
        try:
            result: list[object] = self._obj.apply_frame(frame, sync=True, timeout=timeout)
            return result
        except SyncObjException as exc:
            code = exc.errorCode
            if code == "Timeout":
                raise RaftTimeout(
                    f"not applied on {self._addr} in {timeout:.3g}s; may commit"
                ) from None
            if code in _LEADER_GONE:
                raise NotLeaderError(self.leader()) from None
            reason = _FAIL_NAMES.get(code, code)
            raise RaftError(f"Raft write failed on {self._addr}: {reason}") from None
        finally:
            with self._lock:
                self._waiting -= 1

    def _apply_frame(self, frame: bytes) -> list[object]:  # the Raft thread, every replica
        index = self._obj.raftLastApplied + 1
        try:
            if frame[:1] != _FRAME_TAG:
                raise ValueError(f"unknown frame tag {frame[:1]!r}")
            entries = _FRAME.decode(memoryview(frame)[1:])
        except Exception as exc:  # this replica can no longer follow the log
            self._fatal = RaftError(f"undecodable Raft entry {index} on {self._addr}: {exc}")
            logger.critical("%s", self._fatal)
            return []
        self._bytes_since_dump += len(frame)
        if self._bytes_since_dump > _COMPACT_BYTES:
            self._bytes_since_dump = 0
            self._obj.forceLogCompaction()
        results: list[object] = []
        for i, entry in enumerate(entries):
            try:
                results.append(self._apply(entry))
            except Exception as exc:
                logger.warning(
                    "FSM apply raised at Raft entry %d.%d on %s: %r", index, i, self._addr, exc
                )
                results.append(_Failed(exc))
        return results

    def _on_tick(self) -> None:  # the Raft thread, at the end of every tick
        # A lone node commits an entry on the tick after logging it, and the tick loop
        # then sleeps 50 ms (autoTickPeriod): wake it while a frame waits.
        if self._waiting and not self._obj.otherNodes:
            if self._wake_fds is None:
                self._wake_fds = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
                self._obj._poller.subscribe(self._wake_fds[0], self._drain, POLL_EVENT_TYPE.READ)
            os.write(self._wake_fds[1], b"w")

    def _drain(self, fd: int, event: int) -> None:
        try:
            while os.read(fd, 4096):
                pass
        except BlockingIOError:
            pass

    # -- leadership --------------------------------------------------------------------

    def _on_state_changed(self, old: int, new: int) -> None:  # the Raft thread
        if self._watcher is not None:
            self._events.put(True)

    def _watch_leadership(self, callback: Callable[[bool], None]) -> None:
        """Level-triggered: announce True once a barrier went through (state is current),
        then False once; poll too, in case an event raced a failed barrier."""
        announced = False
        while True:
            try:
                if self._events.get(timeout=0.25) is None:
                    break
            except queue.Empty:
                pass
            leading = self.is_leader()
            if leading and not announced:
                try:
                    self.barrier(timeout=2.0)
                except RaftError:
                    continue
            if leading != announced:
                announced = leading
                self._notify(callback, leading)
        if announced:
            self._notify(callback, False)

    def _notify(self, callback: Callable[[bool], None], leading: bool) -> None:
        try:
            callback(leading)
        except Exception:
            logger.exception("on_leader_change(%s) failed on %s", leading, self._addr)

    # -- full dumps: pysyncobj's serializer, serializeChecker and deserializer hooks -----

    def _serialize(self, tmp_file: str, raft_data: tuple[Any, Any, Any]) -> None:
        """On the Raft thread, with (last applied entry, the one before, members)."""
        self._bytes_since_dump = 0
        self._dump_err.unlink(missing_ok=True)
        self._dump_started = time.monotonic()
        try:
            pid = os.fork()
        except OSError as exc:
            logger.error("Raft dump on %s: fork failed (%s); log not compacted", self._addr, exc)
            pid = -1  # reported as FAILED by _dump_status
        if pid == 0:  # the child: never return into pysyncobj
            code = 1
            try:
                self._write_dump(raft_data)
                code = 0
            except BaseException:
                self._dump_err.write_text(traceback.format_exc())
            finally:
                os._exit(code)
        self._dump_pid = pid
        raise _DumpStarted

    def _write_dump(self, raft_data: tuple[Any, Any, Any]) -> None:
        last, prev, cluster = raft_data
        state = self._snapshot()
        dump = _Dump(
            version=_DUMP_VERSION,
            last=(bytes(last[0]), int(last[1]), int(last[2])),
            prev=(bytes(prev[0]), int(prev[1]), int(prev[2])),
            cluster=sorted(str(n.id) for n in cluster),
            state_crc32=zlib.crc32(state),
            state=state,
        )
        with open(self._dump_tmp, "wb") as f:
            f.write(_DUMP_MAGIC)
            f.write(msgspec.msgpack.encode(dump))
            f.flush()
            os.fsync(f.fileno())
        os.replace(self._dump_tmp, self._dump_path)
        dir_fd = os.open(self._dump_path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _dump_status(self) -> int:  # serializeChecker: the Raft thread, every tick
        if self._dump_pid == 0:
            return int(SERIALIZER_STATE.NOT_SERIALIZING)
        if self._dump_pid < 0:  # fork failed
            self._dump_pid, self._dumps_failed = 0, self._dumps_failed + 1
            return int(SERIALIZER_STATE.FAILED)
        if time.monotonic() - self._dump_started > _CHILD_TIMEOUT:
            logger.error("Raft dump on %s ran over %ss; killing it", self._addr, _CHILD_TIMEOUT)
            os.kill(self._dump_pid, signal.SIGKILL)
        try:
            pid, status = os.waitpid(self._dump_pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self._dump_pid, 1
        if pid == 0:
            return int(SERIALIZER_STATE.SERIALIZING)
        self._dump_pid = 0
        if os.waitstatus_to_exitcode(status) == 0:
            self._dumps_done += 1
            return int(SERIALIZER_STATE.SUCCESS)
        err = self._dump_err.read_text() if self._dump_err.exists() else f"status {status}"
        logger.error("Raft dump failed on %s; log not compacted: %s", self._addr, err)
        self._dumps_failed += 1
        return int(SERIALIZER_STATE.FAILED)

    def _deserialize(self, file_name: str) -> tuple[Any, Any, Any]:
        """On the Raft thread, at start and when the leader installs its dump here."""
        try:
            raw = memoryview(Path(file_name).read_bytes())
            if bytes(raw[: len(_DUMP_MAGIC)]) != _DUMP_MAGIC:
                raise ValueError("not a gitorch Raft dump")
            dump = msgspec.msgpack.decode(raw[len(_DUMP_MAGIC) :], type=_Dump)
            if dump.version != _DUMP_VERSION:
                raise ValueError(f"dump version {dump.version} is not supported")
            if zlib.crc32(dump.state) != dump.state_crc32:
                raise ValueError("state checksum mismatch")
            self._restore(dump.state)
        except Exception as exc:  # pysyncobj would log and go on with a half-built state
            self._fatal = RaftError(f"cannot restore Raft state from {file_name}: {exc}")
            logger.critical("%s", self._fatal)
            raise
        return dump.last, dump.prev, {TCPNode(a) for a in dump.cluster}
