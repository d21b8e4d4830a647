"""Driver configs are checked at validate time by the installed drivers' schemas."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import parse_file
from gitorch.plugins.validation import installed_driver_check

JOB = """job "j" {{
  group "g" {{
    task "t" {{
      driver = "{driver}"
      config {{
{config}
      }}
    }}
  }}
}}
"""


def parse(driver: str, config: str) -> None:
    parse_file(
        "jobs/j.nomad.hcl",
        JOB.format(driver=driver, config=config),
        driver_check=installed_driver_check(),
    )


@pytest.mark.parametrize(
    ("driver", "config", "expected"),
    [
        ("raw_exec", 'comand = "/bin/true"', "config.comand: unknown field"),
        ("exec", 'command = "/bin/true"\nargs = "x"', "config.args: must be a list of strings"),
        ("java", "jvm_options = []", "config.jar_path: required unless class is set"),
        ("docker", 'command = "sh"', "config.image: required"),
        ("qemu", "image_path = 3", "config.image_path"),
    ],
)
def test_bad_driver_config_is_named_with_file_and_line(
    driver: str, config: str, expected: str
) -> None:
    with pytest.raises(JobspecError) as err:
        parse(driver, config)
    assert expected in str(err.value)
    assert "jobs/j.nomad.hcl:5" in str(err.value)


def test_good_configs_and_unknown_drivers_pass() -> None:
    parse("raw_exec", 'command = "/bin/true"')
    parse("docker", 'image = "busybox"\nvolumes = ["/data:/data"]')  # policy is the agent's
    parse("somebody-elses-driver", "anything = 1")  # the scheduler reports missing drivers
