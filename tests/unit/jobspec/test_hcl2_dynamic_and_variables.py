"""dynamic blocks, locals that use functions and each other, NOMAD_VAR_ environment
variables and undefined -var names, through the whole parse as a user runs it."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import parse_file, parse_text
from gitorch.jobspec.isolate import parse_isolated

FILE = "jobs/web.nomad.hcl"
JOB = """\
variable "ports" {
  type    = list(string)
  default = ["http", "metrics"]
}

variable "env" {
  type    = string
  default = "dev"
}

locals {
  prefix = "${upper(var.env)}-"
  name   = "${local.prefix}web"
  count  = var.env == "prod" ? 3 : 1
  racks  = { for i, p in var.ports : p => i }
}

job "web" {
  datacenters = ["dc1"]
  meta {
    name = local.name
  }
  group "g" {
    count = local.count
    network {
      dynamic "port" {
        for_each = var.ports
        iterator = p
        labels   = [p.value]
        content {
          to = 8000 + p.key
        }
      }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo ${NOMAD_ALLOC_ID} %{ for p in var.ports }${p} %{ endfor }"]
      }
      dynamic "constraint" {
        for_each = local.racks
        content {
          attribute = "$${meta.${constraint.key}}"
          value     = constraint.value
        }
      }
    }
  }
}
"""


def test_dynamic_blocks_expand_with_iterator_labels_and_content() -> None:
    job = parse_text(JOB, file=FILE)
    group = job.task_groups[0]
    ports = group.networks[0].dynamic_ports
    assert [(p.label, p.to) for p in ports] == [("http", 8000), ("metrics", 8001)]
    task = group.tasks[0]
    assert [(c.ltarget, c.rtarget) for c in task.constraints] == [
        ("${meta.http}", "0"),
        ("${meta.metrics}", "1"),
    ]
    assert task.config["args"] == ["-c", "echo ${NOMAD_ALLOC_ID} http metrics "]


def test_locals_use_functions_and_other_locals() -> None:
    job = parse_text(JOB, file=FILE)
    assert job.meta == {"name": "DEV-web"}
    assert job.task_groups[0].count == 1


def test_nested_dynamic_blocks_see_the_outer_iterator() -> None:
    text = """\
job "a" {
  group "g" {
    dynamic "task" {
      for_each = { one = ["a", "b"], two = ["c"] }
      labels   = [task.key]
      content {
        driver = "raw_exec"
        config {
          command = "/bin/true"
        }
        dynamic "template" {
          for_each = task.value
          iterator = f
          content {
            data        = "${task.key}:${f.value}"
            destination = "local/${f.value}.txt"
          }
        }
      }
    }
  }
}
"""
    job = parse_text(text, file=FILE)
    tasks = job.task_groups[0].tasks
    assert [t.name for t in tasks] == ["one", "two"]
    assert [t.embedded_tmpl for t in tasks[0].templates] == ["one:a", "one:b"]
    assert [t.dest_path for t in tasks[1].templates] == ["local/c.txt"]


@pytest.mark.parametrize(
    ("dynamic", "line", "why"),
    [
        (
            'dynamic "port" {\n  for_each = 3\n  content {}\n}',
            5,
            "for_each must be a list, set or map, got a number",
        ),
        ('dynamic "port" {\n  for_each = []\n}', 4, "exactly one content block"),
        ('dynamic "port" {\n  content {}\n}', 4, "for_each is required"),
        (
            'dynamic "port" {\n  for_each = []\n  each = 1\n  content {}\n}',
            6,
            'unknown attribute "each"',
        ),
        (
            'dynamic "port" {\n  for_each = ["a"]\n  labels = "a"\n  content {}\n}',
            6,
            "labels must be a list",
        ),
        (
            'dynamic "port" {\n  for_each = ["a"]\n  content {\n    to = upper(port.value, 1)\n  }\n}',
            7,
            'function "upper": takes 1 argument, got 2',
        ),
    ],
)
def test_bad_dynamic_blocks_are_located_errors(dynamic: str, line: int, why: str) -> None:
    inner = "\n".join("      " + x for x in dynamic.splitlines())
    text = f'job "a" {{\n  group "g" {{\n    network {{\n{inner}\n    }}\n  }}\n}}\n'
    with pytest.raises(JobspecError) as info:
        parse_text(text, file=FILE)
    assert (info.value.file, info.value.line) == (FILE, line)
    assert 'dynamic "port"' in info.value.path
    assert why in info.value.message


def test_a_cycle_in_locals_names_file_line_and_the_cycle() -> None:
    text = 'locals {\n  a = upper(local.b)\n  b = "${local.c}-x"\n  c = local.a\n}\njob "x" {}\n'
    with pytest.raises(JobspecError) as info:
        parse_text(text, file=FILE)
    assert (info.value.file, info.value.line) == (FILE, 2)
    assert "cycle: a -> b -> c -> a" in info.value.message


def test_nomad_var_environment_variables_set_values() -> None:
    job = parse_text(JOB, file=FILE, env={"NOMAD_VAR_env": "prod", "NOMAD_VAR_other": "x"})
    assert job.meta == {"name": "PROD-web"}
    assert job.task_groups[0].count == 3


def test_nomad_var_lists_are_parsed_as_hcl_for_typed_variables() -> None:
    job = parse_text(JOB, file=FILE, env={"NOMAD_VAR_ports": '["admin"]'})
    assert [p.label for p in job.task_groups[0].networks[0].dynamic_ports] == ["admin"]


def test_precedence_is_default_then_env_then_var_files_then_var() -> None:
    env = {"NOMAD_VAR_env": "prod"}
    files = [("vars/stage.vars.hcl", 'env = "stage"\n')]
    assert parse_text(JOB, file=FILE, env=env).meta["name"] == "PROD-web"
    assert parse_text(JOB, file=FILE, env=env, var_files=files).meta["name"] == "STAGE-web"
    job = parse_text(JOB, file=FILE, env=env, var_files=files, vars_={"env": "qa"})
    assert job.meta["name"] == "QA-web"


def test_nomad_var_reaches_the_isolated_parse_the_cli_uses() -> None:
    job = parse_isolated(FILE, JOB, env={"NOMAD_VAR_env": "prod"})
    assert not isinstance(job, JobspecError), job
    assert job.meta == {"name": "PROD-web"}


def test_a_bad_nomad_var_value_names_the_environment_variable_not_the_value() -> None:
    with pytest.raises(JobspecError) as info:
        parse_text(JOB, file=FILE, env={"NOMAD_VAR_ports": "not-a-list-s3cret"})
    assert "NOMAD_VAR_ports" in info.value.message
    assert "s3cret" not in str(info.value)


def test_an_undefined_var_is_an_error_naming_it() -> None:
    with pytest.raises(JobspecError) as info:
        parse_text(JOB, file=FILE, vars_={"evn": "prod"})
    assert info.value.file == FILE
    assert 'undefined -var variable "evn"' in info.value.message
    assert "did you mean 'env'" in info.value.message


def test_a_j2_template_may_take_vars_that_no_variable_declares() -> None:
    text = JOB.replace('job "web"', 'job "[[ name ]]"')
    job = parse_file("jobs/web.nomad.hcl.j2", text, vars_={"name": "templated"})
    assert job.id == "templated"
