"""Semantic validation: every problem at once, with block paths (and lines when parsed)."""

from __future__ import annotations

import pytest

from gitorch.core.model.base import replace
from gitorch.core.model.job import (
    SECOND,
    Constraint,
    Job,
    Resources,
    RestartPolicy,
    Service,
    ServiceCheck,
    Task,
    TaskGroup,
    Template,
)
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text
from gitorch.jobspec.validate import problems, validate


def good_job(**changes: object) -> Job:
    task = Task(name="srv", driver="exec", config={"command": "/bin/true"})
    group = TaskGroup(name="app", tasks=[task], restart_policy=RestartPolicy())
    return replace(Job(id="web", name="web", task_groups=[group]), **changes)


def with_task(**changes: object) -> Job:
    job = good_job()
    group = job.task_groups[0]
    task = replace(group.tasks[0], **changes)
    return replace(job, task_groups=[replace(group, tasks=[task])])


def messages(job: Job) -> list[str]:
    return [f"{path}: {msg}" for path, msg in problems(job)]


def test_a_good_job_passes() -> None:
    validate(good_job(), "jobs/web.nomad.hcl")
    assert problems(good_job()) == []


def test_all_problems_are_reported_together() -> None:
    bad_task = Task(
        name="srv",
        driver="",
        resources=Resources(cpu=0, memory_mb=5),
        kill_signal="SIGNOPE",
    )
    group = TaskGroup(
        name="app",
        count=-1,
        tasks=[bad_task],
        restart_policy=replace(RestartPolicy(), mode="sometimes"),
        constraints=[Constraint(ltarget="${attr.kernel.name}", rtarget="linux", operand="~=")],
    )
    job = Job(id="my web", name="my web", task_groups=[group, TaskGroup(name="empty")])
    with pytest.raises(JobspecError) as info:
        validate(job, "jobs/web.nomad.hcl")
    err = info.value
    found = [(p.path, p.message) for p in err.problems]
    assert found == [
        ('job "my web"', "the job ID 'my web' may not contain spaces, tabs or '/'"),
        ('job "my web" > group "app"', "count may not be negative, got -1"),
        ('job "my web" > group "app" > constraint', found[2][1]),
        (
            'job "my web" > group "app" > restart',
            'unknown restart mode \'sometimes\'; use "fail" or "delay"',
        ),
        ('job "my web" > group "app" > task "srv"', 'a task needs a driver, as in driver = "exec"'),
        (
            'job "my web" > group "app" > task "srv" > resources',
            "cpu must be at least 1 MHz, got 0",
        ),
        (
            'job "my web" > group "app" > task "srv" > resources',
            "memory must be at least 10 MB, got 5",
        ),
        (
            'job "my web" > group "app" > task "srv"',
            "unknown kill_signal 'SIGNOPE', use a name like SIGTERM",
        ),
        ('job "my web" > group "empty"', 'a group needs at least one task "name" { driver = ... }'),
    ]
    assert found[2][1].startswith("unknown operator '~='")
    message = str(err)
    assert message.startswith("jobs/web.nomad.hcl: 9 problems:\n")
    assert len(message.splitlines()) == 10
    assert all(p.file == "jobs/web.nomad.hcl" for p in err.problems)


@pytest.mark.parametrize("job_type", ["system", "sysbatch"])
def test_system_types_are_valid_with_count_one(job_type: str) -> None:
    assert messages(good_job(type=job_type)) == []
    job = good_job(type=job_type)
    groups = [replace(g, count=3) for g in job.task_groups]
    assert messages(replace(job, task_groups=groups)) == [
        f'job "web" > group "app": count is 3: the {job_type} scheduler runs one per node '
        "(count 1)"
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"id": ""}, "the job ID is empty"),
        ({"id": "a/b"}, "may not contain spaces, tabs or '/'"),
        ({"type": "cron"}, "unknown job type 'cron'"),
        ({"priority": 0}, "priority must be between 1 and 100"),
        ({"task_groups": []}, "a job needs at least one group"),
        ({"datacenters": []}, "datacenters must be a list"),
    ],
)
def test_job_checks(changes: dict[str, object], expected: str) -> None:
    (message,) = messages(good_job(**changes))
    assert expected in message


