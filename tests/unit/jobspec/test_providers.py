"""A job that needs a provider no installed plugin provides is refused with the line of
the block and the package to install; without provider information (the isolated
parse worker) names are not checked; vault blocks are inherited as in Nomad."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text
from gitorch.jobspec.decode import decode
from gitorch.jobspec.hcl import parse as parse_hcl
from gitorch.jobspec.providers import PluginChecks
from gitorch.jobspec.validate import validate

JOB = """job "web" {
  vault {
    role = "web"
  }
  group "g" {
    service {
      name     = "web"
      provider = "consul"
    }
    task "a" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
    task "b" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
      vault {
        policies    = ["b"]
        change_mode = "noop"
      }
    }
  }
}
"""
NOTHING = PluginChecks()
BOTH = PluginChecks(service_providers=frozenset({"nomad", "consul"}),
                    secrets_providers=frozenset({"vault"}))  # fmt: skip


def check(checks: PluginChecks) -> None:
    lines: dict[str, int] = {}
    job = decode(parse_hcl(JOB, "web.nomad.hcl"), "web.nomad.hcl", lines)
    validate(job, "web.nomad.hcl", checks, lines=lines)


def test_missing_providers_are_located_errors_naming_the_package() -> None:
    with pytest.raises(JobspecError) as err:
        check(NOTHING)
    text = str(err.value)
    assert "web.nomad.hcl:8: " in text
    assert "provider consul: no plugin provides it; pip install gitorch-consul" in text
    # one for the job's block (task a inherits it), one for task b's own
    assert "web.nomad.hcl:2: " in text and "web.nomad.hcl:21: " in text
    assert text.count("provider vault: no plugin provides it; pip install gitorch-vault") == 2


def test_installed_providers_pass() -> None:
    check(BOTH)


def test_without_provider_information_names_are_not_checked() -> None:
    job = parse_text(JOB)
    assert job.task_groups[0].services[0].provider == "consul"


def test_vault_inheritance_is_nomads() -> None:
    a, b = parse_text(JOB).task_groups[0].tasks
    assert a.vault is not None and (a.vault.role, a.vault.change_mode) == ("web", "restart")
    assert b.vault is not None and (b.vault.role, b.vault.policies) == ("", ["b"])
    assert b.vault.change_mode == "noop" and b.vault.env and not b.vault.disable_file


def test_bad_vault_change_mode_is_located() -> None:
    with pytest.raises(JobspecError, match=r":3: .*change_mode.*noop, restart, signal"):
        parse_text('job "x" {\n  vault {\n    change_mode = "explode"\n  }\n'
                   '  task "t" {\n    driver = "raw_exec"\n  }\n}\n', file="x.hcl")  # fmt: skip
