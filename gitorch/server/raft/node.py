"""RaftNode: one Raft member over pysyncobj (findings in the package docstring)."""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.poller import POLL_EVENT_TYPE
from pysyncobj.syncobj import SyncObjException

from gitorch.server.raft import journal
from gitorch.server.raft.commit import (
    Failed,
    GroupCommit,
    NotLeaderError,
    RaftError,
    RaftTimeout,
    StorageFullError,
)
from gitorch.server.raft.dumps import Dumper
from gitorch.server.raft.files import decode_frame, encode_frame, private_dir, save_peers
from gitorch.server.raft.members import (
    FAIL_NAMES,
    LEADER_GONE,
    RaftStatus,
    change,
    raw_status,
    read_status,
)
from gitorch.server.raft.nextindex import monotonic_next_index, skip_applied_resend
from gitorch.server.raft.wire import Gate, HandshakeTransport, use_key

logger = logging.getLogger(__name__)

_BATCH_BYTES: Final = 4 << 20  # appendEntriesBatchSizeBytes: far above one frame in flight
_COMPACT_ENTRIES: Final = 20_000
_COMPACT_BYTES: Final = 256 << 20  # also dump after this many applied bytes
_COMPACT_SECONDS: Final = 600
MIN_FREE_BYTES: Final = 4 << 20  # besides the journal's reserve: term/vote, peers, dumps

journal.install()


class _Replica(SyncObj):  # type: ignore[misc]
    def __init__(self, node: RaftNode, self_addr: str, others: list[str], conf: Any) -> None:
        self._gitorch_node = node
        self._gitorch_gate = node._gate  # read by HandshakeTransport
        node._obj = self  # before the tick thread starts
        super().__init__(self_addr, others, conf, transportClass=HandshakeTransport)

    @replicated  # type: ignore[untyped-decorator]
    def apply_frame(self, frame: bytes) -> list[object]:
        return self._gitorch_node._apply_frame(frame)

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:  # noqa: N802
        """pysyncobj binds its transport to this name in ``SyncObj.__init__``: messages
        go to its own handler, with Raft's monotonic ``nextIndex`` (see ``nextindex``)."""
        handler = self.__dict__.get("_gitorch_on_message")
        if handler is None:
            original = SyncObj._SyncObj__onMessageReceived.__get__(self)
            handler = monotonic_next_index(self._SyncObj__raftNextIndex, original)
            self.__dict__["_gitorch_on_message"] = handler
        message = skip_applied_resend(message, self._gitorch_entry, self._SyncObj__raftLastApplied)
        handler(node, message)

    def _gitorch_entry(self, index: int) -> Any:
        found = self._SyncObj__getEntries(index, 1)
        return found[0] if found and found[0][1] == index else None