def test_unique_group_and_task_names() -> None:
    job = good_job()
    group = job.task_groups[0]
    twice = replace(group, tasks=[group.tasks[0], group.tasks[0]])
    assert messages(replace(job, task_groups=[twice, twice])) == [
        'job "web": group "app" is defined 2 times',
        'job "web" > group "app": task "srv" is defined 2 times',
        'job "web" > group "app": task "srv" is defined 2 times',
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"kill_signal": "TERM"}, "unknown kill_signal 'TERM'"),
        ({"kill_timeout": -1}, "kill_timeout may not be negative"),
        ({"resources": Resources(memory_mb=300, memory_max_mb=100)}, "memory_max (100) is below"),
        (
            {"restart_policy": RestartPolicy(attempts=0, mode="delay")},
            'restart mode "delay" with 0 attempts is ambiguous',
        ),
        (
            {"restart_policy": RestartPolicy(attempts=5, delay=10 * SECOND, interval=30 * SECOND)},
            "5 attempts 10s apart do not fit in an interval of 30s",
        ),
        (
            {"templates": [Template(embedded_tmpl="x", dest_path="local/x", change_mode="signal")]},
            'change_mode "signal" needs change_signal',
        ),
        ({"templates": [Template(dest_path="local/x")]}, "exactly one of data or source"),
        (
            {"services": [Service(name="web", checks=[ServiceCheck(type="http", interval=1)])]},
            "positive interval and timeout",
        ),
    ],
)
def test_task_checks(changes: dict[str, object], expected: str) -> None:
    found = messages(with_task(**changes))
    assert any(expected in m for m in found), found


@pytest.mark.parametrize(
    ("constraint", "ok"),
    [
        (Constraint(ltarget="${attr.kernel.name}", rtarget="linux"), True),
        (Constraint(ltarget="${attr.kernel.name}", rtarget="", operand="!="), False),
        (Constraint(operand="distinct_hosts", rtarget="true"), True),
        (Constraint(ltarget="${meta.rack}", operand="distinct_property", rtarget="0"), False),
        (Constraint(ltarget="${meta.rack}", operand="is_set"), True),
        (Constraint(ltarget="${meta.rack}", operand="is_set", rtarget="x"), False),
        (Constraint(ltarget="${node.class}", operand="regexp", rtarget="(unclosed"), False),
        (Constraint(ltarget="${attr.os.version}", operand="version", rtarget=">= 1"), True),
        (Constraint(ltarget="", operand="semver", rtarget=">= 1.0.0"), False),
    ],
)
def test_constraint_operands(constraint: Constraint, ok: bool) -> None:
    assert (messages(good_job(constraints=[constraint])) == []) is ok


def test_driver_check_hook() -> None:
    seen: list[tuple[str, dict[str, object]]] = []

    def check(driver: str, config: dict[str, object]) -> list[str]:
        seen.append((driver, config))
        return ['"command" must be an absolute path']

    with pytest.raises(JobspecError) as info:
        validate(good_job(), "jobs/web.nomad.hcl", check)
    assert seen == [("exec", {"command": "/bin/true"})]
    assert str(info.value) == (
        'jobs/web.nomad.hcl: job "web" > group "app" > task "srv" > config: '
        '"command" must be an absolute path'
    )


def test_problems_found_in_a_parsed_file_carry_lines() -> None:
    text = """\
job "web" {
  group "app" {
    count = -2
    task "srv" {
      driver = "exec"

      kill_signal = "SIGNOPE"
      resources {
        memory = 4
      }
    }
  }
}
"""
    with pytest.raises(JobspecError) as info:
        parse_text(text, file="jobs/web.nomad.hcl")
    assert [(p.line, p.message.split(",")[0]) for p in info.value.problems] == [
        (3, "count may not be negative"),
        (7, "unknown kill_signal 'SIGNOPE'"),
        (9, "memory must be at least 10 MB"),
    ]
    assert "jobs/web.nomad.hcl:7: " in str(info.value)
