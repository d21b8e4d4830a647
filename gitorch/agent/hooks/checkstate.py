"""Pure pass/fail counting for the checks a client runs.

``observe(check, state, ok)`` turns one probe outcome into the check's reported status
with Nomad's hysteresis (``success_before_passing``, ``failures_before_critical``,
``failures_before_warning``);
``restart_due`` counts consecutive unhealthy statuses for ``check_restart``. No IO, no
clock: times come in as arguments.
"""

from __future__ import annotations

import msgspec

from gitorch.core.model.service import CheckRestart, CheckStatus, ServiceCheck


class CheckState(msgspec.Struct, frozen=True, kw_only=True):
    """One check's counters: consecutive raw successes and failures, the status shown,
    and consecutive unhealthy statuses (for ``check_restart``)."""

    status: CheckStatus = "pending"
    successes: int = 0
    failures: int = 0
    unhealthy: int = 0


def initial(check: ServiceCheck) -> CheckState:
    """The state before the first probe: ``initial_status``, else pending."""
    status: CheckStatus = "pending"
    if check.initial_status == "passing":
        status = "success"
    elif check.initial_status == "critical":
        status = "failure"
    return CheckState(status=status)


def observe(
    check: ServiceCheck, state: CheckState, ok: bool, *, warning: bool = False
) -> CheckState:
    """The state after one probe (``warning``: a failed probe that only warns, as a
    script check's exit 1). As Consul counts: a passing or warning probe turns the
    status to success (or warning) after ``success_before_passing`` consecutive ones
    (at least one); a critical probe turns it to failure after
    ``failures_before_critical`` consecutive ones (at least one), and to warning after
    ``failures_before_warning`` (when set) before that; else the status stays."""
    if ok or warning:
        successes, failures = state.successes + 1, 0
        reached = successes >= max(1, check.success_before_passing)
        status: CheckStatus = ("success" if ok else "warning") if reached else state.status
    else:
        successes, failures = 0, state.failures + 1
        if failures >= max(1, check.failures_before_critical):
            status = "failure"
        elif 0 < check.failures_before_warning <= failures:
            status = "warning"
        else:
            status = state.status
    return msgspec.structs.replace(state, status=status, successes=successes, failures=failures)


def restart_due(
    policy: CheckRestart | None, state: CheckState, *, now: int, started_at: int
) -> tuple[CheckState, bool]:
    """Count the status just observed for ``check_restart``: a failure adds one, a
    success resets, pending leaves the count; a warning counts as a failure unless
    ``ignore_warnings``, then as a success. Results within ``grace`` of the task's start
    do not count. True (and the count reset) once it reaches ``limit``."""
    if policy is None or policy.limit <= 0 or now < started_at + policy.grace:
        return msgspec.structs.replace(state, unhealthy=0), False
    failing = state.status == "failure" or (
        state.status == "warning" and not policy.ignore_warnings
    )
    if failing:
        unhealthy = state.unhealthy + 1
    elif state.status in ("success", "warning"):
        unhealthy = 0
    else:
        unhealthy = state.unhealthy
    if unhealthy >= policy.limit:
        return msgspec.structs.replace(state, unhealthy=0), True
    return msgspec.structs.replace(state, unhealthy=unhealthy), False
