"""The CLI as Nomad's, against one real dev agent (module-scoped, so many commands share
one agent start): general options after the command and NOMAD_* variables, ID prefixes
and ambiguity, job inspect/history/revert/deployments, job run -output/-detach, job plan
exit codes, alloc status, eval, deployment, service, status, node status -verbose,
server members, -json, -t Go templates, and shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from harness import Agent, GitRepo, wait_for

from gitorch.cli.main import cli

pytestmark = pytest.mark.timeout(240)


def sleeper(job_id: str, count: int = 1, extra: str = "") -> str:
    return f'''
job "{job_id}" {{
  group "g" {{
    count = {count}
    {extra}
    task "t" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "exec sleep 300"]
      }}
      resources {{
        cpu    = 20
        memory = 16
      }}
      kill_timeout = "2s"
    }}
  }}
}}
'''


GREETER_EXTRA = """
    network {
      port "http" {}
    }
    update {
      max_parallel      = 1
      min_healthy_time  = "1s"
      healthy_deadline  = "30s"
      progress_deadline = "60s"
    }
    service {
      name     = "greet"
      port     = "http"
      provider = "nomad"
      tags     = ["v1"]
    }
"""


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("cli-nomad")
    repo = GitRepo(root / "repo")
    repo.commit(
        "greeter and grebe",
        **{
            "jobs__greeter.nomad.hcl": sleeper("greeter", extra=GREETER_EXTRA),
            "jobs__grebe.nomad.hcl": sleeper("grebe"),
        },
    )
    a = Agent(root / "data", "--dev", "--repo", str(repo.path), "--path", "jobs")
    a.start()
    try:
        wait_for(lambda: a.running("greeter") and a.running("grebe"), 30, "both jobs running")
        yield a
    finally:
        a.stop_jobs()
        a.stop()


def cli_run(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in this process; the agent address comes from ``args`` or ``env``."""
    clean = {"GITORCH_ADDR": "", "NOMAD_ADDR": "", "GITORCH_TOKEN": "", "NOMAD_TOKEN": ""}
    return CliRunner().invoke(cli, list(args), env={**clean, **(env or {})})


def ok(result: Result) -> str:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}{result.stderr}"
    return result.output


