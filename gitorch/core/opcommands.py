"""The Raft commands of the operator routes: the scheduler configuration, and a
snapshot restore, which enters the log in chunks (a snapshot is larger than one entry
may be) and replaces the tables when its last chunk is applied, on every replica."""

from __future__ import annotations

import msgspec

from gitorch.core.model.operator import SchedulerConfiguration
from gitorch.core.naming import nomad_name

RESTORE_CHUNK_BYTES = 512 << 10  # well under a Raft entry's 1 MiB


class _OpCmd(msgspec.Struct, frozen=True, kw_only=True, tag=True, rename=nomad_name):
    now: int


class SetSchedulerConfig(_OpCmd, frozen=True, kw_only=True):
    """Replace the scheduler configuration; with ``cas``, only if the stored one's
    modify index is ``cas`` (0: only while none was ever set), as Nomad's ``?cas=``."""

    config: SchedulerConfiguration
    cas: int | None = None


class StageRestore(_OpCmd, frozen=True, kw_only=True):
    """Chunk ``seq`` of snapshot restore ``restore_id``: the msgpack of a state dump,
    cut in pieces. Chunk 0 starts a restore (dropping any unfinished one); ``last``
    replaces the tables with the whole."""

    restore_id: str
    seq: int
    data: bytes
    last: bool = False


OpCommand = SetSchedulerConfig | StageRestore
CAS_MISMATCH = "cas mismatch"
