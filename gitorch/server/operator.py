"""What the operator routes ask of a server: the scheduler configuration (Nomad's
``Operator.SchedulerGet/SetConfiguration``) and cluster snapshots (``Operator.Snapshot
Save/Restore``). Every change is a command through the replicated log, so every server
holds the same configuration and a restore reaches every server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gitorch.core import commands as c
from gitorch.core.model.operator import SchedulerConfiguration
from gitorch.core.opcommands import CAS_MISMATCH, RESTORE_CHUNK_BYTES
from gitorch.core.state import ApplyResult, Snapshot
from gitorch.errors import BadRequestError, GitorchError
from gitorch.server import snapshotfile
from gitorch.server.ids import new_id

log = logging.getLogger(__name__)


class OperatorService:
    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        submit: Callable[[c.Command], ApplyResult],
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._snapshot = snapshot
        self._submit = submit
        self._clock = clock
        self._restoring = threading.Lock()

    def scheduler_config(self) -> tuple[SchedulerConfiguration, int]:
        """The configuration in effect and the index to answer with."""
        state = self._snapshot()
        config = state.operator.config()
        return config, max(1, state.table_index.get("scheduler_config", 0))

    def set_scheduler_config(
        self, config: SchedulerConfiguration, cas: int | None
    ) -> tuple[bool, int]:
        """(updated, index): ``updated`` is False when ``cas`` did not match."""
        problem = config.problem()
        if problem:
            raise BadRequestError(problem)
        result = self._submit(c.SetSchedulerConfig(now=self._clock(), config=config, cas=cas))
        if result.error == CAS_MISMATCH:
            return False, result.index
        if result.error:
            raise BadRequestError(result.error)
        log.info("scheduler configuration set: %s", _describe(config))
        return True, result.index

    def save(self) -> tuple[bytes, int]:
        """A consistent snapshot of every table, as a file, and its index."""
        state = self._snapshot()
        data = snapshotfile.encode(state.fork().dump(), state.cluster_id, self._clock())
        return data, state.index

    def restore(self, data: bytes) -> int:
        """Check a snapshot file, then send its state through the log in chunks; the
        last chunk replaces every table on every server. Returns the index."""
        meta, _, state = snapshotfile.decode(data)
        payload = state[1:]  # the envelope's version byte is the codec's, checked above
        restore_id = new_id()
        with self._restoring:  # one restore at a time from this server
            result = ApplyResult(index=0)
            chunks = range(0, max(len(payload), 1), RESTORE_CHUNK_BYTES)
            for seq, start in enumerate(chunks):
                cmd = c.StageRestore(
                    now=self._clock(),
                    restore_id=restore_id,
                    seq=seq,
                    data=payload[start : start + RESTORE_CHUNK_BYTES],
                    last=start + RESTORE_CHUNK_BYTES >= len(payload),
                )
                result = self._submit(cmd)
                if result.error:
                    raise GitorchError(f"snapshot restore failed: {result.error}")
        log.info(
            "restored snapshot of index %d (cluster %s) in %d log entries at index %d",
            meta.index,
            meta.cluster_id or "unnamed",
            len(chunks),
            result.index,
        )
        return result.index


def _describe(config: SchedulerConfiguration) -> str:
    return (
        f"algorithm={config.algorithm()} reject_job_registration="
        f"{config.reject_job_registration} pause_eval_broker={config.pause_eval_broker} "
        f"memory_oversubscription={config.memory_oversubscription_enabled}"
    )