def test_general_options_after_the_command_and_environment(agent: Agent) -> None:
    # a real process, as a user types it: -address=... after the subcommand
    proc = subprocess.run(
        [sys.executable, "-m", "gitorch", "job", "status", f"-address={agent.url}"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GITORCH_ADDR": "", "NOMAD_ADDR": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert "greeter" in proc.stdout and "grebe" in proc.stdout
    # before the command, two dashes, separate value; the -json flag after the command
    listed = json.loads(ok(cli_run("--address", agent.url, "job", "status", "-json")))
    assert sorted(j["ID"] for j in listed) == ["grebe", "greeter"]
    # NOMAD_ADDR alone works; GITORCH_ADDR wins over it
    assert "greeter" in ok(cli_run("job", "status", env={"NOMAD_ADDR": agent.url}))
    wrong = cli_run(
        "job", "status", env={"NOMAD_ADDR": agent.url, "GITORCH_ADDR": "http://127.0.0.1:1"}
    )
    assert wrong.exit_code == 1 and "127.0.0.1:1" in wrong.stderr
    # -namespace is sent: another namespace has no jobs
    other = ok(cli_run("job", "status", "-namespace=elsewhere", f"-address={agent.url}"))
    assert "No running jobs" in other
    # a flag with no value is a usage error naming the option
    missing = cli_run("job", "status", "-address")
    assert missing.exit_code == 2 and "-address needs a value" in missing.stderr
    # a token is sent but never printed
    secret = "s3cr3t-token-value"
    shown = cli_run("job", "status", f"-address={agent.url}", f"-token={secret}")
    assert secret not in shown.output + shown.stderr
    # TLS files that do not exist: a clear error naming the options
    tls = cli_run("job", "status", f"-address={agent.url}", "-ca-cert=/nonexistent/ca.pem")
    assert tls.exit_code == 1 and "-ca-cert" in tls.stderr


def test_prefixes_status_overview_and_ambiguity(agent: Agent) -> None:
    a = f"-address={agent.url}"
    detail = ok(cli_run("job", "status", "gree", a))
    assert "ID            = greeter" in detail or "= greeter" in detail
    ambiguous = cli_run("job", "status", "gre", a)
    assert ambiguous.exit_code == 1
    assert "greeter" in ambiguous.stderr and "grebe" in ambiguous.stderr
    none = cli_run("job", "status", "zzz", a)
    assert none.exit_code == 1 and "No job with prefix 'zzz'" in none.stderr

    overview = ok(cli_run("status", a))
    assert "greeter" in overview and "grebe" in overview
    assert "Summary" in ok(cli_run("status", "greet", a))
    alloc_id = agent.running("greeter")[0]["ID"]
    by_alloc = ok(cli_run("status", alloc_id[:6], a))
    assert f"ID                  = {alloc_id}" in by_alloc
    node_id = agent.get("/v1/nodes")[0]["ID"]
    assert "Drivers" in ok(cli_run("status", node_id, a))
    assert cli_run("status", "qqqq", a).exit_code == 1


def test_alloc_node_eval_and_templates(agent: Agent) -> None:
    a = f"-address={agent.url}"
    alloc_id = agent.running("greeter")[0]["ID"]
    text = ok(cli_run("alloc", "status", alloc_id[:5], a))
    assert 'Task "t" is "running"' in text and "Recent Events:" in text
    assert "Started" in text and "Total Restarts = 0" in text
    verbose = ok(cli_run("alloc", "status", "-verbose", alloc_id, a))
    full_eval = agent.get(f"/v1/allocation/{alloc_id}")["EvalID"]
    assert full_eval in verbose and "Create Index" in verbose
    assert ok(cli_run("alloc", "status", alloc_id, "-t", "{{.JobID}}/{{.TaskGroup}}", a)) == (
        "greeter/g"
    )
    assert json.loads(ok(cli_run("alloc", "status", alloc_id, "-json", a)))["ID"] == alloc_id
    bad = cli_run("alloc", "status", alloc_id, "-t", "{{.JobID", a)
    assert bad.exit_code == 1 and "-t template" in bad.stderr

    node_id = agent.get("/v1/nodes")[0]["ID"]
    node_verbose = ok(cli_run("node", "status", "-verbose", node_id[:4], a))
    assert node_id in node_verbose and "Attributes" in node_verbose
    assert "kernel.name" in node_verbose
    assert ok(cli_run("node", "status", "-t", "{{range .}}{{.ID}}{{end}}", a)) == node_id

    evals = agent.get("/v1/evaluations")
    listed = ok(cli_run("eval", "list", a))
    assert listed.splitlines()[0].split()[:3] == ["ID", "Priority", "Triggered"]
    assert all(e["ID"][:8] in listed for e in evals)
    only = json.loads(ok(cli_run("eval", "list", "-job", "grebe", "-json", a)))
    assert only and {e["JobID"] for e in only} == {"grebe"}
    one = evals[0]
    shown = ok(cli_run("eval", "status", one["ID"][:6], a))
    assert f"Job ID             = {one['JobID']}" in shown
    assert ok(cli_run("eval", "status", one["ID"], "-t", "{{.Status}}", a)) == one["Status"]


def test_services_and_server_members(agent: Agent) -> None:
    a = f"-address={agent.url}"
    regs = wait_for(lambda: agent.get("/v1/service/greet"), 20, "greet registered")
    listed = ok(cli_run("service", "list", a))
    assert "greet" in listed and "[v1]" in listed
    info = ok(cli_run("service", "info", "greet", a))
    assert f"{regs[0]['Address']}:{regs[0]['Port']}" in info
    verbose = ok(cli_run("service", "info", "-verbose", "greet", a))
    assert regs[0]["ID"] in verbose
    assert ok(cli_run("service", "info", "greet", "-t", "{{range .}}{{.Port}}{{end}}", a)) == (
        str(regs[0]["Port"])
    )
    deleted = ok(cli_run("service", "delete", "greet", regs[0]["ID"], a))
    assert regs[0]["ID"] in deleted
    gone = cli_run("service", "delete", "greet", regs[0]["ID"], a)
    assert gone.exit_code == 1 and "404" in gone.stderr

    members = ok(cli_run("server", "members", a))
    assert members.splitlines()[0].split()[:5] == ["Name", "Address", "Port", "Status", "Leader"]
    assert "alive" in members and "true" in members


def test_deployments(agent: Agent) -> None:
    a = f"-address={agent.url}"
    deployments = wait_for(
        lambda: agent.get("/v1/job/greeter/deployments"), 20, "greeter's deployment"
    )
    d = deployments[0]
    listed = ok(cli_run("deployment", "list", a))
    assert d["ID"][:8] in listed and "greeter" in listed
    status = ok(cli_run("deployment", "status", d["ID"][:6], a))
    assert "Job ID      = greeter" in status and "Deployed" in status
    assert ok(cli_run("deployment", "status", d["ID"], "-t", "{{.JobID}}", a)) == "greeter"
    by_job = ok(cli_run("job", "deployments", "greeter", a))
    assert d["ID"][:8] in by_job
    final = wait_for(
        lambda: agent.get(f"/v1/deployment/{d['ID']}")["Status"] != "running" or None,
        30,
        "the deployment to finish",
    )
    assert final
    # a finished deployment cannot be paused: the server's refusal is shown, exit 1
    refused = cli_run("deployment", "pause", d["ID"], a)
    assert refused.exit_code == 1 and "Error:" in refused.stderr


def test_job_run_plan_inspect_history_revert(agent: Agent, tmp_path: Path) -> None:
    a = f"-address={agent.url}"
    spec = tmp_path / "hand.nomad.hcl"
    spec.write_text(sleeper("hand"))
    # -output: the API form, no request (an unreachable address is fine)
    out = json.loads(ok(cli_run("job", "run", "-output", str(spec), "-address=127.0.0.1:1")))
    assert out["Job"]["ID"] == "hand" and out["Job"]["TaskGroups"][0]["Count"] == 1
    detached = ok(cli_run("job", "run", "-detach", str(spec), a))
    assert "Job registration successful" in detached and "Evaluation ID: " in detached
    wait_for(lambda: agent.running("hand"), 20, "hand running")

    assert cli_run("job", "plan", str(spec), a).exit_code == 0  # no change
    spec.write_text(sleeper("hand", count=2))
    changed = cli_run("job", "plan", str(spec), a)
    assert changed.exit_code == 1 and "1 create" in changed.output
    broken = tmp_path / "broken.nomad.hcl"
    broken.write_text('job "x" {\n  group "g" {\n')
    err = cli_run("job", "plan", str(broken), a)
    assert err.exit_code == 255 and str(broken) in err.stderr

    ok(cli_run("job", "run", str(spec), a))  # version 1: count 2
    inspected = json.loads(ok(cli_run("job", "inspect", "han", a)))
    assert inspected["Job"]["Version"] == 1 and inspected["Job"]["TaskGroups"][0]["Count"] == 2
    v0 = json.loads(ok(cli_run("job", "inspect", "-version", "0", "hand", a)))
    assert v0["Job"]["TaskGroups"][0]["Count"] == 1
    assert ok(cli_run("job", "inspect", "hand", "-t", "{{.Version}}", a)) == "1"

    history = ok(cli_run("job", "history", "hand", a))
    versions = [line.split("=")[1].strip() for line in history.splitlines() if "Version" in line]
    assert versions == ["1", "0"]
    as_json: list[dict[str, Any]] = json.loads(ok(cli_run("job", "history", "-json", "hand", a)))
    assert [v["Version"] for v in as_json] == [1, 0]

    reverted = ok(cli_run("job", "revert", "hand", "0", a))
    assert 'Job "hand" reverted to version 0' in reverted and "Evaluation ID" in reverted
    job = agent.get("/v1/job/hand")
    assert job["Version"] == 2 and job["TaskGroups"][0]["Count"] == 1
    same = cli_run("job", "revert", "hand", "2", a)
    assert same.exit_code == 1 and "current version" in same.stderr


def test_completion_scripts() -> None:
    bash = ok(cli_run("completion", "bash"))
    assert "_GITORCH_COMPLETE" in bash and "complete " in bash
    assert "compdef" in ok(cli_run("completion", "zsh"))
    # the script's protocol: click answers with the subcommands for a partial word
    env = {"_GITORCH_COMPLETE": "bash_complete", "COMP_WORDS": "gitorch depl", "COMP_CWORD": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", "from gitorch.cli.main import cli; cli(prog_name='gitorch')"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert "deployment" in proc.stdout
