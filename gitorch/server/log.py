"""The replicated log a server writes through: Raft in production, a local twin in tests.

``ReplicatedLog.submit(command)`` returns once the command is committed and applied on
this server. Followers raise ``NotLeaderError`` naming the leader, so callers forward.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gitorch import codec
from gitorch.core.commands import Command
from gitorch.core.state import ApplyResult
from gitorch.errors import GitorchError, NotLeaderError
from gitorch.server.fsm import Fsm


class ReplicatedLog(Protocol):
    def submit(self, cmd: Command, timeout: float = 10.0) -> ApplyResult: ...
    def is_leader(self) -> bool: ...
    def leader(self) -> str | None: ...
    def peers(self) -> list[str]: ...
    def wait_ready(self, timeout: float) -> bool: ...
    def close(self) -> None: ...


class LocalLog:
    """The in-memory twin of Raft: one member, always leader, applies at once.

    With ``path`` set, entries are appended to a journal file and replayed on start,
    so a restarted process keeps its state (the dev agent without Raft ports).
    """

    def __init__(self, fsm: Fsm, path: Path | None = None, addr: str = "127.0.0.1:4647") -> None:
        self._fsm = fsm
        self._lock = threading.Lock()
        self._addr = addr
        self._journal = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                self._replay(path)
            self._journal = path.open("ab")

    def _replay(self, path: Path) -> None:
        data = path.read_bytes()
        pos = 0
        while pos + 4 <= len(data):
            size = int.from_bytes(data[pos : pos + 4], "big")
            if pos + 4 + size > len(data):
                break  # a torn final write: the entry was never acknowledged
            self._fsm.apply_entry(data[pos + 4 : pos + 4 + size])
            pos += 4 + size

    def submit(self, cmd: Command, timeout: float = 10.0) -> ApplyResult:
        entry = codec.encode_command(cmd)
        with self._lock:
            if self._journal is not None:
                self._journal.write(len(entry).to_bytes(4, "big") + entry)
                self._journal.flush()
            return self._fsm.apply_entry(entry)

    def is_leader(self) -> bool:
        return True

    def leader(self) -> str | None:
        return self._addr

    def peers(self) -> list[str]:
        return [self._addr]

    def wait_ready(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()


class RaftLog:
    """The production log: the pysyncobj adapter in ``gitorch.server.raft``."""

    def __init__(
        self,
        fsm: Fsm,
        self_addr: str,
        peers: list[str],
        data_dir: Path,
        on_leader_change: Callable[[bool], None] | None = None,
    ) -> None:
        from gitorch.server import raft  # the only pysyncobj user

        try:
            self._raft = raft.RaftNode(
                self_addr,
                [p for p in peers if p != self_addr],
                data_dir,
                apply=fsm.apply_entry,
                snapshot=fsm.snapshot_bytes,
                restore=fsm.restore_bytes,
                on_leader_change=on_leader_change,
            )
        except raft.RaftError as exc:
            raise GitorchError(f"raft: {exc} (is another agent using this port?)") from exc
        self._raft_mod = raft

    def submit(self, cmd: Command, timeout: float = 10.0) -> ApplyResult:
        try:
            result = self._raft.submit(codec.encode_command(cmd), timeout=timeout)
        except self._raft_mod.NotLeaderError as exc:
            raise NotLeaderError(exc.leader) from exc
        except self._raft_mod.RaftError as exc:
            raise GitorchError(f"raft: {exc}") from exc
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, ApplyResult)
        return result

    def is_leader(self) -> bool:
        return self._raft.is_leader()

    def leader(self) -> str | None:
        return self._raft.leader()

    def peers(self) -> list[str]:
        return self._raft.peers()

    def wait_ready(self, timeout: float) -> bool:
        return self._raft.wait_ready(timeout)

    def close(self) -> None:
        self._raft.close()
