"""The ``template`` block: what is decoded, and a located warning for what has no effect."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize(
    ("extra", "name", "line"),
    [
        ('splay = "5s"', "splay", 12),
        ('change_mode = "restart"', "change_mode", 12),
        ('wait {\n min = "2s"\n }', "wait", 12),
    ],
)
def test_rerender_settings_warn_with_file_and_line(extra: str, name: str, line: int) -> None:
    warnings: list[JobspecWarning] = []
    parse_file("jobs/web.nomad.hcl", JOB % extra, warnings=warnings)
    messages = [w.located() for w in warnings]
    assert any(
        m.startswith(f"jobs/web.nomad.hcl:{line}: ") and f'"{name}" has no effect yet' in m
        for m in messages
    ), messages


def test_once_means_no_warning() -> None:
    warnings: list[JobspecWarning] = []
    parse_file("jobs/web.nomad.hcl", JOB % 'once = true\n splay = "5s"', warnings=warnings)
    assert warnings == []
