"""The pure pass/fail counting of client checks and check_restart."""

from __future__ import annotations

from gitorch.agent.hooks.checkstate import CheckState, initial, observe, restart_due
from gitorch.core.model.service import CheckRestart, ServiceCheck

S = 1_000_000_000


def run(check: ServiceCheck, outcomes: str) -> list[str]:
    state, seen = initial(check), []
    for ch in outcomes:
        state = observe(check, state, ch == "+")
        seen.append(state.status)
    return seen


def test_a_check_starts_pending_unless_initial_status_says() -> None:
    assert initial(ServiceCheck()).status == "pending"
    assert initial(ServiceCheck(initial_status="passing")).status == "success"
    assert initial(ServiceCheck(initial_status="critical")).status == "failure"


def test_one_result_flips_the_status_by_default() -> None:
    assert run(ServiceCheck(), "+-+") == ["success", "failure", "success"]


def test_success_before_passing_needs_consecutive_successes() -> None:
    check = ServiceCheck(success_before_passing=3)
    assert run(check, "++-+++") == ["pending"] * 2 + ["failure"] * 3 + ["success"]


def test_failures_before_critical_tolerates_a_few_failures() -> None:
    check = ServiceCheck(failures_before_critical=2)
    assert run(check, "+-+--") == ["success", "success", "success", "success", "failure"]


def test_check_restart_after_limit_consecutive_failures_outside_grace() -> None:
    policy = CheckRestart(limit=3, grace=10 * S)
    state = CheckState(status="failure")
    # within the grace after the task started, failures do not count
    state, due = restart_due(policy, state, now=5 * S, started_at=0)
    assert (state.unhealthy, due) == (0, False)
    for n in (1, 2):
        state, due = restart_due(policy, state, now=20 * S, started_at=0)
        assert (state.unhealthy, due) == (n, False)
    state, due = restart_due(policy, state, now=20 * S, started_at=0)
    assert (state.unhealthy, due) == (0, True)


def test_a_success_resets_the_restart_count_and_pending_keeps_it() -> None:
    policy = CheckRestart(limit=2, grace=0)
    state, _ = restart_due(policy, CheckState(status="failure"), now=1, started_at=0)
    state, _ = restart_due(policy, CheckState(status="pending", unhealthy=1), now=1, started_at=0)
    assert state.unhealthy == 1
    state, due = restart_due(policy, CheckState(status="success", unhealthy=1), now=1, started_at=0)
    assert (state.unhealthy, due) == (0, False)


def test_no_policy_never_restarts() -> None:
    state, due = restart_due(None, CheckState(status="failure", unhealthy=9), now=1, started_at=0)
    assert not due


def run3(check: ServiceCheck, outcomes: str) -> list[str]:
    """``+`` passing, ``w`` warning (a script's exit 1), ``-`` critical."""
    state, seen = initial(check), []
    for ch in outcomes:
        state = observe(check, state, ch == "+", warning=ch == "w")
        seen.append(state.status)
    return seen


def test_a_warning_probe_shows_warning_and_a_pass_clears_it() -> None:
    assert run3(ServiceCheck(), "w+w-") == ["warning", "success", "warning", "failure"]


def test_failures_before_warning_warns_before_critical() -> None:
    check = ServiceCheck(failures_before_warning=1, failures_before_critical=3)
    assert run3(check, "+---+") == ["success", "warning", "warning", "failure", "success"]


def test_without_failures_before_warning_a_failure_never_warns() -> None:
    check = ServiceCheck(failures_before_critical=2)
    assert run3(check, "+--") == ["success", "success", "failure"]


def test_check_restart_counts_warnings_unless_ignore_warnings() -> None:
    warn = CheckState(status="warning")
    counting = CheckRestart(limit=2, grace=0)
    state, due = restart_due(counting, warn, now=10 * S, started_at=0)
    assert (state.unhealthy, due) == (1, False)
    assert restart_due(counting, state, now=11 * S, started_at=0)[1] is True
    ignoring = CheckRestart(limit=2, grace=0, ignore_warnings=True)
    state, due = restart_due(
        ignoring, CheckState(status="warning", unhealthy=1), now=10 * S, started_at=0
    )
    assert (state.unhealthy, due) == (0, False)
