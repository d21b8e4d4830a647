"""``gitorch job validate|plan|run`` print a jobspec's located warnings and still succeed;
an unsupported name that would change where or when the job runs fails validate."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from fakes import FakeBackend, FakeClient, in_memory_server, serve  # noqa: E402

from gitorch.api.app import make_app  # noqa: E402
from gitorch.cli.main import cli  # noqa: E402
from gitorch.core.model import FileError, replace  # noqa: E402
from gitorch.jobspec.unsupported import UNSUPPORTED  # noqa: E402

NODE = "5" * 36
JOBSPEC = """\
job "web" {
  ui {
    description = "the web site"
  }
  group "web" {
    shutdown_delay = "5s"
    task "server" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["60"]
      }
      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
"""
UI = f'web.nomad.hcl:2: job "web": "ui" is ignored: {UNSUPPORTED["job.ui"].instead}'
DELAY = (
    'web.nomad.hcl:6: job "web" > group "web": "shutdown_delay" is ignored: '
    + UNSUPPORTED["group.shutdown_delay"].instead
)


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    srv = in_memory_server(NODE, "node-five")
    try:
        with serve(make_app(srv, FakeClient(NODE, tmp_path / "logs"))) as addr:
            yield addr
    finally:
        srv.stop()


@pytest.fixture
def jobfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    Path("web.nomad.hcl").write_text(JOBSPEC)
    return "web.nomad.hcl"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_prints_each_located_warning_and_succeeds(jobfile: str) -> None:
    result = run("--address", "127.0.0.1:1", "job", "validate", jobfile)
    assert result.exit_code == 0, result.output
    assert "2 warning(s)" in result.stdout
    assert f"* {UI}" in result.stdout and f"* {DELAY}" in result.stdout
    assert result.stdout.rstrip().endswith("Job validation successful: web")


def test_validate_fails_on_an_unsupported_name_with_file_and_line(jobfile: str) -> None:
    Path(jobfile).write_text(JOBSPEC.replace('shutdown_delay = "5s"', 'max_run_duration = "1h"'))
    result = run("job", "validate", jobfile)
    assert result.exit_code == 1
    assert 'web.nomad.hcl:6: job "web" > group "web": "max_run_duration" is not supported' in (
        result.stderr
    )


def test_plan_and_run_print_the_warnings_and_run_the_job(address: str, jobfile: str) -> None:
    plan = run("--address", address, "job", "plan", jobfile)
    assert plan.exit_code == 1, plan.output  # 1: allocations would be created
    assert UI in plan.stdout and DELAY in plan.stdout
    ran = run("--address", address, "job", "run", "-detach", jobfile)
    assert ran.exit_code == 0, ran.output
    assert UI in ran.stdout and DELAY in ran.stdout
    assert "Job registration successful" in ran.stdout


def test_run_output_keeps_stdout_json(jobfile: str) -> None:
    result = run("job", "run", "-output", jobfile)
    assert result.exit_code == 0
    assert result.stdout.startswith("{") and UI not in result.stdout
    assert UI in result.stderr


def test_sync_prints_each_file_warning_and_succeeds() -> None:
    backend = FakeBackend()
    warning = FileError(
        file="jobs/web.nomad.hcl", line=6, message=DELAY.replace("web.", "jobs/web.")
    )
    backend.report = replace(backend.report, warnings=[warning], warnings_omitted=2)
    with serve(make_app(backend)) as address:
        result = run("--address", address, "sync")
    assert result.exit_code == 0, result.output
    assert f"Warning: {warning.message}" in result.stderr
    assert "Warning: 2 more warning(s) not recorded" in result.stderr
