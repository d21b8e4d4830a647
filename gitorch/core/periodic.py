"""Periodic jobs, as pure functions: when the next launch is due, what is wrong with a
``periodic`` block, and the child job a launch creates.

Times are unix nanoseconds; cron expressions go through :mod:`gitorch.core.cron`, the
one adapter to the cron library. Nothing here reads the clock: the leader's dispatcher
(:mod:`gitorch.server.periodic`) passes ``now`` in.
"""

from __future__ import annotations

from gitorch.core.cron import CronError, parse, to_datetime, to_ns, zone
from gitorch.core.model import Job, replace
from gitorch.core.model.launch import PERIODIC_SUFFIX, PeriodicConfig

SECOND = 1_000_000_000


def next_launch(periodic: PeriodicConfig, after: int) -> int | None:
    """Nomad's ``PeriodicConfig.Next``: the earliest time strictly after ``after`` (in
    whole seconds) that any of the block's cron expressions matches, read in its
    ``time_zone``; None when none ever will (or the block is invalid)."""
    try:
        tz = zone(periodic.time_zone)
        start = to_datetime(after, tz)
        times = [parse(spec).next_after(start) for spec in periodic.all_specs()]
    except CronError:
        return None
    found = [to_ns(t) for t in times if t is not None]
    return min(found) if found else None


def problems(periodic: PeriodicConfig) -> list[tuple[str, str]]:
    """Nomad's ``PeriodicConfig.Validate`` as (attribute, message) pairs. A disabled
    block is not checked, as in Nomad."""
    if not periodic.enabled:
        return []
    out: list[tuple[str, str]] = []
    if periodic.spec and periodic.specs:
        out.append(("crons", 'only one of "cron" or "crons" may be set'))
    if not periodic.spec and not periodic.specs:
        out.append(("cron", 'a periodic block needs "cron" or "crons"'))
    if periodic.spec_type != "cron":
        out.append(("cron", f"unknown periodic specification type {periodic.spec_type!r}"))
    try:
        zone(periodic.time_zone)
    except CronError as exc:
        out.append(("time_zone", str(exc)))
    for attr, specs in (("cron", [periodic.spec] if periodic.spec else []),
                        ("crons", periodic.specs)):  # fmt: skip
        for spec in specs:
            try:
                parse(spec)
            except CronError as exc:
                out.append((attr, f"invalid cron expression {spec!r}: {exc}"))
    return out


def child_id(parent_id: str, launch: int) -> str:
    """Nomad's derived ID: ``<parent>/periodic-<unix seconds>``."""
    return f"{parent_id}{PERIODIC_SUFFIX}{launch // SECOND}"


def launch_of(job_id: str) -> int | None:
    """The launch time (unix ns) a periodic child's ID carries, or None."""
    _, sep, tail = job_id.rpartition(PERIODIC_SUFFIX)
    return int(tail) * SECOND if sep and tail.isdigit() else None


def derive_child(parent: Job, launch: int) -> Job:
    """The job a launch of ``parent`` at ``launch`` registers (Nomad's deriveJob): the
    parent's spec, not periodic, named ``<parent>/periodic-<unix>``, with ``ParentID``.
    It records no Git source: the GitOps loop never prunes a child."""
    new_id = child_id(parent.id, launch)
    return replace(
        parent,
        id=new_id,
        name=new_id,
        parent_id=parent.id,
        periodic=None,
        status="pending",
        status_description="",
        version=0,
        stable=False,
        create_index=0,
        modify_index=0,
        job_modify_index=0,
        submit_time=0,
        source=None,
    )
