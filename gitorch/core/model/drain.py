"""Drain and disconnect values as Nomad's API spells them: a node's ``DrainStrategy``
and ``LastDrain``, a group's ``migrate`` and ``disconnect`` blocks, and an allocation's
``DesiredTransition``.

Durations are integer nanoseconds. Times the user sees on a node (``ForceDeadline``,
``StartedAt``, ``UpdatedAt``) are RFC 3339 strings, as Nomad's JSON has them; the
leader fixes them (with the unix-nanosecond ``*_ns`` twins the code reads) before a
command enters the log.
"""

from __future__ import annotations

from typing import Literal

from gitorch.core.model.base import Model

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, what Nomad shows for "none"

Reconcile = Literal["best_score", "keep_original", "keep_replacement", "longest_running"]
RECONCILE_RULES: tuple[str, ...] = (
    "best_score",
    "keep_original",
    "keep_replacement",
    "longest_running",
)
DrainStatus = Literal["draining", "complete", "canceled"]


class DrainSpec(Model, frozen=True, kw_only=True):
    """What a user asks for: ``deadline`` ns (-1 forces at once, 0 never forces)."""

    deadline: int = 0
    ignore_system_jobs: bool = False


class DrainStrategy(Model, frozen=True, kw_only=True):
    """A node's drain in progress (Nomad's DrainStrategy, with its DrainSpec inlined)."""

    deadline: int = 0
    ignore_system_jobs: bool = False
    force_deadline: str = GO_ZERO_TIME
    started_at: str = GO_ZERO_TIME
    force_deadline_ns: int = 0  # 0: no deadline
    started_at_ns: int = 0


class DrainMetadata(Model, frozen=True, kw_only=True):
    """The node's last drain (Nomad's LastDrain)."""

    started_at: str = GO_ZERO_TIME
    updated_at: str = GO_ZERO_TIME
    status: DrainStatus = "draining"
    accessor_id: str = ""
    meta: dict[str, str] = {}


class MigrateStrategy(Model, frozen=True, kw_only=True):
    """A group's ``migrate`` block: how its allocations leave a draining node."""

    max_parallel: int = 1
    health_check: Literal["checks", "task_states"] = "checks"
    min_healthy_time: int = 10 * SECOND
    healthy_deadline: int = 5 * MINUTE


class DisconnectStrategy(Model, frozen=True, kw_only=True):
    """A group's ``disconnect`` block. ``lost_after`` 0 means the block is absent."""

    lost_after: int = 0
    replace: bool = True
    reconcile: Reconcile = "best_score"
    stop_on_client_after: int = 0


class DesiredTransition(Model, frozen=True, kw_only=True):
    """Nomad's DesiredTransition: ``migrate`` set by the drainer asks the scheduler for a
    replacement on another node; the original stays until the replacement is healthy."""

    migrate: bool = False


def rfc3339(ns: int) -> str:
    """Unix nanoseconds as Nomad's RFC 3339 time (UTC, nanoseconds, ``Z``)."""
    if ns <= 0:
        return GO_ZERO_TIME
    secs, frac = divmod(ns, SECOND)
    days, rem = divmod(secs, 86_400)
    hour, rem = divmod(rem, 3600)
    minute, second = divmod(rem, 60)
    year, month, day = _civil(days)
    stamp = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return f"{stamp}.{frac:09d}Z" if frac else f"{stamp}Z"


def _civil(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 as (year, month, day), proleptic Gregorian."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day
