"""``periodic``, ``parameterized`` and ``dispatch_payload`` in HCL: Nomad's names and
defaults, and every mistake a located error (file:line)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitorch.agent.payload import write_payload
from gitorch.core.model import Job, Task
from gitorch.core.model.launch import DispatchPayloadConfig
from gitorch.errors import DriverError, JobspecError
from gitorch.jobspec import parse_text
from gitorch.jobspec.unsupported import UNSUPPORTED

TASK = """
  group "g" {
    task "t" {
      driver = "raw_exec"
      %s
      config { command = "/bin/true" }
    }
  }
"""


def spec(job_body: str, task_body: str = "", job_type: str = "batch") -> str:
    return f'job "j" {{\n  type = "{job_type}"\n{job_body}\n{TASK % task_body}}}\n'


def test_blocks_are_no_longer_ignored() -> None:
    for name in ("job.periodic", "job.parameterized", "task.dispatch_payload"):
        assert name not in UNSUPPORTED


def test_periodic_decodes_with_nomad_defaults() -> None:
    job = parse_text(spec('  periodic {\n    cron = "*/5 * * * *"\n  }'), file="p.hcl")
    assert job.periodic is not None
    assert job.periodic.spec == "*/5 * * * *" and job.periodic.specs == []
    assert job.periodic.enabled and not job.periodic.prohibit_overlap
    assert job.periodic.time_zone == "UTC" and job.is_periodic_active()
    job = parse_text(
        spec(
            "  periodic {\n"
            '    crons = ["0 9 * * mon-fri", "*/2 * * * * * *"]\n'
            "    prohibit_overlap = true\n"
            '    time_zone = "Europe/Berlin"\n'
            "    enabled = false\n"
            "  }"
        )
    )
    assert job.periodic is not None
    assert job.periodic.specs == ["0 9 * * mon-fri", "*/2 * * * * * *"]
    assert job.periodic.prohibit_overlap and job.periodic.time_zone == "Europe/Berlin"
    assert not job.is_periodic_active() and job.is_parent()


def test_parameterized_and_dispatch_payload_decode() -> None:
    job = parse_text(
        spec(
            "  parameterized {\n"
            '    payload = "required"\n'
            '    meta_required = ["input"]\n'
            '    meta_optional = ["color"]\n'
            "  }",
            'dispatch_payload { file = "in/payload.txt" }',
        )
    )
    assert job.parameterized_job is not None
    assert job.parameterized_job.payload == "required"
    assert job.parameterized_job.meta_required == ["input"]
    assert job.parameterized_job.meta_optional == ["color"]
    assert job.task_groups[0].tasks[0].dispatch_payload == DispatchPayloadConfig(
        file="in/payload.txt"
    )
    default = parse_text(spec("  parameterized {}"))
    assert default.parameterized_job is not None
    assert default.parameterized_job.payload == "optional"


@pytest.mark.parametrize(
    ("job_body", "task_body", "job_type", "line", "message"),
    [
        ('  periodic {\n    cron = "61 * * * *"\n  }', "", "batch", 4, "minute value 61"),
        ('  periodic {\n    crons = ["* * *"]\n  }', "", "batch", 4, "missing field"),
        (
            '  periodic {\n    cron = "* * * * *"\n    time_zone = "Nowhere/City"\n  }',
            "",
            "batch",
            5,
            "unknown time zone 'Nowhere/City'",
        ),
        ('  periodic {\n    cron = "* * * * *"\n  }', "", "service", 2, "batch"),
        ("  periodic {\n  }", "", "batch", 3, 'needs "cron" or "crons"'),
        (
            '  periodic {\n    cron = "* * * * *"\n    crons = ["* * * * *"]\n  }',
            "",
            "batch",
            5,
            "only one of",
        ),
        ('  periodic {\n    cron = "* * * * *"\n    spec = "x"\n  }', "", "batch", 5, "spec"),
        ('  parameterized {\n    payload = "maybe"\n  }', "", "batch", 4, "maybe"),
        (
            '  parameterized {\n    meta_required = ["a"]\n    meta_optional = ["a"]\n  }',
            "",
            "batch",
            5,
            "must not share keys",
        ),
        ("  parameterized {}", "", "service", 2, "batch"),
        (
            "  parameterized {}",
            'dispatch_payload { file = "../../x" }',
            "batch",
            8,
            "escapes the task's local/ dir",
        ),
        ("  parameterized {}", 'dispatch_payload { file = "/etc/x" }', "batch", 8, "escapes"),
        ("  parameterized {}", "dispatch_payload { }", "batch", 8, 'needs a "file"'),
    ],
)
def test_mistakes_are_located(
    job_body: str, task_body: str, job_type: str, line: int, message: str
) -> None:
    with pytest.raises(JobspecError) as err:
        parse_text(spec(job_body, task_body, job_type), file="jobs/p.nomad.hcl")
    problems = err.value.problems or [err.value]
    found = [p for p in problems if message in str(p)]
    assert found, [p.located() for p in problems]
    assert found[0].file == "jobs/p.nomad.hcl" and found[0].line == line, found[0].located()


def test_a_disabled_block_is_not_checked_as_in_nomad() -> None:
    job = parse_text(spec('  periodic {\n    cron = "bad"\n    enabled = false\n  }'))
    assert job.periodic is not None and not job.periodic.enabled


# -- the agent side: the payload file ---------------------------------------------------


def test_payload_is_written_under_local(tmp_path: Path) -> None:
    task_dir = tmp_path / "t"
    (task_dir / "local").mkdir(parents=True)
    task = Task(
        name="t", driver="raw_exec", dispatch_payload=DispatchPayloadConfig(file="in/p.txt")
    )
    write_payload(str(task_dir), Job(id="j/dispatch-1-abc", payload=b"hello"), task)
    assert (task_dir / "local" / "in" / "p.txt").read_bytes() == b"hello"
    # nothing without a payload or a block (as Nomad)
    write_payload(str(task_dir), Job(id="j"), Task(name="t", driver="raw_exec"))
    empty = Task(name="t", driver="raw_exec", dispatch_payload=DispatchPayloadConfig(file="e"))
    write_payload(str(task_dir), Job(id="j"), empty)
    assert not (task_dir / "local" / "e").exists()


def test_payload_never_lands_outside_local(tmp_path: Path) -> None:
    task_dir = tmp_path / "t"
    (task_dir / "local").mkdir(parents=True)
    os.symlink(tmp_path, task_dir / "local" / "out")
    for name in ("../../escape", "out/escape"):
        task = Task(name="t", driver="raw_exec", dispatch_payload=DispatchPayloadConfig(file=name))
        with pytest.raises(DriverError, match="escapes"):
            write_payload(str(task_dir), Job(id="j", payload=b"x"), task)
    assert not (tmp_path / "escape").exists()
