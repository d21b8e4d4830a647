"""Checks of the ``update`` block (Nomad's UpdateStrategy.Validate, plus the values a
deployment could never satisfy), as (block path, message, line key) triples."""

from __future__ import annotations

from gitorch.core.model.deployment import HEALTH_CHECKS, UpdateStrategy
from gitorch.core.model.job import Job, TaskGroup
from gitorch.jobspec.durations import format_duration
from gitorch.jobspec.redact import excerpt

Problem = tuple[str, str, str]


def update_problems(job: Job, where: str) -> list[Problem]:
    """Every problem of the job's and its groups' ``update`` blocks."""
    found: list[Problem] = []
    uses = job.update is not None or any(g.update is not None for g in job.task_groups)
    if not uses:
        return found
    if job.type in ("batch", "sysbatch"):
        msg = f'{job.type} jobs do not allow an "update" block (Nomad): they run to completion'
        found.append((f"{where} > update", msg, f"{where} > update"))
        return found
    if job.type == "system":
        msg = (
            'gitorch does not yet roll system jobs: remove the "update" block (a system job '
            "is updated on every node at once)"
        )
        found.append((f"{where} > update", msg, f"{where} > update"))
        return found
    if job.update is not None:
        found += strategy_problems(f"{where} > update", job.update, None)
    for group in job.task_groups:
        if group.update is not None and group.update != job.update:
            said = {msg for _, msg, _ in found}  # inherited from the job's block: said once
            path = f'{where} > group "{group.name}" > update'
            found += [p for p in strategy_problems(path, group.update, group) if p[1] not in said]
        elif group.update is not None:
            found += _count_problems(f"{where} > update", group.update, group)
    return found


def strategy_problems(path: str, u: UpdateStrategy, group: TaskGroup | None) -> list[Problem]:
    """Problems of one strategy at ``path``; with ``group``, those against its count."""
    out: list[Problem] = []

    def add(attr: str, message: str) -> None:
        out.append((path, message, f"{path}.{attr}"))

    if u.health_check not in HEALTH_CHECKS:
        names = ", ".join(HEALTH_CHECKS)
        add("health_check", f"unknown health_check {excerpt(u.health_check)}; use one of {names}")
    if u.max_parallel < 0:
        add("max_parallel", f"max_parallel may not be negative, got {u.max_parallel}")
    if u.canary < 0:
        add("canary", f"canary may not be negative, got {u.canary}")
    if u.canary == 0 and u.auto_promote:
        add("auto_promote", "auto_promote needs canaries: set canary to 1 or more")
    if u.stagger <= 0:
        add("stagger", f"stagger must be positive, got {format_duration(u.stagger)}")
    if u.min_healthy_time < 0:
        add("min_healthy_time", "min_healthy_time may not be negative")
    if u.healthy_deadline <= 0:
        add("healthy_deadline", "healthy_deadline must be positive")
    if u.progress_deadline < 0:
        add("progress_deadline", "progress_deadline may not be negative (0 turns it off)")
    if u.min_healthy_time >= u.healthy_deadline > 0:
        add(
            "min_healthy_time",
            f"min_healthy_time ({format_duration(u.min_healthy_time)}) must be less than "
            f"healthy_deadline ({format_duration(u.healthy_deadline)}): no allocation could "
            "become healthy in time",
        )
    if 0 < u.progress_deadline < u.healthy_deadline:
        add(
            "progress_deadline",
            f"progress_deadline ({format_duration(u.progress_deadline)}) must be 0 or at "
            f"least healthy_deadline ({format_duration(u.healthy_deadline)})",
        )
    if group is not None:
        out += _count_problems(path, u, group)
    return out


def _count_problems(path: str, u: UpdateStrategy, group: TaskGroup) -> list[Problem]:
    if u.auto_promote and u.canary > group.count:
        msg = (
            f'canary = {u.canary} is more than group "{group.name}"\'s count of {group.count}: '
            "auto_promote would wait for canaries that are never placed"
        )
        return [(path, msg, f"{path}.canary")]
    return []
