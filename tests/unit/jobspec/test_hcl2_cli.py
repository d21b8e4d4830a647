"""``gitorch job validate`` reads NOMAD_VAR_<name> and refuses undefined -var names,
as ``nomad job validate`` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitorch.cli.main import cli

JOB = """\
variable "image" {
  type = string
}

job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/echo"
        args    = [upper(var.image)]
      }
    }
  }
}
"""


@pytest.fixture
def jobfile(tmp_path: Path) -> Path:
    path = tmp_path / "web.nomad.hcl"
    path.write_text(JOB)
    return path


def validate(jobfile: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    argv = ["job", "validate", *args, str(jobfile)]
    return CliRunner().invoke(cli, argv, env=env, catch_exceptions=False)


def test_a_variable_without_a_value_fails_validation(jobfile: Path) -> None:
    result = validate(jobfile, env={"NOMAD_VAR_image": None})
    assert result.exit_code == 1
    assert 'web.nomad.hcl:1: variable "image" has no default' in result.output


def test_nomad_var_environment_variable_supplies_the_value(jobfile: Path) -> None:
    result = validate(jobfile, env={"NOMAD_VAR_image": "redis"})
    assert result.exit_code == 0, result.output
    assert "Job validation successful: web" in result.output


def test_an_undefined_var_is_refused(jobfile: Path) -> None:
    result = validate(jobfile, "-var", "image=redis", "-var", "imgae=x")
    assert result.exit_code == 1
    assert 'undefined -var variable "imgae"' in result.output
    assert "did you mean 'image'" in result.output
