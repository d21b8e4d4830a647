"""The ``template`` block: what is decoded (re-render settings with Nomad's defaults), and\nlocated errors for what Nomad refuses."""

from __future__ import annotations

import pytest

from gitorch.core.model.job import SECOND, ChangeScript, WaitConfig
from gitorch.errors import JobspecError
from gitorch.jobspec import JobspecWarning, parse_file

JOB = """job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config { command = "/bin/true" }
      template {
        destination          = "local/a"
        data                 = "x"
        error_on_missing_key = true
        uid                  = 1000
        gid                  = 1001
        %s
      }
    }
  }
}
"""


def test_decodes_error_on_missing_key_uid_gid() -> None:
    warnings: list[JobspecWarning] = []
    job = parse_file("jobs/web.nomad.hcl", JOB % 'change_mode = "noop"', warnings=warnings)
    tpl = job.task_groups[0].tasks[0].templates[0]
    assert (tpl.error_on_missing_key, tpl.uid, tpl.gid) == (True, 1000, 1001)
    assert warnings == []


def test_decodes_rerender_settings_with_nomads_defaults() -> None:
    warnings: list[JobspecWarning] = []
    job = parse_file("jobs/web.nomad.hcl", JOB % 'change_mode = "signal"', warnings=warnings)
    tpl = job.task_groups[0].tasks[0].templates[0]
    assert (tpl.change_signal, tpl.splay, tpl.once, tpl.wait) == ("SIGHUP", 5 * SECOND, False, None)
    assert warnings == []  # every one of them has its effect now


def test_decodes_wait_splay_once_and_change_script() -> None:
    extra = """change_mode = "script"
        splay = "250ms"
        once = true
        wait {
          min = "2s"
          max = "10s"
        }
        change_script {
          command       = "/bin/reload"
          args          = ["-q", "now"]
          timeout       = "3s"
          fail_on_error = true
        }"""
    warnings: list[JobspecWarning] = []
    job = parse_file("jobs/web.nomad.hcl", JOB % extra, warnings=warnings)
    tpl = job.task_groups[0].tasks[0].templates[0]
    assert (tpl.splay, tpl.once) == (SECOND // 4, True)
    assert tpl.wait == WaitConfig(min=2 * SECOND, max=10 * SECOND)
    assert tpl.change_script == ChangeScript(
        command="/bin/reload", args=["-q", "now"], timeout=3 * SECOND, fail_on_error=True
    )
    assert warnings == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('change_mode = "script"', 'change_mode "script" needs a change_script block'),
        (
            'change_mode = "script"\n change_script {\n args = ["x"]\n }',
            "change_script needs a command",
        ),
        ('change_mode = "signal"\n env = true', "cannot use signals with env var templates"),
        ('wait {\n min = "10s"\n max = "2s"\n }', "wait min may not be greater than max"),
        ('change_mode = "noop"\n wait {\n mni = "1s"\n }', 'unknown attribute "mni"'),
    ],
)
def test_bad_rerender_settings_are_located_errors(extra: str, message: str) -> None:
    with pytest.raises(JobspecError) as err:
        parse_file("jobs/web.nomad.hcl", JOB % extra)
    assert message in str(err.value)
    assert "jobs/web.nomad.hcl:" in str(err.value)
