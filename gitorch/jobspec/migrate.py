"""The ``migrate`` and ``disconnect`` blocks, and the older ``max_client_disconnect`` /
``stop_after_client_disconnect`` group attributes, decoded with located errors.

A job-level ``migrate`` block is the base each group's block overrides (Nomad's
merge). Impossible values are errors naming the file, line and block path:
``min_healthy_time >= healthy_deadline``, a negative ``max_parallel``, an unknown
``health_check`` or ``reconcile`` rule, ``lost_after`` together with
``stop_on_client_after`` (Nomad refuses both), and a ``disconnect`` block beside
the older attributes it replaces.
"""

from __future__ import annotations

from gitorch.core.model.drain import RECONCILE_RULES, DisconnectStrategy, MigrateStrategy
from gitorch.jobspec.reader import BlockReader, one

_MIGRATE_CHECKS = ("checks", "task_states")


def _line(r: BlockReader, name: str) -> int:
    return r.lines.get(f"{r.path}.{name}", r.body.line)


def decode_migrate(r: BlockReader, base: MigrateStrategy | None) -> MigrateStrategy | None:
    """``base`` with what this block's ``migrate`` sets; ``base`` when it has none."""

    def merge(c: BlockReader, _: str) -> MigrateStrategy:
        b = base or MigrateStrategy()
        m = MigrateStrategy(
            max_parallel=c.integer("max_parallel", b.max_parallel),
            health_check=c.string("health_check", b.health_check),  # type: ignore[arg-type]
            min_healthy_time=c.duration("min_healthy_time", b.min_healthy_time),
            healthy_deadline=c.duration("healthy_deadline", b.healthy_deadline),
        )
        if m.max_parallel < 0:
            c.error("migrate max_parallel may not be negative", _line(c, "max_parallel"))
        if m.health_check not in _MIGRATE_CHECKS:
            c.error(
                f'migrate health_check must be "checks" or "task_states"; got {m.health_check!r}',
                _line(c, "health_check"),
            )
        if m.healthy_deadline <= 0:
            c.error("migrate healthy_deadline must be positive", _line(c, "healthy_deadline"))
        elif m.min_healthy_time >= m.healthy_deadline:
            c.error(
                "migrate min_healthy_time must be less than healthy_deadline: no replacement "
                "could ever be healthy",
                _line(c, "min_healthy_time"),
            )
        return m

    return one(r, "migrate", base, merge)


def decode_disconnect(r: BlockReader) -> DisconnectStrategy | None:
    """The group's ``disconnect`` block, or None."""

    def read(c: BlockReader, _: str) -> DisconnectStrategy:
        d = DisconnectStrategy(
            lost_after=c.duration("lost_after", 0),
            replace=c.boolean("replace", True),
            reconcile=c.string("reconcile", "best_score"),  # type: ignore[arg-type]
            stop_on_client_after=c.duration("stop_on_client_after", 0),
        )
        if d.reconcile not in RECONCILE_RULES:
            c.error(
                f"disconnect reconcile must be one of {', '.join(RECONCILE_RULES)}; "
                f"got {d.reconcile!r}",
                _line(c, "reconcile"),
            )
        if d.lost_after < 0 or d.stop_on_client_after < 0:
            c.error("disconnect durations may not be negative", c.body.line)
        if d.lost_after > 0 and d.stop_on_client_after > 0:
            c.error(
                "disconnect takes lost_after or stop_on_client_after, not both: a client "
                "that stops its tasks cannot also be waited for",
                _line(c, "stop_on_client_after"),
            )
        return d

    found = one(r, "disconnect", None, read)
    if found is not None:
        for old in ("max_client_disconnect", "stop_after_client_disconnect"):
            if r.body.attributes.get(old) is not None:
                r.error(
                    f'"{old}" and a "disconnect" block cannot both be set: move it into '
                    "the disconnect block",
                    _line(r, old),
                )
    return found


def decode_old_disconnect(r: BlockReader) -> tuple[int | None, int | None]:
    """``max_client_disconnect`` and ``stop_after_client_disconnect`` (None: unset)."""
    lost = r.duration("max_client_disconnect", 0)
    stop = r.duration("stop_after_client_disconnect", 0)
    return (lost or None), (stop or None)
