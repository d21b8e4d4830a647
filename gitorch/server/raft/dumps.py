"""Full dumps (log compaction) for pysyncobj's serializer, serializeChecker and
deserializer hooks: a forked child writes the FSM snapshot, so the Raft thread never
stalls on it (see the package docstring for what was measured).
"""

from __future__ import annotations

import logging
import os
import signal
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec
from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.node import TCPNode

from gitorch.server.raft.files import (
    DUMP,
    DUMP_MAGIC,
    DUMP_VERSION,
    PRIVATE_FILE,
    Dump,
    read_dump,
    write_private,
)

logger = logging.getLogger(__name__)
_CHILD_TIMEOUT: Final = 300.0


class DumpStarted(Exception):  # tells pysyncobj not to rename a file we never wrote
    pass


class Dumper:
    """Writes and reads ``<data_dir>/raft.dump``. ``snapshot`` runs in a forked child:
    read only, take no lock another thread may hold, start no thread. ``restore`` runs
    on the Raft thread; ``on_fatal`` hears of a dump that cannot be restored."""

    def __init__(
        self,
        addr: str,
        data_dir: Path,
        snapshot: Callable[[], bytes],
        restore: Callable[[bytes], None],
        on_fatal: Callable[[str], None],
    ) -> None:
        self._addr = addr
        self._snapshot, self._restore, self._on_fatal = snapshot, restore, on_fatal
        self.path = data_dir / DUMP
        self._tmp = data_dir / (DUMP + ".writing")
        self._err = data_dir / (DUMP + ".err")
        self._pid, self._started = 0, 0.0
        self.done = self.failed = 0
        self.bytes_since = 0  # applied since the last dump (the Raft thread)

    def kill(self) -> None:
        """Drop a dump in progress (its file is replaced atomically, so nothing is lost)."""
        if self._pid > 0:
            os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = 0

    def serialize(self, tmp_file: str, raft_data: tuple[Any, Any, Any]) -> None:
        """pysyncobj's serializer, on the Raft thread, with (last applied entry, the one
        before, members): fork a child that writes the dump."""
        self.bytes_since = 0
        self._err.unlink(missing_ok=True)
        self._started = time.monotonic()
        try:
            pid = os.fork()
        except OSError as exc:
            logger.error("Raft dump on %s: fork failed (%s); log not compacted", self._addr, exc)
            pid = -1  # reported as FAILED by status()
        if pid == 0:  # the child: never return into pysyncobj
            code = 1
            try:
                self._write(raft_data)
                code = 0
            except BaseException:
                self._tmp.unlink(missing_ok=True)  # a full disk: give the space back
                write_private(self._err, traceback.format_exc().encode())
            finally:
                os._exit(code)
        self._pid = pid
        raise DumpStarted

    def _write(self, raft_data: tuple[Any, Any, Any]) -> None:
        last, prev, cluster = raft_data
        state = self._snapshot()
        dump = Dump(
            version=DUMP_VERSION,
            last=(bytes(last[0]), int(last[1]), int(last[2])),
            prev=(bytes(prev[0]), int(prev[1]), int(prev[2])),
            cluster=sorted(str(n.id) for n in cluster),
            state_crc32=zlib.crc32(state),
            state=state,
        )
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with open(fd, "wb") as f:
            os.fchmod(fd, PRIVATE_FILE)
            f.write(DUMP_MAGIC)
            f.write(msgspec.msgpack.encode(dump))
            f.flush()
            os.fsync(f.fileno())
        os.replace(self._tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def status(self) -> int:
        """pysyncobj's serializeChecker: the Raft thread, every tick."""
        if self._pid == 0:
            return int(SERIALIZER_STATE.NOT_SERIALIZING)
        if self._pid < 0:  # fork failed
            self._pid, self.failed = 0, self.failed + 1
            return int(SERIALIZER_STATE.FAILED)
        if time.monotonic() - self._started > _CHILD_TIMEOUT:
            logger.error("Raft dump on %s ran over %ss; killing it", self._addr, _CHILD_TIMEOUT)
            os.kill(self._pid, signal.SIGKILL)
        try:
            pid, status = os.waitpid(self._pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self._pid, 1
        if pid == 0:
            return int(SERIALIZER_STATE.SERIALIZING)
        self._pid = 0
        if os.waitstatus_to_exitcode(status) == 0:
            self.done += 1
            return int(SERIALIZER_STATE.SUCCESS)
        err = self._err.read_text() if self._err.exists() else f"status {status}"
        logger.error("Raft dump failed on %s; log not compacted: %s", self._addr, err)
        self.failed += 1
        return int(SERIALIZER_STATE.FAILED)

    def deserialize(self, file_name: str) -> tuple[Any, Any, Any]:
        """pysyncobj's deserializer, on the Raft thread, at start and when the leader
        installs its dump here."""
        try:
            os.chmod(file_name, PRIVATE_FILE)  # pysyncobj wrote a leader's dump 0644
            dump = read_dump(Path(file_name))
            self._restore(dump.state)
        except Exception as exc:  # pysyncobj would log and go on with a half-built state
            self._on_fatal(f"cannot restore Raft state from {file_name}: {exc}")
            raise
        return dump.last, dump.prev, {TCPNode(a) for a in dump.cluster}
