"""What ``/v1/system/gc`` may purge: the finished allocations and evaluations of jobs
that are stopped (or already purged), last changed at least ``threshold`` ago.

``collectable`` runs on the leader and fixes the IDs before the ``GarbageCollect``
command enters the log; the state store deletes only what is still finished when it
applies, so a replica never drops something that came back to life in between.
"""

from __future__ import annotations

from gitorch.core.state import StateView


def _job_gone_or_stopped(state: StateView, namespace: str, job_id: str) -> bool:
    job = state.job(namespace, job_id)
    return job is None or job.stop


def collectable(state: StateView, now: int, threshold: int) -> tuple[list[str], list[str]]:
    """(allocation IDs, evaluation IDs) that may go, oldest first."""
    cutoff = now - threshold
    allocs = sorted(
        (a for a in list(state.allocs.values())
         if a.client_terminal()
         and max(a.create_time, a.modify_time) <= cutoff
         and _job_gone_or_stopped(state, a.namespace, a.job_id)),
        key=lambda a: (a.modify_index, a.id),
    )  # fmt: skip
    evals = sorted(
        (e for e in list(state.evals.values())
         if e.terminal()
         and max(e.create_time, e.modify_time) <= cutoff
         and _job_gone_or_stopped(state, e.namespace, e.job_id)),
        key=lambda e: (e.modify_index, e.id),
    )  # fmt: skip
    return [a.id for a in allocs], [e.id for e in evals]
