"""``variables`` blocks and ``validation`` rules in ``variable`` blocks, as in Nomad."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text

FILE = "jobs/v.nomad.hcl"
JOB = """\
variable "port" {
  type      = number
  default   = 8080
  sensitive = true
  validation {
    condition     = var.port > 1024 && var.port < 65536
    error_message = "The port must be an unprivileged port number."
  }
}

variables {
  image = "redis:7"
}

job "web" {
  meta {
    port  = var.port
    image = var.image
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"""


def test_a_valid_value_passes_its_rules_and_variables_blocks_declare_defaults() -> None:
    job = parse_text(JOB, file=FILE)
    assert job.meta == {"port": "8080", "image": "redis:7"}


def test_a_value_failing_a_rule_gets_its_error_message_not_the_value() -> None:
    with pytest.raises(JobspecError) as info:
        parse_text(JOB, file=FILE, vars_={"port": "80"})
    err = info.value
    assert (err.file, err.line) == (FILE, 5)
    assert 'invalid value for variable "port": The port must be an unprivileged' in err.message
    assert "80" not in err.message


def test_a_variables_block_value_can_be_overridden() -> None:
    job = parse_text(JOB, file=FILE, vars_={"image": "redis:8"})
    assert job.meta["image"] == "redis:8"


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ('condition = var.other > 1\n    error_message = "x."', 'unknown variable "other"'),
        ('condition = "maybe"\n    error_message = "x."', "condition must be true or false"),
        ("condition = true", "error_message is required"),
        ('condition = true\n    error_message = "x."\n    level = 1', 'unknown attribute "level"'),
    ],
)
def test_bad_rules_are_located_errors(rule: str, why: str) -> None:
    text = (
        f'variable "port" {{\n  default = 1\n  validation {{\n    {rule}\n  }}\n}}\njob "a" {{}}\n'
    )
    with pytest.raises(JobspecError) as info:
        parse_text(text, file=FILE)
    assert info.value.file == FILE
    assert info.value.line in (3, 4, 5, 6)
    assert why in info.value.message
