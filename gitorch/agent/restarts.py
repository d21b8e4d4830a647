"""Nomad's restart tracker, as a pure function.

``decide`` looks at how a task ended (or failed to start), the group's restart policy,
the job type and the restart history, and answers: restart after a delay, fail, or
done. It follows Nomad's rules:

* a batch or sysbatch task that exits 0 is done; service and system tasks restart
  even after exit 0 (they are meant to run forever);
* ``attempts = 0`` allows no restarts;
* within one ``interval`` at most ``attempts`` restarts happen, each after ``delay``
  (plus up to 25 % jitter, drawn by the caller, since this module has no randomness);
* past that, mode ``fail`` fails the task and mode ``delay`` waits until the interval
  ends, then starts a fresh interval;
* a start error the driver marks unrecoverable fails the task at once.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from gitorch.core.model import BATCH_RESTART, Job, JobType, RestartPolicy, Task

REASON_NO_RESTARTS = "Policy allows no restarts"
REASON_UNRECOVERABLE = "Error was unrecoverable"
REASON_WITHIN_POLICY = "Restart within policy"
REASON_DELAY = "Exceeded allowed attempts, applying a delay"
JITTER_FRACTION = 0.25


class RestartHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Restarts counted in the current interval, and when that interval began (ns)."""

    count: int = 0
    interval_start: int = 0


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What to do with a task that stopped: ``restart`` after ``delay`` ns, ``fail``, or
    ``done`` (a batch task that succeeded). ``history`` is the tracker to keep."""

    action: Literal["restart", "fail", "done"]
    reason: str
    history: RestartHistory
    delay: int = 0


def restart_policy(job: Job, group_name: str, task: Task) -> RestartPolicy:
    """The task's policy (already merged with its group's), else the group's, else
    Nomad's default for the job type."""
    if task.restart_policy is not None:
        return task.restart_policy
    group = job.group(group_name)
    if group is not None and group.restart_policy is not None:
        return group.restart_policy
    return BATCH_RESTART if job.type in ("batch", "sysbatch") else RestartPolicy()


def restarts_on_success(job_type: JobType) -> bool:
    """Service and system tasks are restarted even when they exit 0."""
    return job_type in ("service", "system")


def decide(
    policy: RestartPolicy,
    job_type: JobType,
    history: RestartHistory,
    *,
    now: int,
    successful: bool = False,
    start_error: bool = False,
    recoverable: bool = True,
    jitter: float = 0.0,
) -> Decision:
    """Decide the fate of a task that exited (``successful`` if exit code 0 and no
    signal) or could not start (``start_error``; ``recoverable`` as the driver says).
    ``jitter`` in [0, 1) scales the extra delay Nomad adds to spread restarts."""
    if start_error and not recoverable:
        return Decision(action="fail", reason=REASON_UNRECOVERABLE, history=history)
    if not start_error and successful and not restarts_on_success(job_type):
        return Decision(action="done", reason="", history=history)
    if policy.attempts <= 0:
        return Decision(action="fail", reason=REASON_NO_RESTARTS, history=history)
    end = history.interval_start + policy.interval
    if history.count == 0 or now > end:
        history = RestartHistory(count=0, interval_start=now)
        end = now + policy.interval
    history = RestartHistory(count=history.count + 1, interval_start=history.interval_start)
    if history.count <= policy.attempts:
        delay = policy.delay + int(policy.delay * JITTER_FRACTION * min(max(jitter, 0.0), 1.0))
        return Decision(action="restart", reason=REASON_WITHIN_POLICY, history=history, delay=delay)
    if policy.mode == "delay":
        return Decision(action="restart", reason=REASON_DELAY, history=history, delay=end - now)
    reason = (
        f"Exceeded allowed attempts {policy.attempts} in interval "
        f'{go_duration(policy.interval)} and mode is "fail"'
    )
    return Decision(action="fail", reason=reason, history=history)


def go_duration(ns: int) -> str:
    """Format nanoseconds as Go's ``time.Duration.String`` does (``30m0s``, ``1.5s``)."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns / 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns / 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 1_000_000_000)
    minutes, rest = divmod(rest, 60 * 1_000_000_000)
    seconds = _trim(rest / 1_000_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"
