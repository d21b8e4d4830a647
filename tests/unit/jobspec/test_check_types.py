"""grpc and script checks in the jobspec: what each takes, and located errors for what
it does not."""

from __future__ import annotations

import pytest

from gitorch.errors import JobspecError
from gitorch.jobspec import parse_text


def job(check: str, *, task_service: bool = False) -> str:
    service = f"""
    service {{
      name = "api"
      port = "rpc"
      check {{
        interval = "1s"
        timeout  = "1s"
{check}
      }}
    }}"""
    return f"""
job "j" {{
  group "g" {{
    network {{
      port "rpc" {{}}
    }}
    {"" if task_service else service}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sleep"
      }}
      {service if task_service else ""}
    }}
  }}
}}
"""


def problem(text: str) -> str:
    with pytest.raises(JobspecError) as info:
        parse_text(text)
    return str(info.value)


def test_grpc_check_decodes_service_and_tls() -> None:
    parsed = parse_text(job('type = "grpc"\ngrpc_service = "api.v1"\ngrpc_use_tls = true'))
    (check,) = parsed.task_groups[0].services[0].checks
    assert (check.type, check.grpc_service, check.grpc_use_tls) == ("grpc", "api.v1", True)


def test_script_check_of_a_group_service_names_its_task() -> None:
    text = job(
        'type = "script"\ncommand = "/bin/check"\nargs = ["-q"]\ntask = "t"\n'
        "failures_before_warning = 1\nfailures_before_critical = 3"
    )
    (check,) = parse_text(text).task_groups[0].services[0].checks
    assert (check.command, check.args, check.task_name) == ("/bin/check", ["-q"], "t")
    assert (check.failures_before_warning, check.failures_before_critical) == (1, 3)


def test_script_check_of_a_task_service_needs_no_task() -> None:
    text = job('type = "script"\ncommand = "/bin/check"', task_service=True)
    (check,) = parse_text(text).task_groups[0].tasks[0].services[0].checks
    assert check.task_name == ""


def test_script_check_of_a_group_service_without_task_is_an_error() -> None:
    msg = problem(job('type = "script"\ncommand = "/bin/check"'))
    assert 'needs the task to run in: set task = "<task name>" on the check' in msg
    msg = problem(job('type = "script"\ncommand = "/bin/check"\ntask = "other"'))
    assert "script check task 'other' is not a task of the group" in msg


def test_script_check_needs_a_command() -> None:
    assert "a script check needs a command" in problem(job('type = "script"\ntask = "t"'))


def test_options_of_other_check_types_are_errors() -> None:
    msg = problem(job('type = "tcp"\ngrpc_service = "x"'))
    assert "grpc_service and grpc_use_tls are only for grpc checks" in msg
    msg = problem(job('type = "http"\npath = "/"\ncommand = "/bin/x"'))
    assert "command, args and task are only for script checks" in msg


def test_grpc_tls_skip_verify_is_refused_plainly() -> None:
    msg = problem(job('type = "grpc"\ngrpc_use_tls = true\ntls_skip_verify = true'))
    assert "tls_skip_verify is not supported on grpc checks" in msg


def test_failures_before_warning_is_bounded_by_critical() -> None:
    msg = problem(job('type = "tcp"\nfailures_before_warning = 4\nfailures_before_critical = 2'))
    assert "failures_before_warning (4) may not exceed failures_before_critical (2)" in msg
    assert "may not be negative" in problem(job('type = "tcp"\nfailures_before_warning = -1'))
