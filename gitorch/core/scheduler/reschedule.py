"""Nomad's reschedule policy as pure functions: when may a failed allocation be replaced?

A failed allocation is replaced ``delay`` after it failed (``modify_time``), the delay
growing with its reschedule tracker as ``delay_function`` says, capped at ``max_delay``;
unless the policy is limited and ``attempts`` reschedules already happened within
``interval``, in which case it stays failed.
"""

from __future__ import annotations

from gitorch.core.model import Allocation, ReschedulePolicy


def eligible(alloc: Allocation, policy: ReschedulePolicy) -> bool:
    """Nomad's RescheduleEligible, counted back from the time the allocation failed."""
    if policy.unlimited:
        return True
    if policy.attempts <= 0:
        return False
    events = alloc.reschedule_tracker.events if alloc.reschedule_tracker else []
    since = alloc.modify_time - policy.interval
    return sum(1 for e in events if e.reschedule_time > since) < policy.attempts


def next_delay(alloc: Allocation, policy: ReschedulePolicy) -> int:
    """Nomad's Allocation.NextDelay: the wait before this allocation's replacement."""
    events = alloc.reschedule_tracker.events if alloc.reschedule_tracker else []
    delay = policy.delay
    if not events or policy.delay_function == "constant":
        return delay
    if policy.delay_function == "exponential":
        delay = events[-1].delay * 2
    elif len(events) >= 2:  # fibonacci
        last, before = events[-1].delay, events[-2].delay
        # a series that was reset after reaching the ceiling starts again
        delay = last if before == policy.max_delay and last == policy.delay else last + before
    if policy.max_delay > 0 and delay > policy.max_delay:
        delay = policy.max_delay
        # the previous allocation ran longer than the ceiling: start the series again
        if alloc.modify_time - events[-1].reschedule_time > delay:
            delay = policy.delay
    return delay


def reschedule_time(alloc: Allocation, policy: ReschedulePolicy) -> tuple[int, int] | None:
    """``(when, delay)`` the failed ``alloc`` may be replaced, or None when it may not."""
    if not eligible(alloc, policy):
        return None
    delay = next_delay(alloc, policy)
    return alloc.modify_time + delay, delay
