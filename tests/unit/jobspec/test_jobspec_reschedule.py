"""The ``reschedule`` block: decoded at job and group level with job-type defaults."""

from __future__ import annotations

import pytest

from gitorch.core.model.base import replace
from gitorch.core.model.job import (
    BATCH_RESCHEDULE,
    MINUTE,
    SECOND,
    SERVICE_RESCHEDULE,
    Job,
    ReschedulePolicy,
    Task,
    TaskGroup,
)
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text
from gitorch.jobspec.unsupported import UNSUPPORTED
from gitorch.jobspec.validate import problems

JOB = """\
job "web" {
  type = "%s"
  %s
  group "a" {
    %s
    task "t" { driver = "exec" }
  }
  group "b" {
    task "t" { driver = "exec" }
  }
}
"""


def test_reschedule_is_no_longer_ignored() -> None:
    assert "job.reschedule" not in UNSUPPORTED
    assert "group.reschedule" not in UNSUPPORTED


@pytest.mark.parametrize(("kind", "default"), [("service", SERVICE_RESCHEDULE),
                                               ("batch", BATCH_RESCHEDULE)])  # fmt: skip
def test_defaults_by_job_type(kind: str, default: ReschedulePolicy) -> None:
    job = parse_text(JOB % (kind, "", ""))
    assert [g.reschedule_policy for g in job.task_groups] == [default, default]


def test_group_block_overrides_the_job_block_field_by_field() -> None:
    job_block = 'reschedule {\n delay = "10s"\n delay_function = "fibonacci"\n max_delay = "5m"\n }'
    group_block = 'reschedule {\n attempts = 3\n interval = "1h"\n unlimited = false\n }'
    a, b = parse_text(JOB % ("service", job_block, group_block)).task_groups
    job_level = replace(
        SERVICE_RESCHEDULE, delay=10 * SECOND, delay_function="fibonacci", max_delay=5 * MINUTE
    )
    assert b.reschedule_policy == job_level
    assert a.reschedule_policy == replace(job_level, attempts=3, interval=60 * MINUTE,
                                          unlimited=False)  # fmt: skip


def test_the_integration_policy_parses() -> None:
    block = (
        'reschedule {\n delay = "1s"\n delay_function = "constant"\n attempts = 2\n'
        ' interval = "1h"\n unlimited = false\n }'
    )
    a, _ = parse_text(JOB % ("service", "", block)).task_groups
    assert a.reschedule_policy == ReschedulePolicy(
        attempts=2, interval=60 * MINUTE, delay=SECOND, delay_function="constant",
        max_delay=SERVICE_RESCHEDULE.max_delay, unlimited=False,
    )  # fmt: skip


def test_an_unknown_attribute_is_an_error() -> None:
    with pytest.raises(JobspecError, match="dealy"):
        parse_text(JOB % ("service", "", 'reschedule {\n dealy = "1s"\n }'))


def group_with(policy: ReschedulePolicy) -> Job:
    group = TaskGroup(name="a", tasks=[Task(name="t", driver="exec")], reschedule_policy=policy)
    return Job(id="web", name="web", task_groups=[group])


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (ReschedulePolicy(delay=-1), "may not be negative"),
        (ReschedulePolicy(delay_function="linear"), "unknown delay_function 'linear'"),  # type: ignore[arg-type]
        (ReschedulePolicy(attempts=2), "attempts = 2 with unlimited = true is ambiguous"),
        (ReschedulePolicy(delay=2 * MINUTE, max_delay=MINUTE), "max_delay may not be less"),
        (ReschedulePolicy(attempts=1, unlimited=False), "need an interval"),
        (
            ReschedulePolicy(
                attempts=3,
                interval=MINUTE,
                delay=30 * SECOND,
                delay_function="constant",
                unlimited=False,
            ),  # fmt: skip
            "3 attempts with constant delays need 1m30s, more than the interval of 1m",
        ),
    ],
)
def test_invalid_policies(policy: ReschedulePolicy, expected: str) -> None:
    found = [f"{path}: {msg}" for path, msg in problems(group_with(policy))]
    assert any(expected in m and "> reschedule" in m for m in found), found


def test_the_defaults_are_valid() -> None:
    assert problems(group_with(SERVICE_RESCHEDULE)) == []
    assert problems(group_with(BATCH_RESCHEDULE)) == []
