"""The Raft journal file, written with ``pwrite`` into space reserved ahead of time.

pysyncobj's own journal memory-maps the file and grows it sparsely: on a full disk the
next write to a new page is a SIGBUS that kills the process without a log line. This
journal keeps pysyncobj's on-disk format (``files.check_data_dir`` reads both) but:

* grows the file with ``posix_fallocate`` into a reserve of ``RESERVE_BYTES`` past the
  last record, so a full disk is an ``OSError(ENOSPC)`` while reserving, never a signal
  while writing; ``reserve()`` runs before every write the leader accepts (``node``)
  and turns a full disk into a refused write;
* never raises into the Raft thread: a record that cannot be written (a follower past
  its reserve on a full disk) stays in memory, is retried every second and on every
  write, and ``degraded()`` says why until it is on disk;
* marks the end of the records: after a truncation the bytes after the new end are
  zeroed, so a valid record after the header's end offset can only mean the header was
  moved back (``files`` refuses that at start);
* creates its files 0600.

``install()`` makes pysyncobj build this journal for a ``journalFile``.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import threading
from pathlib import Path
from typing import Any, Final

import pysyncobj.syncobj
from pysyncobj import pickle as sync_pickle
from pysyncobj.journal import Journal, MemoryJournal
from pysyncobj.version import VERSION

from gitorch.server.raft.commit import MAX_ENTRY_BYTES

logger = logging.getLogger(__name__)

RESERVE_BYTES: Final = 4 * MAX_ENTRY_BYTES  # room for the next writes, allocated ahead
FILE_MODE: Final = 0o600
_HEADER: Final = 40
_END_AT: Final = 36
_NAME: Final = b"PYSYNCOBJ"
_FORMAT: Final = 1

Entry = tuple[bytes, int, int]  # (command, index, term), as pysyncobj keeps them


def header() -> bytes:
    version = str(VERSION).encode()
    return _NAME.ljust(24, b"\0") + version.ljust(8, b"\0") + struct.pack("<II", _FORMAT, _HEADER)


def record(entry: Entry) -> bytes:
    command, idx, term = entry
    body = struct.pack("<QQ", idx, term) + bytes(command)
    size = struct.pack("<I", len(body))
    return size + body + size


class ReservedJournal(Journal):  # type: ignore[misc]
    """pysyncobj's ``Journal`` interface over ``path``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        os.fchmod(self._fd, FILE_MODE)
        data = _read_all(self._fd)
        if len(data) < _HEADER or not data.strip(b"\0"):
            data = header()
            os.pwrite(self._fd, data, 0)
        self._entries: list[Entry] = []
        self._offsets: list[int] = []  # where each entry's record starts
        end = struct.unpack("<I", data[_END_AT:_HEADER])[0]
        pos = _HEADER
        while pos < end:
            size = struct.unpack("<I", data[pos : pos + 4])[0]
            idx, term = struct.unpack("<QQ", data[pos + 4 : pos + 20])
            self._entries.append((data[pos + 20 : pos + 4 + size], idx, term))
            self._offsets.append(pos)
            pos += size + 8
        self._written = len(self._entries)  # entries whose records are on disk
        self._end = pos  # the byte after the last record on disk
        self._allocated = len(data)
        self._error: OSError | None = None
        self._meta_path = path + ".meta"
        self._meta = _read_meta(self._meta_path)
        self._meta_saved = True
        # Writers' threads call reserve() while the Raft thread adds: one at a time.
        self._lock = threading.RLock()

    # -- space ---------------------------------------------------------------------

    def reserve(self, size: int = RESERVE_BYTES) -> None:
        """Make sure the next ``size`` bytes are allocated on disk (OSError if not), and
        write any records a full disk held back."""
        with self._lock:
            self._flush_pending()
            if self._error is not None:
                raise self._error
            self._allocate(self._end + size)

    def degraded(self) -> str | None:
        """Why records are held in memory only (None when all are on disk)."""
        if self._written == len(self._entries) and self._error is None:
            return None
        held = len(self._entries) - self._written
        return f"{held} Raft log records not written to {self._path}: {self._error}"

    def _allocate(self, upto: int) -> None:
        if upto <= self._allocated:
            return
        target = max(upto + RESERVE_BYTES, self._allocated * 2)
        try:
            os.posix_fallocate(self._fd, self._allocated, target - self._allocated)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            os.posix_fallocate(self._fd, self._allocated, upto - self._allocated)  # the least
            target = upto
        self._allocated = target

    # -- writes (the Raft thread) ----------------------------------------------------

    def add(self, command: bytes, idx: int, term: int) -> None:
        with self._lock:
            self._entries.append((command, idx, term))
            self._flush_pending()

    def _flush_pending(self) -> None:
        if self._written == len(self._entries):
            return
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        try:
            while self._written < len(self._entries):
                data = record(self._entries[self._written])
                self._allocate(self._end + len(data))
                os.pwrite(self._fd, data, self._end)
                self._offsets.append(self._end)
                self._end += len(data)
                self._written += 1
                os.pwrite(self._fd, struct.pack("<I", self._end), _END_AT)
        except OSError as exc:
            if self._error is None or self._error.errno != exc.errno:
                logger.error(
                    "cannot write the Raft journal %s (%s): %d records held in memory, "
                    "retried every second",
                    self._path,
                    exc.strerror,
                    len(self._entries) - self._written,
                )
            self._error = exc
            return
        if self._error is not None:
            logger.warning("Raft journal %s written again: all records on disk", self._path)
            self._error = None

    def _truncate(self, keep: int) -> None:
        """Drop entries from ``keep`` on, on disk too; zero the size of the stale record
        after the new end, so it never reads as a continuation of the log."""
        with self._lock:
            self._truncate_locked(keep)

    def _truncate_locked(self, keep: int) -> None:
        del self._entries[keep:]
        if keep < self._written:
            self._end = self._offsets[keep]
            del self._offsets[keep:]
            self._written = keep
            try:
                os.pwrite(self._fd, struct.pack("<I", self._end), _END_AT)
                if self._end + 4 <= self._allocated:
                    os.pwrite(self._fd, b"\0\0\0\0", self._end)
            except OSError as exc:  # the next write retries the header
                self._error = exc

    def clear(self) -> None:
        self._truncate(0)

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802 - pysyncobj's name
        self._truncate(entryFrom)

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802
        with self._lock:
            kept = self._entries[entryTo:]
            self._truncate_locked(0)
            self._entries.extend(kept)
            self._flush_pending()

    def __getitem__(self, item: Any) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def flush(self) -> None:
        self._flush_pending()

    def _destroy(self) -> None:
        with self._lock:
            self._flush_pending()
            self._save_meta()
            os.close(self._fd)

    # -- term, vote and commit index (``raft.journal.meta``) ----------------------------

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802,N803
        self._meta["raftCommitIndex"] = raftCommitIndex
        self._meta_saved = False

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        return int(self._meta.get("raftCommitIndex", 1))

    def setCurrentTerm(self, term: int, votedForNodeId: Any) -> None:  # noqa: N802,N803
        self._meta["currentTerm"] = term
        self._meta["votedForNodeId"] = votedForNodeId
        self._save_meta()  # before any message that reflects it (Raft section 5)

    def getCurrentTerm(self) -> int:  # noqa: N802
        return int(self._meta.get("currentTerm", 0))

    def getVotedForNodeId(self) -> Any:  # noqa: N802
        return self._meta.get("votedForNodeId")

    def onOneSecondTimer(self) -> None:  # noqa: N802
        self._flush_pending()
        if not self._meta_saved:
            self._save_meta()

    def _save_meta(self) -> None:
        tmp = self._meta_path + ".tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
            try:
                os.write(fd, sync_pickle.dumps(self._meta))
            finally:
                os.close(fd)
            os.replace(tmp, self._meta_path)
            self._meta_saved = True
        except OSError as exc:
            if self._meta_saved:
                logger.error("cannot save Raft term/vote %s: %s", self._meta_path, exc.strerror)
            self._meta_saved = False


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks, pos = [], 0
    while pos < size:
        chunk = os.pread(fd, min(size - pos, 64 << 20), pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    return b"".join(chunks)


def _read_meta(path: str) -> dict[str, Any]:
    try:
        value = sync_pickle.loads(Path(path).read_bytes())
    except Exception:  # noqa: BLE001 - check_data_dir refused a damaged one at start
        return {}
    return value if isinstance(value, dict) else {}


def _create_journal(journal_file: str | None = None) -> Journal:
    if journal_file is None:
        return MemoryJournal()
    return ReservedJournal(journal_file)


def install() -> None:
    """pysyncobj builds its journal through ``syncobj.createJournal``: make that this."""
    pysyncobj.syncobj.createJournal = _create_journal
