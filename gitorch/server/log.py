"""The replicated log a server writes through: Raft in production, a local twin in tests.

``ReplicatedLog.submit(command)`` returns once the command is committed and applied on
this server. Followers raise ``NotLeaderError`` naming the leader, so callers forward.
``status`` and ``remove_peer`` are the membership side (what /v1/operator/raft shows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gitorch import codec
from gitorch.core.commands import Command
from gitorch.core.state import ApplyResult
from gitorch.errors import GitorchError, NotLeaderError, UnavailableError
from gitorch.server.fsm import Fsm


@dataclass(frozen=True, slots=True)
class Peer:
    """A Raft member as this server sees it; ``alive``: its Raft connection is up."""

    address: str
    alive: bool
    leader: bool
    is_self: bool


@dataclass(frozen=True, slots=True)
class LogStatus:
    leader: str | None
    term: int
    commit_index: int
    applied_index: int
    peers: list[Peer]


class ReplicatedLog(Protocol):
    def submit(self, cmd: Command, timeout: float = 10.0) -> ApplyResult: ...
    def is_leader(self) -> bool: ...
    def leader(self) -> str | None: ...
    def peers(self) -> list[str]: ...
    def wait_ready(self, timeout: float) -> bool: ...
    def status(self) -> LogStatus: ...
    def remove_peer(self, address: str, timeout: float = 10.0) -> None: ...
    def fatal(self) -> str | None: ...
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

    def status(self) -> LogStatus:
        me = Peer(self._addr, True, True, True)
        index = self._fsm.state.index
        return LogStatus(self._addr, 1, index, index, [me])

    def remove_peer(self, address: str, timeout: float = 10.0) -> None:
        raise GitorchError(f"{address} is not a Raft peer: this server runs alone")

    def fatal(self) -> str | None:
        return None

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
        *,
        cluster_id: Callable[[], str] | None = None,
        identity: Callable[[], dict[str, Any]] | None = None,
        password: str | None = None,
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
                cluster_id=cluster_id,
                identity=identity,
                password=password,
            )
        except raft.RaftError as exc:
            raise GitorchError(f"raft: {exc} (is another agent using this port?)") from exc
        self._raft_mod = raft

    def submit(self, cmd: Command, timeout: float = 10.0) -> ApplyResult:
        try:
            result = self._raft.submit(codec.encode_command(cmd), timeout=timeout)
        except self._raft_mod.NotLeaderError as exc:
            raise NotLeaderError(exc.leader) from exc
        except self._raft_mod.StorageFullError as exc:
            raise UnavailableError(str(exc)) from exc
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

    def status(self) -> LogStatus:
        st = self._raft.status()
        peers = [Peer(p.address, p.connected, p.leader, p.is_self) for p in st.peers]
        return LogStatus(st.leader, st.term, st.commit_index, st.applied_index, peers)

    def remove_peer(self, address: str, timeout: float = 10.0) -> None:
        try:
            self._raft.remove_peer(address, timeout)
        except self._raft_mod.NotLeaderError as exc:
            raise NotLeaderError(exc.leader) from exc
        except self._raft_mod.RaftError as exc:
            raise GitorchError(f"raft: {exc}") from exc

    def fatal(self) -> str | None:
        """Why Raft stopped serving on this server (None while healthy)."""
        err = self._raft.fatal()
        return None if err is None else str(err)

    def compact(self, timeout: float = 30.0) -> bool:
        """Write a full dump now and trim the log (benchmarks, operators)."""
        return self._raft.compact(timeout)

    def close(self) -> None:
        self._raft.close()
