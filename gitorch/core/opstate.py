"""The state store's operator tables: the scheduler configuration, and the chunks of a
snapshot restore in progress (kept in the state, and so in every Raft snapshot, so a
server that restarts mid-restore still holds what the last chunk completes).

``OperatorTables`` is a persistent value like the other tables: ``apply`` returns a new
one, and CAS is decided here, in the FSM, so every replica refuses the same writes.
"""

from __future__ import annotations

from typing import assert_never

import msgspec

from gitorch.core import opcommands as o
from gitorch.core.model.base import replace
from gitorch.core.model.operator import SchedulerConfiguration

DEFAULT_CONFIG = SchedulerConfiguration()


class OperatorDump(msgspec.Struct, frozen=True, kw_only=True):
    """The operator part of a state snapshot."""

    scheduler_config: SchedulerConfiguration | None = None
    restore_id: str = ""
    staged: list[bytes] = []


class OperatorTables:
    """Never changed in place."""

    __slots__ = ("restore_id", "scheduler_config", "staged")

    def __init__(
        self,
        scheduler_config: SchedulerConfiguration | None = None,
        restore_id: str = "",
        staged: tuple[bytes, ...] = (),
    ) -> None:
        self.scheduler_config = scheduler_config
        self.restore_id = restore_id
        self.staged = staged

    @classmethod
    def build(cls, dump: OperatorDump) -> OperatorTables:
        return cls(dump.scheduler_config, dump.restore_id, tuple(dump.staged))

    def dump(self) -> OperatorDump:
        return OperatorDump(
            scheduler_config=self.scheduler_config,
            restore_id=self.restore_id,
            staged=list(self.staged),
        )

    def config(self) -> SchedulerConfiguration:
        """The configuration in effect (Nomad's defaults until one is set)."""
        return self.scheduler_config or DEFAULT_CONFIG

    def apply(
        self, idx: int, cmd: o.OpCommand
    ) -> tuple[OperatorTables, str, tuple[str, ...], bytes | None]:
        """The tables after ``cmd`` at ``idx``, an error ('' when applied), the tables
        touched, and for a restore's last chunk the whole snapshot to load."""
        match cmd:
            case o.SetSchedulerConfig():
                old = self.scheduler_config
                if cmd.cas is not None and cmd.cas != (old.modify_index if old else 0):
                    return self, o.CAS_MISMATCH, (), None
                problem = cmd.config.problem()
                if problem:
                    return self, problem, (), None
                config = replace(
                    cmd.config,
                    scheduler_algorithm=cmd.config.algorithm(),
                    create_index=idx if old is None else old.create_index,
                    modify_index=idx,
                )
                tables = OperatorTables(config, self.restore_id, self.staged)
                return tables, "", ("scheduler_config",), None
            case o.StageRestore():
                if cmd.seq == 0:
                    staged: tuple[bytes, ...] = (cmd.data,)
                elif cmd.restore_id != self.restore_id or cmd.seq != len(self.staged):
                    why = f"restore {cmd.restore_id}: chunk {cmd.seq} out of order"
                    return OperatorTables(self.scheduler_config), why, (), None
                else:
                    staged = (*self.staged, cmd.data)
                if cmd.last:
                    return OperatorTables(self.scheduler_config), "", (), b"".join(staged)
                return OperatorTables(self.scheduler_config, cmd.restore_id, staged), "", (), None
            case _:
                assert_never(cmd)