class RaftNode:
    """One Raft member. ``apply`` is the FSM: deterministic, called on every replica in
    log order on the Raft thread. ``snapshot`` runs in a forked child (see ``dumps``).

    ``cluster_id`` returns this server's cluster ID ("" until it has one) for the
    connection handshake; ``identity`` adds to what the ``gitorch_identity`` request
    answers (HTTP address, name). A fatal condition (a damaged entry or dump, a peer of
    another cluster before this node ever joined one) is kept in ``fatal()``."""

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
        cluster_id: Callable[[], str] | None = None,
        identity: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self._addr = self_addr
        self._apply = apply
        self._fatal: RaftError | None = None
        self._closed = False
        self._waiting = 0  # frames being committed from this node (the lone-node wake)
        self._group = GroupCommit(self_addr, self._commit, self._check_accepting, self.fatal)
        self._storage_problem: str | None = None
        self._wake_fds: tuple[int, int] | None = None
        self._events: queue.Queue[bool | None] = queue.Queue()
        self._identity = identity or dict
        self._data_dir = data_dir
        self._saved_peers: list[str] = []
        self._peers_errno: int | None = None
        private_dir(data_dir)
        use_key(password)
        self._gate = Gate(self_addr, cluster_id or str, self._describe, self._set_fatal)
        self._dumper = Dumper(self_addr, data_dir, snapshot, restore, self._set_fatal)
        conf = SyncObjConf(
            appendEntriesUseBatch=False,  # the default makes each write wait ~100 ms
            appendEntriesBatchSizeBytes=_BATCH_BYTES,
            sendBufferSize=1 << 20,
            recvBufferSize=1 << 20,
            logCompactionBatchSize=1 << 20,
            logCompactionMinEntries=_COMPACT_ENTRIES,
            logCompactionMinTime=_COMPACT_SECONDS,
            journalFile=str(data_dir / "raft.journal"),
            fullDumpFile=str(self._dumper.path),
            serializer=self._dumper.serialize,
            deserializer=self._dumper.deserialize,
            serializeChecker=self._dumper.status,
            dynamicMembershipChange=True,
            commandsWaitLeader=False,
            leaderFallbackTimeout=3.0,
            connectionRetryTime=1.0,  # a restarted peer is back within a second
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
        self._journal = getattr(self._obj, "_SyncObj__raftLog", None)
        self._obj.addOnTickCallback(self._on_tick)
        self._watcher = threading.Thread(
            target=self._watch, args=(on_leader_change,), name="raft-watch", daemon=True
        )
        self._watcher.start()

    # -- public API ------------------------------------------------------------------

    def submit(self, entry: bytes, timeout: float = 5.0) -> object:
        """Commit ``entry``; return what ``apply(entry)`` returned on this node, or raise
        what it raised. Only the leader accepts writes. Concurrent calls share frames."""
        return self._group.submit(entry, timeout)

    def barrier(self, timeout: float = 5.0) -> None:
        """Commit an empty frame: afterwards every earlier entry is applied here."""
        self._commit(encode_frame([]), timeout)

    def is_leader(self) -> bool:
        return bool(self._obj._isLeader())

    def leader(self) -> str | None:
        node = self._obj._getLeader()
        return None if node is None else str(node.id)

    def peers(self) -> list[str]:
        """Every voting member's Raft address, this one included."""
        for _ in range(10):
            try:
                return sorted({self._addr, *(str(n.id) for n in self._obj.otherNodes)})
            except RuntimeError:  # the Raft thread changed the set while we copied it
                time.sleep(0.001)
        return list(self._saved_peers) or [self._addr]

    def fatal(self) -> RaftError | None:
        """Why this node stopped serving (None while healthy)."""
        return self._fatal

    def cluster_id(self) -> str:
        return self._gate.cluster_id()

    def status(self) -> RaftStatus:
        """Leader, term, indexes and each member's connection state, as seen here."""
        return read_status(self._raw_status(), self._addr)

    def _raw_status(self) -> dict[str, Any]:
        return raw_status(self._obj)

    def add_peer(self, addr: str, timeout: float = 10.0) -> None:
        """Add a voting member (leader only); it must already run with the current
        members as its partners. Returns once the change is committed."""
        self._check_accepting()
        change(self._obj, "add", addr, timeout)

    def remove_peer(self, addr: str, timeout: float = 10.0) -> None:
        """Remove a member (leader only; not the leader itself)."""
        if addr == self._addr:
            raise RaftError(
                f"{addr} is the leader and cannot remove itself: stop it, let the others "
                "elect a new leader, then remove it there"
            )
        self._check_accepting()
        change(self._obj, "remove", addr, timeout)

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
            elif self._caught_up():
                return True
            time.sleep(0.01)
        return False

    def _caught_up(self) -> bool:
        """A follower that knows its leader and has applied all the leader committed."""
        if self.leader() is None:
            return False
        status = self._raw_status()
        commit = status.get("leader_commit_idx")
        return commit is not None and status.get("last_applied", -1) >= commit

    def compact(self, timeout: float = 30.0) -> bool:
        """Write a full dump now and trim the log; False if it failed or took too long."""
        dumper = self._dumper
        done, failed = dumper.done, dumper.failed
        self._obj.forceLogCompaction()
        deadline = time.monotonic() + timeout
        while (dumper.done, dumper.failed) == (done, failed):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return dumper.done > done

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
        self._dumper.kill()

    # -- writes ------------------------------------------------------------------------

    def storage_problem(self) -> str | None:
        """Why writes are refused for lack of disk space (None while there is space)."""
        return self._storage_problem

    def _check_accepting(self) -> None:
        """A new write: the leader, healthy, and room on disk for it."""
        self._check_writable()
        problem = self._check_space()
        if problem != self._storage_problem:
            if problem is not None:
                logger.error("%s", problem)
            else:
                logger.warning(
                    "disk space for the Raft log in %s again: writes accepted", self._data_dir
                )
            self._storage_problem = problem
        if problem is not None:
            raise StorageFullError(problem)

    def _check_space(self) -> str | None:
        reserved = ""
        if isinstance(self._journal, journal.ReservedJournal):
            try:
                self._journal.reserve()
            except OSError as exc:
                reserved = (
                    f" (reserving {journal.RESERVE_BYTES} bytes in the journal: {exc.strerror})"
                )
        try:
            free = shutil.disk_usage(self._data_dir).free
        except OSError:
            free = 0
        if not reserved and free >= MIN_FREE_BYTES:
            return None
        return (
            f"no disk space for the Raft log in {self._data_dir}: {free} bytes free, "
            f"{MIN_FREE_BYTES} needed{reserved}; writes are refused until space is freed "
            "(reads keep working)"
        )

    def _check_writable(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            raise RaftError(f"Raft node {self._addr} is closed")
        if not self.is_leader():
            raise NotLeaderError(self.leader())

    def _commit(self, frame: bytes, timeout: float) -> list[object]:
        self._check_writable()
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
            if code in LEADER_GONE:
                raise NotLeaderError(self.leader()) from None
            reason = FAIL_NAMES.get(code, code)
            raise RaftError(f"Raft write failed on {self._addr}: {reason}") from None
        finally:
            self._waiting -= 1

    def _apply_frame(self, frame: bytes) -> list[object]:  # the Raft thread, every replica
        index = self._obj.raftLastApplied + 1
        try:
            entries = decode_frame(frame)
        except Exception as exc:  # this replica can no longer follow the log
            self._set_fatal(f"undecodable Raft entry {index} on {self._addr}: {exc}")
            return []
        self._dumper.bytes_since += len(frame)
        if self._dumper.bytes_since > _COMPACT_BYTES:
            self._dumper.bytes_since = 0
            self._obj.forceLogCompaction()
        results: list[object] = []
        for i, entry in enumerate(entries):
            try:
                results.append(self._apply(entry))
            except Exception as exc:
                logger.warning(
                    "FSM apply raised at Raft entry %d.%d on %s: %r", index, i, self._addr, exc
                )
                results.append(Failed(exc))
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
        self._events.put(True)

    def _watch(self, callback: Callable[[bool], None] | None) -> None:
        """Keeps the membership file and ``established`` current; with ``callback``,
        announces leadership level-triggered: True once a barrier went through (state
        is current), then False once; polls too, in case an event raced a barrier."""
        announced = False
        while True:
            try:
                if self._events.get(timeout=0.25) is None:
                    break
            except queue.Empty:
                pass
            self._housekeeping()
            if callback is None:
                continue
            leading = self.is_leader()
            if leading and not announced:
                try:
                    self.barrier(timeout=2.0)
                except RaftError:
                    continue
            if leading != announced:
                announced = leading
                self._notify(callback, leading)
        if announced and callback is not None:
            self._notify(callback, False)

    def _housekeeping(self) -> None:
        peers = self.peers()
        if peers != self._saved_peers:
            try:
                save_peers(self._data_dir, peers)
                self._saved_peers, self._peers_errno = peers, None
            except OSError as exc:  # retried every 250 ms; said once per kind of error
                if exc.errno != self._peers_errno:
                    logger.warning("cannot save the Raft membership in %s: %s", self._data_dir, exc)
                self._peers_errno = exc.errno
        if not self._gate.established and (self.is_leader() or self._caught_up()):
            self._gate.established = True

    def _set_fatal(self, why: str) -> None:
        if self._fatal is None:
            self._fatal = RaftError(why)
            logger.critical("%s", why)

    def _describe(self) -> dict[str, Any]:  # the Raft thread: the identity request
        leader = self._obj._getLeader()
        return {
            **self._identity(),
            "cluster_id": self._gate.cluster_id(),
            "address": self._addr,
            "leader": None if leader is None else str(leader.id),
            "members": sorted({self._addr, *(str(n.id) for n in self._obj.otherNodes)}),
            "established": self._gate.established,
        }

    def _notify(self, callback: Callable[[bool], None], leading: bool) -> None:
        try:
            callback(leading)
        except Exception:
            logger.exception("on_leader_change(%s) failed on %s", leading, self._addr)
