"""Raft consensus for gitorch servers: the only package that imports pysyncobj (0.3.17).

``node`` (RaftNode: writes, leadership), ``commit`` (group commit, errors), ``journal``
(the log file, written into reserved space), ``dumps``
(forked full dumps), ``members`` (status, membership changes), ``files`` (frames, dump
and journal formats, the start-up check), ``wire`` (the cluster-identity handshake and
the utility requests on the Raft port).

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
* "truncating already-applied log entries" (CRITICAL, followers) came from eager sends
  (``appendEntriesUseBatch=False``): pysyncobj's leader set a follower's nextIndex from
  every success reply, so a stale reply moved it back, the leader re-sent entries the
  follower held, and the follower dropped everything after prevLogIdx before appending
  the re-send. ``nextindex`` applies Raft's rule (a success reply only raises
  nextIndex) around pysyncobj's message handler, and the line is gone (57 per
  ``raft_commits.py`` run before, 0 after). ``appendEntriesBatchSizeBytes`` stays far
  above what can be in flight (one frame): an entry above it would take pysyncobj's
  chunked path, whose last-chunk test ignores the pickle overhead, so frames stay under
  ``MAX_ENTRY_BYTES``.
* Cost per byte: every message is pickled (protocol 2) and zlib-compressed (level 3) on
  the Raft thread, per follower: a 200 KB msgpack plan takes ~2 ms to compress, random
  bytes far more. A 200 KB commit takes ~8 ms; a 200-byte one ~0.4 ms.
* No ``maxCommandsPerSecond`` in 0.3.17. A lone node commits on the tick after logging
  and the tick sleeps 50 ms: we wake it. pysyncobj's journal is mmap-ed and grows sparsely:
  a full disk was a SIGBUS. ``journal`` replaces it (same format) with pwrite into space
  reserved by posix_fallocate: a full disk is ENOSPC, the leader refuses writes
  (``StorageFullError``, HTTP 503) until space returns. Never fsync-ed: writes survive a
  process crash, not a power loss. ``files`` refuses a journal whose header end offset
  was moved back (valid records past it, or a commit index past the log). Wire messages
  are pickles: we bind ``self_addr`` (not 0.0.0.0); with ``password`` (the agent's
  ``server.encrypt``) every frame, utility requests included, is a Fernet token that is
  authenticated before it is unpickled (docs/cluster.md, Security).
* Membership (``dynamicMembershipChange``): a joining server starts with the current
  members as partners, then asks any member (pysyncobj's ``add`` utility request, which
  a follower forwards to the leader). One change at a time; the leader can't remove
  itself. Peers are only accepted from configured addresses, and any process that
  reaches a Raft port can send ``add``/``remove``: keep Raft ports on a private network.
* Journal damage: pysyncobj reads records by their length fields alone, and damage
  surfaces later, at apply, on one replica only; ``files.check_data_dir`` re-reads every
  record (and each frame's CRC) before a server starts.
"""

from gitorch.server.raft.commit import (
    MAX_ENTRY_BYTES,
    NotLeaderError,
    RaftError,
    RaftTimeout,
    StorageFullError,
)
from gitorch.server.raft.files import DataDirError, check_data_dir, has_state, load_peers
from gitorch.server.raft.members import PeerStatus, RaftStatus
from gitorch.server.raft.node import RaftNode
from gitorch.server.raft.wire import probe, request, use_key

__all__ = [
    "MAX_ENTRY_BYTES",
    "DataDirError",
    "NotLeaderError",
    "PeerStatus",
    "RaftError",
    "RaftNode",
    "RaftStatus",
    "RaftTimeout",
    "StorageFullError",
    "check_data_dir",
    "has_state",
    "load_peers",
    "probe",
    "request",
    "use_key",
]
