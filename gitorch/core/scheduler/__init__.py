"""The scheduler is a function: ``schedule(snapshot, evaluation) -> Plan``.

Pure: time comes in as ``now``, randomness as ``seed`` and allocation IDs from
``new_id``; the same inputs give the same plan on every server.
"""

from __future__ import annotations

from collections.abc import Callable

from gitorch.core.model import Evaluation, Plan, replace
from gitorch.core.scheduler.generic import schedule_generic, unsupported
from gitorch.core.scheduler.system import schedule_system
from gitorch.core.state import StateView

SUPPORTED = ("service", "batch", "system", "sysbatch")

__all__ = ["SUPPORTED", "schedule"]


def schedule(
    snap: StateView, ev: Evaluation, *, now: int, seed: int, new_id: Callable[[], str]
) -> Plan:
    """Plan the changes one evaluation calls for, dispatching on the job's type."""
    job = snap.job(ev.namespace, ev.job_id)
    if job is not None and job.is_parent():  # periodic/parameterized: its children run
        job = replace(job, stop=True)
    kind = job.type if job is not None else ev.type
    stopping = job is None or job.stop  # stopping everything works for any job type
    if kind not in SUPPORTED and not stopping:
        why = f"unknown job type {kind!r} (supported: {', '.join(SUPPORTED)})"
        return unsupported(ev, job, why)
    if job is not None and not stopping and kind in ("system", "sysbatch"):
        return schedule_system(snap, ev, job, seed=seed, new_id=new_id)
    return schedule_generic(snap, ev, job, now=now, seed=seed, new_id=new_id)
