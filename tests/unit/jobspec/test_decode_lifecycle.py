"""The ``lifecycle`` block decodes to the task's TaskLifecycle, as Nomad reads it."""

from __future__ import annotations

import msgspec
import pytest

from gitorch.core.model import TaskLifecycle
from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text
from gitorch.jobspec.unsupported import UNSUPPORTED

JOB = """job "web" {
  group "g" {
    task "init" {
      driver = "raw_exec"
      lifecycle {
        hook    = "%s"
        sidecar = %s
      }
    }
    task "main" {
      driver = "raw_exec"
    }
  }
}
"""


@pytest.mark.parametrize("hook", ["prestart", "poststart", "poststop"])
@pytest.mark.parametrize("sidecar", [True, False])
def test_lifecycle_decodes(hook: str, sidecar: bool) -> None:
    job = parse_text(JOB % (hook, str(sidecar).lower()))
    init, main = job.task_groups[0].tasks
    assert init.lifecycle == TaskLifecycle(hook=hook, sidecar=sidecar)  # type: ignore[arg-type]
    assert main.lifecycle is None


def test_lifecycle_is_used_not_just_accepted() -> None:
    assert "task.lifecycle" not in UNSUPPORTED


def test_unknown_hook_is_a_located_error() -> None:
    with pytest.raises(JobspecError, match=r"a\.hcl:6: .*must be one of prestart.*'prerun'"):
        parse_text(JOB % ("prerun", "false"), file="a.hcl")


def test_unknown_lifecycle_attribute_is_an_error() -> None:
    text = JOB.replace("sidecar = %s", "sidecar = %s\n        side = true")
    with pytest.raises(JobspecError, match='unknown attribute "side"'):
        parse_text(text % ("prestart", "true"))


def test_lifecycle_round_trips_on_the_wire() -> None:
    job = parse_text(JOB % ("prestart", "true"))
    wire = msgspec.json.decode(msgspec.json.encode(job))
    assert wire["TaskGroups"][0]["Tasks"][0]["Lifecycle"] == {"Hook": "prestart", "Sidecar": True}
