"""The gitorch CLI through click's CliRunner against a live uvicorn-served API."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from fakes import FakeBackend, FakeClient, in_memory_server, serve, wait_for  # noqa: E402

from gitorch.api.app import make_app  # noqa: E402
from gitorch.cli.main import cli  # noqa: E402
from gitorch.core.model import FileError, replace  # noqa: E402
from gitorch.server.backend import SyncChange  # noqa: E402
from gitorch.server.server import Server  # noqa: E402

NODE = "4" * 36
JOBSPEC = """\
job "web" {
  datacenters = ["dc1"]

  group "web" {
    count = 2

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


@pytest.fixture
def server() -> Iterator[Server]:
    srv = in_memory_server(NODE, "node-four")
    yield srv
    srv.stop()


@pytest.fixture
def logs_root(tmp_path: Path) -> Path:
    return tmp_path / "logs"


@pytest.fixture
def address(server: Server, logs_root: Path) -> Iterator[str]:
    with serve(make_app(server, FakeClient(NODE, logs_root))) as addr:
        yield addr


@pytest.fixture
def jobfile(tmp_path: Path) -> Path:
    path = tmp_path / "web.nomad.hcl"
    path.write_text(JOBSPEC)
    return path


def run(address: str | None, *args: str, env: dict[str, str] | None = None) -> Result:
    prefix = ["--address", address] if address else []
    return CliRunner().invoke(cli, [*prefix, *args], env=env, catch_exceptions=False)


def test_job_validate_is_offline(jobfile: Path, tmp_path: Path) -> None:
    ok = run("127.0.0.1:1", "job", "validate", str(jobfile))
    assert ok.exit_code == 0, ok.output
    assert "successful" in ok.output
    bad = tmp_path / "bad.nomad.hcl"
    bad.write_text('job "x" {\n  group "g" {\n    task "t" {\n      count = 1\n    }\n  }\n}\n')
    result = run(None, "job", "validate", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:" in result.stderr
    missing = run(None, "job", "validate", str(tmp_path / "nope.hcl"))
    assert missing.exit_code == 1 and "cannot read" in missing.stderr


def test_job_run_status_plan_stop(address: str, jobfile: Path, server: Server) -> None:
    result = run(address, "job", "run", str(jobfile))
    assert result.exit_code == 0, result.output + result.stderr
    assert 'Job "web" registered' in result.output
    assert result.output.count("Allocation") == 2

    listing = run(address, "job", "status")
    assert listing.exit_code == 0
    assert listing.output.splitlines()[0].split() == [
        "ID",
        "Type",
        "Priority",
        "Status",
        "Submit",
        "Date",
    ]
    assert "web" in listing.output and "running" in listing.output

    detail = run(address, "job", "status", "web")
    assert detail.exit_code == 0
    assert "Summary" in detail.output and "Allocations" in detail.output
    assert NODE[:8] in detail.output and NODE not in detail.output
    assert "Evaluations" not in detail.output
    verbose = run(address, "job", "status", "-verbose", "web")
    assert verbose.exit_code == 0, verbose.output
    assert NODE in verbose.output  # full IDs
    evals = server.state.evals_for_job("default", "web")
    assert evals and all(e.id in verbose.output for e in evals)
    assert "Triggered By" in verbose.output and "job-register" in verbose.output
    with_evals = run(address, "job", "status", "-evals", "web")
    assert with_evals.exit_code == 0, with_evals.output
    assert all(e.id[:8] in with_evals.output and e.id not in with_evals.output for e in evals)

    as_json = run(address, "--json", "job", "status")
    assert [j["ID"] for j in json.loads(as_json.output)] == ["web"]

    jobfile.write_text(JOBSPEC.replace("count = 2", "count = 3"))
    plan = run(address, "job", "plan", str(jobfile))
    assert plan.exit_code == 1, plan.output + plan.stderr  # Nomad's: allocations would change
    assert '+/- Job: "web"' in plan.output and 'Task Group: "web"' in plan.output

    stop = run(address, "job", "stop", "web", "-detach")
    assert stop.exit_code == 0 and "stopped" in stop.output
    job = server.state.job("default", "web")
    assert job is not None and job.stop
    purge = run(address, "job", "stop", "--purge", "-detach", "web")
    assert purge.exit_code == 0
    assert server.state.job("default", "web") is None

    missing = run(address, "job", "status", "web")
    assert missing.exit_code == 1
    assert "No job with prefix 'web' found" in missing.stderr


def test_job_run_json_and_placement_failure(address: str, jobfile: Path) -> None:
    as_json = run(address, "--json", "job", "run", str(jobfile))
    assert as_json.exit_code == 0
    assert "EvalID" in json.loads(as_json.output)
    jobfile.write_text(JOBSPEC.replace('job "web"', 'job "huge"').replace("64", "999999"))
    result = run(address, "job", "run", str(jobfile))
    assert result.exit_code == 2
    assert 'Task group "web" failed to place' in result.stderr
    status = run(address, "job", "status", "huge")
    assert status.exit_code == 0
    assert "Placement Failure" in status.output
    assert 'Task Group "web": memory: 1' in status.output
    assert "No allocations placed" in status.output


def test_alloc_status_and_logs(
    address: str, jobfile: Path, server: Server, logs_root: Path
) -> None:
    assert run(address, "job", "run", "-detach", str(jobfile)).exit_code == 0
    wait_for(lambda: len(server.state.allocs) == 2)
    alloc_id = sorted(server.state.allocs)[0]
    (logs_root / alloc_id).mkdir(parents=True)
    (logs_root / alloc_id / "server.stdout.0").write_bytes(b"hello from the task\n")
    (logs_root / alloc_id / "server.stderr.0").write_bytes(b"a warning\n")

    status = run(address, "alloc", "status", alloc_id[:6])
    assert status.exit_code == 0, status.stderr
    assert alloc_id in status.output and "web.web[" in status.output

    logs = run(address, "alloc", "logs", alloc_id[:6])
    assert logs.exit_code == 0, logs.stderr
    assert logs.stdout_bytes == b"hello from the task\n"
    stderr = run(address, "alloc", "logs", "-stderr", alloc_id, "server")
    assert stderr.stdout_bytes == b"a warning\n"
    tail = run(address, "alloc", "logs", "-tail", "-c", "5", alloc_id)
    assert tail.stdout_bytes == b"task\n"

    missing = run(address, "alloc", "status", "ffff")
    assert missing.exit_code == 1 and "No allocation" in missing.stderr
    wrong_task = run(address, "alloc", "logs", alloc_id, "nope")
    assert wrong_task.exit_code == 1 and "nope" in wrong_task.stderr


def test_node_status_and_eligibility(address: str, server: Server) -> None:
    listing = run(address, "node", "status")
    assert listing.exit_code == 0
    assert NODE[:8] in listing.output and "node-four" in listing.output
    detail = run(address, "node", "status", NODE[:4])
    assert detail.exit_code == 0 and "raw_exec" in detail.output
    off = run(address, "node", "eligibility", "-disable", NODE[:4])
    assert off.exit_code == 0 and "ineligible" in off.output
    assert server.state.nodes[NODE].scheduling_eligibility == "ineligible"
    assert run(address, "node", "eligibility", NODE).exit_code == 2


def test_server_members(address: str, server: Server) -> None:
    result = run(address, "server", "members")
    assert result.exit_code == 0
    leader = server.leader()
    assert leader and leader in result.output and "true" in result.output
    as_json = json.loads(run(address, "--json", "server", "members").output)
    assert as_json == [{"Address": p, "Leader": p == leader} for p in server.peers()]


@pytest.fixture
def gitops() -> Iterator[tuple[FakeBackend, str]]:
    backend = FakeBackend()
    with serve(make_app(backend)) as addr:
        yield backend, addr


def test_sync_lists_changes_and_fails_on_file_errors(gitops: tuple[FakeBackend, str]) -> None:
    backend, address = gitops
    change = SyncChange(job_id="web", file="jobs/web.nomad.hcl", action="register")
    backend.report = replace(backend.report, changes=[change])
    clean = run(address, "sync")
    assert clean.exit_code == 0, clean.stderr
    assert "web" in clean.output and "register" in clean.output

    backend.report = replace(
        backend.report,
        errors=[
            FileError(file="jobs/bad.nomad.hcl", line=4, message="unexpected '}'"),
            FileError(file="jobs/worse.nomad.hcl.j2", message="undefined variable 'x'"),
        ],
    )
    failed = run(address, "sync")
    assert failed.exit_code == 1
    assert "jobs/bad.nomad.hcl:4: unexpected '}'" in failed.stderr
    assert "jobs/worse.nomad.hcl.j2: undefined variable 'x'" in failed.stderr

    dry = run(address, "diff", "--json")
    assert dry.exit_code == 1
    report = json.loads(dry.stdout)
    assert report["DryRun"] is True and len(report["Errors"]) == 2


def test_address_and_token_from_the_environment(gitops: tuple[FakeBackend, str]) -> None:
    backend, address = gitops
    with serve(make_app(backend, acl_tokens={"tok"})) as gated:
        denied = run(None, "job", "status", env={"GITORCH_ADDR": f"http://{gated}"})
        assert denied.exit_code == 1 and "Permission denied" in denied.stderr
        env = {"NOMAD_ADDR": gated, "GITORCH_ADDR": "", "GITORCH_TOKEN": "tok"}
        allowed = run(None, "job", "status", env=env)
        assert allowed.exit_code == 0 and "No running jobs" in allowed.output


def test_unreachable_server_is_a_clear_error() -> None:
    result = run("127.0.0.1:1", "job", "status")
    assert result.exit_code == 1
    assert "cannot reach gitorch at http://127.0.0.1:1" in result.stderr


def test_plugin_list() -> None:
    result = run(None, "plugin", "list")
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines()[0].startswith("Name")
    assert "builtin" in result.output
    data = json.loads(run(None, "plugin", "list", "--json").output)
    assert any(p["name"] == "builtin" for p in data["Plugins"])


def test_agent_passes_its_options_to_the_agent_module(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    fake = types.ModuleType("gitorch.agent.run")
    fake.main = lambda options: seen.update(options) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gitorch.agent.run", fake)
    result = run(None, "agent", "-dev", "--repo", "/tmp/r", "--http-port", "4747",
                 "--config", "a.hcl", "--config", "b.hcl")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["dev"] is True and seen["repo"] == "/tmp/r" and seen["http_port"] == 4747
    assert seen["config"] == ("a.hcl", "b.hcl") and seen["branch"] is None
